"""Choose and load llama.cpp's CPU backend at run time (portable build).

llama-cpp-python is built with ``GGML_BACKEND_DL=ON GGML_CPU_ALL_VARIANTS=ON`` (see the
Makefile: ``LLAMA_CMAKE_ARGS``): one ``libggml-cpu-<variant>.so`` per instruction-set level
(x64, sse42, haswell, skylakex, icelake, zen4, sapphirerapids, ...). Each variant reports a
score for the CPU it runs on (0 = unsupported). llama.cpp would pick the best one itself, but
it only searches the executable's folder and the working directory, and it would pick the AMX
variant (``sapphirerapids``) wherever AMX is advertised: that path died with SIGILL in
``ggml_backend_amx_mul_mat`` on an Intel VM. So this module scores the variants itself, skips
the excluded ones, and loads the best before llama.cpp initialises its backends.

A non-portable build (one CPU backend linked in, no variant files) is detected and left alone.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rag.llm.base import LLMError

# Variants never chosen automatically: AMX tile code that faults where the hypervisor
# advertises AMX but does not enable it.
EXCLUDED_VARIANTS = ("sapphirerapids",)

_LOCK = threading.Lock()
_LOADED: "CpuBackend | None" = None


class CpuBackendError(LLMError):
    """No usable llama.cpp CPU backend could be loaded."""


@dataclass(frozen=True)
class CpuBackend:
    """What was loaded: the variant name (``builtin`` for a non-portable build) and the scores."""

    variant: str
    path: str | None
    scores: dict[str, int] = field(default_factory=dict)


def _package_dirs() -> tuple[Path, Path]:
    """(llama_cpp/lib with libggml.so, the folder holding libggml-cpu-*.so)."""
    import llama_cpp  # noqa: F401 - loads libllama/libggml so our CDLL shares the handle

    pkg = Path(llama_cpp.__file__).resolve().parent
    return pkg / "lib", pkg.parent / "bin"


def _loaded_ggml(lib_dir: Path) -> Path:
    """The libggml that libllama actually uses (wheels copy symlinks, so several files exist)."""
    try:
        maps = Path("/proc/self/maps").read_text()
        for line in maps.splitlines():
            path = line.split()[-1]
            if Path(path).name.startswith("libggml.so"):
                return Path(path)
    except OSError:  # pragma: no cover - non-Linux
        pass
    return lib_dir / "libggml.so.0"


def variant_files(variant_dir: Path | None = None) -> dict[str, Path]:
    """Installed CPU variants by name (``zen4`` → its .so); empty for a non-portable build."""
    folder = variant_dir or _package_dirs()[1]
    prefix = "libggml-cpu-"
    return {p.name[len(prefix):-3]: p for p in sorted(folder.glob(prefix + "*.so"))}


def score_variants(files: dict[str, Path]) -> dict[str, int]:
    """Each variant's own score for this CPU (its ``ggml_backend_score``; 0 = cannot run here).

    Loading a variant library runs no vector instructions; only the scoring function is called.
    """
    scores: dict[str, int] = {}
    for name, path in files.items():
        try:
            lib = ctypes.CDLL(str(path))
            fn = lib.ggml_backend_score
            fn.restype = ctypes.c_int
            scores[name] = int(fn())
        except (OSError, AttributeError):
            scores[name] = 0
    return scores


def choose_variant(scores: dict[str, int], *, prefer: str = "auto",
                   exclude: tuple[str, ...] = EXCLUDED_VARIANTS) -> str:
    """The variant to load: ``prefer`` when given and runnable, else the best-scoring allowed one.

    Raises:
        CpuBackendError: ``prefer`` cannot run on this CPU, or no variant can.
    """
    if prefer and prefer != "auto":
        if scores.get(prefer, 0) <= 0:
            raise CpuBackendError(
                f"llm.llama_cpp.cpu_variant={prefer!r} 无法在本机 CPU 上运行（可用：{_runnable(scores)}）"
            )
        return prefer
    allowed = {n: s for n, s in scores.items() if s > 0 and n not in exclude}
    if not allowed:
        raise CpuBackendError(f"llama.cpp 没有可在本机 CPU 上运行的后端（得分：{scores}）。{REBUILD_HINT}")
    return max(allowed, key=lambda n: allowed[n])


def _runnable(scores: dict[str, int]) -> str:
    return ", ".join(n for n, s in sorted(scores.items(), key=lambda kv: -kv[1]) if s > 0) or "无"


REBUILD_HINT = (
    "请按可移植方式重新编译 llama-cpp-python：`make reinstall-llama`"
    "（即 CMAKE_ARGS=\"$(LLAMA_CMAKE_ARGS)\" pip install --no-cache-dir --force-reinstall llama-cpp-python==0.3.36）"
)


def ensure_cpu_backend(prefer: str = "auto") -> CpuBackend:
    """Load the chosen CPU variant once per process (before the first ``Llama``).

    Args:
        prefer: ``auto`` (best allowed variant) or a variant name (``haswell``, ``zen4``...).

    Returns:
        What is loaded now.

    Raises:
        CpuBackendError: a portable build whose variants cannot run here or fail to load.
    """
    global _LOADED
    with _LOCK:
        if _LOADED is not None:
            return _LOADED
        lib_dir, variant_dir = _package_dirs()
        # llama-cpp-python prints ggml's INFO log until a Llama(verbose=False) quietens it.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        files = variant_files(variant_dir)
        if not files:  # non-portable build: the CPU backend is linked into libggml
            _LOADED = CpuBackend("builtin", None)
            return _LOADED
        ggml = ctypes.CDLL(str(_loaded_ggml(lib_dir)))
        ggml.ggml_backend_reg_count.restype = ctypes.c_size_t
        ggml.ggml_backend_load.restype = ctypes.c_void_p
        ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
        scores = score_variants(files)
        if ggml.ggml_backend_reg_count():  # someone loaded backends already (not us)
            _LOADED = CpuBackend("preloaded", None, scores)
            return _LOADED
        name = choose_variant(scores, prefer=prefer)
        if not ggml.ggml_backend_load(str(files[name]).encode()):
            raise CpuBackendError(f"无法加载 llama.cpp CPU 后端 {files[name]}。{REBUILD_HINT}")
        _LOADED = CpuBackend(name, str(files[name]), scores)
        return _LOADED


@dataclass(frozen=True)
class BuildInfo:
    """The installed llama.cpp build, described without loading a model.

    Attributes:
        portable: one library per CPU variant (False: a native build, one CPU backend linked in).
        scores: each variant's score for this CPU (empty for a native build).
        prefer: the configured ``llm.llama_cpp.cpu_variant``.
        chosen: the variant a model process would load (``builtin`` for a native build), None on error.
        error: why no variant can be chosen (Chinese), or None.
    """

    portable: bool
    scores: dict[str, int]
    prefer: str
    chosen: str | None
    error: str | None = None

    @property
    def runnable(self) -> list[str]:
        """Variants this CPU can run, best first, without the excluded (AMX) ones."""
        ok = [(s, n) for n, s in self.scores.items() if s > 0 and n not in EXCLUDED_VARIANTS]
        return [n for _, n in sorted(ok, reverse=True)]

    def summary(self) -> str:
        """One Chinese line: build kind, chosen variant, runnable variants."""
        if not self.portable:
            return "llama.cpp：本机编译（native，单一 CPU 后端，无运行时变体选择）"
        head = f"llama.cpp：可移植构建（{len(self.scores)} 个 CPU 变体）"
        if self.error:
            return f"{head}，{self.error}"
        how = "自动选择" if self.prefer in ("", "auto") else f"按配置 cpu_variant={self.prefer}"
        return (f"{head}，{how}：{self.chosen}；本机可运行：{'、'.join(self.runnable)}；"
                f"不自动选用：{'、'.join(EXCLUDED_VARIANTS)}")


def describe_build(prefer: str = "auto") -> BuildInfo:
    """Describe the installed llama.cpp build and the CPU variant ``prefer`` resolves to.

    Cheap (about 0.1 s): finds the package without importing it, loads only ``libggml-base`` and
    each variant's scoring function (no vector instructions run), never a model.

    Raises:
        LLMError: llama-cpp-python is not installed.
    """
    prefer = prefer or "auto"
    if _LOADED is not None and _LOADED.variant not in ("builtin", "preloaded"):
        return BuildInfo(True, dict(_LOADED.scores), prefer, _LOADED.variant)
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.origin:
        raise LLMError("未安装 llama-cpp-python。" + REBUILD_HINT)
    pkg = Path(spec.origin).resolve().parent
    files = variant_files(pkg.parent / "bin")
    if not files:
        return BuildInfo(False, {}, prefer, "builtin")
    if "llama_cpp" not in sys.modules:  # the variants need libggml-base's symbols
        base = pkg / "lib" / "libggml-base.so.0"
        try:
            ctypes.CDLL(str(base if base.exists() else pkg / "lib" / "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            return BuildInfo(True, {n: 0 for n in files}, prefer, None, f"无法加载 libggml-base（{exc}）。{REBUILD_HINT}")
    scores = score_variants(files)
    try:
        return BuildInfo(True, scores, prefer, choose_variant(scores, prefer=prefer))
    except CpuBackendError as exc:
        return BuildInfo(True, scores, prefer, None, str(exc))
