"""/v1/responses over chat: requests from OpenAI's documented examples become valid chat requests, and
chat answers (whole and streamed) become what the openai SDK itself accepts as Responses wire format."""

from __future__ import annotations

import copy

import openai
import pydantic
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from app.gateway.formats import (
    ResponsesStreamTranslator, chat_request_from_responses, new_response_id, responses_from_chat,
)
from app.lib.errors import InvalidRequest
from tests.gateway.formats.wire import (
    as_sse, canned_client, chunk, json_response, parse_sse, sse_response, tool_piece, usage_chunk, validate_params,
)

STREAM_EVENT = pydantic.TypeAdapter(ResponseStreamEvent)

# From OpenAI's function-calling guide (Responses flavour).
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Get current temperature for a given location.",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string", "description": "City and country e.g. Bogotá, Colombia"}},
        "required": ["location"],
        "additionalProperties": False,
    },
    "strict": True,
}
CHAT_WEATHER_TOOL = {"type": "function", "function": {k: v for k, v in WEATHER_TOOL.items() if k != "type"}}

USAGE = {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
         "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0,
                                       "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def translated(body: dict) -> dict:
    validate_params(ResponseCreateParamsNonStreaming, {k: v for k, v in body.items() if k != "stream"})
    chat = chat_request_from_responses(copy.deepcopy(body))
    validate_params(CompletionCreateParamsNonStreaming, {k: v for k, v in chat.items() if k not in ("stream", "stream_options")})
    return chat


def completion(message: dict, finish_reason: str = "stop", usage: dict | None = USAGE) -> dict:
    body = {"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion", "created": 1741569952,
            "model": "gpt-4.1-2025-04-14", "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "refusal": None, "annotations": [], **message},
                         "logprobs": None, "finish_reason": finish_reason}],
            "usage": usage, "service_tier": "default"}
    ChatCompletion.model_validate(body)  # the fixture is what a chat upstream really sends
    return body


# --- requests -------------------------------------------------------------------------------------------


def test_string_input_with_instructions_becomes_system_and_user_messages():
    chat = translated({"model": "gpt-4.1", "instructions": "Talk like a pirate.",
                       "input": "Are semicolons optional in JavaScript?", "max_output_tokens": 500,
                       "temperature": 0.2, "top_p": 0.9, "user": "user-1234", "metadata": {"trace": "abc"}})

    assert chat == {
        "model": "gpt-4.1",
        "messages": [{"role": "system", "content": "Talk like a pirate."},
                     {"role": "user", "content": "Are semicolons optional in JavaScript?"}],
        "temperature": 0.2, "top_p": 0.9, "user": "user-1234", "max_completion_tokens": 500,
    }


def test_message_items_with_images_files_and_developer_role():
    chat = translated({"model": "gpt-4.1", "input": [
        {"role": "developer", "content": "Answer in one sentence."},
        {"role": "user", "content": [
            {"type": "input_text", "text": "what's in this image?"},
            {"type": "input_image", "image_url": "https://example.com/boardwalk.jpg", "detail": "high"},
            {"type": "input_file", "filename": "draconomicon.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
        ]},
        {"id": "msg_67ccd3a9da748190baa7f1570fe91ac6", "type": "message", "role": "assistant", "status": "completed",
         "content": [{"type": "output_text", "text": "A boardwalk.", "annotations": []}]},
        {"role": "user", "content": "And the weather?"},
    ]})

    assert chat["messages"] == [
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": [
            {"type": "text", "text": "what's in this image?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/boardwalk.jpg", "detail": "high"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x", "filename": "draconomicon.pdf"}},
        ]},
        {"role": "assistant", "content": "A boardwalk."},
        {"role": "user", "content": "And the weather?"},
    ]


def test_function_tools_calls_and_outputs_round_trip_into_chat():
    chat = translated({
        "model": "gpt-4.1", "tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": True,
        "input": [
            {"role": "user", "content": "What's the weather like in Paris and Bogotá today?"},
            {"id": "msg_67ccd3a9da748190baa7f1570fe91ac7", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "id": "fc_12345xyz", "call_id": "call_12345xyz", "name": "get_weather",
             "arguments": "{\"location\":\"Paris, France\"}"},
            {"type": "function_call", "id": "fc_67890abc", "call_id": "call_67890abc", "name": "get_weather",
             "arguments": "{\"location\":\"Bogotá, Colombia\"}"},
            {"type": "function_call_output", "call_id": "call_12345xyz", "output": "14°C"},
            {"type": "function_call_output", "call_id": "call_67890abc", "output": [{"type": "input_text", "text": "19°C"}]},
        ],
    })

    assert chat["tools"] == [CHAT_WEATHER_TOOL]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is True
    assert chat["messages"][1:] == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_12345xyz", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}},
            {"id": "call_67890abc", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"location\":\"Bogotá, Colombia\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_12345xyz", "content": "14°C"},
        {"role": "tool", "tool_call_id": "call_67890abc", "content": "19°C"},
    ]


