"""A fake Amazon Bedrock runtime: Converse, ConverseStream (binary event stream) and Titan embeddings.

It checks every request the way AWS does: the SigV4 signature is recomputed with the secret it
knows (403 InvalidSignatureException when it differs), and the Converse body is validated field
by field (400 ValidationException). Its event-stream encoder and its signature check are written
here on their own, sharing nothing with the adapter, so a test passing means both sides agree
with AWS's format rather than with each other.

Behaviour by model id:
  error-<status>       that status with Bedrock's error type header and body
  context-window       400 "Input is too long for requested model."
  guardrail            stopReason guardrail_intervened
  cache                usage with cacheReadInputTokens / cacheWriteInputTokens
  stream-exception     (streams) two text deltas, then an exception message
  stream-truncated     (streams) ends in the middle of a message
  slow-<ms>            waits that long before each stream event
`toolConfig` in the request makes the answer a tool call (unless the last turn is a tool result).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import msgspec

from tests.fakes.asgi import DisconnectWatch, Recorded, lifespan, read_request, send_json
from tests.fakes.threaded_server import ThreadedServer

_encode = msgspec.json.Encoder().encode

ERROR_TYPES = {400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
               424: "ModelErrorException", 429: "ThrottlingException", 500: "InternalServerException",
               503: "ServiceUnavailableException"}
ERROR_MESSAGES = {429: "Too many requests, please wait before trying again.",
                  503: "Bedrock is unable to process your request.",
                  500: "The server encountered an internal error while processing the request."}
WORDS = ["Hello", " from", " Bedrock", " Converse"]
TOOL_PREFACE = "Let me check the weather."
TOOL_INPUT_PIECES = ['{"city":', ' "Paris"}']
PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
BLOCK_KINDS = {"text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint",
               "reasoningContent"}
TOP_LEVEL = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
             "promptVariables", "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig"}
INFERENCE_KEYS = {"maxTokens": int, "temperature": (int, float), "topP": (int, float), "stopSequences": list}


class Invalid(Exception):
    pass


@dataclass
class BedrockState:
    access_key_id: str
    secret_access_key: str
    region: str
    session_token: str | None = None
    api_key: str | None = None
    requests: list[Recorded] = field(default_factory=list)
    cancelled_streams: int = 0


# --- the event-stream encoder (AWS's binary framing), written independently of the adapter's decoder ---

def _string_header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return bytes([len(name_bytes)]) + name_bytes + b"\x07" + len(value_bytes).to_bytes(2, "big") + value_bytes


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    header_bytes = b"".join(_string_header(name, value) for name, value in headers.items())
    total = 4 + 4 + 4 + len(header_bytes) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(header_bytes).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + header_bytes + payload
    return message + zlib.crc32(message).to_bytes(4, "big")


def event_frame(event_type: str, payload: dict) -> bytes:
    return encode_frame({":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
                        _encode({**payload, "p": PADDING[: 5 + len(event_type)]}))


def exception_frame(exception_type: str, message: str) -> bytes:
    return encode_frame({":exception-type": exception_type, ":content-type": "application/json",
                         ":message-type": "exception"}, _encode({"message": message}))


# --- SigV4 verification: recompute the signature the way AWS's front door does ---

def _sign(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(request: Recorded, secret: str, signed_names: list[str], amz_date: str, region: str) -> str:
    path = request.raw_path.split(b"?", 1)[0].decode()
    canonical_path = "/".join(quote(segment, safe="~") for segment in path.split("/"))  # each segment encoded again
    query_pairs = sorted(
        (quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~"))
        for k, _, v in (pair.partition("=") for pair in request.query.split("&") if pair)
    )
    canonical_query = "&".join(f"{k}={v}" for k, v in query_pairs)
    header_lines = "".join(f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed_names)
    canonical = "\n".join([request.method, canonical_path, canonical_query, header_lines, ";".join(signed_names),
                           hashlib.sha256(request.raw_body).hexdigest()])
    date = amz_date[:8]
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, f"{date}/{region}/bedrock/aws4_request",
                                hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, "bedrock", "aws4_request"):
        key = _sign(key, part)
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class FakeBedrockApp:
    def __init__(self, state: BedrockState) -> None:
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if await lifespan(scope, receive, send):
            return
        request = await read_request(scope, receive)
        self.state.requests.append(request)
        denied = self._authenticate(request)
        if denied is not None:
            return await self._error(send, 403, denied[1], denied[0])
        parts = request.path.split("/")  # /model/{modelId}/{action}: the router sees the decoded id
        if len(parts) != 4 or parts[1] != "model" or request.method != "POST":
            return await self._error(send, 404, "UnknownOperationException", "Unknown operation")
        model_id, action = parts[2], parts[3]
        if model_id.startswith("error-"):
            status = int(model_id.split("-", 1)[1])
            return await self._error(send, status, ERROR_TYPES.get(status, "InternalServerException"),
                                     ERROR_MESSAGES.get(status, f"Fake Bedrock error {status}"))
        if model_id == "context-window":
            return await self._error(send, 400, "ValidationException", "Input is too long for requested model.")
        if request.headers.get("content-type") != "application/json":
            return await self._error(send, 400, "ValidationException", "content-type must be application/json")
        try:
            if action == "invoke":
                return await send_json(send, 200, self._titan(request.body), {"x-amzn-requestid": "fake-req"})
            self._validate_converse(request.body)
        except Invalid as exc:
            return await self._error(send, 400, "ValidationException", str(exc))
        if action == "converse":
            return await send_json(send, 200, self._converse(model_id, request.body), {"x-amzn-requestid": "fake-req"})
        if action == "converse-stream":
            return await self._converse_stream(model_id, request.body, send, receive)
        return await self._error(send, 404, "UnknownOperationException", f"Unknown operation {action}")

    async def _error(self, send, status: int, error_type: str, message: str) -> None:
        headers = {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                   "x-amzn-requestid": "fake-req"}
        await send_json(send, status, {"message": message}, headers)

    def _authenticate(self, request: Recorded) -> tuple[str, str] | None:
        """None when the request is signed (or keyed) right; else (error type, message) for a 403."""
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            if self.state.api_key and authorization == f"Bearer {self.state.api_key}":
                return None
            return "AccessDeniedException", "Authentication failed: Please make sure your API Key is valid."
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return "AccessDeniedException", "Missing Authentication Token"
        fields = dict(part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(","))
        key_id, date, region, service, terminator = fields.get("Credential", "////").split("/")
        signed_names = fields.get("SignedHeaders", "").split(";")
        amz_date = request.headers.get("x-amz-date", "")
        if key_id != self.state.access_key_id:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        required = {"host", "x-amz-date"} | ({"x-amz-security-token"} if self.state.session_token else set())
        if not required <= set(signed_names) or signed_names != sorted(signed_names):
            return "InvalidSignatureException", "Signed headers are missing or out of order."
        if self.state.session_token and request.headers.get("x-amz-security-token") != self.state.session_token:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        if request.headers.get("x-amz-content-sha256") != hashlib.sha256(request.raw_body).hexdigest():
            return "InvalidSignatureException", "The provided x-amz-content-sha256 header does not match what was computed."
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "InvalidSignatureException", "x-amz-date is missing or malformed."
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > 300 or date != amz_date[:8]:
            return "InvalidSignatureException", "Signature expired or credential scope date mismatch."
        if (region, service, terminator) != (self.state.region, "bedrock", "aws4_request"):
            return "InvalidSignatureException", f"Credential should be scoped to a valid region ('{self.state.region}')."
        expected = expected_signature(request, self.state.secret_access_key, signed_names, amz_date, region)
        if not hmac.compare_digest(expected, fields.get("Signature", "")):
            return ("InvalidSignatureException",
                    "The request signature we calculated does not match the signature you provided. "
                    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        return None

    # --- request validation, field by field ---

    def _validate_converse(self, body) -> None:
        if not isinstance(body, dict):
            raise Invalid("Malformed input request, please reformat your input and try again.")
        unknown = set(body) - TOP_LEVEL
        if unknown:
            raise Invalid(f"Unknown fields: {sorted(unknown)}")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise Invalid("messages: must not be empty")
        uses_tools = False
        for position, message in enumerate(messages):
            if set(message) != {"role", "content"} or message["role"] not in ("user", "assistant"):
                raise Invalid(f"messages.{position}: must be {{role: user|assistant, content: [...]}}")
            expected_role = "user" if position % 2 == 0 else "assistant"
            if message["role"] != expected_role:
                raise Invalid("A conversation must start with a user message and alternate user and assistant roles.")
            if not message["content"]:
                raise Invalid(f"messages.{position}.content: must not be empty")
            for block in message["content"]:
                uses_tools |= self._validate_block(block, message["role"], position)
        for block in body.get("system") or []:
            if set(block) != {"text"} or not isinstance(block["text"], str):
                raise Invalid("system: each block must be {text}")
        inference = body.get("inferenceConfig") or {}
        for key, value in inference.items():
            if key not in INFERENCE_KEYS or not isinstance(value, INFERENCE_KEYS[key]):
                raise Invalid(f"inferenceConfig.{key}: unknown field or wrong type")
        config = body.get("toolConfig")
        if config is not None:
            self._validate_tools(config)
        elif uses_tools:
            raise Invalid("The toolConfig field must be defined when using toolUse and toolResult content blocks.")

    def _validate_block(self, block: dict, role: str, position: int) -> bool:
        if len(block) != 1 or next(iter(block)) not in BLOCK_KINDS:
            raise Invalid(f"messages.{position}.content: each block holds exactly one known member")
        kind, value = next(iter(block.items()))
        if kind == "text" and not isinstance(value, str):
            raise Invalid("text must be a string")
        if kind == "image":
            if value.get("format") not in ("png", "jpeg", "gif", "webp") or set(value.get("source") or {}) != {"bytes"}:
                raise Invalid("image: format must be png|jpeg|gif|webp and source {bytes}")
            try:
                base64.b64decode(value["source"]["bytes"], validate=True)
            except ValueError:
                raise Invalid("image.source.bytes: not valid base64") from None
        if kind == "toolUse":
            if role != "assistant" or set(value) != {"toolUseId", "name", "input"} or not isinstance(value["input"], dict):
                raise Invalid("toolUse: only in assistant turns, as {toolUseId, name, input: object}")
        if kind == "toolResult":
            if role != "user" or not {"toolUseId", "content"} <= set(value):
                raise Invalid("toolResult: only in user turns, as {toolUseId, content}")
            for item in value["content"]:
                if len(item) != 1 or next(iter(item)) not in ("text", "json", "image", "document"):
                    raise Invalid("toolResult.content: blocks of text, json, image or document")
        return kind in ("toolUse", "toolResult")

    def _validate_tools(self, config: dict) -> None:
        if set(config) - {"tools", "toolChoice"} or not config.get("tools"):
            raise Invalid("toolConfig: {tools: [...], toolChoice?}")
        for tool in config["tools"]:
            spec = tool.get("toolSpec") or {}
            if set(tool) != {"toolSpec"} or not spec.get("name") or set(spec) - {"name", "description", "inputSchema"}:
                raise Invalid("toolConfig.tools: each is {toolSpec: {name, description?, inputSchema}}")
            if set(spec.get("inputSchema") or {}) != {"json"} or not isinstance(spec["inputSchema"]["json"], dict):
                raise Invalid("toolSpec.inputSchema must be {json: <JSON schema>}")
        choice = config.get("toolChoice")
        if choice is not None and (len(choice) != 1 or next(iter(choice)) not in ("auto", "any", "tool")):
            raise Invalid("toolChoice: exactly one of auto, any, tool")

    # --- answers ---

    def _plan(self, model_id: str, body: dict) -> dict:
        """What the model 'says': blocks, stop reason and usage, shared by Converse and ConverseStream."""
        config = body.get("toolConfig")
        last = body["messages"][-1]["content"]
        input_tokens = sum(len(b["text"].split()) for m in body["messages"] for b in m["content"] if "text" in b)
        input_tokens += sum(len(b["text"].split()) for b in body.get("system") or [])
        input_tokens += 50 * sum(1 for m in body["messages"] for b in m["content"] if "image" in b)
        if config and not any("toolResult" in block for block in last):
            choice = config.get("toolChoice") or {}
            name = choice["tool"]["name"] if "tool" in choice else config["tools"][0]["toolSpec"]["name"]
            plan = {"text": [TOOL_PREFACE], "tool": {"toolUseId": "tooluse_fake1", "name": name},
                    "stopReason": "tool_use", "output": 12}
        elif model_id == "guardrail":
            plan = {"text": ["Sorry, the model cannot answer this question."], "stopReason": "guardrail_intervened", "output": 0}
        else:
            words, stop_reason = list(WORDS), "end_turn"
            inference = body.get("inferenceConfig") or {}
            for stop in inference.get("stopSequences") or []:
                text = "".join(words)
                if stop in text:
                    words, stop_reason = [text[: text.index(stop)]], "stop_sequence"
                    break
            if inference.get("maxTokens") is not None and inference["maxTokens"] < len(words):
                words, stop_reason = words[: inference["maxTokens"]], "max_tokens"
            plan = {"text": words, "stopReason": stop_reason, "output": len(words)}
        usage = {"inputTokens": max(input_tokens, 1), "outputTokens": plan["output"]}
        if model_id == "cache":
            usage |= {"cacheReadInputTokens": 100, "cacheWriteInputTokens": 20}
        usage["totalTokens"] = sum(usage.values())
        plan["usage"] = usage
        return plan

    def _converse(self, model_id: str, body: dict) -> dict:
        plan = self._plan(model_id, body)
        content: list[dict] = [{"text": "".join(plan["text"])}]
        if "tool" in plan:
            content.append({"toolUse": {**plan["tool"], "input": msgspec.json.decode("".join(TOOL_INPUT_PIECES))}})
        return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": plan["stopReason"],
                "usage": plan["usage"], "metrics": {"latencyMs": 42}}

    async def _converse_stream(self, model_id: str, body: dict, send, receive) -> None:
        plan = self._plan(model_id, body)
        frames = [event_frame("messageStart", {"role": "assistant"})]
        frames += [event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}) for piece in plan["text"]]
        if model_id == "stream-exception":
            frames = frames[:3] + [exception_frame("modelStreamErrorException", "The model stream failed.")]
        else:
            frames.append(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
            if "tool" in plan:
                frames.append(event_frame("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": plan["tool"]}}))
                frames += [event_frame("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": piece}}})
                           for piece in TOOL_INPUT_PIECES]
                frames.append(event_frame("contentBlockStop", {"contentBlockIndex": 1}))
            frames.append(event_frame("messageStop", {"stopReason": plan["stopReason"]}))
            frames.append(event_frame("metadata", {"usage": plan["usage"], "metrics": {"latencyMs": 42}}))
        if model_id == "stream-truncated":
            frames = frames[:3] + [frames[3][:10]]
        delay = int(model_id.split("-", 1)[1]) / 1000 if model_id.startswith("slow-") else 0.0

        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/vnd.amazon.eventstream"), (b"x-amzn-requestid", b"fake-req")]})
        watch = DisconnectWatch(receive)
        try:
            for number, frame in enumerate(frames):
                if delay:
                    await asyncio.sleep(delay)
                watch.raise_if_gone()
                # Frames cut at odd places, as TCP may deliver them: the decoder must put them together.
                cut = 7 if number % 2 else len(frame) // 2
                for piece in (frame[:cut], frame[cut:]):
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, asyncio.CancelledError):
            self.state.cancelled_streams += 1
        finally:
            watch.stop()

    def _titan(self, body) -> dict:
        if not isinstance(body, dict) or set(body) - {"inputText", "dimensions", "normalize", "embeddingTypes"}:
            raise Invalid("Malformed input request: extraneous key, please reformat your input and try again.")
        if not isinstance(body.get("inputText"), str) or not body["inputText"]:
            raise Invalid("Malformed input request: inputText is required")
        dims = body.get("dimensions", 1024)
        if dims not in (256, 512, 1024):
            raise Invalid("Malformed input request: dimensions must be 256, 512 or 1024")
        seed = zlib.crc32(body["inputText"].encode())
        vector = [round(((seed >> (i % 24)) % 1000) / 1000, 3) for i in range(dims)]
        return {"embedding": vector, "embeddingsByType": {"float": vector},
                "inputTextTokenCount": len(body["inputText"].split())}


class FakeBedrock(ThreadedServer):
    def __init__(self, *, access_key_id: str, secret_access_key: str, region: str = "us-east-1",
                 session_token: str | None = None, api_key: str | None = None) -> None:
        self.state = BedrockState(access_key_id, secret_access_key, region, session_token, api_key)
        super().__init__(FakeBedrockApp(self.state), "bedrock")

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests
