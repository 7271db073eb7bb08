"""/v1/messages over chat: Anthropic's documented requests become valid chat requests, and chat answers
(whole and streamed) and errors become what the anthropic SDK itself accepts as Messages wire format."""

from __future__ import annotations

import copy

import anthropic
import pydantic
import pytest
from anthropic.types import ErrorResponse, Message, MessageCountTokensParams, RawMessageStreamEvent
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

from app.billing import tokens
from app.gateway.formats import (
    MessagesStreamTranslator, anthropic_error_body, chat_request_from_messages, count_tokens_estimate,
    messages_from_chat,
)
from app.lib.errors import InvalidRequest
from tests.gateway.formats.wire import (
    as_sse, canned_client, chunk, json_response, parse_sse, sse_response, tool_piece, usage_chunk, validate_params,
)

STREAM_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)

# From Anthropic's tool-use guide.
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather in a given location",
    "input_schema": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                       "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"],
    },
}
CHAT_WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL["input_schema"],
                                                      "description": "Get the current weather in a given location"}}
JPEG = "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/"
# Chat counts cache reads (1800) and writes (200) inside prompt_tokens; Anthropic counts them apart.
USAGE = {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598,
         "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 200}}


def translated(body: dict) -> dict:
    validate_params(MessageCreateParamsNonStreaming, {k: v for k, v in body.items() if k != "stream"})
    chat = chat_request_from_messages(copy.deepcopy(body))
    validate_params(CompletionCreateParamsNonStreaming, {k: v for k, v in chat.items() if k not in ("stream", "stream_options")})
    return chat


def completion(message: dict, finish_reason: str = "stop", usage: dict | None = USAGE) -> dict:
    body = {"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion", "created": 1741569952,
            "model": "upstream-model", "choices": [{"index": 0, "finish_reason": finish_reason, "logprobs": None,
                                                    "message": {"role": "assistant", **message}}],
            "usage": usage}
    ChatCompletion.model_validate(body)
    return body


# --- requests -------------------------------------------------------------------------------------------


def test_system_text_and_sampling_settings():
    chat = translated({
        "model": "claude-sonnet-4-6", "max_tokens": 1024, "system": "You are a seasoned data scientist.",
        "messages": [{"role": "user", "content": "Hello, Claude"}],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["\n\nHuman:"],
        "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    })

    assert chat == {
        "model": "claude-sonnet-4-6",
        "messages": [{"role": "system", "content": "You are a seasoned data scientist."},
                     {"role": "user", "content": "Hello, Claude"}],
        "max_completion_tokens": 1024, "temperature": 0.5, "top_p": 0.9, "stop": ["\n\nHuman:"],
        "user": "13803d75-b4b5-4c3e-b2a2-6f21399b021b",
    }, "top_k and thinking have no chat equivalent and are dropped"


def test_system_blocks_and_images_from_base64_and_url():
    chat = translated({"model": "claude-sonnet-4-6", "max_tokens": 1024,
                       "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                                  {"type": "text", "text": "Be brief."}],
                       "messages": [{"role": "user", "content": [
                           {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG}},
                           {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/ant.jpg"}},
                           {"type": "text", "text": "Compare these images."},
                       ]}]})

    assert chat["messages"] == [
        {"role": "system", "content": "You are Claude Code.\nBe brief."},
        {"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{JPEG}"}},
            {"type": "image_url", "image_url": {"url": "https://upload.wikimedia.org/ant.jpg"}},
            {"type": "text", "text": "Compare these images."},
        ]},
    ]


