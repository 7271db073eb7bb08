"""/v1/completions, images, audio, moderations through the official SDK; a vendor without them is a 400."""

from __future__ import annotations

import uuid

import httpx
import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY
from tests.support.ledger import wait_for_rows


@pytest.fixture
def client(api, admin, fake):
    account = admin.create_account(f"fwd-{uuid.uuid4().hex[:6]}")
    for name, upstream in (("instruct", "openai/gpt-3.5-turbo-instruct"), ("dall-e-3", "openai/dall-e-3"),
                           ("tts-1", "openai/tts-1"), ("whisper-1", "openai/whisper-1"),
                           ("omni-moderation", "openai/omni-moderation-latest"),
                           ("vllm-chat", "hosted_vllm/some-model")):
        admin.ok("POST", "/model/new", account, json={"model_name": name, "litellm_params": {
            "model": upstream, "api_base": fake.base_url, "api_key": CANARY_PROVIDER_KEY},
            "model_info": {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}})
    key = admin.generate_key(account)["key"]
    return openai.OpenAI(base_url=f"{api.url}/v1", api_key=key, max_retries=0), account


async def test_text_completions_sync_and_streamed(client, db):
    sdk, account = client
    reply = sdk.completions.create(model="instruct", prompt="once upon a time", max_tokens=5)
    assert reply.choices[0].text == "Once t1 t2 t3 t4" and reply.usage.prompt_tokens == 4
    streamed = "".join(chunk.choices[0].text for chunk in sdk.completions.create(
        model="instruct", prompt="once upon a time", stream=True) if chunk.choices)
    assert streamed == "Once t1 t2 t3 t4"
    rows = await wait_for_rows(db, "account_id = $1", uuid.UUID(account), expected=2)
    assert [(r["call_type"], r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [("completion", 4, 5)] * 2


def test_images_moderations_and_speech(client):
    sdk, _ = client
    image = sdk.images.generate(model="dall-e-3", prompt="a lighthouse", response_format="b64_json")
    assert image.data[0].b64_json
    moderation = sdk.moderations.create(model="omni-moderation", input="an attack")
    assert moderation.results[0].flagged is True
    speech = sdk.audio.speech.create(model="tts-1", voice="alloy", input="hello there")
    assert speech.content.startswith(b"ID3fake-mp3:hello there")


async def test_transcription_sends_the_file_on_as_multipart(client, fake, db):
    sdk, account = client
    transcript = sdk.audio.transcriptions.create(model="whisper-1", file=("hello.wav", b"RIFF....WAVEfake", "audio/wav"))
    assert transcript.text == "hello from the fake audio"
    sent = fake.requests[-1]
    assert sent.path == "/v1/audio/transcriptions" and b"RIFF....WAVEfake" in sent.body["multipart"]
    assert b'name="model"' in sent.body["multipart"] and b"whisper-1" in sent.body["multipart"]


def test_a_vendor_without_the_endpoint_answers_400(client, api):
    sdk, _ = client
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.images.generate(model="vllm-chat", prompt="a lighthouse")
    assert caught.value.code == "unsupported_capability"
    assert "hosted_vllm" in caught.value.message


def test_transcription_without_multipart_is_400(client, api):
    sdk, _ = client
    response = httpx.post(f"{api.url}/v1/audio/transcriptions", json={"model": "whisper-1"},
                          headers={"authorization": f"Bearer {sdk.api_key}"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "file"
