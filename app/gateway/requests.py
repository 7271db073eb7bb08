"""Reading a data-plane request body: JSON object, a model name, and nothing that steers the upstream."""

from __future__ import annotations

from typing import Any

import msgspec

from app.lib.errors import InvalidRequest

_decode = msgspec.json.Decoder().decode

# Fields a caller could use to pick the upstream or its credentials. LiteLLM honoured some of
# these from the body; a multi-tenant gateway must not, so they are refused, not silently dropped.
ROUTING_OVERRIDES = frozenset({
    "api_base", "base_url", "api_key", "api_version", "headers", "extra_headers", "organization",
    "custom_llm_provider", "litellm_params", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key",
    "aws_session_token", "aws_region_name", "vertex_credentials", "vertex_project", "vertex_location",
})
_NESTED = ("extra_body", "metadata")


def parse_body(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object")
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        raise InvalidRequest("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    refuse_routing_overrides(body)
    return body


def refuse_routing_overrides(body: dict[str, Any]) -> None:
    for field in ROUTING_OVERRIDES.intersection(body):
        raise InvalidRequest(f"'{field}' cannot be set by the caller: the gateway chooses upstreams and credentials",
                             param=field, code="forbidden_parameter")
    for container in _NESTED:
        nested = body.get(container)
        if isinstance(nested, dict):
            for field in ROUTING_OVERRIDES.intersection(nested):
                raise InvalidRequest(
                    f"'{container}.{field}' cannot be set by the caller: the gateway chooses upstreams and credentials",
                    param=f"{container}.{field}", code="forbidden_parameter",
                )


def require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a string", param="model", code="missing_required_parameter")
    return model


def require_messages(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array", param="messages",
                             code="missing_required_parameter")


def require_input(body: dict[str, Any]) -> None:
    value = body.get("input")
    if not isinstance(value, (str, list)) or not value:
        raise InvalidRequest("'input' is required: a string or an array", param="input", code="missing_required_parameter")