def test_images_returned_by_a_tool_follow_the_tool_messages_as_a_user_message():
    chat = translated({"model": "gpt-4.1", "tools": [WEATHER_TOOL], "input": [
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1",
         "output": [{"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"}]},
        {"role": "user", "content": "What does the chart say?"},
    ]})

    assert [m["role"] for m in chat["messages"]] == ["assistant", "tool", "user", "user"]
    assert chat["messages"][2]["content"] == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=",
                                                                                   "detail": "auto"}}]


def test_structured_output_reasoning_and_stream_settings():
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "date": {"type": "string"}},
              "required": ["name", "date"], "additionalProperties": False}
    chat = chat_request_from_responses({
        "model": "o4-mini", "input": "Alice and Bob are going to a science fair on Friday.", "stream": True,
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "calendar_event", "schema": schema, "strict": True},
                 "verbosity": "low"},
    })

    assert chat["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "calendar_event", "schema": schema, "strict": True}}
    assert chat["reasoning_effort"] == "low" and chat["verbosity"] == "low"
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert chat_request_from_responses({"model": "m", "input": "x", "text": {"format": {"type": "json_object"}}})[
        "response_format"] == {"type": "json_object"}


def test_allowed_tools_narrows_the_tool_list():
    other = {**WEATHER_TOOL, "name": "get_time"}
    chat = translated({"model": "gpt-4.1", "input": "hi", "tools": [WEATHER_TOOL, other],
                       "tool_choice": {"type": "allowed_tools", "mode": "required",
                                       "tools": [{"type": "function", "name": "get_time"}]}})

    assert [tool["function"]["name"] for tool in chat["tools"]] == ["get_time"]
    assert chat["tool_choice"] == "required"


def test_store_false_is_fine_and_no_tools_means_no_tool_settings():
    chat = chat_request_from_responses({"model": "m", "input": "hi", "store": False, "tool_choice": "auto",
                                        "parallel_tool_calls": False})
    assert "tool_choice" not in chat and "parallel_tool_calls" not in chat and "store" not in chat


@pytest.mark.parametrize(("body", "param", "says"), [
    ({"previous_response_id": "resp_123"}, "previous_response_id", "no conversation state"),
    ({"store": True}, "store", "no conversation state"),
    ({"conversation": "conv_123"}, "conversation", "no conversation state"),
    ({"background": True}, "background", "no responses to poll"),
    ({"tools": [{"type": "web_search_preview"}]}, "tools[0]", "built-in tools such as 'web_search_preview'"),
    ({"tools": [WEATHER_TOOL, {"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[1]", "'file_search'"),
    ({"input": [{"type": "item_reference", "id": "msg_123"}]}, "input[0]", "no conversation state"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-123", "detail": "auto"}]}]},
     "input[0].content[0]", "image_url"),
    ({"input": []}, "input", "'input' is required"),
])
def test_what_needs_openai_side_state_or_tools_is_refused_with_a_reason(body, param, says):
    with pytest.raises(InvalidRequest) as refused:
        chat_request_from_responses({"model": "gpt-4.1", "input": "hi", **body})
    assert refused.value.param == param
    assert says in refused.value.message


# --- whole responses ------------------------------------------------------------------------------------


def test_text_completion_becomes_a_completed_response():
    request = {"model": "gpt-4.1", "input": "Tell me a three sentence bedtime story about a unicorn.",
               "instructions": "Be kind.", "max_output_tokens": 1000, "metadata": {"trace": "abc"}}
    chat = completion({"content": "Once upon a time, a unicorn named Lumina..."})

    body = responses_from_chat(chat, request=request, response_id="resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b")
    response = Response.model_validate(body)

    assert "output_text" not in body, "output_text is the SDK's convenience, not a wire field"
    assert response.output_text == "Once upon a time, a unicorn named Lumina..."
    assert response.status == "completed" and response.incomplete_details is None
    assert response.model == "gpt-4.1", "the caller's model name, not the upstream's"
    assert response.instructions == "Be kind." and response.max_output_tokens == 1000
    assert response.metadata == {"trace": "abc"} and response.store is False
    message = body["output"][0]
    assert message["type"] == "message" and message["id"].startswith("msg_") and message["status"] == "completed"
    assert message["content"] == [{"type": "output_text", "text": "Once upon a time, a unicorn named Lumina...",
                                   "annotations": [], "logprobs": []}]
    assert body["usage"] == {"input_tokens": 2006, "input_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 0},
                             "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 128},
                             "total_tokens": 2306}


def test_tool_calls_become_function_call_items():
    request = {"model": "gpt-4.1", "input": "Weather in Paris?", "tools": [WEATHER_TOOL]}
    chat = completion({"content": None, "tool_calls": [
        {"id": "call_12345xyz", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}},
        {"id": "call_67890abc", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\":\"Bogotá, Colombia\"}"}},
    ]}, finish_reason="tool_calls")

    body = responses_from_chat(chat, request=request, response_id=new_response_id())
    response = Response.model_validate(body)

    assert [item.type for item in response.output] == ["function_call", "function_call"]
    first = body["output"][0]
    assert first["call_id"] == "call_12345xyz" and first["name"] == "get_weather"
    assert first["arguments"] == "{\"location\":\"Paris, France\"}" and first["id"].startswith("fc_")
    assert body["tools"] == [WEATHER_TOOL] and body["tool_choice"] == "auto"
    assert body["id"].startswith("resp_")


def test_length_stop_is_an_incomplete_response():
    chat = completion({"content": "Once upon a"}, finish_reason="length")
    response = Response.model_validate(responses_from_chat(chat, request={"model": "m", "input": "x"}, response_id="resp_1"))

    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output[0].status == "incomplete"


def test_reasoning_and_refusal_are_kept_as_their_own_item_and_part():
    chat = completion({"content": None, "refusal": "I can't help with that.", "reasoning_content": "Policy says no."})
    body = responses_from_chat(chat, request={"model": "m", "input": "x"}, response_id="resp_1")
    Response.model_validate(body)

    assert [item["type"] for item in body["output"]] == ["reasoning", "message"]
    assert body["output"][0]["content"] == [{"type": "reasoning_text", "text": "Policy says no."}]
    assert body["output"][1]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]


def test_the_openai_sdk_reads_a_translated_response(  # through its own HTTP parsing, strict validation on
):
    request = {"model": "gpt-4.1", "input": "Say hi"}
    body = responses_from_chat(completion({"content": "Hi there!"}), request=request, response_id="resp_sdk")
    client = openai.OpenAI(api_key="sk-test", base_url="http://gateway.test/v1", max_retries=0,
                           http_client=canned_client(lambda _: json_response(body)), _strict_response_validation=True)

    response = client.responses.create(**request)

    assert response.id == "resp_sdk" and response.output_text == "Hi there!"
    assert response.usage.input_tokens_details.cached_tokens == 1920


# --- streams --------------------------------------------------------------------------------------------

TEXT_THEN_TWO_CALLS = [
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "I'll check "}),
    chunk({"content": "both cities."}),
    chunk(tool_piece(0, "", call_id="call_12345xyz", name="get_weather")),
    chunk(tool_piece(0, "{\"location\":")),
    chunk(tool_piece(0, "\"Paris,")),
    chunk(tool_piece(0, " France\"}")),
    chunk(tool_piece(1, "", call_id="call_67890abc", name="get_weather")),
    chunk(tool_piece(1, "{\"location\":\"Bogotá,")),
    chunk(tool_piece(1, " Colombia\"}")),
    chunk({}, finish_reason="tool_calls"),
    usage_chunk(USAGE),
]


