"""Pydantic models of the OpenAI Chat Completions wire format (requests, responses, chunks, errors).

Every model allows extra fields: providers and clients add fields every month (``obfuscation``,
``reasoning_details``, ``x_groq``, ``prompt_filter_results`` ...) and a passthrough must keep them.
Validation failures become :class:`WireFormatError` with a readable path via :func:`validate`.

The stream decoder does not use these models per chunk (that is measurably slower than reading
the dict directly); :class:`ChatCompletionChunk` documents the shape and serves tests.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from recorder.errors import WireFormatError


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


# --------------------------------------------------------------------------- content parts


class TextContent(_Wire):
    type: Literal["text"]
    text: str


class ImageUrl(_Wire):
    url: str
    detail: str | None = None


class ImageUrlContent(_Wire):
    type: Literal["image_url"]
    image_url: ImageUrl | str  # the bare string is an older shorthand some clients still send


class InputAudio(_Wire):
    data: str
    format: str


class InputAudioContent(_Wire):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(_Wire):
    file_data: str | None = None  # a data: URL
    file_id: str | None = None
    filename: str | None = None


class FileContent(_Wire):
    type: Literal["file"]
    file: FileRef


class RefusalContent(_Wire):
    type: Literal["refusal"]
    refusal: str


class OtherContent(_Wire):
    """A part type this module does not know; kept whole (it becomes an OpaquePart)."""

    type: str


_USER_PART_TYPES = frozenset({"text", "image_url", "input_audio", "file"})


def _user_part_tag(v: Any) -> str:
    t = v.get("type") if isinstance(v, dict) else getattr(v, "type", None)
    return t if isinstance(t, str) and t in _USER_PART_TYPES else "other"


UserContentPart = Annotated[
    Annotated[TextContent, Tag("text")]
    | Annotated[ImageUrlContent, Tag("image_url")]
    | Annotated[InputAudioContent, Tag("input_audio")]
    | Annotated[FileContent, Tag("file")]
    | Annotated[OtherContent, Tag("other")],
    Discriminator(_user_part_tag),
]

AssistantContentPart = Annotated[TextContent | RefusalContent, Field(discriminator="type")]


# --------------------------------------------------------------------------- messages


class FunctionCall(_Wire):
    name: str
    arguments: str = ""


class ToolCall(_Wire):
    id: str | None = None
    type: str = "function"
    function: FunctionCall | None = None  # absent on {"type":"custom","custom":{...}} calls


class SystemMessage(_Wire):
    role: Literal["system"]
    content: str | list[TextContent]
    name: str | None = None


class DeveloperMessage(_Wire):
    role: Literal["developer"]
    content: str | list[TextContent]
    name: str | None = None


class UserMessage(_Wire):
    role: Literal["user"]
    content: str | list[UserContentPart]
    name: str | None = None


class AssistantMessage(_Wire):
    role: Literal["assistant"]
    content: str | list[AssistantContentPart] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None  # legacy
    reasoning_content: str | None = None  # DeepSeek, vLLM, llama.cpp
    reasoning: str | None = None  # OpenRouter, Groq, Ollama
    name: str | None = None


class ToolMessage(_Wire):
    role: Literal["tool"]
    tool_call_id: str
    content: str | list[TextContent]


class FunctionMessage(_Wire):
    """Legacy result of a ``function_call``; it has no id."""

    role: Literal["function"]
    name: str
    content: str | None = None


Message = Annotated[
    SystemMessage
    | DeveloperMessage
    | UserMessage
    | AssistantMessage
    | ToolMessage
    | FunctionMessage,
    Field(discriminator="role"),
]


# --------------------------------------------------------------------------- request


class FunctionDef(_Wire):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDef(_Wire):
    type: str = "function"
    function: FunctionDef | None = None  # absent on non-function tools ("custom", ...)


class NamedFunction(_Wire):
    name: str


class NamedToolChoice(_Wire):
    type: Literal["function"]
    function: NamedFunction


class StreamOptions(_Wire):
    include_usage: bool | None = None


class ChatCompletionRequest(_Wire):
    model: str = ""  # Azure puts the deployment in the URL and omits it
    messages: list[Message]
    tools: list[ToolDef] | None = None
    tool_choice: str | NamedToolChoice | dict[str, Any] | None = None
    functions: list[FunctionDef] | None = None  # legacy
    function_call: str | NamedFunction | None = None  # legacy
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None  # not OpenAI's, but vLLM/Ollama/llama.cpp clients send it
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    reasoning_effort: str | None = None
    user: str | None = None


# --------------------------------------------------------------------------- response


class PromptTokensDetails(_Wire):
    cached_tokens: int | None = None


class CompletionTokensDetails(_Wire):
    reasoning_tokens: int | None = None


class CompletionUsage(_Wire):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek
    prompt_cache_miss_tokens: int | None = None  # DeepSeek


class ResponseMessage(_Wire):
    role: str | None = "assistant"
    content: str | list[AssistantContentPart] | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class Choice(_Wire):
    index: int = 0
    message: ResponseMessage
    finish_reason: str | None = None


class ChatCompletion(_Wire):
    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[Choice] | None = None
    usage: CompletionUsage | None = None


# --------------------------------------------------------------------------- stream chunk


class ToolCallDelta(_Wire):
    index: int | None = None  # Mistral omits it
    id: str | None = None
    type: str | None = None
    function: dict[str, Any] | None = None


class ChunkDelta(_Wire):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(_Wire):
    index: int = 0
    delta: ChunkDelta | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(_Wire):
    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice] | None = None  # vLLM may send null; Azure's first chunk has []
    usage: CompletionUsage | None = None


# --------------------------------------------------------------------------- error


class ErrorDetail(_Wire):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: int | str | None = None  # OpenAI: str; OpenRouter: int; Azure: "404"


class ErrorBody(_Wire):
    error: ErrorDetail


# --------------------------------------------------------------------------- validation

M = TypeVar("M", bound=BaseModel)

# pydantic names the union branch it tried inside a location ("str", "list[...]", ...): noise.
_UNION_BRANCH = re.compile(r"^(str|int|float|bool|none|list\[.*|dict\[.*|tagged-union\[.*)$")


def validate(model: type[M], body: Any, what: str) -> M:
    """``model`` from parsed JSON, or a WireFormatError naming the first bad place."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        # The deepest location is the most specific: for ``str | list[...]`` it is the list branch.
        first = max(e.errors(), key=lambda err: len(err["loc"]))
        path = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}"
            for p in first["loc"]
            if not (isinstance(p, str) and _UNION_BRANCH.match(p))
        )
        path = path.removeprefix(".") or "(body)"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise WireFormatError(f"invalid OpenAI {what}: {path}: {first['msg']}{more}") from e
