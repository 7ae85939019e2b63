"""Answers to the CLI's control requests (stream-json lines ``{"type": "control_request"}``).

The gateway talks the CLI's SDK control protocol on stdin/stdout (docs/claude-cli.md §Control):

- it opens the session with an ``initialize`` request that carries the system prompt and
  declares one in-process MCP server, :data:`~recorder.claude_cli.invocation.MCP_SERVER`;
- the CLI then sends that server's JSON-RPC traffic to the gateway as ``mcp_message`` requests:
  ``initialize``, ``tools/list`` (answered with the client's tool definitions, unprefixed
  thanks to ``CLAUDE_AGENT_SDK_MCP_NO_PREFIX``) and, if the model calls one, ``tools/call``;
- ``can_use_tool`` asks permission for a tool the route's rules did not pre-approve.

A client tool is never run here: the answer has ended at the model's tool call (the stream
decoder saw it first) and the CLI is stopped; the client runs the tool and sends the result in
its next request. So ``tools/call`` and a permission request for a client tool get no answer
(:data:`STOP`). Any other permission request is denied: only the route widens what the CLI may
do, never a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from recorder.claude_cli.invocation import MCP_SERVER

JsonObject = dict[str, Any]

MCP_PROTOCOL_VERSION: Final = "2025-06-18"


@dataclass(frozen=True, slots=True)
class Stop:
    """The request is about a client tool call: the answer is over, stop the CLI."""


STOP: Final = Stop()


def initialize(request_id: str, system: list[str] | None, append: bool, mcp: bool) -> JsonObject:
    """The session's first control request: system prompt and the client-tools MCP server.

    ``system`` None keeps Claude Code's own prompt; ``append`` adds the client's to it instead
    of replacing it.
    """
    req: JsonObject = {"subtype": "initialize"}
    if system is not None:
        if append:
            req["appendSystemPrompt"] = "\n\n".join(system)
        else:
            req["systemPrompt"] = system
    if mcp:
        req["sdkMcpServers"] = [MCP_SERVER]
    return {"type": "control_request", "request_id": request_id, "request": req}


def answer(line: JsonObject, tools: list[JsonObject]) -> JsonObject | Stop | None:
    """The reply to one control request line; None when it needs none."""
    request = line.get("request") or {}
    request_id = line.get("request_id")
    match request.get("subtype"):
        case "mcp_message":
            return _mcp(request_id, request, tools)
        case "can_use_tool":
            if any(t["name"] == request.get("tool_name") for t in tools):
                return STOP
            why = f"the gateway's route does not allow the tool {request.get('tool_name')!r}"
            return _success(request_id, {"behavior": "deny", "message": why})
        case _:
            return _error(request_id, f"unsupported control request {request.get('subtype')!r}")


def _mcp(request_id: Any, request: JsonObject, tools: list[JsonObject]) -> JsonObject | Stop:
    if request.get("server_name") != MCP_SERVER:
        return _error(request_id, f"no MCP server {request.get('server_name')!r}")
    msg = request.get("message") or {}
    method = msg.get("method")
    if "id" not in msg:  # a notification: acknowledged, no JSON-RPC reply
        return _success(request_id, {"mcp_response": {}})
    result: JsonObject
    match method:
        case "initialize":
            params = msg.get("params") or {}
            result = {
                "protocolVersion": params.get("protocolVersion", MCP_PROTOCOL_VERSION),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "tapegate-client-tools", "version": "1"},
            }
        case "tools/list":
            result = {"tools": tools}
        case "tools/call":
            return STOP
        case "ping":
            result = {}
        case _:
            reply = {
                "jsonrpc": "2.0",
                "id": msg["id"],
                "error": {"code": -32601, "message": f"method {method!r} not found"},
            }
            return _success(request_id, {"mcp_response": reply})
    reply = {"jsonrpc": "2.0", "id": msg["id"], "result": result}
    return _success(request_id, {"mcp_response": reply})


def _success(request_id: Any, response: JsonObject) -> JsonObject:
    return {
        "type": "control_response",
        "response": {"subtype": "success", "request_id": request_id, "response": response},
    }


def _error(request_id: Any, message: str) -> JsonObject:
    return {
        "type": "control_response",
        "response": {"subtype": "error", "request_id": request_id, "error": message},
    }