def run_stream(chunks: list[dict], request: dict | None = None) -> list[tuple[str, dict]]:
    for item in chunks:
        ChatCompletionChunk.model_validate(item)  # fixtures are real chat chunks
    translator = ResponsesStreamTranslator(request or {"model": "gpt-4.1", "input": "x", "tools": [WEATHER_TOOL]},
                                           response_id="resp_stream", created_at=1741570283)
    events = [event for raw in as_sse(chunks) for event in translator.translate(raw)]
    parsed = parse_sse(events)
    for _, data in parsed:
        STREAM_EVENT.validate_python(data)  # every event is one the SDK knows, field for field
    assert [data["sequence_number"] for _, data in parsed] == list(range(len(parsed)))
    return parsed


def test_stream_of_text_then_tool_calls_follows_the_documented_event_order():
    events = run_stream(TEXT_THEN_TWO_CALLS)

    assert [name for name, _ in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed",
    ]
    by_name = {}
    for name, data in events:
        by_name.setdefault(name, []).append(data)
    assert by_name["response.created"][0]["response"]["status"] == "in_progress"
    assert "".join(d["delta"] for d in by_name["response.output_text.delta"]) == "I'll check both cities."
    assert by_name["response.output_text.done"][0]["text"] == "I'll check both cities."
    assert [d["arguments"] for d in by_name["response.function_call_arguments.done"]] == [
        "{\"location\":\"Paris, France\"}", "{\"location\":\"Bogotá, Colombia\"}"]
    assert [d["output_index"] for d in by_name["response.output_item.added"]] == [0, 1, 2]
    added_call = by_name["response.output_item.added"][1]["item"]
    assert added_call["call_id"] == "call_12345xyz" and added_call["arguments"] == "" and added_call["status"] == "in_progress"

    final = Response.model_validate(by_name["response.completed"][0]["response"])
    assert final.status == "completed" and final.output_text == "I'll check both cities."
    assert [(item.type, getattr(item, "arguments", None)) for item in final.output] == [
        ("message", None), ("function_call", "{\"location\":\"Paris, France\"}"),
        ("function_call", "{\"location\":\"Bogotá, Colombia\"}")]
    assert final.usage.input_tokens == 2006 and final.usage.output_tokens_details.reasoning_tokens == 128


