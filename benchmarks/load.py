"""Load test of the running app: N concurrent clients on loopback asking questions.

Usage::

    python benchmarks/load.py                              # own server on the seed corpus, 8 clients
    python benchmarks/load.py --clients 4 --requests 20 --max-seconds 60
    python benchmarks/load.py --url http://127.0.0.1:7860/ --backends extractive
    python benchmarks/load.py --api openai                 # POST /v1/chat/completions instead of /ask

Without ``--url`` it starts ``shanhai serve`` on a free loopback port (index ``--index``, or a
temporary index built from the seed articles) and stops it at the end. Only 127.0.0.1 /
localhost URLs are accepted. For each backend (``extractive`` first, then the configured
default ``llama_cpp``): one warm-up request (reported apart), then up to ``--requests``
questions from ``--clients`` threads, each with its own client; no new request starts after
``--max-seconds`` and requests still running ``--grace`` seconds later count as unfinished.

Reports requests/s, latency p50/p95, errors (must be 0), refusals; writes
``benchmarks/results/load.json`` and prints a Markdown table. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import SHARED, load_jsonl, machine, write_result  # noqa: E402
from rag.eval.metrics import latency_summary  # noqa: E402

FALLBACK_QUESTIONS = ["张家港向沿河投入多少资金？", "靖远县的东西部扶贫协作单位是哪里？"]


def questions() -> list[str]:
    """The seed dev-set questions (a realistic mix of answerable and unanswerable ones)."""
    path = SHARED / "eval" / "seed_qa_dev.jsonl"
    if path.is_file():
        return [row["question"] for row in load_jsonl(path) if row.get("question")]
    return FALLBACK_QUESTIONS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index: str | None, log_path: Path) -> tuple[subprocess.Popen, str, str | None]:
    """Start ``shanhai serve`` on loopback; returns (process, url, temporary index dir or None)."""
    tmp = None
    args = ["serve", "--host", "127.0.0.1", "--port", str(port := _free_port())]
    if index:
        args += ["--index", index]
    else:
        tmp = tempfile.mkdtemp(prefix="shanhai-load-")
        args += ["--index", str(Path(tmp) / "index"), "--corpus", str(SHARED / "corpus" / "seeds")]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    code = "import sys; from rag.cli import main; sys.exit(main())"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"服务启动失败，日志：{log_path}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url, tmp
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"服务 10 分钟内没有就绪，日志：{log_path}")


class Caller:
    """One client: ``ask(question) -> refused`` through gradio_client /ask or the OpenAI route."""

    def __init__(self, url: str, api: str, backend: str):
        self.url, self.api, self.backend = url, api, backend
        if api == "gradio":
            from gradio_client import Client

            self.client = Client(url, verbose=False)
        else:
            import httpx

            self.client = httpx.Client(base_url=url, timeout=None)

    def ask(self, question: str, timeout: float) -> bool:
        if self.api == "gradio":
            job = self.client.submit(question, self.backend, 0, api_name="/ask")
            try:
                return bool(job.result(timeout=timeout)["refused"])
            except TimeoutError:
                job.cancel()
                raise
        r = self.client.post("v1/chat/completions", timeout=timeout, json={
            "model": f"shanhai-{self.backend}", "messages": [{"role": "user", "content": question}]})
        r.raise_for_status()
        return bool(r.json()["shanhai"]["refused"])


def run_backend(url: str, api: str, backend: str, *, clients: int, requests: int, max_seconds: float,
                grace: float, qs: list[str]) -> dict:
    """Warm up, then drive ``clients`` threads until ``requests`` are issued or time is up."""
    t0 = time.perf_counter()
    Caller(url, api, backend).ask(qs[0], timeout=max_seconds + grace)
    warmup = time.perf_counter() - t0
    lock = threading.Lock()
    state = {"issued": 0}
    latencies: list[float] = []
    errors: list[str] = []
    unfinished = refused = 0
    start = time.perf_counter()
    deadline, hard_stop = start + max_seconds, start + max_seconds + grace

    def worker() -> None:
        nonlocal unfinished, refused
        caller = Caller(url, api, backend)
        while True:
            with lock:
                if state["issued"] >= requests or time.perf_counter() >= deadline:
                    return
                q = qs[state["issued"] % len(qs)]
                state["issued"] += 1
            t = time.perf_counter()
            try:
                was_refused = caller.ask(q, timeout=max(1.0, hard_stop - t))
            except TimeoutError:
                with lock:
                    unfinished += 1
                continue
            except Exception as exc:  # counted; the run goes on
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - t)
                refused += int(was_refused)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    lat = latency_summary(latencies)
    return {"backend": backend, "api": api, "clients": clients, "issued": state["issued"],
            "completed": len(latencies), "errors": len(errors), "error_samples": errors[:5],
            "unfinished": unfinished, "refused": refused, "seconds": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 3) if wall > 0 else None,
            "latency_s": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in lat.items()},
            "warmup_s": round(warmup, 2)}


def markdown(runs: list[dict]) -> str:
    """The results as a Markdown table."""
    head = ("| backend | API | clients | completed | errors | unfinished | refused | req/s | p50 (s) | p95 (s) "
            "| warm-up (s) |\n|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in runs:
        lat = r["latency_s"]
        fmt = (lambda v: "–" if v is None else f"{v:.2f}")
        rows.append(f"| {r['backend']} | {r['api']} | {r['clients']} | {r['completed']}/{r['issued']} | {r['errors']} "
                    f"| {r['unfinished']} | {r['refused']} | {fmt(r['requests_per_s'])} | {fmt(lat['p50'])} "
                    f"| {fmt(lat['p95'])} | {r['warmup_s']:.1f} |")
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="山海并发压测（仅限本机回环地址）")
    p.add_argument("--url", help="已运行的服务地址（只允许 127.0.0.1 / localhost）；不给则自动启动一个")
    p.add_argument("--index", help="自动启动服务时使用的索引目录（默认：用种子文章临时建一个）")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=40, help="每个后端最多发出的请求数")
    p.add_argument("--max-seconds", type=float, default=120, help="每个后端发出请求的时间上限")
    p.add_argument("--grace", type=float, default=300, help="时间到后等待在途请求完成的秒数（之后仍未完成的记为 unfinished）")
    p.add_argument("--backends", default="extractive,llama_cpp")
    p.add_argument("--api", choices=["gradio", "openai"], default="gradio")
    args = p.parse_args(argv)
    if args.url and urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("只允许压测本机服务（127.0.0.1 / localhost）。")
    proc = tmp = None
    log_path = Path(tempfile.gettempdir()) / "shanhai-load-server.log"
    url = args.url
    if not url:
        proc, url, tmp = start_server(args.index, log_path)
    try:
        qs = questions()
        runs = []
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"压测 {backend}（{args.clients} 个并发客户端）……", file=sys.stderr, flush=True)
            runs.append(run_backend(url, args.api, backend, clients=args.clients, requests=args.requests,
                                    max_seconds=args.max_seconds, grace=args.grace, qs=qs))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    data = {"machine": machine(), "url": url, "questions": len(qs), "runs": runs,
            "settings": {k: getattr(args, k) for k in ("clients", "requests", "max_seconds", "grace", "api")}}
    out = write_result("load", data)
    print(markdown(runs))
    print(f"\n结果已写入 {out}", file=sys.stderr)
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
