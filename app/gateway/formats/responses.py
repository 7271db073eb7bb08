"""The OpenAI Responses API over chat: a Responses request as a chat request, a chat completion as
a Responses `response` object.

The gateway keeps no conversation state, so whatever needs a stored response (`previous_response_id`,
`store: true`, `conversation`, `background`, `item_reference`, stored prompts) is refused; function
tools, images, files and structured output map onto chat. Built-in tools (web search, file search,
code interpreter…) run inside OpenAI and have no chat equivalent, so they are refused too.
"""

from __future__ import annotations

import time
from typing import Any

from app.billing.pricing import TokenCounts
from app.gateway.formats.chat_stream import new_id, token_counts
from app.lib.errors import InvalidRequest

_STATELESS = "this gateway keeps no conversation state: send the whole conversation in 'input'"
# Chat fields that mean the same under the same name.
_SAME_NAME = ("temperature", "top_p", "user", "safety_identifier", "prompt_cache_key", "service_tier")
# finish_reason → incomplete_details.reason
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_response_id() -> str:
    return new_id("resp")


def chat_request_from_responses(body: dict[str, Any]) -> dict[str, Any]:
    """A chat request body saying what a Responses request body says (InvalidRequest if it can't).

    `metadata` is not forwarded (chat accepts it only with `store`); it is echoed in the response.
    """
    _refuse_state(body)
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    messages += _messages_from_input(body.get("input"))

    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    chat.update((name, body[name]) for name in _SAME_NAME if body.get(name) is not None)
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        chat["reasoning_effort"] = effort
    _add_text_config(chat, body.get("text"))
    _add_tools(chat, body)
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # response.completed carries usage
    return chat


def responses_from_chat(chat: dict[str, Any], *, request: dict[str, Any], response_id: str) -> dict[str, Any]:
    """The Responses `response` object for a chat completion body; `request` is the caller's Responses body."""
    choice = next(iter(chat.get("choices") or ()), None) or {}
    message = choice.get("message") or {}
    incomplete = INCOMPLETE_REASONS.get(choice.get("finish_reason") or "")
    item_status = "incomplete" if incomplete else "completed"

    output: list[dict[str, Any]] = []
    if message.get("reasoning_content"):
        output.append(reasoning_item(new_id("rs"), message["reasoning_content"], item_status))
    parts = []
    if message.get("content"):
        parts.append(output_text_part(_text_of(message["content"])))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    calls = message.get("tool_calls") or []
    if parts or not (calls or output):
        output.append(message_item(new_id("msg"), parts or [output_text_part("")], item_status))
    for call in calls:
        function = call.get("function") or {}
        output.append(function_call_item(new_id("fc"), call.get("id") or new_id("call"), function.get("name") or "",
                                         function.get("arguments") or "", "completed"))
    counts = token_counts(chat.get("usage"))
    return response_object(
        request, response_id=response_id, created_at=chat.get("created") or int(time.time()),
        status="incomplete" if incomplete else "completed", output=output,
        usage=usage_object(counts) if counts else None, incomplete_reason=incomplete,
    )


def response_object(request: dict[str, Any], *, response_id: str, created_at: int, status: str,
                    output: list[dict[str, Any]], usage: dict[str, Any] | None = None,
                    incomplete_reason: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `response` object echoing the request's settings as the Responses API does (no `output_text`:
    that is the SDKs' convenience, not a wire field)."""
    text = request.get("text") or {}
    reasoning = request.get("reasoning") or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": request.get("model"),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": request.get("safety_identifier"),
        "service_tier": request.get("service_tier"),
        "store": False,
        "temperature": request.get("temperature"),
        "text": {"format": text.get("format") or {"type": "text"},
                 **({"verbosity": text["verbosity"]} if text.get("verbosity") else {})},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": [_echoed_tool(tool) for tool in request.get("tools") or ()],
        "top_p": request.get("top_p"),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def usage_object(counts: TokenCounts) -> dict[str, Any]:
    return {
        "input_tokens": counts.prompt,
        "input_tokens_details": {"cached_tokens": counts.cached, "cache_write_tokens": counts.cache_write},
        "output_tokens": counts.completion,
        "output_tokens_details": {"reasoning_tokens": counts.reasoning},
        "total_tokens": counts.prompt + counts.completion,
    }


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def reasoning_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "reasoning_text", "text": text}] if text else []
    return {"id": item_id, "type": "reasoning", "status": status, "summary": [], "content": content}


def _refuse_state(body: dict[str, Any]) -> None:
    for field in ("previous_response_id", "conversation"):
        if body.get(field):
            raise InvalidRequest(f"'{field}' is not supported: {_STATELESS}", param=field, code="unsupported_parameter")
    if body.get("prompt"):
        raise InvalidRequest("'prompt' (a stored prompt template) is not supported: send 'instructions' and 'input'",
                             param="prompt", code="unsupported_parameter")
    if body.get("store") is True:
        raise InvalidRequest(f"'store: true' is not supported: {_STATELESS}; send 'store: false' or leave it out",
                             param="store", code="unsupported_parameter")
    if body.get("background"):
        raise InvalidRequest("'background' is not supported: this gateway keeps no responses to poll",
                             param="background", code="unsupported_parameter")


