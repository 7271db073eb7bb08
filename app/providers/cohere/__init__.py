"""Cohere's v2 API (chat, embeddings, rerank): `cohere/<model>`."""

from app.providers.base import Provider
from app.providers.cohere.adapter import Cohere

PROVIDERS: dict[str, Provider] = {"cohere": Cohere()}
