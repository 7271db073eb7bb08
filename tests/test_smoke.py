"""A first end-to-end pass: account → model → key → chat through the official SDK."""

import openai


def test_chat_round_trip(api, tenant):
    client = openai.OpenAI(base_url=f"{api.url}/v1", api_key=tenant.key, max_retries=0)
    reply = client.chat.completions.create(model=tenant.model, messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content.startswith("Hello")
