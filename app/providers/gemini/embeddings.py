"""OpenAI embeddings ⇄ Gemini `batchEmbedContents`."""

from __future__ import annotations

import base64
import struct
from typing import Any

import msgspec

from app.lib.errors import InvalidRequest

_encode = msgspec.json.Encoder().encode


class ContentEmbedding(msgspec.Struct):
    values: list[float] = []


class BatchEmbedContentsResponse(msgspec.Struct):
    embeddings: list[ContentEmbedding] = []


decode_batch = msgspec.json.Decoder(BatchEmbedContentsResponse).decode


def input_texts(body: dict[str, Any]) -> list[str]:
    """OpenAI's `input` as a list of strings; token-id input has no meaning to Gemini's tokenizer."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise InvalidRequest("'input' must be a string or a list of strings for this model", param="input")


def batch_embed_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    dimensions = body.get("dimensions")
    requests = []
    for text in input_texts(body):
        request: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if dimensions:
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def embedding_value(values: list[float], encoding_format: str | None) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
    return values


def embedding_list(vectors: list[list[float]], model: str, encoding_format: str | None,
                   usage: dict[str, int] | None = None) -> bytes:
    data = [{"object": "embedding", "index": index, "embedding": embedding_value(values, encoding_format)}
            for index, values in enumerate(vectors)]
    body: dict[str, Any] = {"object": "list", "data": data, "model": model}
    if usage is not None:
        body["usage"] = usage
    return _encode(body)
