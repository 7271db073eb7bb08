"""Anthropic's Messages API (`anthropic/<model>`): OpenAI chat translated both ways, and native pass-through."""

from app.providers.anthropic.adapter import Anthropic
from app.providers.base import Provider

PROVIDERS: dict[str, Provider] = {"anthropic": Anthropic()}
