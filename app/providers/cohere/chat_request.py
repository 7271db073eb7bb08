"""An OpenAI chat request as a Cohere v2 `/v2/chat` body: messages and tools are nearly the same."""

from __future__ import annotations

from typing import Any

from app.lib.errors import InvalidRequest

# OpenAI field → Cohere field, for the values that carry over as they are.
PARAMETERS = {"max_tokens": "max_tokens", "max_completion_tokens": "max_tokens", "temperature": "temperature",
              "top_p": "p", "seed": "seed", "frequency_penalty": "frequency_penalty",
              "presence_penalty": "presence_penalty", "logprobs": "logprobs"}
TOOL_CHOICES = {"required": "REQUIRED", "none": "NONE"}


def chat_body(body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
    request: dict[str, Any] = {"model": model, "messages": [_message(m) for m in body.get("messages") or []],
                               "stream": stream}
    request.update({wire: body[name] for name, wire in PARAMETERS.items() if body.get(name) is not None})
    stop = body.get("stop")
    if stop:
        request["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = [_tool(tool) for tool in body.get("tools") or [] if tool.get("type") == "function"]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        # Cohere cannot name one tool: offer only that one, and require a call.
        tools = [tool for tool in tools if tool["function"]["name"] == choice["function"]["name"]]
        request["tool_choice"] = "REQUIRED"
    elif choice in TOOL_CHOICES and tools:
        request["tool_choice"] = TOOL_CHOICES[choice]
    if tools:
        request["tools"] = tools
    response_format = _response_format(body.get("response_format"))
    if response_format:
        request["response_format"] = response_format
    return request


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    content = message.get("content")
    if role in ("system", "developer"):
        return {"role": "system", "content": _text(content)}
    if role == "user":
        return {"role": "user", "content": content if isinstance(content, str) else [_part(p) for p in content or []]}
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        if content:
            out["content"] = _text(content)
        if message.get("tool_calls"):
            out["tool_calls"] = [{"id": call.get("id"), "type": "function",
                                  "function": {"name": call["function"].get("name"),
                                               "arguments": call["function"].get("arguments") or "{}"}}
                                 for call in message["tool_calls"]]
        return out
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.get("tool_call_id"), "content": _text(content)}
    raise InvalidRequest(f"Unsupported message role '{role}'", param="messages")


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def _part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        return {"type": "image_url", "image_url": {"url": image} if isinstance(image, str) else image}
    raise InvalidRequest(f"Content parts of type '{kind}' are not supported by Cohere", param="messages")


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    spec = {"name": function.get("name"), "parameters": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        spec["description"] = function["description"]
    return {"type": "function", "function": spec}


def _response_format(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict) or value.get("type") not in ("json_object", "json_schema"):
        return None
    out: dict[str, Any] = {"type": "json_object"}
    schema = (value.get("json_schema") or {}).get("schema")
    if schema:
        out["json_schema"] = schema
    return out
