"""A fake Vertex AI upstream: Google's OAuth token endpoint plus the aiplatform publisher model routes.

  POST /token   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>
                The JWT's RS256 signature is verified with the registered service account's public key,
                and iss/aud/scope/iat/exp are checked as Google does; a bad one is 400 invalid_grant.
  POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent | :streamGenerateContent?alt=sse
                Gemini's wire format (the generator and field checks of gemini_upstream.py)
  POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predict   text embeddings
  POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict | :streamRawPredict
                Anthropic's Messages API without `model` and with `anthropic_version: vertex-2023-10-16` in the
                body; answered by the fake Anthropic (anthropic_upstream.py), as Vertex proxies Anthropic's API.
                `claude-scenario-<name>` plays that fake's scenario <name> (error-429, too-long, ...).
Every model route needs `Authorization: Bearer <a token this fake issued>` (else Google's 401 UNAUTHENTICATED)
and the configured project (else 403 PERMISSION_DENIED).
"""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import parse_qs

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.fakes.anthropic_upstream import FakeAnthropicApp
from tests.fakes.anthropic_upstream import FakeState as AnthropicState
from tests.fakes.asgi import headers_of, json_or_none, lifespan, replay
from tests.fakes.gemini_checks import GoogleError, check_generate_request
from tests.fakes.gemini_upstream import (
    FakeState, Http, RecordedRequest, generate_response, json_decode, json_encode, scenario_error, serve_gemini_stream,
)
from tests.fakes.threaded_server import ThreadedServer

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ANTHROPIC_VERSION = "vertex-2023-10-16"
_UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                    "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")


@dataclass
class VertexState(FakeState):
    project: str = "fake-project"
    public_keys: dict[str, bytes] = field(default_factory=dict)  # client_email → PEM public key
    tokens: set[str] = field(default_factory=set)
    token_requests: list[RecordedRequest] = field(default_factory=list)
    token_lifetime: int = 3599
    token_uri: str = ""  # known once the server has its port: the `aud` every assertion must name


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _invalid_grant(description: str) -> tuple[int, bytes]:
    return 400, json_encode({"error": "invalid_grant", "error_description": description})


