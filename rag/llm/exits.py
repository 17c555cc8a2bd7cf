"""Describe how a model process ended (signal name and number, exit code) and how to fix it.

Shared by the smoke test of ``shanhai models prepare`` and the server's model worker, so a
crash reads the same everywhere: ``SIGILL（信号 4：非法指令）`` plus what to do about it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

# What each fatal signal usually means for a llama.cpp process, in the user's words.
SIGNAL_MEANINGS: dict[int, str] = {
    signal.SIGILL: "非法指令：CPU 不支持所用 llama.cpp 变体的指令",
    signal.SIGSEGV: "段错误：本地模型库访问了无效内存",
    signal.SIGBUS: "总线错误：模型文件可能被截断或所在磁盘出错",
    signal.SIGFPE: "算术异常",
    signal.SIGABRT: "程序中止（llama.cpp 内部断言失败）",
    signal.SIGKILL: "被强制结束，常见原因是内存不足（系统 OOM）",
    signal.SIGTERM: "被要求结束",
}


@dataclass(frozen=True)
class ExitInfo:
    """How a process ended.

    Attributes:
        returncode: as reported by ``subprocess`` (negative = killed by that signal).
        signum: the signal number, or None for a normal exit.
        signal_name: ``SIGILL`` etc., or None.
    """

    returncode: int | None
    signum: int | None = None
    signal_name: str | None = None

    @property
    def short(self) -> str:
        """``SIGILL`` / ``退出码 1`` / ``未知``: for one-line messages."""
        if self.signal_name:
            return self.signal_name
        return "未知" if self.returncode is None else f"退出码 {self.returncode}"

    @property
    def meaning(self) -> str:
        """What the signal usually means (empty for a normal exit or an unusual signal)."""
        return SIGNAL_MEANINGS.get(self.signum, "") if self.signum is not None else ""

    @property
    def text(self) -> str:
        """``SIGILL（信号 4：非法指令：…）`` or ``退出码 1``."""
        if self.signum is None:
            return self.short
        return f"{self.signal_name}（信号 {self.signum}{'：' + self.meaning if self.meaning else ''}）"


def describe_exit(returncode: int | None) -> ExitInfo:
    """Turn a return code into an :class:`ExitInfo`.

    ``-4`` (subprocess) and ``132`` (a shell's 128 + 4) both mean SIGILL.
    """
    if returncode is None:
        return ExitInfo(None)
    signum = -returncode if returncode < 0 else (returncode - 128 if 128 < returncode < 128 + 65 else None)
    if signum is None:
        return ExitInfo(returncode)
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"信号{signum}"
    return ExitInfo(returncode, signum, name)


def lower_variant(failed: str | None, runnable: list[str]) -> str | None:
    """A safer CPU variant to suggest after ``failed`` crashed (``haswell`` when possible).

    Args:
        failed: the variant that was in use (None when unknown).
        runnable: variants this CPU can run, best first.
    """
    below = runnable[runnable.index(failed) + 1:] if failed in runnable else list(runnable)
    if "haswell" in below:
        return "haswell"
    return below[0] if below else None


def fix_hint(exit_info: ExitInfo | None, *, variant: str | None, runnable: list[str]) -> str:
    """What to do after a crash, in Chinese (empty when there is nothing specific to say)."""
    signum = exit_info.signum if exit_info else None
    if signum in (signal.SIGILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE):
        lower = lower_variant(variant, runnable)
        options = f"，或加 `--set llm.llama_cpp.cpu_variant={lower}` 改用较低的 CPU 变体" if lower else ""
        listed = f"（本机可运行的变体：{'、'.join(runnable)}）" if runnable else ""
        return (f"修复：运行 `make reinstall-llama` 按可移植方式重新编译 llama-cpp-python{options}{listed}；"
                "配置文件中对应的键是 llm.llama_cpp.cpu_variant。")
    if signum == signal.SIGKILL:
        return ("修复：模型约需 1.9 GB 内存，请关闭占用内存的程序，或减小 llm.llama_cpp.n_ctx；"
                "若是有人手动结束了进程，重试即可。")
    return ""