def test_tool_use_and_tool_results_become_tool_calls_and_tool_messages_in_order():
    chat = translated({
        "model": "claude-sonnet-4-6", "max_tokens": 1024, "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": "What's the weather like in San Francisco and Paris?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two cities, two calls.", "signature": "EqQBCgIYAhIM"},
                {"type": "text", "text": "I'll check both."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                 "input": {"location": "San Francisco, CA", "unit": "celsius"}},
                {"type": "tool_use", "id": "toolu_01B09q90qw90lq917835lq9", "name": "get_weather",
                 "input": {"location": "Paris, France"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "toolu_01B09q90qw90lq917835lq9", "is_error": True,
                 "content": [{"type": "text", "text": "Weather service unavailable"}]},
                {"type": "text", "text": "Thanks, summarise please."},
            ]},
        ],
    })

    assert chat["tools"] == [CHAT_WEATHER_TOOL]
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["messages"][1:] == [
        {"role": "assistant", "content": "I'll check both.", "tool_calls": [
            {"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "San Francisco, CA", "unit": "celsius"}'}},
            {"id": "toolu_01B09q90qw90lq917835lq9", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Paris, France"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
        {"role": "tool", "tool_call_id": "toolu_01B09q90qw90lq917835lq9", "content": "Error: Weather service unavailable"},
        {"role": "user", "content": "Thanks, summarise please."},
    ]


def test_an_image_returned_by_a_tool_follows_the_tool_message():
    chat = translated({"model": "claude-sonnet-4-6", "max_tokens": 1024, "tools": [WEATHER_TOOL], "messages": [
        {"role": "user", "content": "Show me the radar."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]},
    ]})

    assert chat["messages"][2:] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "(the result is in the next message)"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
    ]


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, "auto"), ({"type": "any"}, "required"), ({"type": "none"}, "none"),
    ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
])
def test_tool_choice(choice, expected):
    chat = translated({"model": "claude-sonnet-4-6", "max_tokens": 10, "tools": [WEATHER_TOOL], "tool_choice": choice,
                       "messages": [{"role": "user", "content": "hi"}]})
    assert chat["tool_choice"] == expected


def test_streaming_asks_the_upstream_for_usage():
    chat = chat_request_from_messages({"model": "m", "max_tokens": 10, "stream": True,
                                       "messages": [{"role": "user", "content": "hi"}]})
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("body", "param", "says"), [
    ({"tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]}, "tools[0]",
     "'web_search_20250305' tools run on Anthropic's side"),
    ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0]", "'bash_20250124'"),
    ({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "file_011"}}]}]},
     "messages[0].content[0]", "image sources of type 'file'"),
    ({"messages": [{"role": "user", "content": [{"type": "container_upload", "file_id": "file_011"}]}]},
     "messages[0].content[0]", "'container_upload'"),
    ({"mcp_servers": [{"type": "url", "url": "https://mcp.example.com/sse", "name": "example"}]}, "mcp_servers",
     "'mcp_servers' is not supported"),
    ({"messages": []}, "messages", "'messages' is required"),
])
def test_what_needs_anthropic_side_tools_or_files_is_refused_with_a_reason(body, param, says):
    request = {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **body}
    with pytest.raises(InvalidRequest) as refused:
        chat_request_from_messages(request)
    assert refused.value.param == param
    assert says in refused.value.message


def test_count_tokens_estimate_counts_system_messages_and_tools():
    body = {"model": "claude-sonnet-4-6", "system": "You are a scientist.",
            "messages": [{"role": "user", "content": "Hello, Claude"}]}
    validate_params(MessageCountTokensParams, body)
    plain = count_tokens_estimate(body)

    assert plain == tokens.count_messages([{"role": "system", "content": "You are a scientist."},
                                           {"role": "user", "content": "Hello, Claude"}])
    assert count_tokens_estimate({**body, "tools": [WEATHER_TOOL]}) > plain + 20
    with_image = {**body, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": JPEG}},
        {"type": "text", "text": "Hello, Claude"}]}]}
    assert count_tokens_estimate(with_image) >= plain + 1000


# --- whole messages -------------------------------------------------------------------------------------


def test_text_completion_becomes_an_anthropic_message_with_uncached_input_tokens():
    request = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello"}]}
    body = messages_from_chat(completion({"content": "Hi! My name is Claude."}), request=request)
    message = Message.model_validate(body)

    assert message.id.startswith("msg_") and message.model == "claude-sonnet-4-6"
    assert body["content"] == [{"type": "text", "text": "Hi! My name is Claude."}]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert body["usage"] == {"input_tokens": 95, "cache_read_input_tokens": 1800, "cache_creation_input_tokens": 200,
                             "output_tokens": 503}