class FakeVertexApp:
    def __init__(self, state: VertexState) -> None:
        self.state = state
        self.anthropic = FakeAnthropicApp(AnthropicState(api_key="vertex-internal", name="vertex-claude"))
        self._numbers = itertools.count(1)

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        http = Http(scope, receive, send)
        raw = await http.body()
        headers, query = headers_of(scope), parse_qs(scope["query_string"].decode())
        path = scope["path"]
        if path == "/token":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            self.state.token_requests.append(RecordedRequest(scope["method"], path, query, headers, form))
            status, payload = self._token(headers, form)
            return await http.json(status, payload)
        body = json_or_none(raw)
        self.state.requests.append(RecordedRequest(scope["method"], path, query, headers, body))
        try:
            await self._model_call(http, scope, path, query, headers, body)
        except GoogleError as error:
            await http.json(error.code, error.body())

    def _token(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, bytes]:
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return 400, json_encode({"error": "invalid_request", "error_description": "Invalid content type"})
        if form.get("grant_type") != GRANT_TYPE:
            return 400, json_encode({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            head, claims_b64, signature = form["assertion"].split(".")
            header = json_decode(_b64decode(head))
            claims = json_decode(_b64decode(claims_b64))
        except (KeyError, ValueError, msgspec.DecodeError):
            return _invalid_grant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        if header.get("alg") != "RS256":
            return _invalid_grant("Invalid JWT Signature.")
        pem = self.state.public_keys.get(claims.get("iss", ""))
        if pem is None:
            return _invalid_grant("Invalid grant: account not found")
        key = serialization.load_pem_public_key(pem)
        try:
            key.verify(_b64decode(signature), f"{head}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return _invalid_grant("Invalid JWT Signature.")
        now = time.time()
        if claims.get("aud") != self.state.token_uri:
            return _invalid_grant("Invalid JWT: Failed audience check.")
        if claims.get("scope") != SCOPE:
            return 400, json_encode({"error": "invalid_scope", "error_description": "Invalid OAuth scope or ID token audience provided."})
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 60 <= now <= exp) or exp - iat > 3600:
            return _invalid_grant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        token = f"ya29.fake-access-token-{next(self._numbers)}"
        self.state.tokens.add(token)
        return 200, json_encode({"access_token": token, "expires_in": self.state.token_lifetime, "token_type": "Bearer"})

    async def _model_call(self, http: Http, scope, path: str, query, headers, body) -> None:
        authorization = headers.get("authorization", "")
        if not authorization.startswith("Bearer ") or authorization[7:] not in self.state.tokens:
            raise GoogleError(401, "UNAUTHENTICATED", _UNAUTHENTICATED, [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                 "metadata": {"service": "aiplatform.googleapis.com", "method": "google.cloud.aiplatform.v1.PredictionService.GenerateContent"}}])
        segments = path.split("/")
        # ['', 'v1', 'projects', p, 'locations', l, 'publishers', pub, 'models', 'model:method']
        if len(segments) != 10 or segments[1] != "v1" or segments[2::2][:4] != ["projects", "locations", "publishers", "models"]:
            raise GoogleError(404, "NOT_FOUND", f"The requested URL {path} was not found on this server.")
        project, publisher = segments[3], segments[7]
        model, _, method = segments[9].partition(":")
        if project != self.state.project:
            raise GoogleError(403, "PERMISSION_DENIED", f"Permission 'aiplatform.endpoints.predict' denied on resource "
                                                        f"'//aiplatform.googleapis.com/projects/{project}/locations/{segments[5]}/publishers/{publisher}/models/{model}' (or it may not exist).")
        if not headers.get("content-type", "").startswith("application/json") or not isinstance(body, dict):
            raise GoogleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if publisher == "google":
            return await self._google(http, model, method, query, body)
        if publisher == "anthropic" and method in ("rawPredict", "streamRawPredict"):
            return await self._anthropic(scope, http, model, method, body)
        raise GoogleError(404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/{segments[5]}/publishers/{publisher}/models/{model}` not found.")

    async def _google(self, http: Http, model: str, method: str, query, body: dict) -> None:
        if method == "predict":
            return await http.json(200, json_encode(self._predict(body)))
        if method not in ("generateContent", "streamGenerateContent"):
            raise GoogleError(404, "NOT_FOUND", f"Method {method} not found.")
        check_generate_request(body)
        error = scenario_error(model, body)
        if error is not None:
            raise error
        if method == "generateContent":
            response = generate_response(model, body, f"{model}-001")
            response["createTime"] = "2025-11-27T06:00:00.000000Z"
            response["usageMetadata"]["trafficType"] = "ON_DEMAND"
            return await http.json(200, json_encode(response))
        if query.get("alt") != ["sse"]:
            raise GoogleError(400, "INVALID_ARGUMENT", "this fake only streams with alt=sse")
        await serve_gemini_stream(http, self.state, model, body, f"{model}-001")

    def _predict(self, body: dict) -> dict:
        for name in body:
            if name not in ("instances", "parameters"):
                raise GoogleError(400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        dims = (body.get("parameters") or {}).get("outputDimensionality") or 8
        predictions = []
        for instance in body["instances"]:
            text = instance["content"]
            predictions.append({"embeddings": {
                "statistics": {"truncated": False, "token_count": float(len(text.split()))},
                "values": [round((len(text) + i) / 100, 3) for i in range(dims)]}})
        return {"predictions": predictions, "metadata": {"billableCharacterCount": sum(len(i["content"]) for i in body["instances"])}}

    async def _anthropic(self, scope, http: Http, model: str, method: str, body: dict) -> None:
        if body.get("anthropic_version") != ANTHROPIC_VERSION:
            raise GoogleError(400, "INVALID_ARGUMENT", "anthropic_version: must be vertex-2023-10-16")
        if "model" in body:
            # Vertex takes the model from the URL; Anthropic's own validation refuses the field in the body.
            return await http.json(400, json_encode({"type": "error", "error": {
                "type": "invalid_request_error", "message": "model: Extra inputs are not permitted"}}))
        if bool(body.get("stream")) != (method == "streamRawPredict"):
            raise GoogleError(400, "INVALID_ARGUMENT", f"{method} needs stream={method == 'streamRawPredict'}")
        name = model.removeprefix("claude-scenario-") if model.startswith("claude-scenario-") else model
        forwarded = {"model": name, **{k: v for k, v in body.items() if k != "anthropic_version"}}
        inner = {**scope, "path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"",
                 "headers": [(b"content-type", b"application/json"), (b"x-api-key", b"vertex-internal"),
                             (b"anthropic-version", b"2023-06-01")]}
        await self.anthropic(inner, replay(json_encode(forwarded), http.receive), http.asgi_send)

    @property
    def anthropic_state(self) -> AnthropicState:
        return self.anthropic.state


class FakeVertex(ThreadedServer):
    """`with FakeVertex(project=...) as fake`: `fake.register(client_email, public_pem)`, `fake.token_uri`, `fake.base_url`."""

    def __init__(self, *, project: str = "fake-project") -> None:
        self.state = VertexState(project=project)
        super().__init__(FakeVertexApp(self.state), "vertex")

    def start(self) -> Self:
        super().start()
        self.state.token_uri = self.token_uri  # the port is known now
        return self

    def register(self, client_email: str, public_pem: bytes) -> None:
        self.state.public_keys[client_email] = public_pem

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.state.requests

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"
