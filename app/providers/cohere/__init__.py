"""The cohere provider adapter (being written: registers nothing yet)."""

from app.providers.base import Provider

PROVIDERS: dict[str, Provider] = {}
