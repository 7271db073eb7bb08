"""The Anthropic Messages API over chat: a Messages request as a chat request, a chat completion as
an Anthropic `message`, and a token estimate for `/v1/messages/count_tokens`.

What chat cannot say is dropped, not refused, where Anthropic's own API treats it as a hint:
`top_k`, `cache_control`, `thinking` (so a client that always asks for thinking, as Claude Code does,
still works on models without reasoning; thinking blocks sent back in the history are dropped too).
Server tools (web search, code execution, Anthropic-defined computer/bash/editor tools), Files API
sources and MCP servers need Anthropic's side and are refused.
"""

from __future__ import annotations

import json
from typing import Any

from app.billing import tokens
from app.gateway.formats.chat_stream import new_id, token_counts
from app.lib.errors import InvalidRequest

# finish_reason → stop_reason
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}
# Anthropic bills an image of about 1.15 megapixels at ~1,600 tokens; the estimate sees neither image
# sizes nor document pages, so it counts each image or document as that much.
_IMAGE_TOKENS = 1600


def chat_request_from_messages(body: dict[str, Any]) -> dict[str, Any]:
    """A chat request body saying what an Anthropic Messages request body says (InvalidRequest if it can't)."""
    if body.get("mcp_servers"):
        raise InvalidRequest("'mcp_servers' is not supported: declare the tools in 'tools' and run them yourself",
                             param="mcp_servers", code="unsupported_parameter")
    messages = _system_messages(body.get("system"))
    turns = body.get("messages")
    if not isinstance(turns, list) or not turns:
        raise InvalidRequest("'messages' is required and must be a non-empty array", param="messages",
                             code="missing_required_parameter")
    for position, turn in enumerate(turns):
        messages += _chat_messages(turn, f"messages[{position}]")

    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if body.get("max_tokens") is not None:
        chat["max_completion_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        chat["user"] = user
    _add_tools(chat, body)
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries the final usage
    return chat


def messages_from_chat(chat: dict[str, Any], *, request: dict[str, Any],
                       message_id: str | None = None) -> dict[str, Any]:
    """The Anthropic `message` for a chat completion body; `request` is the caller's Messages body."""
    choice = next(iter(chat.get("choices") or ()), None) or {}
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    if message.get("reasoning_content") and thinking_enabled(request):
        content.append({"type": "thinking", "thinking": message["reasoning_content"], "signature": ""})
    text = message.get("content") or message.get("refusal")
    if isinstance(text, list):
        text = "".join(part.get("text") or "" for part in text if isinstance(part, dict))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or new_id("toolu"), "name": function.get("name") or "",
                        "input": tool_input(function.get("arguments"))})
    return {
        "id": message_id or new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": request.get("model"),
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason"), has_tool_use=bool(message.get("tool_calls"))),
        "stop_sequence": None,
        "usage": usage_object(chat.get("usage")),
    }


def count_tokens_estimate(body: dict[str, Any]) -> int:
    """Input tokens of a Messages request (system, messages, tools), counted with tiktoken: a close
    estimate for `/v1/messages/count_tokens` when the provider has no counter of its own."""
    chat = chat_request_from_messages(body)
    total = tokens.count_messages(chat["messages"])
    for message in chat["messages"]:
        content = message.get("content")
        if isinstance(content, list):
            total += _IMAGE_TOKENS * sum(1 for part in content if part.get("type") in ("image_url", "file"))
    for tool in chat.get("tools") or ():
        total += tokens.count_text(json.dumps(tool["function"], separators=(",", ":")))
    return total


def thinking_enabled(request: dict[str, Any]) -> bool:
    thinking = request.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def stop_reason(finish_reason: str | None, *, has_tool_use: bool) -> str:
    # Some vendors end a tool-calling turn with "stop"; Anthropic clients look for tool_use.
    if has_tool_use and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def usage_object(usage: Any) -> dict[str, int]:
    """Anthropic counts input without cache reads and writes; chat's prompt_tokens includes both."""
    counts = token_counts(usage)
    if counts is None:
        return {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}
    return {
        "input_tokens": max(counts.prompt - counts.cached - counts.cache_write, 0),
        "cache_creation_input_tokens": counts.cache_write,
        "cache_read_input_tokens": counts.cached,
        "output_tokens": counts.completion,
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    """tool_use.input must be an object: arguments that are empty or not a JSON object (a reply cut at
    max_tokens) give {}."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments) if arguments else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _system_messages(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    if isinstance(system, list):
        text = "\n".join(block.get("text") or "" for block in system
                         if isinstance(block, dict) and block.get("type") == "text")
        return [{"role": "system", "content": text}] if text else []
    if system is None:
        return []
    raise InvalidRequest("'system' must be a string or an array of text blocks", param="system")


def _chat_messages(turn: Any, where: str) -> list[dict[str, Any]]:
    role = turn.get("role") if isinstance(turn, dict) else None
    if role not in ("user", "assistant"):
        raise InvalidRequest(f"{where}.role must be user or assistant", param=f"{where}.role")
    content = turn.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content must be a string or an array of content blocks",
                             param=f"{where}.content")
    if role == "assistant":
        return [_assistant_message(content, where)]
    return _user_messages(content, where)


def _assistant_message(blocks: list[Any], where: str) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = _kind(block)
        if kind == "text":
            text.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input") or {})}})
        elif kind not in ("thinking", "redacted_thinking"):
            raise _unsupported_block(kind, f"{where}.content[{index}]")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    return message


def _user_messages(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results become tool messages first (chat wants them right after the assistant's calls);
    the rest of the turn, with any images the tools returned, follows as one user message."""
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    tool_media: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind, at = _kind(block), f"{where}.content[{index}]"
        if kind == "tool_result":
            text, media = _tool_result(block, at)
            results.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
            tool_media += media
        else:
            parts.append(_user_part(block, kind, at))
    rest = tool_media + parts
    if not rest:
        return results
    if len(rest) == 1 and rest[0]["type"] == "text":
        return [*results, {"role": "user", "content": rest[0]["text"]}]
    return [*results, {"role": "user", "content": rest}]


def _tool_result(block: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    if isinstance(content, list):
        parts = [_user_part(item, _kind(item), f"{where}.content[{index}]") for index, item in enumerate(content)]
    else:
        parts = [{"type": "text", "text": content}] if isinstance(content, str) and content else []
    media = [part for part in parts if part["type"] != "text"]
    text = "\n".join(part["text"] for part in parts if part["type"] == "text")
    if not text and media:
        text = "(the result is in the next message)"
    if block.get("is_error"):
        # Chat has no error flag on a tool message: say it in the text the model reads.
        text = f"Error: {text}" if text else "Error"
    return text, media


def _user_part(block: Any, kind: str | None, where: str) -> dict[str, Any]:
    if kind == "text":
        return {"type": "text", "text": block.get("text") or ""}
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            url = f"data:{source.get('media_type')};base64,{source.get('data')}"
            return {"type": "image_url", "image_url": {"url": url}}
        if source.get("type") == "url":
            return {"type": "image_url", "image_url": {"url": source.get("url")}}
        raise InvalidRequest(f"{where}: image sources of type '{source.get('type')}' are not supported (send base64 "
                             "or a URL)", param=where, code="unsupported_parameter")
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            media_type = source.get("media_type") or "application/pdf"
            return {"type": "file", "file": {"filename": block.get("title") or "document.pdf",
                                             "file_data": f"data:{media_type};base64,{source.get('data')}"}}
        if source.get("type") == "text":
            return {"type": "text", "text": source.get("data") or ""}
        raise InvalidRequest(f"{where}: document sources of type '{source.get('type')}' are not supported (send "
                             "base64 or text)", param=where, code="unsupported_parameter")
    raise _unsupported_block(kind, where)


def _add_tools(chat: dict[str, Any], body: dict[str, Any]) -> None:
    tools = [_chat_tool(tool, f"tools[{index}]") for index, tool in enumerate(body.get("tools") or ())]
    if not tools:
        return  # chat refuses tool_choice and parallel_tool_calls without tools
    chat["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "auto":
            chat["tool_choice"] = "auto"
        elif kind == "any":
            chat["tool_choice"] = "required"
        elif kind == "none":
            chat["tool_choice"] = "none"
        elif kind == "tool" and choice.get("name"):
            chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        else:
            raise InvalidRequest("'tool_choice.type' must be auto, any, tool or none", param="tool_choice")
        if choice.get("disable_parallel_tool_use"):
            chat["parallel_tool_calls"] = False


def _chat_tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise InvalidRequest(f"{where}: '{kind}' tools run on Anthropic's side and are not supported here; declare "
                             "client tools (name, description, input_schema)", param=where,
                             code="unsupported_parameter")
    parameters = tool.get("input_schema") or {"type": "object", "properties": {}}
    function = {"name": tool.get("name"), "parameters": parameters}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _kind(block: Any) -> str | None:
    return block.get("type") if isinstance(block, dict) else None


def _unsupported_block(kind: str | None, where: str) -> InvalidRequest:
    return InvalidRequest(f"{where}: content blocks of type '{kind}' are not supported by this gateway", param=where,
                         code="unsupported_parameter")
