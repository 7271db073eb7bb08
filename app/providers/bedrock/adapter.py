"""Amazon Bedrock through the Converse API: chat, streamed chat, and Titan text embeddings.

Requests are signed with SigV4 (service `bedrock`) from the deployment's sealed AWS credentials,
or carry a Bedrock API key as a Bearer token when only `api_key` is set.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from app.lib.errors import GatewayError, InvalidRequest, UpstreamFailed
from app.providers.base import Deployment, UpstreamReply, Usage, request_timeout
from app.providers.bedrock.converse_reply import ConverseStream, chat_completion
from app.providers.bedrock.converse_request import converse_body
from app.providers.bedrock.signing import AwsCredentials, SigV4Auth
from app.providers.bedrock.wire import ErrorBody
from app.providers.errors import send_checked, upstream_error

_encode = msgspec.json.Encoder().encode
SERVICE = "bedrock"

# `x-amzn-ErrorType` → the status the gateway treats it as (AWS's own status, except quota errors).
ERROR_STATUS = {
    "ValidationException": 400,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,
    "ModelNotReadyException": 429,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "ExpiredTokenException": 403,
    "ModelTimeoutException": 504,
    "ModelErrorException": 502,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}


class _TitanEmbedding(msgspec.Struct):
    embedding: list[float]
    inputTextTokenCount: int = 0


_decode_titan = msgspec.json.Decoder(_TitanEmbedding).decode


def _model_id(deployment: Deployment) -> str:
    # LiteLLM spells the route into the name ("bedrock/converse/<model id>"); the id itself may be an ARN.
    return deployment.upstream_model.removeprefix("converse/")


def _error(response: httpx.Response, content: bytes, deployment: Deployment) -> GatewayError:
    error_type = response.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    try:
        parsed = msgspec.json.decode(content, type=ErrorBody)
        message = parsed.message or parsed.Message
    except msgspec.DecodeError:
        message = None
    return upstream_error(ERROR_STATUS.get(error_type, response.status_code), content, deployment,
                          retry_after=response.headers.get("retry-after"), message=message)


def _unreadable(deployment: Deployment) -> UpstreamFailed:
    return UpstreamFailed(f"bedrock upstream for '{deployment.model_name}' sent an answer the gateway cannot read",
                          code="upstream_bad_response")


class Bedrock:
    name = "bedrock"
    capabilities = frozenset({"chat", "stream_chat", "embeddings"})

    def _region(self, deployment: Deployment) -> str:
        region = deployment.params.get("aws_region_name")
        if not region:
            raise InvalidRequest(f"The Bedrock deployment for '{deployment.model_name}' has no 'aws_region_name'",
                                 code="deployment_misconfigured")
        return region

    def _auth(self, deployment: Deployment) -> tuple[httpx.Auth | None, dict[str, str]]:
        """SigV4 over the AWS keys, else a Bedrock API key as a Bearer token."""
        secrets = deployment.secrets
        key_id, secret = secrets.get("aws_access_key_id"), secrets.get("aws_secret_access_key")
        if key_id and secret:
            credentials = AwsCredentials(key_id, secret, secrets.get("aws_session_token"))
            return SigV4Auth(credentials, self._region(deployment), SERVICE), {}
        if deployment.api_key:
            return None, {"authorization": f"Bearer {deployment.api_key}"}
        raise InvalidRequest(f"The Bedrock deployment for '{deployment.model_name}' has no AWS credentials "
                             "('aws_access_key_id' and 'aws_secret_access_key') and no 'api_key'",
                             code="deployment_misconfigured")

    def _url(self, deployment: Deployment, action: str) -> httpx.URL:
        base = deployment.api_base or f"https://bedrock-runtime.{self._region(deployment)}.amazonaws.com"
        return httpx.URL(f"{base.rstrip('/')}/model/{quote(_model_id(deployment), safe='')}/{action}")

    async def _send(self, client: httpx.AsyncClient, deployment: Deployment, action: str, payload: dict[str, Any],
                    *, stream: bool = False) -> httpx.Response:
        auth, headers = self._auth(deployment)
        accept = "application/vnd.amazon.eventstream" if stream else "application/json"
        request = client.build_request("POST", self._url(deployment, action), content=_encode(payload),
                                       headers={"content-type": "application/json", "accept": accept, **headers},
                                       timeout=request_timeout(client, deployment, stream=stream))
        return await send_checked(client, request, deployment, stream=stream, auth=auth, error_of=_error)

    async def chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        response = await self._send(client, deployment, "converse", converse_body(body))
        try:
            content, usage = chat_completion(response.content, deployment.upstream_model)
        except msgspec.DecodeError:
            raise _unreadable(deployment) from None
        return UpstreamReply(body=content, usage=usage)

    async def stream_chat(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> ConverseStream:
        response = await self._send(client, deployment, "converse-stream", converse_body(body), stream=True)
        return ConverseStream(response, deployment.upstream_model)

    async def embeddings(self, client: httpx.AsyncClient, deployment: Deployment, body: dict[str, Any]) -> UpstreamReply:
        """Titan text embeddings (`amazon.titan-embed-text-*`): one invoke per input text."""
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise InvalidRequest("Bedrock embeddings take 'input' as a string or an array of strings", param="input")
        payload_extra = {"dimensions": body["dimensions"]} if body.get("dimensions") else {}

        async def embed(text: str) -> _TitanEmbedding:
            response = await self._send(client, deployment, "invoke", {"inputText": text, **payload_extra})
            try:
                return _decode_titan(response.content)
            except msgspec.DecodeError:
                raise _unreadable(deployment) from None

        outcomes = await asyncio.gather(*(embed(text) for text in texts), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        results: list[_TitanEmbedding] = outcomes  # type: ignore[assignment]
        as_base64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": index,
                 "embedding": base64.b64encode(struct.pack(f"<{len(r.embedding)}f", *r.embedding)).decode()
                 if as_base64 else r.embedding}
                for index, r in enumerate(results)]
        tokens = sum(r.inputTextTokenCount for r in results)
        usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
        reply = {"object": "list", "data": data, "model": deployment.upstream_model,
                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return UpstreamReply(body=_encode(reply), usage=usage)