def test_tool_calls_become_tool_use_blocks_with_parsed_input():
    chat = completion({"content": "I'll check the weather.", "tool_calls": [
        {"id": "call_abc", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\": \"San Francisco, CA\"}"}},
        {"id": "call_def", "type": "function", "function": {"name": "get_weather", "arguments": ""}},
    ]}, finish_reason="tool_calls")
    message = Message.model_validate(messages_from_chat(chat, request={"model": "claude-sonnet-4-6"}))

    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[1].id == "call_abc" and message.content[1].input == {"location": "San Francisco, CA"}
    assert message.content[2].input == {}
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize(("finish_reason", "stop_reason"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"),
])
def test_stop_reasons(finish_reason, stop_reason):
    body = messages_from_chat(completion({"content": "x"}, finish_reason=finish_reason), request={"model": "m"})
    assert Message.model_validate(body).stop_reason == stop_reason


def test_reasoning_becomes_a_thinking_block_only_when_thinking_was_asked_for():
    chat = completion({"content": "42", "reasoning_content": "6 times 7."})
    asked = messages_from_chat(chat, request={"model": "m", "thinking": {"type": "enabled", "budget_tokens": 2048}})
    Message.model_validate(asked)

    assert [block["type"] for block in asked["content"]] == ["thinking", "text"]
    assert [block["type"] for block in messages_from_chat(chat, request={"model": "m"})["content"]] == ["text"]


def test_the_anthropic_sdk_reads_a_translated_message():
    request = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello"}]}
    body = messages_from_chat(completion({"content": "Hi!"}), request=request)
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url="http://gateway.test", max_retries=0,
                                 http_client=canned_client(lambda _: json_response(body)),
                                 _strict_response_validation=True)

    message = client.messages.create(**request)

    assert message.content[0].text == "Hi!" and message.usage.cache_read_input_tokens == 1800


# --- streams --------------------------------------------------------------------------------------------

TEXT_THEN_TWO_CALLS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Okay, let's check "}),
    chunk({"content": "the weather."}),
    chunk(tool_piece(0, "", call_id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather")),
    chunk(tool_piece(0, "{\"location\":")),
    chunk(tool_piece(0, " \"San Francisco, CA\"")),
    chunk(tool_piece(0, ", \"unit\": \"fahrenheit\"}")),
    chunk(tool_piece(1, "", call_id="toolu_02T1x1fJ34qAmk2tNTrN7Up6", name="get_weather")),
    chunk(tool_piece(1, "{\"location\": \"Paris,")),
    chunk(tool_piece(1, " France\"}")),
    chunk({}, finish_reason="tool_calls"),
    usage_chunk(USAGE),
]


def run_stream(chunks: list[dict], request: dict | None = None, **options) -> list[tuple[str, dict]]:
    for item in chunks:
        ChatCompletionChunk.model_validate(item)
    translator = MessagesStreamTranslator(request or {"model": "claude-sonnet-4-6", "max_tokens": 1024}, **options)
    parsed = parse_sse([event for raw in as_sse(chunks) for event in translator.translate(raw)])
    for name, data in parsed:
        if name not in ("ping", "error"):  # the SDK skips pings and raises on errors: neither is in its union
            STREAM_EVENT.validate_python(data)
    return parsed


def test_stream_of_text_then_tool_calls_follows_anthropics_event_order():
    events = run_stream(TEXT_THEN_TWO_CALLS, message_id="msg_014p7gG3wDgGV9EUtLvnow3U", input_tokens=2000)

    assert [(name, data.get("index")) for name, data in events] == [
        ("message_start", None), ("ping", None),
        ("content_block_start", 0), ("content_block_delta", 0), ("content_block_delta", 0), ("content_block_stop", 0),
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_delta", 1), ("content_block_delta", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2), ("content_block_delta", 2), ("content_block_delta", 2), ("content_block_stop", 2),
        ("message_delta", None), ("message_stop", None),
    ]
    start = events[0][1]["message"]
    assert start["id"] == "msg_014p7gG3wDgGV9EUtLvnow3U" and start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 2000, "the caller's estimate until the real counts arrive"
    assert events[6][1]["content_block"] == {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                                             "name": "get_weather", "input": {}}
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta" and data["index"] == 0)
    assert text == "Okay, let's check the weather."
    arguments = "".join(data["delta"]["partial_json"] for name, data in events
                        if name == "content_block_delta" and data["index"] == 1)
    assert arguments == "{\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"}"
    assert events[-2][1] == {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                             "usage": {"input_tokens": 95, "cache_creation_input_tokens": 200,
                                       "cache_read_input_tokens": 1800, "output_tokens": 503}}


def test_stream_cut_at_max_tokens():
    events = run_stream([chunk({"role": "assistant", "content": "Once"}), chunk({}, finish_reason="length"),
                         usage_chunk(USAGE)])
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_stream_thinking_blocks_only_when_asked_for():
    chunks = [chunk({"role": "assistant", "reasoning_content": "Let me think."}), chunk({"content": "42"}),
              chunk({}, finish_reason="stop"), usage_chunk(USAGE)]
    asked = run_stream(chunks, {"model": "m", "max_tokens": 2048, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    plain = run_stream(chunks)

    assert [data["content_block"]["type"] for name, data in asked if name == "content_block_start"] == ["thinking", "text"]
    assert [data["content_block"]["type"] for name, data in plain if name == "content_block_start"] == ["text"]


def test_a_stream_without_usage_keeps_the_input_estimate():
    events = run_stream([chunk({"content": "Hi"}), chunk({}, finish_reason="stop")], input_tokens=12)
    assert events[-2][1]["usage"] == {"output_tokens": 0}


def test_a_broken_upstream_stream_ends_with_an_error_event():
    translator = MessagesStreamTranslator({"model": "m"})
    events = translator.translate(b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n')
    events += translator.translate(b'data: {"error":{"message":"The upstream stream failed before it finished",'
                                   b'"type":"api_error","param":null,"code":"upstream_stream_error"}}\n\n')
    events += translator.translate(b"data: [DONE]\n\n")

    name, data = parse_sse(events)[-1]
    assert name == "error"
    ErrorResponse.model_validate(data)
    assert data["error"] == {"type": "api_error", "message": "The upstream stream failed before it finished"}


def test_the_anthropic_sdk_assembles_a_translated_stream():
    request = {"model": "claude-sonnet-4-6", "max_tokens": 1024, "tools": [WEATHER_TOOL],
               "messages": [{"role": "user", "content": "Weather in San Francisco and Paris?"}]}
    translator = MessagesStreamTranslator(request, input_tokens=50)
    events = [event for raw in as_sse(TEXT_THEN_TWO_CALLS) for event in translator.translate(raw)]
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url="http://gateway.test", max_retries=0,
                                 http_client=canned_client(lambda _: sse_response(events)),
                                 _strict_response_validation=True)

    with client.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "Okay, let's check the weather."
    assert [block.type for block in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[1].input == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert final.content[2].input == {"location": "Paris, France"}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens, final.usage.output_tokens) == (95, 1800, 503)


# --- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_type", "exception"), [
    (400, "invalid_request_error", anthropic.BadRequestError),
    (401, "authentication_error", anthropic.AuthenticationError),
    (403, "permission_error", anthropic.PermissionDeniedError),
    (404, "not_found_error", anthropic.NotFoundError),
    (413, "request_too_large", anthropic.ContentTooLargeError),
    (429, "rate_limit_error", anthropic.RateLimitError),
    (500, "api_error", anthropic.InternalServerError),
    (502, "api_error", anthropic.InternalServerError),
    (503, "overloaded_error", anthropic.ServiceUnavailableError),
    (504, "timeout_error", anthropic.GatewayTimeoutError),
    (529, "overloaded_error", anthropic.OverloadedError),
    (409, "invalid_request_error", anthropic.ConflictError),
])
def test_errors_in_anthropic_shape_raise_the_sdk_exception_for_their_status(status, error_type, exception):
    body = anthropic_error_body(status, "Budget of team 'ml' exceeded", request_id="req_011CSHoEeqs5C35K2UUqR7Fy")
    assert body == {"type": "error", "error": {"type": error_type, "message": "Budget of team 'ml' exceeded"},
                    "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    if error_type != "request_too_large":  # documented by Anthropic, though missing from the SDK's literal
        ErrorResponse.model_validate(body)
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url="http://gateway.test", max_retries=0,
                                 http_client=canned_client(lambda _: json_response(body, status)))

    with pytest.raises(exception) as raised:
        client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == status
    assert raised.value.body["error"]["message"] == "Budget of team 'ml' exceeded"
