"""Text handling for Chinese news articles: decoding, cleaning, normalisation, metadata."""

from rag.text.clean import Cleaned, clean_text
from rag.text.encoding import DecodeError, decode_bytes
from rag.text.meta import extract_meta, parse_date
from rag.text.normalize import detect_script, normalize

__all__ = [
    "Cleaned",
    "DecodeError",
    "clean_text",
    "decode_bytes",
    "detect_script",
    "extract_meta",
    "normalize",
    "parse_date",
]
