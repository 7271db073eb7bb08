"""An OpenAI chat request as a Bedrock Converse request body (the model id goes in the URL)."""

from __future__ import annotations

from typing import Any

import msgspec

from app.lib.errors import InvalidRequest

# OpenAI field → inferenceConfig field.
INFERENCE_FIELDS = {"max_tokens": "maxTokens", "max_completion_tokens": "maxTokens", "temperature": "temperature",
                    "top_p": "topP"}
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
SYSTEM_ROLES = ("system", "developer")


def converse_body(body: dict[str, Any]) -> dict[str, Any]:
    system, messages = _conversation(body.get("messages") or [])
    request: dict[str, Any] = {"messages": messages}
    if system:
        request["system"] = system
    inference = {wire: body[name] for name, wire in INFERENCE_FIELDS.items() if body.get(name) is not None}
    stop = body.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        request["inferenceConfig"] = inference
    tool_config = _tool_config(body.get("tools"), body.get("tool_choice"))
    if tool_config:
        request["toolConfig"] = tool_config
    return request


def _texts(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    return [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"]


def _conversation(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """System blocks, and turns that alternate user/assistant (Converse refuses two turns of one role)."""
    system: list[dict] = []
    turns: list[dict] = []
    for message in messages:
        role = message.get("role")
        if role in SYSTEM_ROLES:
            system.extend({"text": text} for text in _texts(message.get("content")))
            continue
        if role == "user":
            wire_role, blocks = "user", _user_blocks(message.get("content"))
        elif role == "assistant":
            wire_role, blocks = "assistant", _assistant_blocks(message)
        elif role == "tool":
            wire_role, blocks = "user", [_tool_result(message)]
        else:
            raise InvalidRequest(f"Unsupported message role '{role}'", param="messages")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == wire_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": wire_role, "content": blocks})
    return system, turns


def _user_blocks(content: Any) -> list[dict]:
    if content is None or isinstance(content, str):
        return [{"text": text} for text in _texts(content)]
    blocks = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            blocks.append({"text": part.get("text", "")})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url") or {}))
        else:
            raise InvalidRequest(f"Content parts of type '{kind}' are not supported by Bedrock", param="messages")
    return blocks


def _image(image_url: dict[str, Any] | str) -> dict:
    url = image_url if isinstance(image_url, str) else image_url.get("url", "")
    header, sep, data = url.partition(",")
    media_type = header.removeprefix("data:").removesuffix(";base64")
    if not (url.startswith("data:") and header.endswith(";base64") and sep) or media_type not in IMAGE_FORMATS:
        raise InvalidRequest("Bedrock takes images inline only: a base64 data: URL of a png, jpeg, gif or webp image",
                             param="messages")
    # Converse's JSON carries `bytes` as base64: the caller's base64 goes on as it is.
    return {"image": {"format": IMAGE_FORMATS[media_type], "source": {"bytes": data}}}


def _assistant_blocks(message: dict[str, Any]) -> list[dict]:
    blocks: list[dict] = [{"text": text} for text in _texts(message.get("content")) if text]
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = msgspec.json.decode(function.get("arguments") or "{}")
        except msgspec.DecodeError:
            raise InvalidRequest("A tool call's 'arguments' is not valid JSON", param="messages") from None
        blocks.append({"toolUse": {"toolUseId": call.get("id"), "name": function.get("name"), "input": arguments}})
    return blocks


def _tool_result(message: dict[str, Any]) -> dict:
    texts = _texts(message.get("content")) or [""]
    return {"toolResult": {"toolUseId": message.get("tool_call_id"), "content": [{"text": text} for text in texts]}}


def _tool_config(tools: list[dict] | None, choice: Any) -> dict | None:
    specs = []
    for tool in tools or []:
        function = tool.get("function") if tool.get("type") == "function" else None
        if not function:
            continue
        spec: dict[str, Any] = {"name": function.get("name")}
        if function.get("description"):
            spec["description"] = function["description"]
        spec["inputSchema"] = {"json": function.get("parameters") or {"type": "object", "properties": {}}}
        specs.append({"toolSpec": spec})
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    if choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    # "none" has no Converse equivalent; the tools stay (turns holding toolUse blocks need them).
    return config
