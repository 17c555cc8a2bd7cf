"""Smoke test of the local model in a child process (run by ``shanhai models prepare``).

The model is loaded and asked for a few tokens in a worker process (:mod:`rag.llm.worker`), so
a build that cannot run on this CPU (SIGILL), a crash, an out-of-memory kill, a hang or a Python
error is reported as a clear message (signal name and number, CPU variant, the last stderr lines,
how to fix it) instead of taking the command down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rag.llm.base import LLMError
from rag.llm.exits import fix_hint
from rag.llm.worker import WorkerError
from rag.llm.worker_backend import LLAMA_TARGET, ProcessLlamaBackend

# Text of our own (a fictional county), long enough (~250 tokens) for a rough prefill speed.
SMOKE_MESSAGES = [
    {"role": "system", "content": "你是新闻摘要助手，请用简体中文简短回答。"},
    {"role": "user", "content": (
        "以下是一段虚构的地方新闻，仅供测试。清川县今年春天启动了山区饮水改造工程，计划用两年时间为十四个"
        "行政村铺设新的供水管网。县水务局介绍，第一期工程已经完成，新建蓄水池九座、净水站三座，铺设主管道"
        "约六十公里，惠及近两万名村民。过去这些村子的村民要到几公里外的山泉挑水，旱季时常常断水。工程完工后，"
        "自来水直接通到各家各户，水质经检测全部达标。县里还成立了专门的管护队伍，负责日常巡查和维修，并通过"
        "手机平台接收村民的报修信息。第二期工程将于明年开工，重点解决偏远自然村的供水问题。\n\n"
        "问题：请用一句话概括这段新闻。")},
]
DEFAULT_TIMEOUT_S = 300.0


@dataclass
class SmokeResult:
    """Outcome of :func:`smoke_test`.

    Attributes:
        ok: the model loaded and generated text.
        variant: llama.cpp CPU variant the child used or tried (None when unknown).
        build: ``portable`` or ``native`` (None when unknown).
        runnable: CPU variants this machine can run, best first.
        load_s: model load time in the child.
        prompt_tokens: tokens in the smoke prompt.
        completion_tokens: tokens generated.
        prefill_tok_s: rough prompt-processing speed (prompt tokens / time to first token).
        decode_tok_s: rough generation speed after the first token.
        text: the generated text.
        error: what went wrong (None when ``ok``).
    """

    ok: bool
    variant: str | None = None
    build: str | None = None
    runnable: list[str] = field(default_factory=list)
    load_s: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prefill_tok_s: float | None = None
    decode_tok_s: float | None = None
    text: str = ""
    error: LLMError | None = None

    def report(self) -> list[str]:
        """Chinese lines for the terminal: one summary line when ok, the full diagnosis otherwise."""
        where = f"llama.cpp CPU 变体 {self.variant or '未知'}" + (f"（{self.build} 构建）" if self.build else "")
        if self.ok:
            speed = (f"预填充约 {self.prefill_tok_s:.0f} token/s，生成约 {self.decode_tok_s:.0f} token/s"
                     if self.prefill_tok_s and self.decode_tok_s else "速度未测出")
            return [f"本地模型冒烟测试通过：{where}，加载 {self.load_s or 0:.1f} 秒，{speed}"
                    f"（{self.prompt_tokens} 个提示 token，生成 {self.completion_tokens} 个）。"]
        lines = [f"本地模型冒烟测试失败：{_headline(self.error)}", f"  {where}"]
        tail = getattr(self.error, "stderr_tail", [])[-8:]
        if tail:
            lines.append("  子进程 stderr 最后几行：")
            lines += [f"    | {line[:200]}" for line in tail]
        lines.append("  " + _fix(self))
        if self.runnable and "本机可运行" not in lines[-1]:
            lines.append(f"  本机可运行的 CPU 变体：{'、'.join(self.runnable)}")
        return lines


def _headline(error: LLMError | None) -> str:
    if not isinstance(error, WorkerError):
        return f"模型子进程报告错误：{error}"
    phase = "加载模型" if error.phase == "start" else "生成文字"
    if error.timeout_s is not None:
        return f"模型子进程在{phase}时超时：{error.timeout_s:g} 秒内没有完成，已被结束"
    info = error.exit_info
    if info is None:
        return str(error)
    if info.signum is not None:
        meaning = f"：{info.meaning}" if info.meaning else ""
        return f"模型子进程在{phase}时被信号 {info.signal_name}（{info.signum}）终止{meaning}"
    return f"模型子进程在{phase}时意外退出（{info.short}）"


def _fix(result: SmokeResult) -> str:
    from rag.llm.cpu_backend import CpuBackendError

    error = result.error
    if isinstance(error, CpuBackendError):
        return ("修复：把 llm.llama_cpp.cpu_variant 设为 auto 或本机可运行的变体（如 `--set llm.llama_cpp.cpu_variant=auto`）；"
                "没有可运行的变体时运行 `make reinstall-llama`。")
    if isinstance(error, WorkerError) and error.exit_info is not None:
        hint = fix_hint(error.exit_info, variant=result.variant, runnable=result.runnable)
        if hint:
            return hint
    if isinstance(error, WorkerError) and error.timeout_s is not None:
        return ("修复：机器繁忙时可稍后重试，或调大 llm.llama_cpp.start_timeout / generation_timeout；"
                "若反复超时，运行 `make reinstall-llama` 重新编译 llama-cpp-python。")
    return "修复：按上面的提示处理后重新运行 `shanhai models prepare`；如与 CPU 指令有关，运行 `make reinstall-llama`。"


def _describe(config: Any) -> tuple[str | None, str | None, list[str]]:
    """(variant, build, runnable) as the parent sees the installed build (no model loaded)."""
    from rag.llm.cpu_backend import describe_build

    try:
        info = describe_build(str(config.get("llm.llama_cpp.cpu_variant") or "auto"))
    except LLMError:
        return None, None, []
    return info.chosen or info.prefer, "portable" if info.portable else "native", info.runnable


def smoke_test(config: Any, *, command: list[str] | None = None, target: str = LLAMA_TARGET,
               timeout_s: float = DEFAULT_TIMEOUT_S, max_tokens: int = 16) -> SmokeResult:
    """Load the model in a child process, generate ``max_tokens`` tokens and measure rough speeds.

    Args:
        config: resolved ``Config`` (``llm.llama_cpp.*``, model path).
        command: the command starting the child (default ``python -m rag.llm.worker_main``;
            tests pass stand-ins that crash or hang).
        target: the backend class run in the child.
        timeout_s: limit for loading and for generating, each.
        max_tokens: tokens to generate.

    Returns:
        A :class:`SmokeResult`; never raises for a failing model.
    """
    cfg = config.with_overrides({"llm.llama_cpp.start_timeout": timeout_s,
                                 "llm.llama_cpp.generation_timeout": timeout_s})
    variant, build, runnable = _describe(config) if target == LLAMA_TARGET else (None, None, [])
    backend = ProcessLlamaBackend(cfg, target=target, command=command, shared=False, auto_restart=False)
    try:
        backend.load()
        text = backend.complete(SMOKE_MESSAGES, max_tokens=max_tokens, temperature=0.0)
        stats = backend.last_stats
        info = backend.runtime_info()
    except LLMError as exc:
        info = backend.runtime_info()
        return SmokeResult(False, info.get("variant") or getattr(exc, "variant", None) or variant,
                           info.get("build") or build, info.get("runnable") or runnable, error=exc)
    finally:
        backend.close()
    return _success(info, variant, build, runnable, text, stats)


def _success(info: dict, variant: str | None, build: str | None, runnable: list[str], text: str,
             stats: Any) -> SmokeResult:
    first = stats.first_token_s if stats is not None else None
    prefill = stats.prompt_tokens / first if stats is not None and first else None
    decode = None
    if stats is not None and first is not None and stats.completion_tokens > 1 and stats.total_s > first:
        decode = (stats.completion_tokens - 1) / (stats.total_s - first)
    return SmokeResult(True, info.get("variant") or variant, info.get("build") or build,
                       info.get("runnable") or runnable, info.get("load_s"),
                       stats.prompt_tokens if stats else 0, stats.completion_tokens if stats else 0,
                       prefill, decode, text)
