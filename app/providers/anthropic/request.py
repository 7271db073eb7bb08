"""An OpenAI chat request → an Anthropic Messages request.

Plain parameters are a declarative map (`PARAMETERS`); messages, tools, tool choice, thinking and
response format need a little code each. OpenAI parameters Anthropic has no equivalent for
(penalties, logit_bias, seed, logprobs, ...) are not sent: Anthropic refuses unknown fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from app.lib.errors import InvalidRequest
from app.providers.anthropic.content import assistant_blocks, system_blocks, tool_result_block, user_blocks

DEFAULT_MAX_TOKENS = 4096
# LiteLLM's budgets for OpenAI's `reasoning_effort` (Anthropic's minimum budget is 1024).
THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}


def _stop_sequences(value: Any) -> list[str] | None:
    stops = [value] if isinstance(value, str) else list(value or ())
    return [stop for stop in stops if isinstance(stop, str) and stop] or None


def _metadata(user: Any) -> dict[str, str] | None:
    return {"user_id": user} if isinstance(user, str) and user else None


# OpenAI name → (Anthropic name, conversion). Order matters only where two map onto one name:
# `max_completion_tokens` (newer) comes after `max_tokens` so that it wins.
PARAMETERS: dict[str, tuple[str, Callable[[Any], Any] | None]] = {
    "model": ("model", None),
    "max_tokens": ("max_tokens", None),
    "max_completion_tokens": ("max_tokens", None),
    "temperature": ("temperature", None),
    "top_p": ("top_p", None),
    "top_k": ("top_k", None),  # not OpenAI's, but LiteLLM passes it through to Anthropic
    "stop": ("stop_sequences", _stop_sequences),
    "user": ("metadata", _metadata),
    "stream": ("stream", None),
    "thinking": ("thinking", None),  # Anthropic's own shape, as LiteLLM accepts it
}


def _turns(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, user/assistant turns); consecutive turns of one role are merged into one."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"'{where}' must be an object", param=where)
        role = message.get("role")
        if role in ("system", "developer"):
            system += system_blocks(message.get("content"), where)
            continue
        if role == "user":
            blocks = user_blocks(message.get("content"), where)
        elif role == "assistant":
            blocks = assistant_blocks(message, where)
        elif role == "tool":
            role, blocks = "user", [tool_result_block(message, where)]
        else:
            raise InvalidRequest(f"'{where}.role' must be system, developer, user, assistant or tool",
                                 param=f"{where}.role")
        if not blocks:
            continue  # Anthropic refuses empty turns; an empty assistant turn says nothing anyway
        if isinstance(message.get("cache_control"), dict):
            blocks[-1]["cache_control"] = message["cache_control"]
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _tools(tools: Any) -> list[dict[str, Any]]:
    converted = []
    for i, tool in enumerate(tools or ()):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise InvalidRequest("Only function tools with a name are supported for Anthropic models",
                                 param=f"tools[{i}]", code="unsupported_parameter")
        spec: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            spec["description"] = function["description"]
        spec["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
        if isinstance(tool.get("cache_control"), dict):
            spec["cache_control"] = tool["cache_control"]
        converted.append(spec)
    return converted


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None or choice == "auto":
        mapped: dict[str, Any] = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        mapped = {"type": "any"}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        mapped = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequest("'tool_choice' must be auto, none, required or a named function", param="tool_choice")
    if parallel is False:
        mapped["disable_parallel_tool_use"] = True
    elif choice is None:
        return None  # Anthropic's default is auto: send nothing
    return mapped


def _output_format(response_format: Any) -> dict[str, Any] | None:
    """OpenAI's json_schema → Anthropic structured outputs; `text` and `json_object` need nothing sent."""
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    if not isinstance(schema, dict):
        raise InvalidRequest("'response_format.json_schema.schema' is required", param="response_format")
    return {"format": {"type": "json_schema", "schema": schema}}


def to_anthropic(body: dict[str, Any], *, max_output_tokens: int | None = None) -> dict[str, Any]:
    """The Messages API body for an OpenAI chat body (whose `model` is already the upstream name)."""
    if (body.get("n") or 1) != 1:
        raise InvalidRequest("Anthropic models return one choice: 'n' must be 1", param="n",
                             code="unsupported_parameter")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise InvalidRequest("'messages' must be an array", param="messages")
    out: dict[str, Any] = {}
    for name, (target, convert) in PARAMETERS.items():
        value = body.get(name)
        if value is not None and (convert is None or (value := convert(value)) is not None):
            out[target] = value
    system, turns = _turns(messages)
    if system:
        plain = len(system) == 1 and set(system[0]) == {"type", "text"}
        out["system"] = system[0]["text"] if plain else system
    out["messages"] = turns
    if tools := _tools(body.get("tools")):
        out["tools"] = tools
        if (choice := _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))) is not None:
            out["tool_choice"] = choice
    if output_config := _output_format(body.get("response_format")):
        out["output_config"] = output_config
    default_max = min(DEFAULT_MAX_TOKENS, max_output_tokens or DEFAULT_MAX_TOKENS)
    budget = THINKING_BUDGETS.get(body.get("reasoning_effort") or "")
    if budget and "thinking" not in out:
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        # The thinking budget is part of max_tokens: leave room for the answer when the caller set none.
        default_max = budget + DEFAULT_MAX_TOKENS
    out.setdefault("max_tokens", default_max)
    return out


encode = msgspec.json.Encoder().encode
