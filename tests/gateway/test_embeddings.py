"""/v1/embeddings through the official openai SDK."""

import openai
import pytest

from tests.conftest import CANARY_PROVIDER_KEY


def test_embeddings_float_and_base64(api, admin, fake, tenant):
    admin.add_model(tenant.account_id, "text-embedding-3-small", fake.base_url, upstream="openai/text-embedding-3-small",
                    api_key=CANARY_PROVIDER_KEY)
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0)

    floats = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"], encoding_format="float")
    assert [len(item.embedding) for item in floats.data] == [8, 8]
    assert floats.usage.prompt_tokens == 3
    assert fake.requests[-1].body["model"] == "text-embedding-3-small"

    # The SDK asks for base64 by default and decodes it: the gateway must pass it through untouched.
    decoded = client.embeddings.create(model="text-embedding-3-small", input="one two")
    assert len(decoded.data[0].embedding) == 8
    assert decoded.data[0].embedding == pytest.approx(floats.data[0].embedding, rel=1e-6)  # float32 on the wire


def test_embeddings_without_input_is_400(api, tenant):
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0)
    try:
        client.embeddings.create(model=tenant.model, input=[])
    except openai.BadRequestError as exc:
        assert exc.body["param"] == "input"
    else:
        raise AssertionError("an empty input must be refused")
