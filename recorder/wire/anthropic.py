"""Anthropic Messages API wire models (``POST /v1/messages``): requests, responses, errors, events.

Every model allows extra fields, because Claude Code adds new ones every month and a translator
that refuses them breaks (gateways.md §2.2). Only the fields the IR maps are declared; everything
else stays in ``model_extra`` and the codec carries or drops it with a note.

Content blocks are a union discriminated on ``type`` with a fallback: a block type we do not
know (``server_tool_use``, ``web_search_tool_result``, ``mcp_tool_use``, ``compaction``, ...)
validates as :class:`UnknownBlock` and is kept whole, never refused.

Stream events are *not* validated with these models on the hot path (the codec dispatches on
``type`` after ``json.loads``); the event models document the grammar and serve tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError

from recorder.errors import WireFormatError

JsonObject = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


def _tagger(known: frozenset[str]) -> Any:
    """A discriminator that routes unknown ``type`` values to the ``"unknown"`` fallback."""

    def tag(v: Any) -> str | None:
        t = v.get("type") if isinstance(v, dict) else getattr(v, "type", None)
        if not isinstance(t, str):
            return None  # pydantic reports "unable to extract tag": a readable shape error
        return f"<{t}>" if t in known else "<unknown>"

    return Discriminator(
        tag,
        custom_error_type="missing_type",
        custom_error_message='needs a string "type"',
    )


# --------------------------------------------------------------------------- sources


class Base64Source(_Wire):
    type: Literal["base64"]
    media_type: str
    data: str


class UrlSource(_Wire):
    type: Literal["url"]
    url: str


class PlainTextSource(_Wire):
    type: Literal["text"]
    media_type: str = "text/plain"
    data: str


class OtherSource(_Wire):
    """``file`` (Files API id), ``content`` (inline blocks) and any future source kind."""

    type: str


Source = Annotated[
    Annotated[Base64Source, Tag("<base64>")]
    | Annotated[UrlSource, Tag("<url>")]
    | Annotated[PlainTextSource, Tag("<text>")]
    | Annotated[OtherSource, Tag("<unknown>")],
    _tagger(frozenset({"base64", "url", "text"})),
]


# --------------------------------------------------------------------------- content blocks


class TextBlock(_Wire):
    type: Literal["text"]
    text: str
    cache_control: JsonObject | None = None


class ImageBlock(_Wire):
    type: Literal["image"]
    source: Source
    cache_control: JsonObject | None = None


class DocumentBlock(_Wire):
    type: Literal["document"]
    source: Source
    title: str | None = None
    cache_control: JsonObject | None = None


class UnknownBlock(_Wire):
    """A block type the IR does not model; the codec keeps it verbatim as an OpaquePart."""

    type: str


ToolResultContentBlock = Annotated[
    Annotated[TextBlock, Tag("<text>")]
    | Annotated[ImageBlock, Tag("<image>")]
    | Annotated[DocumentBlock, Tag("<document>")]
    | Annotated[UnknownBlock, Tag("<unknown>")],
    _tagger(frozenset({"text", "image", "document"})),
]


class ToolUseBlock(_Wire):
    type: Literal["tool_use"]
    id: str
    name: str
    input: JsonObject
    cache_control: JsonObject | None = None


class ToolResultBlock(_Wire):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[ToolResultContentBlock] | None = None
    is_error: bool | None = None
    cache_control: JsonObject | None = None


class ThinkingBlock(_Wire):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(_Wire):
    type: Literal["redacted_thinking"]
    data: str


_BLOCK_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)

ContentBlock = Annotated[
    Annotated[TextBlock, Tag("<text>")]
    | Annotated[ImageBlock, Tag("<image>")]
    | Annotated[DocumentBlock, Tag("<document>")]
    | Annotated[ToolUseBlock, Tag("<tool_use>")]
    | Annotated[ToolResultBlock, Tag("<tool_result>")]
    | Annotated[ThinkingBlock, Tag("<thinking>")]
    | Annotated[RedactedThinkingBlock, Tag("<redacted_thinking>")]
    | Annotated[UnknownBlock, Tag("<unknown>")],
    _tagger(_BLOCK_TYPES),
]


# --------------------------------------------------------------------------- request


class MessageParam(_Wire):
    # "system" mid-conversation: Claude Code's beta mid-conversation-system-2026-04-07
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


class ToolParam(_Wire):
    """A client tool; server tools (``{"type": "web_search_20250305", ...}``) have a ``type``
    and no ``input_schema`` and keep every field but ``name`` in ``model_extra``."""

    name: str
    description: str | None = None
    input_schema: JsonObject | None = None
    cache_control: JsonObject | None = None
    strict: bool | None = None


class ToolChoiceParam(_Wire):
    type: Literal["auto", "any", "none", "tool"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class ThinkingParam(_Wire):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: int | None = None


class MessagesRequest(_Wire):
    model: str = ""  # Bedrock and Vertex carry the model in the URL, not the body
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    max_tokens: int | None = None  # required by the API; tolerated here, the upstream judges
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingParam | None = None
    metadata: JsonObject | None = None
    output_config: JsonObject | None = None


# --------------------------------------------------------------------------- response


class Usage(_Wire):
    """``input_tokens`` here excludes cache reads and writes (unlike the IR's total)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    output_tokens_details: JsonObject | None = None


class Message(_Wire):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Usage = Usage()


class ErrorDetail(_Wire):
    type: str
    message: str


class ErrorBody(_Wire):
    type: Literal["error"]
    error: ErrorDetail


# --------------------------------------------------------------------------- stream events


class MessageStartEvent(_Wire):
    type: Literal["message_start"]
    message: Message


class ContentBlockStartEvent(_Wire):
    type: Literal["content_block_start"]
    index: int
    content_block: ContentBlock


class ContentBlockDeltaEvent(_Wire):
    type: Literal["content_block_delta"]
    index: int
    delta: JsonObject  # text_delta, input_json_delta, thinking_delta, signature_delta, ...


class ContentBlockStopEvent(_Wire):
    type: Literal["content_block_stop"]
    index: int


class MessageDeltaBody(_Wire):
    stop_reason: str | None = None
    stop_sequence: str | None = None


class MessageDeltaEvent(_Wire):
    type: Literal["message_delta"]
    delta: MessageDeltaBody
    usage: Usage


class MessageStopEvent(_Wire):
    type: Literal["message_stop"]


class PingEvent(_Wire):
    type: Literal["ping"]


class ErrorEvent(ErrorBody):
    pass


STREAM_EVENT_MODELS: dict[str, type[_Wire]] = {
    "message_start": MessageStartEvent,
    "content_block_start": ContentBlockStartEvent,
    "content_block_delta": ContentBlockDeltaEvent,
    "content_block_stop": ContentBlockStopEvent,
    "message_delta": MessageDeltaEvent,
    "message_stop": MessageStopEvent,
    "ping": PingEvent,
    "error": ErrorEvent,
}


# --------------------------------------------------------------------------- validation


def validate(model: type[M], body: Any, what: str) -> M:
    """``model`` from parsed JSON, or a WireFormatError naming the first bad paths."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        raise WireFormatError(f"invalid Anthropic {what}: {describe(e)}") from e


def describe(e: ValidationError, limit: int = 3) -> str:
    """``messages.1.content.0<tool_use>.input: Input should be a valid dictionary; ...``.

    Union members pydantic puts in the path (``str``, ``list[...]``) name our models, not the
    client's JSON, and are left out; a block's ``<type>`` tag is kept next to its index.
    """
    errors = e.errors()
    # a wrong list for `str | list[...]` also reports "should be a valid string": noise
    specific = [x for x in errors if str(x["loc"][-1] if x["loc"] else "") not in _TYPE_NAMES]
    errors = specific or errors
    parts = []
    for err in errors[:limit]:
        path = ""
        for p in err["loc"]:
            s = str(p)
            if s.startswith("<"):
                path += s
            elif "[" not in s and s not in _TYPE_NAMES:
                path += f".{s}" if path else s
        parts.append(f"{path or '<body>'}: {err['msg']}")
    more = len(errors) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})
