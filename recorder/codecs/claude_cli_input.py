"""An IR request as what the CLI reads: a system prompt, the client's tools, and stream-json lines.

The CLI takes a conversation on stdin (``--input-format stream-json``, docs/claude-cli.md §Input):

- an ``assistant`` line is appended to the session's history at once;
- a ``user`` line is queued as a turn; with ``"shouldQuery": false`` it joins the history
  without a model call, and the CLI answers it with a ``result`` line (``num_turns: 0``). The
  writer must wait for that line before the next ``assistant`` line, or that line overtakes it.

So a conversation is *seeded* line by line, and only the last user message asks the model. A
resumed CLI session already holds the history: then only the new turn is written.

Content is written in the Anthropic Messages format (the CLI hands it to the API as is), built by
the Anthropic codec so that every client dialect maps the same way. Three CLI behaviours are
worked around here, each with a note: a user message whose last block is text starting with "/"
would run as a slash command (the text is split in two blocks before the first non-"/"
character); a system message in mid-conversation becomes ``<system-reminder>`` user text (as
Claude Code does itself); and what the CLI cannot express is refused, never dropped:
an assistant prefill, ``n`` > 1, server tools.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from recorder import ir
from recorder.codecs import anthropic as anthropic_codec
from recorder.context import Context
from recorder.errors import UnsupportedContentError

JsonObject = dict[str, Any]

Effort = Literal["low", "medium", "high", "xhigh", "max"]

_MAX_SCHEMA: Final = 100_000  # one argv element may hold 128 KiB on Linux

# What the Anthropic API accepts as a tool name (the CLI offers the client's tools to it as is).
_CLIENT_TOOL_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")

_EFFORTS: Final[dict[str, Effort]] = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}


@dataclass(slots=True)
class StdinLine:
    """One stream-json line for the CLI's stdin; ``wait``: read up to the CLI's ``result`` line
    before writing the next one (a history user message, see the module docstring)."""

    data: JsonObject
    wait: bool


@dataclass(slots=True)
class TurnInput:
    """What one client request gives the CLI."""

    system: list[str]  # the system prompt, one string per client block
    history: list[JsonObject]  # Anthropic messages before the new turn (written unless resumed)
    turn: list[JsonObject]  # the new turn: the trailing user messages (at least one)
    tools: list[JsonObject] = field(default_factory=list)  # MCP tool definitions
    effort: Effort | None = None
    json_schema: JsonObject | None = None  # structured output (--json-schema)

    def lines(self, *, resumed: bool) -> list[StdinLine]:
        """The stdin lines: the whole conversation for a new session, the new turn for a resumed
        one. The last line asks the model."""
        messages = self.turn if resumed else self.history + self.turn
        out = [_line(m, query=False) for m in messages[:-1]]
        out.append(_line(messages[-1], query=True))
        return out


def turn_input(req: ir.Request, ctx: Context) -> TurnInput:
    """Split and convert a request; notes for what the CLI cannot honour, UnsupportedContentError
    for what it cannot express."""
    messages = list(req.messages)
    system = [p.text for p in req.system]
    while messages and messages[0].role == "system":  # OpenAI keeps them in place: hoist
        system += [_system_text(p, len(req.messages) - len(messages)) for p in messages[0].content]
        messages.pop(0)
    first = len(req.messages) - len(messages)
    messages = [_mid_system(m, i, ctx) for i, m in enumerate(messages, start=first)]
    _refuse_unsupported(req)
    _note_dropped(req, ctx)
    wire = _anthropic_messages(req, messages, ctx)
    if not wire or wire[-1]["role"] != "user":
        raise UnsupportedContentError(
            "the conversation must end with a user message: the Claude Code CLI cannot continue "
            "a partial assistant message (prefill)"
        )
    cut = len(wire)
    while cut > 0 and wire[cut - 1]["role"] == "user":
        cut -= 1
    tools = _mcp_tools(req, ctx)
    schema = _json_schema(req, ctx)
    return TurnInput(system, wire[:cut], wire[cut:], tools, _effort(req, ctx), schema)


# --------------------------------------------------------------------------- stdin lines


def _line(message: JsonObject, *, query: bool) -> StdinLine:
    role = message["role"]
    blocks = _blocks(message["content"])  # 2.1.197 fails on an assistant message's string
    if role == "assistant":
        data: JsonObject = {"type": "assistant", "message": {**message, "content": blocks}}
    else:
        data = {"type": "user", "message": {**message, "content": _no_slash(blocks)}}
        if not query:
            data["shouldQuery"] = False
    data |= {"parent_tool_use_id": None, "session_id": ""}
    return StdinLine(data, wait=role == "user")


def _blocks(content: str | list[JsonObject]) -> list[JsonObject]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _no_slash(blocks: list[JsonObject]) -> list[JsonObject]:
    """The CLI runs a user message whose last block is text starting with "/" as a slash command
    ("/clear" would empty the session). Split that text before its first non-"/" character:
    the model reads the same characters, the CLI sees no command."""
    last = blocks[-1] if blocks else None
    if last is None or last.get("type") != "text":
        return blocks
    text = str(last.get("text", ""))
    cut = len(text) - len(text.lstrip("/"))
    if cut == 0 or cut == len(text):
        return blocks
    head = {"type": "text", "text": text[:cut]}
    return blocks[:-1] + [head, {**last, "text": text[cut:]}]


# --------------------------------------------------------------------------- messages


def _system_text(part: ir.Part, index: int) -> str:
    if not isinstance(part, ir.TextPart):
        raise UnsupportedContentError(f"messages[{index}]: a system message can only hold text")
    return part.text


def _mid_system(msg: ir.Message, index: int, ctx: Context) -> ir.Message:
    if msg.role != "system":
        return msg
    text = "\n".join(_system_text(p, index) for p in msg.content)
    ctx.note(
        f"messages[{index}]",
        "system message after the conversation began sent as <system-reminder> user text",
    )
    return ir.Message("user", [ir.TextPart(f"<system-reminder>\n{text}\n</system-reminder>")])


def _anthropic_messages(req: ir.Request, messages: list[ir.Message], ctx: Context) -> list[Any]:
    """The messages as the Anthropic codec writes them for this client (an Anthropic client's
    blocks verbatim; any other dialect's translated as for an Anthropic upstream)."""
    bare = replace(
        req,
        messages=messages,
        system=[],
        tools=[],
        tool_choice=None,
        parallel_tool_calls=None,
        max_tokens=1,
        temperature=None,
        top_p=None,
        top_k=None,
        stop_sequences=[],
        stream=False,
        thinking=None,
        user=None,
        extra={},
        output_format=None,
    )
    sub = Context(client=ctx.client, upstream="anthropic", ids=ctx.ids, notes=ctx.notes)
    body = anthropic_codec.request_from_ir(bare, sub)
    out: list[Any] = body["messages"]
    return out


# --------------------------------------------------------------------------- tools


def _mcp_tools(req: ir.Request, ctx: Context) -> list[JsonObject]:
    if req.tool_choice is not None and req.tool_choice.mode == "none":
        if req.tools:
            ctx.note("tool_choice", "none: the client's tools were not offered to the model")
        return []
    out = []
    for i, tool in enumerate(req.tools):
        if "type" in tool.extra and tool.parameters is None:
            raise UnsupportedContentError(
                f"tools[{i}]: server tool {tool.name!r} ({tool.extra['type']}) cannot be offered "
                "through the Claude Code CLI; only function tools can"
            )
        if not _CLIENT_TOOL_NAME.fullmatch(tool.name):
            raise UnsupportedContentError(
                f"tools[{i}]: tool name {tool.name[:80]!r} must match [a-zA-Z0-9_-]{{1,64}}"
            )
        schema = tool.parameters or {"type": "object", "properties": {}}
        described = tool.description or ""
        out.append({"name": tool.name, "description": described, "inputSchema": schema})
        if tool.cache_control is not None or tool.strict is not None or tool.extra:
            ctx.note(f"tools[{i}]", "only name, description and schema reach the model via the CLI")
    return out


# --------------------------------------------------------------------------- parameters


def _refuse_unsupported(req: ir.Request) -> None:
    n = req.extra.get("n")
    if isinstance(n, int) and n > 1:
        raise UnsupportedContentError("n > 1: the Claude Code CLI gives one answer per request")


def _note_dropped(req: ir.Request, ctx: Context) -> None:
    why = "the Claude Code CLI cannot honour it; dropped"
    if req.max_tokens is not None:
        ctx.note("max_tokens", "the Claude Code CLI sets its own output cap; dropped")
    for name in ("temperature", "top_p", "top_k"):
        if getattr(req, name) is not None:
            ctx.note(name, why)
    if req.stop_sequences:
        ctx.note("stop", why)
    if req.parallel_tool_calls is not None:
        ctx.note("parallel_tool_calls", why)
    if req.tool_choice is not None and req.tool_choice.mode in ("any", "tool"):
        ctx.note("tool_choice", "the CLI cannot force a tool call; the model may answer in text")
    for key in req.extra:
        if key != "n":
            ctx.note(key, "not supported by the claude-cli backend; dropped")


def _json_schema(req: ir.Request, ctx: Context) -> JsonObject | None:
    """Structured output through the CLI's ``--json-schema`` (it makes the model call a
    StructuredOutput tool with the answer; the stream decoder turns that call into the text)."""
    fmt = req.output_format
    if fmt is None:
        return None
    schema = fmt.schema if fmt.type == "json_schema" and fmt.schema else {"type": "object"}
    if len(json.dumps(schema)) > _MAX_SCHEMA:
        raise UnsupportedContentError(
            f"output schema over {_MAX_SCHEMA} bytes: the Claude Code CLI takes it as an argument"
        )
    if fmt.name is not None or fmt.strict is not None or fmt.description is not None:
        ctx.note(
            "output_format", "only the schema reaches the CLI (name, strict, description dropped)"
        )
    return schema


def _effort(req: ir.Request, ctx: Context) -> Effort | None:
    th = req.thinking
    if th is None:
        return None
    if th.effort is not None and th.effort in _EFFORTS:
        return _EFFORTS[th.effort]
    ctx.note("thinking", "the CLI decides thinking itself (only an effort level maps); dropped")
    return None
