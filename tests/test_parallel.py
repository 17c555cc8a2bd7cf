"""rag.parallel.parallel_map: same results in item order for every backend, progress, errors."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from rag.parallel import parallel_map


def _slow_square(x: int) -> int:
    # Later items finish first, so completion order differs from item order.
    time.sleep(0.002 * (10 - x % 10))
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise KeyError(f"item {x}")
    return x


@pytest.mark.parametrize("backend,workers", [("local", 1), ("local", 4), ("threads", 1), ("threads", 4)])
def test_order_progress_and_results(backend, workers):
    seen, calls = [], []
    out = parallel_map(_slow_square, range(20), workers=workers, backend=backend,
                       progress=lambda d, t: calls.append((d, t)), on_result=lambda i, v: seen.append((i, v)))
    assert out == [x * x for x in range(20)]
    assert calls[0] == (0, 20) and calls[-1] == (20, 20)
    assert [d for d, _ in calls] == list(range(21))  # one call per finished item, monotone
    assert sorted(seen) == [(i, i * i) for i in range(20)]


def test_threads_really_run_concurrently():
    active, peak, lock = [0], [0], threading.Lock()

    def work(x):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return x

    assert parallel_map(work, range(8), workers=4, backend="threads") == list(range(8))
    assert peak[0] > 1


def test_callbacks_run_in_calling_thread():
    caller = threading.get_ident()
    threads = set()
    parallel_map(_slow_square, range(6), workers=3, backend="threads",
                 on_result=lambda i, v: threads.add(threading.get_ident()))
    assert threads == {caller}


@pytest.mark.parametrize("backend", ["local", "threads"])
def test_first_exception_is_raised(backend):
    with pytest.raises(KeyError, match="item 3"):
        parallel_map(_fail_on_three, range(8), workers=2, backend=backend)


def test_empty_and_bad_arguments():
    calls = []
    assert parallel_map(_slow_square, [], progress=lambda d, t: calls.append((d, t))) == []
    assert calls == [(0, 0)]
    with pytest.raises(ValueError, match="未知的并行方式"):
        parallel_map(_slow_square, [1], backend="dask")
    with pytest.raises(ValueError, match="不能为负数"):
        parallel_map(_slow_square, [1], workers=-1, backend="threads")


def test_ray_matches_local_and_propagates_errors():
    """One Ray test (starting Ray takes a while): a local Ray instance, results in order.

    The functions are closures (shipped by value): this test module is not importable on the
    Ray workers, while ``rag`` is.
    """
    import ray

    def square(x):
        time.sleep(0.002 * (10 - x % 10))
        return x * x

    def fail_on_three(x):
        if x == 3:
            raise KeyError(f"item {x}")
        return x

    try:
        items = list(range(12))
        calls = []
        out = parallel_map(square, items, workers=3, backend="ray", ray_address="local",
                           ray_init={"num_cpus": 2}, progress=lambda d, t: calls.append(d))
        assert out == parallel_map(square, items) == [x * x for x in items]
        assert calls == list(range(13))
        # Any picklable callable, not only functions (the eval runner passes a dataclass instance).
        assert parallel_map(functools.partial(pow, exp=3), [1, 2, 3], backend="ray") == [1, 8, 27]
        with pytest.raises(KeyError):
            parallel_map(fail_on_three, range(6), workers=2, backend="ray")
    finally:
        ray.shutdown()
