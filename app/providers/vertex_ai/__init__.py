"""Google Cloud Vertex AI (`vertex_ai/<model>`): Gemini and Claude models, service-account auth.

Gemini bodies reuse the gemini package's mapping; Claude bodies reuse the anthropic package's.
"""

from app.providers.base import Provider
from app.providers.vertex_ai.adapter import VertexAI

PROVIDERS: dict[str, Provider] = {"vertex_ai": VertexAI()}
