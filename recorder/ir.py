"""The neutral intermediate representation every dialect codec reads and writes.

Pure values: no ids are minted here, no clock is read. A codec turns its wire format into these
types (``*_to_ir``) and back (``*_from_ir``); a translation is always ``src -> IR -> dst``.

Conventions that every codec relies on:

- Tool-call arguments travel as JSON *text* (``arguments``), because OpenAI sends text that may be
  partial or even invalid, while Anthropic sends an object. The Anthropic codec parses/dumps.
- ``Usage.input_tokens`` is the *total* prompt size, cache hits and writes included (OpenAI
  semantics). Anthropic's ``input_tokens`` excludes cache tokens, so its codec adds/subtracts.
- Anything a dialect has that the IR does not model rides in ``extra`` (unknown request fields,
  unknown message fields) or as an :class:`OpaquePart` (unknown content blocks). A same-dialect
  target writes them back verbatim; a cross-dialect target drops them *with a Note* or, for
  conversation content, raises :class:`recorder.errors.UnsupportedContentError`.
- Stream events are sequential: at most one part is open at a time, ``PartStart(i)`` comes after
  ``PartStop`` of every earlier part, and ``index`` equals the part's final position in
  ``Response.content``. Decoders guarantee this; encoders may rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# responses: the OpenAI Responses API; kiro: Kiro / Amazon Q Developer (an upstream only)
# The registry (recorder.dialects) says what each is and which roles it plays in the gateway.
Dialect = Literal["anthropic", "openai", "responses", "kiro", "claude_cli"]

Role = Literal["system", "user", "assistant"]

StopReason = Literal[
    "end_turn",  # natural end (OpenAI "stop")
    "max_tokens",  # output cap reached (OpenAI "length")
    "stop_sequence",  # a client stop sequence matched
    "tool_use",  # the model wants tools run (OpenAI "tool_calls" / "function_call")
    "content_filter",  # provider-side filter cut the answer
    "refusal",  # the model refused (Anthropic "refusal")
    "pause_turn",  # Anthropic server tools paused a long turn
    "context_window_exceeded",  # Anthropic model_context_window_exceeded
]

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "billing",
    "timeout",
    "api_error",
    "overloaded",
    "bad_gateway",
    "unavailable",
]


# --------------------------------------------------------------------------- content parts


@dataclass(slots=True)
class TextPart:
    text: str
    cache_control: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. Anthropic citations


@dataclass(slots=True)
class ImagePart:
    """An image given inline (``data`` + ``media_type``) or by ``url``."""

    media_type: str | None = None
    data: str | None = None  # base64, no data: prefix
    url: str | None = None
    cache_control: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. OpenAI image_url.detail


@dataclass(slots=True)
class DocumentPart:
    """A file (PDF, plain text) given inline or by url."""

    media_type: str | None = None
    data: str | None = None  # base64 (or plain text when media_type is text/plain)
    url: str | None = None
    filename: str | None = None
    cache_control: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ToolCallPart:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI carries it; "" means no arguments streamed yet
    cache_control: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # "custom": a call of a custom (free-form) tool; ``arguments`` is then its raw input text
    kind: Literal["function", "custom"] = "function"


@dataclass(slots=True)
class ToolResultPart:
    tool_call_id: str
    content: list[TextPart | ImagePart | DocumentPart]
    is_error: bool | None = None
    cache_control: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ThinkingPart:
    """Model reasoning. ``signature`` is opaque and only ever comes from the provider."""

    text: str
    signature: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RedactedThinkingPart:
    data: str


@dataclass(slots=True)
class OpaquePart:
    """A content block the IR does not model, kept verbatim for a same-dialect target."""

    dialect: Dialect
    type: str
    data: dict[str, Any]


Part = (
    TextPart
    | ImagePart
    | DocumentPart
    | ToolCallPart
    | ToolResultPart
    | ThinkingPart
    | RedactedThinkingPart
    | OpaquePart
)


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Part]
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. OpenAI message "name"


# --------------------------------------------------------------------------- request


ToolKind = Literal[
    "function",  # takes JSON arguments described by ``parameters``
    "custom",  # takes raw text, optionally in a grammar (``format``): Codex's apply_patch
    "hosted",  # run by the provider (web_search, file_search ...): the definition rides in extra
]


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None  # JSON schema
    cache_control: dict[str, Any] | None = None
    strict: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown tool fields / server tools
    kind: ToolKind = "function"
    format: dict[str, Any] | None = None  # a custom tool's input format (grammar or text)


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "any", "none", "tool"]
    name: str | None = None  # when mode == "tool"


@dataclass(slots=True)
class ThinkingConfig:
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = None
    effort: str | None = None  # "low" | "medium" | "high" (OpenAI reasoning_effort)


@dataclass(slots=True)
class OutputFormat:
    """Structured output asked of the model: any JSON object, or JSON matching ``schema``.
    OpenAI ``response_format``, Responses ``text.format``, Anthropic ``output_config.format``."""

    type: Literal["json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None
    description: str | None = None


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message]
    system: list[TextPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool | None = None  # OpenAI stream_options.include_usage
    thinking: ThinkingConfig | None = None
    user: str | None = None  # Anthropic metadata.user_id / OpenAI user
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level fields, verbatim
    output_format: OutputFormat | None = None  # None: free text


# --------------------------------------------------------------------------- response


@dataclass(slots=True)
class Usage:
    input_tokens: int | None = None  # total prompt tokens, cache included
    output_tokens: int | None = None  # reasoning included
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def token_count(value: object) -> int | None:
    """A usage field as the IR holds it: a whole number of tokens, or None for anything else
    (a codec reading usage passes every field through this, so no encoder adds up strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def merge_usage(old: Usage, new: Usage) -> Usage:
    """Later usage replaces earlier usage field by field (the rule of :class:`UsageUpdate`)."""

    def pick(a: int | None, b: int | None) -> int | None:
        return b if b is not None else a

    return Usage(
        input_tokens=pick(old.input_tokens, new.input_tokens),
        output_tokens=pick(old.output_tokens, new.output_tokens),
        cache_read_tokens=pick(old.cache_read_tokens, new.cache_read_tokens),
        cache_creation_tokens=pick(old.cache_creation_tokens, new.cache_creation_tokens),
        reasoning_tokens=pick(old.reasoning_tokens, new.reasoning_tokens),
        extra={**old.extra, **new.extra},
    )


@dataclass(slots=True)
class Response:
    id: str
    model: str
    content: list[Part]
    stop_reason: StopReason | None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ErrorInfo:
    kind: ErrorKind
    message: str
    status: int | None = None
    code: str | None = None  # provider code, e.g. OpenAI "invalid_api_key"
    param: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- stream events


@dataclass(slots=True)
class MessageStart:
    id: str
    model: str
    usage: Usage = field(default_factory=Usage)


@dataclass(slots=True)
class PartStart:
    """Opens part ``index``. Its payload is the part with empty text/arguments (or, for parts
    that arrive whole such as redacted thinking or opaque blocks, the complete part)."""

    index: int
    part: Part


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    text: str


@dataclass(slots=True)
class SignatureDelta:
    index: int
    signature: str


@dataclass(slots=True)
class ToolArgsDelta:
    index: int
    json: str


@dataclass(slots=True)
class OpaqueDelta:
    """A delta type the IR does not model (e.g. Anthropic citations_delta), kept verbatim."""

    index: int
    dialect: Dialect
    data: dict[str, Any]


@dataclass(slots=True)
class PartStop:
    index: int


@dataclass(slots=True)
class UsageUpdate:
    """Cumulative usage so far; later updates replace earlier ones field by field."""

    usage: Usage


@dataclass(slots=True)
class Finish:
    stop_reason: StopReason | None
    stop_sequence: str | None = None


@dataclass(slots=True)
class StreamError:
    """The upstream failed mid-stream, or the stream ended without its terminal event."""

    error: ErrorInfo


@dataclass(slots=True)
class KeepAlive:
    """A ping / comment line. Encoders may forward it as their own keep-alive."""


StreamEvent = (
    MessageStart
    | PartStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolArgsDelta
    | OpaqueDelta
    | PartStop
    | UsageUpdate
    | Finish
    | StreamError
    | KeepAlive
)


# --------------------------------------------------------------------------- translation notes


@dataclass(slots=True, frozen=True)
class Note:
    """Something a translation could not carry and deliberately dropped (stored by the recorder)."""

    path: str  # JSON path in the source body, e.g. "context_management" or "tools[2].cache_control"
    reason: str
