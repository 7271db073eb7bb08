"""Every provider the gateway knows, by the prefix used in `litellm_params.model` ("groq/llama-3...").

Each provider module exports `PROVIDERS: dict[str, Provider]`; adding a vendor is one line here.
"""

from __future__ import annotations

from app.providers import anthropic, azure, bedrock, cohere, gemini, openai_compatible, vertex_ai
from app.providers.base import Provider

PROVIDERS: dict[str, Provider] = {}
for _module in (openai_compatible, azure, anthropic, gemini, vertex_ai, bedrock, cohere):
    PROVIDERS.update(_module.PROVIDERS)


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
