"""Kiro (Amazon Q Developer / CodeWhisperer streaming) wire models: the chat request body.

UNOFFICIAL: no public documentation exists. Every field here comes from reverse-engineered
projects (research/kiro.md §2) and may change on the vendor's side; the models allow extra
fields so that a body carrying more than this still reads. Field names are the wire's
(camelCase). The response is a binary AWS event stream (:mod:`recorder.wire.eventstream`), whose
JSON payloads the stream codec reads directly (hot path, no models per event).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recorder.errors import WireFormatError

M = TypeVar("M", bound=BaseModel)

# Image formats Kiro accepts (``images[].format``), by IR media type.
IMAGE_FORMATS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ImageSource(_Wire):
    bytes_: str = Field(alias="bytes")


class Image(_Wire):
    format: str
    source: ImageSource


class ToolResultContent(_Wire):
    text: str | None = None
    json_: Any = Field(default=None, alias="json")


class ToolResult(_Wire):
    toolUseId: str
    content: list[ToolResultContent]
    status: str | None = None


class InputSchema(_Wire):
    json_: dict[str, Any] = Field(alias="json")


class ToolSpecification(_Wire):
    name: str
    description: str | None = None
    inputSchema: InputSchema


class Tool(_Wire):
    toolSpecification: ToolSpecification


class UserInputMessageContext(_Wire):
    tools: list[Tool] | None = None
    toolResults: list[ToolResult] | None = None


class UserInputMessage(_Wire):
    content: str
    modelId: str | None = None
    origin: str | None = None
    images: list[Image] | None = None
    userInputMessageContext: UserInputMessageContext | None = None


class ToolUse(_Wire):
    toolUseId: str
    name: str
    input: Any = None


class AssistantResponseMessage(_Wire):
    content: str
    toolUses: list[ToolUse] | None = None


class HistoryItem(_Wire):
    """Exactly one of the two keys."""

    userInputMessage: UserInputMessage | None = None
    assistantResponseMessage: AssistantResponseMessage | None = None

    @model_validator(mode="after")
    def _one(self) -> HistoryItem:
        if (self.userInputMessage is None) == (self.assistantResponseMessage is None):
            raise ValueError("needs exactly one of userInputMessage, assistantResponseMessage")
        return self


class CurrentMessage(_Wire):
    userInputMessage: UserInputMessage


class ConversationState(_Wire):
    conversationId: str | None = None
    chatTriggerType: str | None = None
    history: list[HistoryItem] | None = None
    currentMessage: CurrentMessage


class ChatRequest(_Wire):
    """``GenerateAssistantResponse``: the conversation and, per credential, the profile ARN."""

    conversationState: ConversationState
    profileArn: str | None = None


def validate(model: type[M], body: Any, what: str) -> M:
    """``model`` from parsed JSON, or a WireFormatError naming the first bad paths."""
    try:
        return model.model_validate(body)
    except ValidationError as e:
        parts = []
        for err in e.errors()[:3]:
            path = ".".join(str(p) for p in err["loc"]) or "<body>"
            parts.append(f"{path}: {err['msg']}")
        raise WireFormatError(f"invalid Kiro {what}: {'; '.join(parts)}") from e