def test_stream_cut_at_max_output_tokens_ends_with_response_incomplete():
    events = run_stream([chunk({"role": "assistant", "content": "Once"}), chunk({"content": " upon"}),
                         chunk({}, finish_reason="length"), usage_chunk(USAGE)])

    name, data = events[-1]
    assert name == "response.incomplete"
    assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert data["response"]["output"][0]["status"] == "incomplete"


def test_reasoning_streams_as_a_reasoning_item_before_the_message():
    events = run_stream([chunk({"role": "assistant", "reasoning_content": "Think"}), chunk({"reasoning_content": "ing."}),
                         chunk({"content": "Done."}), chunk({}, finish_reason="stop"), usage_chunk(USAGE)])

    assert [name for name, _ in events][2:9] == [
        "response.output_item.added", "response.content_part.added", "response.reasoning_text.delta",
        "response.reasoning_text.delta", "response.reasoning_text.done", "response.content_part.done",
        "response.output_item.done"]
    final = events[-1][1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    assert final["output"][0]["content"] == [{"type": "reasoning_text", "text": "Thinking."}]


def test_a_broken_upstream_stream_ends_with_response_failed():
    translator = ResponsesStreamTranslator({"model": "m", "input": "x"}, response_id="resp_1")
    events = translator.translate(b"data: " + b'{"choices":[{"index":0,"delta":{"content":"Hel"}}]}' + b"\n\n")
    events += translator.translate(b'data: {"error":{"message":"The upstream stream failed before it finished",'
                                   b'"type":"api_error","param":null,"code":"upstream_stream_error"}}\n\n')
    events += translator.finish()  # nothing more after the failure

    parsed = parse_sse(events)
    assert parsed[-1][0] == "response.failed"
    assert parsed[-1][1]["response"]["error"] == {"code": "server_error",
                                                  "message": "The upstream stream failed before it finished"}
    STREAM_EVENT.validate_python(parsed[-1][1])


def test_usage_given_to_finish_wins_and_a_stream_without_usage_still_completes():
    translator = ResponsesStreamTranslator({"model": "m", "input": "x"}, response_id="resp_1")
    translator.feed(chunk({"content": "Hi"}))
    final = parse_sse(translator.finish({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}))[-1][1]
    assert final["response"]["usage"]["input_tokens"] == 3

    bare = ResponsesStreamTranslator({"model": "m", "input": "x"}, response_id="resp_2")
    assert parse_sse(bare.translate(b"data: [DONE]\n\n"))[-1][1]["response"]["usage"] is None


def test_the_openai_sdk_assembles_a_translated_stream():
    request = {"model": "gpt-4.1", "input": "Weather in Paris and Bogotá?", "tools": [WEATHER_TOOL]}
    translator = ResponsesStreamTranslator(request, response_id="resp_sdk_stream")
    events = [event for raw in as_sse(TEXT_THEN_TWO_CALLS) for event in translator.translate(raw)]
    client = openai.OpenAI(api_key="sk-test", base_url="http://gateway.test/v1", max_retries=0,
                           http_client=canned_client(lambda _: sse_response(events)), _strict_response_validation=True)

    with client.responses.stream(**request) as stream:
        text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        final = stream.get_final_response()

    assert text == "I'll check both cities."
    assert final.id == "resp_sdk_stream" and final.output_text == "I'll check both cities."
    assert [call.call_id for call in final.output if call.type == "function_call"] == ["call_12345xyz", "call_67890abc"]
