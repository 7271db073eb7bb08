"""The request checks of the fake Anthropic upstream: what the real Messages API refuses with a 400.

Messages follow Anthropic's wording (`<path>: <problem>`, e.g. `foo: Extra inputs are not permitted`),
so a test failing on a wrongly shaped request says exactly which field was wrong.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

MESSAGE_FIELDS = {"model", "max_tokens", "messages", "system", "metadata", "stop_sequences", "stream", "temperature",
                  "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "output_config",
                  "cache_control", "container", "context_management", "mcp_servers", "inference_geo", "speed"}
COUNT_TOKENS_FIELDS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
                       "cache_control", "context_management", "mcp_servers", "speed"}
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_BLOCK_FIELDS = {
    "text": ({"type", "text"}, {"cache_control", "citations"}),
    "image": ({"type", "source"}, {"cache_control"}),
    "document": ({"type", "source"}, {"cache_control", "citations", "context", "title"}),
    "tool_use": ({"type", "id", "name", "input"}, {"cache_control"}),
    "tool_result": ({"type", "tool_use_id"}, {"content", "is_error", "cache_control"}),
    "thinking": ({"type", "thinking", "signature"}, set()),
    "redacted_thinking": ({"type", "data"}, set()),
}
_USER_BLOCKS = {"text", "image", "document", "tool_result"}
_ASSISTANT_BLOCKS = {"text", "tool_use", "thinking", "redacted_thinking"}


class Invalid(Exception):
    """A request the real API answers with 400 invalid_request_error."""


def _fields(obj: Any, where: str, required: set[str], optional: set[str]) -> None:
    if not isinstance(obj, dict):
        raise Invalid(f"{where}: Input should be a valid dictionary")
    for name in sorted(required - set(obj)):
        raise Invalid(f"{where}.{name}: Field required".lstrip("."))
    for name in sorted(set(obj) - required - optional):
        raise Invalid(f"{where}.{name}: Extra inputs are not permitted".lstrip("."))


def _cache_control(value: Any, where: str) -> None:
    if value is not None and (not isinstance(value, dict) or value.get("type") != "ephemeral"):
        raise Invalid(f"{where}.cache_control: Input tag must be 'ephemeral'")


def _source(source: Any, where: str, kind: str) -> None:
    if not isinstance(source, dict) or source.get("type") not in ("base64", "url", "text"):
        raise Invalid(f"{where}.source: Input tag must be one of 'base64', 'url'")
    if source["type"] == "url":
        _fields(source, f"{where}.source", {"type", "url"}, set())
        if not str(source["url"]).startswith(("http://", "https://")):
            raise Invalid(f"{where}.source.url: Only HTTP and HTTPS URLs are supported")
        return
    _fields(source, f"{where}.source", {"type", "media_type", "data"}, set())
    allowed = IMAGE_TYPES if kind == "image" else ("application/pdf", "text/plain")
    if source["media_type"] not in allowed:
        raise Invalid(f"{where}.source.media_type: Input should be " + ", ".join(f"'{t}'" for t in allowed))
    if source["type"] == "base64":
        try:
            base64.b64decode(source["data"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise Invalid(f"{where}.source.data: The data is not valid base64") from None


def _block(block: Any, where: str, allowed: set[str]) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in allowed:
        raise Invalid(f"{where}.type: Input tag '{kind}' is not one of " + ", ".join(sorted(allowed)))
    required, optional = _BLOCK_FIELDS[kind]
    _fields(block, where, required, optional)
    _cache_control(block.get("cache_control"), where)
    if kind == "text" and (not isinstance(block["text"], str) or not block["text"]):
        raise Invalid("messages: text content blocks must be non-empty")
    if kind in ("image", "document"):
        _source(block["source"], where, kind)
    if kind == "tool_use" and (not isinstance(block["input"], dict) or not isinstance(block["name"], str)):
        raise Invalid(f"{where}.input: Input should be a valid dictionary")
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            for i, part in enumerate(content):
                _block(part, f"{where}.content.{i}", {"text", "image", "document"})
        elif content is not None and not isinstance(content, str):
            raise Invalid(f"{where}.content: Input should be a valid string or list")


def _messages(messages: Any) -> None:
    if not isinstance(messages, list):
        raise Invalid("messages: Input should be a valid list")
    pending_tool_uses: list[str] = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        _fields(message, where, {"role", "content"}, set())
        role, content = message["role"], message["content"]
        if role not in ("user", "assistant"):
            raise Invalid(f"{where}.role: Input should be 'user' or 'assistant'")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list):
            raise Invalid(f"{where}.content: Input should be a valid list")
        if not blocks and i != len(messages) - 1:
            raise Invalid(f"{where}: all messages must have non-empty content except for the optional final "
                          "assistant message")
        for j, block in enumerate(blocks):
            _block(block, f"{where}.content.{j}", _USER_BLOCKS if role == "user" else _ASSISTANT_BLOCKS)
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        if pending_tool_uses and (role != "user" or set(pending_tool_uses) - set(results)):
            raise Invalid(f"messages.{i - 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                          f"after: {', '.join(pending_tool_uses)}. Each `tool_use` block must have a corresponding "
                          "`tool_result` block in the next message.")
        for unknown in set(results) - set(pending_tool_uses):
            raise Invalid(f"{where}.content: unexpected `tool_use_id` found in `tool_result` blocks: {unknown}. "
                          "Each `tool_result` block must have a corresponding `tool_use` block in the previous "
                          "message.")
        if results and any(b["type"] != "tool_result" for b in blocks[: len(results)]):
            raise Invalid(f"{where}.content: `tool_result` blocks must come first in the message")
        pending_tool_uses = [b["id"] for b in blocks if b["type"] == "tool_use"]


def _tools(tools: Any, tool_choice: Any) -> None:
    if not isinstance(tools, list):
        raise Invalid("tools: Input should be a valid list")
    for i, tool in enumerate(tools):
        _fields(tool, f"tools.{i}", {"name", "input_schema"}, {"description", "cache_control", "type", "strict"})
        if not _TOOL_NAME.match(str(tool["name"])):
            raise Invalid(f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if not isinstance(tool["input_schema"], dict) or tool["input_schema"].get("type") != "object":
            raise Invalid(f"tools.{i}.input_schema.type: Input should be 'object'")
        _cache_control(tool.get("cache_control"), f"tools.{i}")
    if tool_choice is not None:
        kind = tool_choice.get("type") if isinstance(tool_choice, dict) else None
        if kind not in ("auto", "any", "tool", "none"):
            raise Invalid(f"tool_choice.type: Input tag '{kind}' is not one of 'auto', 'any', 'tool', 'none'")
        _fields(tool_choice, "tool_choice", {"type"} | ({"name"} if kind == "tool" else set()),
                set() if kind == "none" else {"disable_parallel_tool_use"})


def _system(system: Any) -> None:
    if isinstance(system, str):
        return
    if not isinstance(system, list):
        raise Invalid("system: Input should be a valid string or list")
    for i, block in enumerate(system):
        _block(block, f"system.{i}", {"text"})


def check_messages_request(body: Any, *, count_tokens: bool = False) -> None:
    allowed = COUNT_TOKENS_FIELDS if count_tokens else MESSAGE_FIELDS
    required = {"model", "messages"} if count_tokens else {"model", "messages", "max_tokens"}
    _fields(body, "", required, allowed - required)
    if not isinstance(body["model"], str):
        raise Invalid("model: Input should be a valid string")
    if not count_tokens and (not isinstance(body["max_tokens"], int) or body["max_tokens"] < 0):
        raise Invalid("max_tokens: Input should be a valid integer, greater than or equal to 0")
    _messages(body["messages"])
    if "system" in body:
        _system(body["system"])
    if "tools" in body:
        _tools(body["tools"], body.get("tool_choice"))
    elif "tool_choice" in body:
        raise Invalid("tool_choice: may only be specified while providing tools")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            raise Invalid(f"{name}: range: 0..1")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) and s.strip() for s in stops)):
        raise Invalid("stop_sequences: each stop sequence must contain non-whitespace")
    if "metadata" in body:
        _fields(body["metadata"], "metadata", set(), {"user_id"})
    thinking = body.get("thinking")
    if thinking is not None and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if not count_tokens and budget >= body["max_tokens"]:
            raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
