"""OpenAI embeddings ⇄ Vertex AI text-embedding `:predict` (instances in, predictions with token counts out)."""

from __future__ import annotations

from typing import Any

import msgspec


class _Statistics(msgspec.Struct):
    token_count: float = 0


class _Embeddings(msgspec.Struct):
    values: list[float] = []
    statistics: _Statistics | None = None


class _Prediction(msgspec.Struct):
    embeddings: _Embeddings


class PredictResponse(msgspec.Struct):
    predictions: list[_Prediction] = []


decode_predict = msgspec.json.Decoder(PredictResponse).decode


def predict_request(texts: list[str], dimensions: int | None) -> dict[str, Any]:
    request: dict[str, Any] = {"instances": [{"content": text} for text in texts]}
    if dimensions:
        request["parameters"] = {"outputDimensionality": dimensions}
    return request


def vectors_and_tokens(response: PredictResponse) -> tuple[list[list[float]], int]:
    tokens = sum(int(p.embeddings.statistics.token_count) for p in response.predictions if p.embeddings.statistics)
    return [p.embeddings.values for p in response.predictions], tokens
