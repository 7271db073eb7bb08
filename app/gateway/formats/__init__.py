"""Vendor wire formats over the gateway's internal chat format: pure translations, no I/O.

`/v1/responses` (OpenAI Responses API) and `/v1/messages` (Anthropic Messages API) work on every
provider by turning their requests into a chat request, and the chat answer (whole or streamed)
back into theirs.
"""

from app.gateway.formats.anthropic_errors import anthropic_error_body
from app.gateway.formats.anthropic_messages import chat_request_from_messages, count_tokens_estimate, messages_from_chat
from app.gateway.formats.anthropic_stream import MessagesStreamTranslator
from app.gateway.formats.responses import chat_request_from_responses, new_response_id, responses_from_chat
from app.gateway.formats.responses_stream import ResponsesStreamTranslator

__all__ = [
    "MessagesStreamTranslator",
    "ResponsesStreamTranslator",
    "anthropic_error_body",
    "chat_request_from_messages",
    "chat_request_from_responses",
    "count_tokens_estimate",
    "messages_from_chat",
    "new_response_id",
    "responses_from_chat",
]
