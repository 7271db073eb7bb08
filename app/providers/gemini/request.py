"""An OpenAI chat request → a Gemini `generateContent` request body (shared by gemini/ and vertex_ai/)."""

from __future__ import annotations

import mimetypes
from typing import Any

import msgspec

from app.lib.errors import InvalidRequest
from app.providers.gemini.schema import gemini_schema

# OpenAI name → generationConfig name; values pass through unchanged.
GENERATION_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "n": "candidateCount",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "seed": "seed",
}
TOOL_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# reasoning_effort → thinking budget in tokens (Gemini 2.5) or thinking level (Gemini 3)
THINKING_BUDGETS = {"minimal": 0, "low": 1024, "medium": 8192, "high": 24576}
THINKING_LEVELS = {"minimal": "low", "low": "low", "medium": "high", "high": "high"}
_AUDIO_MIME = {"mp3": "audio/mp3", "wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "aac": "audio/aac"}


def _invalid(message: str, param: str = "messages") -> InvalidRequest:
    return InvalidRequest(message, param=param, code="unsupported_content")


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def _media_part(url: str, mime_hint: str | None = None) -> dict[str, Any]:
    """A data: URL becomes inline bytes; anything else (https://, gs://) is a file reference."""
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            raise _invalid("Only base64 data: URLs are supported in content parts")
        return {"inlineData": {"mimeType": mime or mime_hint or "application/octet-stream", "data": data}}
    mime = mime_hint or mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _user_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url", "") if isinstance(image, dict) else str(image or "")
        return _media_part(url, (image.get("format") if isinstance(image, dict) else None))
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        fmt = str(audio.get("format", "wav"))
        return {"inlineData": {"mimeType": _AUDIO_MIME.get(fmt, f"audio/{fmt}"), "data": audio.get("data", "")}}
    if kind == "file":
        file = part.get("file") or {}
        source = file.get("file_data") or file.get("file_id")
        if not source:
            raise _invalid("A 'file' content part needs 'file_data' or 'file_id'")
        return _media_part(source, file.get("format"))
    raise _invalid(f"Content part type '{kind}' is not supported by this model")


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    if isinstance(content, list):
        return [_user_part(part) for part in content if isinstance(part, dict)]
    return []


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        value = msgspec.json.decode(raw or "{}")
    except msgspec.DecodeError:
        raise _invalid("tool_calls[].function.arguments must be a JSON object") from None
    return value if isinstance(value, dict) else {"value": value}


def _function_response(content: Any) -> dict[str, Any]:
    # Gemini wants an object; a tool that answered with a JSON object keeps its shape.
    text = _text_of(content)
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        value = None
    return value if isinstance(value, dict) else {"content": text}


def _contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, contents) with consecutive same-role turns merged."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _text_of(content)
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _user_parts(content))
        elif role == "assistant":
            parts: list[dict[str, Any]] = []
            text = _text_of(content)
            if text:
                parts.append({"text": text})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                name = function.get("name", "")
                if call.get("id"):
                    call_names[call["id"]] = name
                parts.append({"functionCall": {"name": name, "args": _arguments(function.get("arguments"))}})
            add("model", parts)
        elif role in ("tool", "function"):
            name = call_names.get(message.get("tool_call_id") or "") or message.get("name") or message.get("tool_call_id") or ""
            add("user", [{"functionResponse": {"name": name, "response": _function_response(content)}}])
        else:
            raise _invalid(f"Message role '{role}' is not supported")
    return system, contents


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    declarations = []
    for tool in tools:
        if tool.get("type", "function") != "function":
            continue
        function = tool.get("function") or {}
        declaration: dict[str, Any] = {"name": function.get("name", "")}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = function.get("parameters")
        # Gemini refuses an OBJECT without properties: a function without arguments has no schema.
        if isinstance(parameters, dict) and parameters.get("properties"):
            declaration["parameters"] = gemini_schema(parameters)
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, str):
        mode = TOOL_CHOICE_MODES.get(choice)
        return {"functionCallingConfig": {"mode": mode}} if mode else None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


def _response_format(fmt: Any) -> dict[str, Any]:
    if not isinstance(fmt, dict):
        return {}
    if fmt.get("type") == "json_object":
        return {"responseMimeType": "application/json"}
    if fmt.get("type") == "json_schema":
        config: dict[str, Any] = {"responseMimeType": "application/json"}
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            config["responseSchema"] = gemini_schema(schema)
        return config
    return {}


def _thinking(effort: Any, model: str) -> dict[str, Any] | None:
    if effort not in THINKING_BUDGETS:
        return None
    if model.startswith("gemini-3"):
        return {"includeThoughts": True, "thinkingLevel": THINKING_LEVELS[effort]}
    return {"includeThoughts": effort != "minimal", "thinkingBudget": THINKING_BUDGETS[effort]}


def generate_content_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    system, contents = _contents(body.get("messages") or [])
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    tools = _tools(body.get("tools") or [])
    if tools:
        request["tools"] = tools
        config = _tool_config(body.get("tool_choice"))
        if config:
            request["toolConfig"] = config

    generation = {target: body[name] for name, target in GENERATION_PARAMS.items() if body.get(name) is not None}
    stop = body.get("stop")
    if stop:
        generation["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    generation.update(_response_format(body.get("response_format")))
    thinking = _thinking(body.get("reasoning_effort"), model)
    if thinking:
        generation["thinkingConfig"] = thinking
    if generation:
        request["generationConfig"] = generation
    return request
