"""JSON Schema (as OpenAI clients write it) → the OpenAPI subset Gemini accepts in `parameters`/`responseSchema`.

Gemini refuses keywords outside its `Schema` message (`additionalProperties`, `$schema`, `$ref`, ...),
so unknown keywords are dropped, local `$ref`s are inlined, and `["x", "null"]` becomes `nullable`.
"""

from __future__ import annotations

from typing import Any

_KEPT = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
})
_MAX_DEPTH = 32  # a recursive `$ref` is cut here rather than inlined forever


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    definitions = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _clean(schema, definitions, 0)


def _resolve(ref: str, definitions: dict[str, Any]) -> dict[str, Any]:
    name = ref.rsplit("/", 1)[-1]
    return definitions.get(name) or {}


def _clean(schema: Any, definitions: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return {}
    if "$ref" in schema:
        schema = {**_resolve(schema["$ref"], definitions), **{k: v for k, v in schema.items() if k != "$ref"}}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _KEPT:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, definitions, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value, definitions, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            options = [option for option in value if not (isinstance(option, dict) and option.get("type") == "null")]
            if len(options) < len(value):
                out["nullable"] = True
            if len(options) == 1:
                out.update(_clean(options[0], definitions, depth + 1))
            elif options:
                out[key] = [_clean(option, definitions, depth + 1) for option in options]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) < len(value):
                out["nullable"] = True
            if types:
                out["type"] = types[0]
        else:
            out[key] = value
    if "const" in schema and "enum" not in out:
        out["enum"] = [schema["const"]]
    return out
