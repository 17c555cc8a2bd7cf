"""Order-preserving parallel map over items: in-process, a thread pool, or Ray tasks.

One small function serves every batch job (evaluation, ingest, per-region summaries)::

    from rag.parallel import parallel_map

    results = parallel_map(score, items, workers=4, backend="threads",
                           progress=lambda done, total: print(done, total))

Backends:

* ``"local"`` — a plain loop in the calling thread (``workers`` is ignored); the default.
* ``"threads"`` — a ``ThreadPoolExecutor`` with ``workers`` threads. Right when ``fn`` spends
  its time in native code that releases the GIL (llama.cpp, FAISS, torch) or waits on I/O
  (an OpenAI-compatible server), and when ``fn`` shares one loaded model.
* ``"ray"`` — one Ray task per item, at most ``workers`` in flight (``workers <= 0``: twice
  the cluster's CPUs). ``fn`` and the items must be picklable (cloudpickle: closures and
  lambdas are fine; loaded models are not — build them lazily inside the worker process,
  e.g. in a module-level cache). ``ray_address``: ``None`` or ``"local"`` starts (or reuses) a
  Ray instance on this machine (what tests use; Ray >= 2.40 has no in-process "local mode"),
  anything else (``"auto"``, ``"ray://head:10001"``) connects to that cluster,
  whose workers must have this package installed. Config key: ``ray.address``.

Results always come back in the order of ``items``. If ``fn`` raises, the remaining work is
cancelled and the first exception is re-raised; catch per-item errors inside ``fn`` when a
batch should go on after one bad item (the evaluation runner does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

__all__ = ["parallel_map", "BACKENDS", "ProgressFn", "ResultFn"]

T = TypeVar("T")
R = TypeVar("R")
# progress(done, total) after every finished item; on_result(index, value) as items finish.
ProgressFn = Callable[[int, int], None]
ResultFn = Callable[[int, Any], None]
BACKENDS = ("local", "threads", "ray")


def parallel_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 1, backend: str = "local",
                 ray_address: str | None = None, progress: ProgressFn | None = None,
                 on_result: ResultFn | None = None, ray_init: Mapping[str, Any] | None = None) -> list[R]:
    """Apply ``fn`` to every item, possibly in parallel, and return the results in item order.

    Args:
        fn: the function applied to each item.
        items: the inputs (materialised into a list first).
        workers: threads (``"threads"``) or tasks in flight (``"ray"``); ignored by ``"local"``.
        backend: ``"local"`` | ``"threads"`` | ``"ray"`` (see the module docstring).
        ray_address: Ray cluster address; ``None`` or ``"local"`` = a Ray instance on this
            machine.
        progress: called as ``progress(done, total)`` after each finished item (and once
            with ``(0, total)`` before the first), always from the calling thread.
        on_result: called as ``on_result(index, value)`` in completion order, from the
            calling thread (e.g. to append each result to a file as it arrives).
        ray_init: extra keyword arguments for ``ray.init`` (e.g. ``{"num_cpus": 2}``);
            ignored when Ray is already initialised.

    Returns:
        ``[fn(item) for item in items]``, computed by the chosen backend.

    Raises:
        ValueError: unknown backend or ``workers < 0``.
        ImportError: ``backend="ray"`` without Ray installed.
        Exception: the first exception raised by ``fn``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"未知的并行方式 {backend!r}：请使用 {' / '.join(BACKENDS)}")
    if workers < 0:
        raise ValueError(f"workers 不能为负数（收到 {workers}）")
    todo = list(items)
    if progress:
        progress(0, len(todo))
    if not todo:
        return []
    if backend == "threads" and workers > 1:
        return _threads(fn, todo, workers, progress, on_result)
    if backend == "ray":
        return _ray(fn, todo, workers, ray_address, progress, on_result, dict(ray_init or {}))
    return _local(fn, todo, progress, on_result)


def _report(i: int, value: Any, done: int, total: int, progress: ProgressFn | None,
            on_result: ResultFn | None) -> None:
    if on_result:
        on_result(i, value)
    if progress:
        progress(done, total)


def _local(fn, todo, progress, on_result) -> list:
    out = []
    for i, item in enumerate(todo):
        out.append(fn(item))
        _report(i, out[-1], i + 1, len(todo), progress, on_result)
    return out


def _threads(fn, todo, workers, progress, on_result) -> list:
    out: list = [None] * len(todo)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parallel_map") as pool:
        futures: dict[Future, int] = {pool.submit(fn, item): i for i, item in enumerate(todo)}
        pending = set(futures)
        done_count = 0
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(finished, key=futures.__getitem__):
                    i = futures[fut]
                    out[i] = fut.result()  # re-raises fn's exception
                    done_count += 1
                    _report(i, out[i], done_count, len(todo), progress, on_result)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return out


def _ensure_ray(address: str | None, init_kwargs: dict[str, Any]):
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is a dev dependency
        raise ImportError("并行方式 ray 需要安装 Ray：pip install 'shanhai[ray]'，或改用 threads") from err
    if not ray.is_initialized():
        kwargs = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False,
                  "configure_logging": False, **init_kwargs}
        if address and address != "local":
            kwargs["address"] = address
        ray.init(**kwargs)
    return ray


def _apply(fn, item):
    """The Ray task: call ``fn`` (resolved from the object store) on one item."""
    return fn(item)


def _ray(fn, todo, workers, address, progress, on_result, init_kwargs) -> list:
    ray = _ensure_ray(address, init_kwargs)
    if workers <= 0:
        workers = max(1, 2 * int(math.ceil(ray.cluster_resources().get("CPU", 1))))
    remote = ray.remote(max_retries=0)(_apply)
    fn_ref = ray.put(fn)  # shipped once, shared by every task (fn may be any picklable callable)
    out: list = [None] * len(todo)
    in_flight: dict[Any, int] = {}
    next_i = done_count = 0
    try:
        while next_i < len(todo) or in_flight:
            while next_i < len(todo) and len(in_flight) < workers:
                in_flight[remote.remote(fn_ref, todo[next_i])] = next_i
                next_i += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                i = in_flight.pop(ref)
                out[i] = ray.get(ref)  # re-raises fn's exception (as a RayTaskError subclass of it)
                done_count += 1
                _report(i, out[i], done_count, len(todo), progress, on_result)
    except BaseException:
        for ref in in_flight:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001 - best effort: the task may have finished meanwhile
                pass
        raise
    return out
