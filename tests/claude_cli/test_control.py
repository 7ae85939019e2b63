"""Control requests: the client's tools as an MCP server, and permissions only a route grants."""

from __future__ import annotations

from recorder.claude_cli.control import STOP, answer, initialize

TOOLS = [{"name": "get_weather", "description": "w", "inputSchema": {"type": "object"}}]


def mcp(message: dict, server: str = "client") -> dict:  # type: ignore[type-arg]
    return {
        "type": "control_request",
        "request_id": "r1",
        "request": {"subtype": "mcp_message", "server_name": server, "message": message},
    }


def reply_of(out: object) -> dict:  # type: ignore[type-arg]
    assert isinstance(out, dict) and out["type"] == "control_response"
    assert out["response"]["request_id"] == "r1"
    return out["response"]  # type: ignore[no-any-return]


def test_initialize_carries_system_prompt_and_mcp_server() -> None:
    req = initialize("i", ["A", "B"], append=False, mcp=True)["request"]
    assert req == {"subtype": "initialize", "systemPrompt": ["A", "B"], "sdkMcpServers": ["client"]}
    req = initialize("i", ["A", "B"], append=True, mcp=False)["request"]
    assert req == {"subtype": "initialize", "appendSystemPrompt": "A\n\nB"}
    assert initialize("i", None, append=False, mcp=False)["request"] == {"subtype": "initialize"}


def test_mcp_handshake_and_tool_list() -> None:
    init = {
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25"},
        "jsonrpc": "2.0",
        "id": 0,
    }
    rpc = reply_of(answer(mcp(init), TOOLS))["response"]["mcp_response"]
    assert rpc["id"] == 0 and rpc["result"]["protocolVersion"] == "2025-11-25"
    assert rpc["result"]["capabilities"] == {"tools": {}}
    note = {"method": "notifications/initialized", "jsonrpc": "2.0"}
    assert reply_of(answer(mcp(note), TOOLS))["response"] == {"mcp_response": {}}
    listed = {"method": "tools/list", "jsonrpc": "2.0", "id": 1}
    rpc = reply_of(answer(mcp(listed), TOOLS))["response"]["mcp_response"]
    assert rpc == {"jsonrpc": "2.0", "id": 1, "result": {"tools": TOOLS}}
    unknown = {"method": "resources/list", "jsonrpc": "2.0", "id": 2}
    rpc = reply_of(answer(mcp(unknown), TOOLS))["response"]["mcp_response"]
    assert rpc["error"]["code"] == -32601


def test_a_client_tool_is_never_run_here() -> None:
    call = {"method": "tools/call", "params": {"name": "get_weather"}, "jsonrpc": "2.0", "id": 3}
    assert answer(mcp(call), TOOLS) is STOP
    perm = {
        "type": "control_request",
        "request_id": "r1",
        "request": {"subtype": "can_use_tool", "tool_name": "get_weather", "input": {}},
    }
    assert answer(perm, TOOLS) is STOP


def test_permission_for_anything_else_is_denied() -> None:
    perm = {
        "type": "control_request",
        "request_id": "r1",
        "request": {"subtype": "can_use_tool", "tool_name": "Bash", "input": {"command": "id"}},
    }
    response = reply_of(answer(perm, TOOLS))
    assert response["subtype"] == "success" and response["response"]["behavior"] == "deny"


def test_unknown_requests_and_servers_get_errors() -> None:
    other = {"type": "control_request", "request_id": "r1", "request": {"subtype": "hook_callback"}}
    assert reply_of(answer(other, TOOLS))["subtype"] == "error"
    msg = {"method": "tools/list", "jsonrpc": "2.0", "id": 1}
    assert reply_of(answer(mcp(msg, server="elsewhere"), TOOLS))["subtype"] == "error"
