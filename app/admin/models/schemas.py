"""Request and response shapes of /model/* (LiteLLM's field names)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec


class PublicParams(msgspec.Struct, omit_defaults=True):
    """litellm_params as shown back: everything but the credential."""

    model: str
    api_base: str | None = None
    api_version: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    timeout: float | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None


class LitellmParams(PublicParams, omit_defaults=True):
    """litellm_params as sent: the public ones plus the provider credential (write-only)."""

    api_key: str | None = None


class ModelCreate(msgspec.Struct):
    model_name: str
    litellm_params: LitellmParams
    model_info: dict[str, Any] | None = None


class ModelDelete(msgspec.Struct):
    id: str


class Model(msgspec.Struct):
    model_id: UUID
    model_name: str
    litellm_params: PublicParams
    model_info: dict[str, Any]
    provider: str
    has_api_key: bool


class ModelList(msgspec.Struct):
    data: list[Model]


class Deleted(msgspec.Struct):
    deleted: list[str]
