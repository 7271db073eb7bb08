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
    max_parallel_requests: int | None = None
    weight: int | None = None
    stream_timeout: float | None = None
    timeout: float | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    aws_region_name: str | None = None
    vertex_project: str | None = None
    vertex_location: str | None = None


class LitellmParams(PublicParams, omit_defaults=True):
    """litellm_params as sent: the public ones plus the provider credentials (write-only)."""

    api_key: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    vertex_credentials: str | dict[str, Any] | None = None


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
    credentials_set: list[str]


class ModelList(msgspec.Struct):
    data: list[Model]


class Deleted(msgspec.Struct):
    deleted: list[str]
