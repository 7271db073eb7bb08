"""Google's Gemini models through the Generative Language API (`gemini/<model>`, API key).

The OpenAI ⇄ Gemini mapping modules (request, response, stream, embeddings, calls) are shared with vertex_ai/.
"""

from app.providers.base import Provider
from app.providers.gemini.adapter import Gemini

PROVIDERS: dict[str, Provider] = {"gemini": Gemini()}
