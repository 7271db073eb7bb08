"""Registering an account's model deployments; credentials are sealed before they are stored. Each change
is audited with the deployment's row, whose sealed credentials the audit diff redacts by name."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.admin import fields
import msgspec

from app.admin.models.schemas import LitellmParams, Model, ModelCreate, PublicParams
from app.audit.record import audited_change
from app.db.tables import ModelDeployment
from app.lib.errors import InvalidRequest, NotFound
from app.providers.registry import split_model
from app.runtime import runtime
from app.tenancy.context import require_account
from app.tenancy.scoped import load_json_columns, scoped

_PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token")
# Provider settings kept in clear (shown back), and credentials kept sealed (never shown back).
PROVIDER_PARAMS = ("aws_region_name", "vertex_project", "vertex_location")
SECRET_PARAMS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "vertex_credentials")


def _api_base(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value.startswith(("http://", "https://")) or any(c.isspace() for c in value):
        raise InvalidRequest("'litellm_params.api_base' must be an http(s) URL", param="litellm_params.api_base")
    return value.rstrip("/")


def _model(row: dict) -> Model:
    info = dict(row["model_info"] or {})
    info["id"] = str(row["id"])
    for name in _PRICE_FIELDS:
        if row[name] is not None:
            info[name] = float(row[name])
    provider_params = row["provider_params"] or {}
    params = PublicParams(
        model=f"{row['provider']}/{row['upstream_model']}", api_base=row["api_base"], api_version=row["api_version"],
        rpm=row["rpm"], tpm=row["tpm"], max_parallel_requests=row["max_parallel_requests"],
        weight=row["weight"], stream_timeout=fields.amount(row["stream_timeout"]),
        timeout=fields.amount(row["timeout"]),
        input_cost_per_token=fields.amount(row["input_cost_per_token"]),
        output_cost_per_token=fields.amount(row["output_cost_per_token"]),
        **{name: provider_params.get(name) for name in PROVIDER_PARAMS},
    )
    credentials = ["api_key"] if row["api_key_encrypted"] else []
    return Model(model_id=row["id"], model_name=row["model_name"], litellm_params=params, model_info=info,
                 provider=row["provider"], has_api_key=bool(row["api_key_encrypted"]),
                 credentials_set=credentials + _sealed_names(row))


def _price(params_value: float | None, info: dict[str, Any], name: str):
    value = info.get(name, params_value)
    if value is not None and not isinstance(value, (int, float)):
        raise InvalidRequest(f"'model_info.{name}' must be a number", param=f"model_info.{name}")
    return fields.money(value, f"model_info.{name}")


def _sealed_names(row: dict) -> list[str]:
    """Which further credentials are stored (their names only: the values never leave the box)."""
    if not row["secret_params_encrypted"]:
        return []
    return sorted(msgspec.json.decode(runtime().credentials.open(row["secret_params_encrypted"])))


def _seal_secrets(params: LitellmParams) -> str | None:
    secrets = {}
    for name in SECRET_PARAMS:
        value = getattr(params, name)
        if value is not None:
            secrets[name] = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return runtime().credentials.seal(msgspec.json.encode(secrets).decode()) if secrets else None


async def create_model(data: ModelCreate) -> Model:
    params = data.litellm_params
    name = data.model_name.strip()
    if not name:
        raise InvalidRequest("'model_name' is required", param="model_name")
    try:
        provider, upstream_model = split_model(params.model.strip())
    except KeyError as exc:
        raise InvalidRequest(f"Unknown provider '{exc.args[0]}' in 'litellm_params.model'",
                             param="litellm_params.model", code="unknown_provider") from None
    info = dict(data.model_info or {})
    model_id = fields.identifier(info.pop("id", None), "model_info.id")
    values: dict[str, Any] = dict(
        model_name=name, provider=provider, upstream_model=upstream_model, api_base=_api_base(params.api_base),
        api_version=params.api_version, rpm=fields.non_negative(params.rpm, "litellm_params.rpm"),
        tpm=fields.non_negative(params.tpm, "litellm_params.tpm"),
        max_parallel_requests=fields.non_negative(params.max_parallel_requests, "litellm_params.max_parallel_requests"),
        weight=fields.non_negative(params.weight, "litellm_params.weight") if params.weight is not None else 1,
        stream_timeout=fields.money(params.stream_timeout, "litellm_params.stream_timeout"),
        timeout=fields.money(params.timeout, "litellm_params.timeout"),
        input_cost_per_token=_price(params.input_cost_per_token, info, "input_cost_per_token"),
        output_cost_per_token=_price(params.output_cost_per_token, info, "output_cost_per_token"),
        api_key_encrypted=runtime().credentials.seal(params.api_key) if params.api_key else None,
        secret_params_encrypted=_seal_secrets(params),
        provider_params={name: getattr(params, name) for name in PROVIDER_PARAMS if getattr(params, name) is not None},
        model_info={k: v for k, v in info.items() if k not in _PRICE_FIELDS},
    )
    if model_id is not None:
        values["id"] = model_id
    async with audited_change("model.created", "model") as change:
        row = await scoped(ModelDeployment).insert(**values)
        change.target_id, change.after = row["id"], row
    await runtime().bus.publish("models", str(require_account()))
    return _model(row)


async def list_models(model_id: str | None = None) -> list[Model]:
    query = scoped(ModelDeployment).select().order_by(ModelDeployment.created_at)
    if model_id is not None:
        query = query.where(ModelDeployment.id == fields.identifier(model_id, "litellm_model_id"))
    rows = await query
    if model_id is not None and not rows:
        raise NotFound(f"No model with id '{model_id}'", param="litellm_model_id", code="model_not_found")
    return [_model(row) for row in rows]


async def delete_model(model_id: str) -> list[str]:
    ident: UUID | None = fields.identifier(model_id, "id")
    async with audited_change("model.deleted", "model", ident) as change:
        removed = await scoped(ModelDeployment).delete().where(ModelDeployment.id == ident).returning(
            *ModelDeployment._meta.columns)
        if not removed:
            raise NotFound(f"No model with id '{model_id}'", param="id", code="model_not_found")
        change.before = load_json_columns(ModelDeployment, removed[0])
    await runtime().bus.publish("models", str(require_account()))
    return [str(row["id"]) for row in removed]
