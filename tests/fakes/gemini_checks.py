"""What the fake Gemini (and Gemini-on-Vertex) refuses, worded as Google words it.

The real API rejects any field outside its request messages ("Invalid JSON payload received. Unknown name
...: Cannot find field."), a role other than user/model, empty parts, and an OBJECT schema without properties.
"""

from __future__ import annotations

from typing import Any

import msgspec

_encode = msgspec.json.Encoder().encode

_REQUEST_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings",
                   "cachedContent", "labels"}
_CONTENT_FIELDS = {"role", "parts"}
_PART_FIELDS = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "thought", "thoughtSignature",
                "executableCode", "codeExecutionResult", "videoMetadata"}
_GENERATION_FIELDS = {"temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences",
                      "presencePenalty", "frequencyPenalty", "seed", "responseMimeType", "responseSchema",
                      "responseJsonSchema", "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities"}
_SCHEMA_FIELDS = {"type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
                  "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example",
                  "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum"}
_FUNCTION_FIELDS = {"name", "description", "parameters", "parametersJsonSchema", "response"}


class GoogleError(Exception):
    def __init__(self, code: int, status: str, message: str, details: list | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details

    def body(self) -> bytes:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return _encode({"error": error})


def _unknown(name: str, where: str) -> GoogleError:
    return GoogleError(400, "INVALID_ARGUMENT",
                       f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.')


def check_fields(value: Any, allowed: set[str], where: str) -> None:
    if not isinstance(value, dict):
        raise GoogleError(400, "INVALID_ARGUMENT", f"Invalid value at '{where}': expected an object")
    for name in value:
        if name not in allowed:
            raise _unknown(name, where)


def _check_schema(schema: Any, where: str) -> None:
    check_fields(schema, _SCHEMA_FIELDS, where)
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties[{name}].value")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for i, option in enumerate(schema.get("anyOf") or []):
        _check_schema(option, f"{where}.any_of[{i}]")
    if schema.get("type") in ("object", "OBJECT") and "properties" in schema and not schema["properties"]:
        raise GoogleError(400, "INVALID_ARGUMENT", f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type")


def check_generate_request(body: Any) -> None:
    """Raise the GoogleError the real API would answer for a malformed GenerateContentRequest."""
    check_fields(body, _REQUEST_FIELDS, "")
    contents = body.get("contents")
    if not contents:
        raise GoogleError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        check_fields(content, _CONTENT_FIELDS, f"contents[{i}]")
        if content.get("role") not in ("user", "model"):
            raise GoogleError(400, "INVALID_ARGUMENT", "Please use a valid role: user, model.")
        if not content.get("parts"):
            raise GoogleError(400, "INVALID_ARGUMENT", f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        for j, part in enumerate(content["parts"]):
            check_fields(part, _PART_FIELDS, f"contents[{i}].parts[{j}]")
            data = [name for name in part if name not in ("thought", "thoughtSignature", "videoMetadata")]
            if len(data) != 1:
                raise GoogleError(400, "INVALID_ARGUMENT", f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must have one initialized field")
    if "systemInstruction" in body:
        check_fields(body["systemInstruction"], _CONTENT_FIELDS, "system_instruction")
        for j, part in enumerate(body["systemInstruction"].get("parts") or []):
            check_fields(part, {"text"}, f"system_instruction.parts[{j}]")
    for i, tool in enumerate(body.get("tools") or []):
        check_fields(tool, {"functionDeclarations", "googleSearch", "codeExecution", "urlContext"}, f"tools[{i}]")
        for j, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{i}].function_declarations[{j}]"
            check_fields(declaration, _FUNCTION_FIELDS, where)
            if "parameters" in declaration:
                _check_schema(declaration["parameters"], f"{where}.parameters")
    if "toolConfig" in body:
        check_fields(body["toolConfig"], {"functionCallingConfig"}, "tool_config")
        config = body["toolConfig"]["functionCallingConfig"]
        check_fields(config, {"mode", "allowedFunctionNames"}, "tool_config.function_calling_config")
        if config.get("mode") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
            raise GoogleError(400, "INVALID_ARGUMENT", "Invalid value at 'tool_config.function_calling_config.mode'")
    if "generationConfig" in body:
        check_fields(body["generationConfig"], _GENERATION_FIELDS, "generation_config")
        if "responseSchema" in body["generationConfig"]:
            _check_schema(body["generationConfig"]["responseSchema"], "generation_config.response_schema")
