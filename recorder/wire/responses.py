"""Pydantic models of the OpenAI Responses API wire format (``POST /v1/responses``): requests,
response objects, their items and content parts.

Every model allows extra fields (item ``status``, ``obfuscation``, ``logprobs``, Codex's
``client_metadata`` ...). Item and part types this module does not model validate as
:class:`OtherItem` / :class:`OtherContent` and are kept whole. The stream decoder reads events as
plain dicts (the stream path is benchmarked); these models serve requests, JSON responses and tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Discriminator, Tag

from recorder.errors import WireFormatError
from recorder.wire.openai import validate as _validate


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


# --------------------------------------------------------------------------- content parts


class InputText(_Wire):
    type: Literal["input_text"]
    text: str


class OutputText(_Wire):
    type: Literal["output_text"]
    text: str
    annotations: list[Any] | None = None


class Refusal(_Wire):
    type: Literal["refusal"]
    refusal: str


class InputImage(_Wire):
    type: Literal["input_image"]
    image_url: str | None = None  # a URL or a data: URL
    file_id: str | None = None
    detail: str | None = None


class InputFile(_Wire):
    type: Literal["input_file"]
    file_data: str | None = None  # a data: URL or bare base64
    file_url: str | None = None
    file_id: str | None = None
    filename: str | None = None


class OtherContent(_Wire):
    """A content part type this module does not model (input_audio ...); kept whole."""

    type: str


_PART_TYPES = frozenset({"input_text", "output_text", "refusal", "input_image", "input_file"})


def _part_tag(v: Any) -> str:
    t = v.get("type") if isinstance(v, dict) else getattr(v, "type", None)
    return t if isinstance(t, str) and t in _PART_TYPES else "other"


ContentPart = Annotated[
    Annotated[InputText, Tag("input_text")]
    | Annotated[OutputText, Tag("output_text")]
    | Annotated[Refusal, Tag("refusal")]
    | Annotated[InputImage, Tag("input_image")]
    | Annotated[InputFile, Tag("input_file")]
    | Annotated[OtherContent, Tag("other")],
    Discriminator(_part_tag),
]


# --------------------------------------------------------------------------- items


class MessageItem(_Wire):
    """``{"role", "content"}``, with or without ``"type": "message"`` (the short form)."""

    type: Literal["message"] = "message"
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]
    id: str | None = None


class FunctionCallItem(_Wire):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str = ""
    id: str | None = None


class FunctionCallOutputItem(_Wire):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]
    id: str | None = None


class CustomToolCallItem(_Wire):
    type: Literal["custom_tool_call"]
    call_id: str
    name: str
    input: str = ""
    id: str | None = None


class CustomToolCallOutputItem(_Wire):
    type: Literal["custom_tool_call_output"]
    call_id: str
    output: str | list[ContentPart]
    id: str | None = None


class SummaryText(_Wire):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ReasoningText(_Wire):
    type: str = "reasoning_text"
    text: str


class ReasoningItem(_Wire):
    type: Literal["reasoning"]
    id: str | None = None
    summary: list[SummaryText] = []
    content: list[ReasoningText] | None = None
    encrypted_content: str | None = None


class OtherItem(_Wire):
    """An item type this module does not model (web_search_call, item_reference, compaction,
    tool_search_call, mcp_call ...); kept whole."""

    type: str


_ITEM_TYPES = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "reasoning",
    }
)


def _item_tag(v: Any) -> str:
    if isinstance(v, dict):
        t = v.get("type")
        if t is None and "role" in v:
            return "message"
    else:
        t = getattr(v, "type", None)
    return t if isinstance(t, str) and t in _ITEM_TYPES else "other"


Item = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[CustomToolCallItem, Tag("custom_tool_call")]
    | Annotated[CustomToolCallOutputItem, Tag("custom_tool_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")]
    | Annotated[OtherItem, Tag("other")],
    Discriminator(_item_tag),
]


# --------------------------------------------------------------------------- tools


class FunctionTool(_Wire):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CustomTool(_Wire):
    type: Literal["custom"]
    name: str
    description: str | None = None
    format: dict[str, Any] | None = None  # {"type":"text"} or {"type":"grammar",...}


class OtherTool(_Wire):
    """A hosted tool (web_search, file_search, tool_search, mcp, namespace ...)."""

    type: str


def _tool_tag(v: Any) -> str:
    t = v.get("type") if isinstance(v, dict) else getattr(v, "type", None)
    return t if t in ("function", "custom") else "other"


ToolDef = Annotated[
    Annotated[FunctionTool, Tag("function")]
    | Annotated[CustomTool, Tag("custom")]
    | Annotated[OtherTool, Tag("other")],
    Discriminator(_tool_tag),
]


# --------------------------------------------------------------------------- request


class ReasoningConfig(_Wire):
    effort: str | None = None  # none | minimal | low | medium | high | xhigh
    summary: str | None = None  # auto | concise | detailed


class TextConfig(_Wire):
    format: dict[str, Any] | None = None  # text | json_object | json_schema
    verbosity: str | None = None


class ResponsesRequest(_Wire):
    model: str = ""
    input: str | list[Item] | None = None  # absent with a stored prompt or previous response
    instructions: str | None = None
    tools: list[ToolDef] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    reasoning: ReasoningConfig | None = None
    text: TextConfig | None = None
    user: str | None = None


# --------------------------------------------------------------------------- response


class Response(_Wire):
    id: str | None = None
    object: str | None = None
    created_at: float | None = None
    status: str | None = None  # completed | incomplete | failed | in_progress | queued | cancelled
    model: str | None = None
    output: list[Item] = []
    usage: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], body: Any, what: str) -> M:
    """``model`` from parsed JSON, or a WireFormatError naming the first bad place."""
    try:
        return _validate(model, body, what)
    except WireFormatError as e:
        raise WireFormatError(str(e).replace("invalid OpenAI", "invalid OpenAI Responses")) from e
