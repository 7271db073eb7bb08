"""Every provider the gateway knows, by the prefix used in `litellm_params.model` ("groq/llama-3...")."""

from __future__ import annotations

from app.providers.base import Provider
from app.providers.openai_compatible import PRESETS, OpenAICompatible

PROVIDERS: dict[str, Provider] = {preset.name: OpenAICompatible(preset) for preset in PRESETS}


def split_model(model: str) -> tuple[str, str]:
    """`"groq/llama-3.1-8b"` → `("groq", "llama-3.1-8b")`; a bare name is OpenAI's.

    Raises KeyError for a prefix no provider is registered under.
    """
    provider, sep, name = model.partition("/")
    if not sep:
        return "openai", model
    if provider not in PROVIDERS or not name:
        raise KeyError(provider)
    return provider, name


def get_provider(name: str) -> Provider:
    return PROVIDERS[name]