def _messages_from_input(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str) and value:
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'input' is required: a string or an array of input items", param="input",
                             code="missing_required_parameter")
    messages: list[dict[str, Any]] = []
    pending_images: list[dict[str, Any]] = []  # images returned by tools, shown in a user message after them
    for position, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidRequest(f"input[{position}] must be an object", param=f"input[{position}]")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind != "function_call_output" and pending_images:
            messages.append({"role": "user", "content": pending_images})
            pending_images = []
        if kind == "message":
            messages.append(_message(item, position))
        elif kind == "function_call":
            _append_tool_call(messages, item)
        elif kind == "function_call_output":
            text, images = _tool_output(item.get("output"), position)
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
            pending_images += images
        elif kind == "reasoning":
            continue  # reasoning from an earlier turn has no place in chat (and encrypted reasoning is vendor-bound)
        elif kind == "item_reference":
            raise InvalidRequest(f"input[{position}]: 'item_reference' is not supported: {_STATELESS}",
                                 param=f"input[{position}]", code="unsupported_parameter")
        else:
            raise InvalidRequest(f"input[{position}]: items of type '{kind}' are not supported by this gateway",
                                 param=f"input[{position}]", code="unsupported_parameter")
    if pending_images:
        messages.append({"role": "user", "content": pending_images})
    return messages


def _message(item: dict[str, Any], position: int) -> dict[str, Any]:
    role = item.get("role")
    content = item.get("content")
    if role == "assistant":
        return {"role": "assistant", "content": _text_of(content)}
    if role not in ("user", "system", "developer"):
        raise InvalidRequest(f"input[{position}].role must be user, assistant, system or developer",
                             param=f"input[{position}].role")
    # developer is OpenAI's newer name for system; other vendors only know system.
    chat_role = "user" if role == "user" else "system"
    if isinstance(content, str):
        return {"role": chat_role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"input[{position}].content must be a string or an array",
                             param=f"input[{position}].content")
    parts = [_chat_part(part, f"input[{position}].content[{index}]") for index, part in enumerate(content)]
    if chat_role == "system":
        return {"role": "system", "content": _text_of(parts)}
    return {"role": "user", "content": parts}


def _append_tool_call(messages: list[dict[str, Any]], item: dict[str, Any]) -> None:
    call = {"id": item.get("call_id"), "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
    last = messages[-1] if messages else None
    # A turn's text and its function calls are one assistant message in chat.
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _tool_output(output: Any, position: int) -> tuple[str, list[dict[str, Any]]]:
    """A function_call_output as tool-message text, plus its images (chat tool messages hold text only)."""
    if isinstance(output, str):
        return output, []
    if not isinstance(output, list):
        raise InvalidRequest(f"input[{position}].output must be a string or an array",
                             param=f"input[{position}].output")
    parts = [_chat_part(part, f"input[{position}].output[{index}]") for index, part in enumerate(output)]
    media = [part for part in parts if part["type"] != "text"]
    text = _text_of(parts) or ("(the result is in the next message)" if media else "")
    return text, media


def _chat_part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": part.get("text") or ""}
    if kind == "input_image":
        if not part.get("image_url"):
            raise InvalidRequest(f"{where}: input_image needs an 'image_url' (a URL or a data: URL); this gateway "
                                 "keeps no files for 'file_id'", param=where, code="unsupported_parameter")
        image = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file = {name: part[name] for name in ("file_data", "file_id", "filename") if part.get(name)}
        if "file_data" not in file and "file_id" not in file:
            raise InvalidRequest(f"{where}: input_file needs 'file_data' or 'file_id' ('file_url' is not supported)",
                                 param=where, code="unsupported_parameter")
        return {"type": "file", "file": file}
    raise InvalidRequest(f"{where}: content parts of type '{kind}' are not supported", param=where,
                         code="unsupported_parameter")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text") or part.get("refusal") or "" for part in content if isinstance(part, dict))
    return ""


def _add_text_config(chat: dict[str, Any], text: Any) -> None:
    if not isinstance(text, dict):
        return
    fmt = text.get("format") or {}
    if fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        schema = {name: fmt[name] for name in ("name", "description", "schema", "strict") if name in fmt}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    if text.get("verbosity"):
        chat["verbosity"] = text["verbosity"]


def _add_tools(chat: dict[str, Any], body: dict[str, Any]) -> None:
    tools = [_chat_tool(tool, index) for index, tool in enumerate(body.get("tools") or ())]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        # Chat's own allowed_tools is OpenAI-only; narrowing the list says the same to every vendor.
        allowed = {tool.get("name") for tool in choice.get("tools") or () if tool.get("type") == "function"}
        tools = [tool for tool in tools if tool["function"]["name"] in allowed]
        choice = choice.get("mode") or "auto"
    if not tools:
        return  # chat refuses tool_choice and parallel_tool_calls without tools
    chat["tools"] = tools
    if choice is not None:
        chat["tool_choice"] = _chat_tool_choice(choice)
    if body.get("parallel_tool_calls") is not None:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]


def _chat_tool(tool: Any, index: int) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind != "function":
        raise InvalidRequest(f"tools[{index}]: built-in tools such as '{kind}' run inside OpenAI and are not supported "
                             "here; declare function tools and run them yourself", param=f"tools[{index}]",
                             code="unsupported_parameter")
    function = {name: tool[name] for name in ("name", "description", "parameters", "strict")
                if tool.get(name) is not None}
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest("'tool_choice' must be auto, none, required, a function or allowed_tools over functions",
                         param="tool_choice", code="unsupported_parameter")


def _echoed_tool(tool: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "name": tool.get("name"), "description": tool.get("description"),
            "parameters": tool.get("parameters"), "strict": tool.get("strict")}
