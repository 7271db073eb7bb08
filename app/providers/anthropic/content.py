"""OpenAI message content → Anthropic content blocks (text, image, document, tool_use, tool_result, thinking).

`cache_control` on an OpenAI content part (LiteLLM's convention for prompt caching) is kept on its block.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.lib.errors import InvalidRequest

_decode_arguments = msgspec.json.Decoder().decode
_THINKING_TYPES = ("thinking", "redacted_thinking")


def _with_cache_control(block: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _text(text: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(text, str):
        raise InvalidRequest(f"'{where}' must be a string", param=where)
    return {"type": "text", "text": text} if text else None  # Anthropic refuses empty text blocks


def _data_url(url: str, where: str) -> tuple[str, str]:
    """(media type, base64 data) of a `data:<type>;base64,<data>` URL."""
    header, sep, data = url.partition(",")
    media_type, _, encoding = header[5:].partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise InvalidRequest(f"'{where}' must be a base64 data URL or an http(s) URL", param=where)
    return media_type, data


def _media_block(url: Any, where: str) -> dict[str, Any]:
    """An image (or a PDF sent as `image_url`, as LiteLLM allows) from a data: or http(s) URL."""
    if isinstance(url, dict):
        url = url.get("url")
    if not isinstance(url, str):
        raise InvalidRequest(f"'{where}.url' must be a string", param=where)
    if url.startswith("data:"):
        media_type, data = _data_url(url, where)
        kind = "document" if media_type == "application/pdf" else "image"
        return {"type": kind, "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        kind = "document" if url.lower().split("?")[0].endswith(".pdf") else "image"
        return {"type": kind, "source": {"type": "url", "url": url}}
    raise InvalidRequest(f"'{where}.url' must be a base64 data URL or an http(s) URL", param=where)


def _file_block(file: Any, where: str) -> dict[str, Any]:
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:"):
        raise InvalidRequest("Only inline files ('file.file_data' as a base64 data URL) are supported for "
                             "Anthropic models", param=where, code="unsupported_parameter")
    media_type, payload = _data_url(data, where)
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": payload}}


def _part_block(part: Any, where: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("text", "refusal"):
        block = _text(part.get(kind), f"{where}.{kind}")
    elif kind == "image_url":
        block = _media_block(part.get("image_url"), f"{where}.image_url")
    elif kind == "file":
        block = _file_block(part.get("file"), f"{where}.file")
    else:
        raise InvalidRequest(f"Content parts of type '{kind}' are not supported for Anthropic models",
                             param=where, code="unsupported_parameter")
    return _with_cache_control(block, part) if block else None


def content_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        block = _text(content, f"{where}.content")
        return [block] if block else []
    if not isinstance(content, list):
        raise InvalidRequest(f"'{where}.content' must be a string or an array of parts", param=f"{where}.content")
    blocks = (_part_block(part, f"{where}.content[{i}]") for i, part in enumerate(content))
    return [block for block in blocks if block]


def system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    blocks = content_blocks(content, where)
    if any(block["type"] != "text" for block in blocks):
        raise InvalidRequest("System messages may only hold text for Anthropic models", param=f"{where}.content")
    return blocks


user_blocks = content_blocks


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(call.get("id"), str):
        raise InvalidRequest(f"'{where}' must have an id and a function", param=where)
    arguments = function.get("arguments") or "{}"
    try:
        tool_input = _decode_arguments(arguments) if isinstance(arguments, str) else arguments
    except msgspec.DecodeError:
        tool_input = None
    if not isinstance(tool_input, dict):
        raise InvalidRequest(f"'{where}.function.arguments' must be a JSON object", param=f"{where}.function.arguments")
    return {"type": "tool_use", "id": call["id"], "name": function.get("name"), "input": tool_input}


def assistant_blocks(message: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Thinking blocks first (Anthropic wants them back, signed, before a tool_use), then text, then tool calls."""
    thinking = [block for block in message.get("thinking_blocks") or ()
                if isinstance(block, dict) and block.get("type") in _THINKING_TYPES]
    tool_calls = [_tool_use(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(message.get("tool_calls") or ())]
    return thinking + content_blocks(message.get("content"), where) + tool_calls


def tool_result_block(message: dict[str, Any], where: str) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str):
        raise InvalidRequest(f"'{where}.tool_call_id' is required", param=f"{where}.tool_call_id")
    content = message.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_call_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = content_blocks(content, where)
        if parts:
            block["content"] = parts
    return block
