"""A stand-in for the ``claude`` executable: speaks the stream-json protocol of Claude Code
2.1.197 on stdin/stdout the way docs/claude-cli.md describes it, fast and deterministic.

Behaviour comes from the environment (the backend passes these names when the test's policy
adds them): ``FAKE_CLAUDE_MODE`` (comma-separated: ``text`` (default), ``thinking``, ``tool``,
``hang``, ``hang-hard`` (ignores SIGTERM), ``crash``, ``error:STATUS``, ``not-logged-in``,
``child`` (starts a grandchild that sleeps), ``slow:MS`` (between events), ``internal-tool``
(one call runs a tool of the CLI's own first, then answers)) and ``FAKE_CLAUDE_LOG`` (a file:
one JSON line per run with pid, argv, env names and every stdin line, rewritten as they come).

Sessions are kept like the real CLI keeps them: one file per session id under
``$HOME/.fake-claude/``, a list of messages with uuids; ``--resume`` loads it (an unknown id
fails as the real CLI does), ``--resume-session-at`` cuts it after that message. The answer text
says how many messages the model was given (``history=N``), so a test sees what was sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SESSIONS = Path(os.environ.get("HOME", "/tmp")) / ".fake-claude"
MODES = [m for m in os.environ.get("FAKE_CLAUDE_MODE", "text").split(",") if m]
LOG = os.environ.get("FAKE_CLAUDE_LOG")
COUNTER = [0]


def option(name: str) -> str | None:
    argv = sys.argv[1:]
    return argv[argv.index(name) + 1] if name in argv else None


def mode_arg(name: str) -> str | None:
    for m in MODES:
        if m == name or m.startswith(name + ":"):
            return m.partition(":")[2]
    return None


def out(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    slow = mode_arg("slow")
    if slow:
        time.sleep(int(slow) / 1000)


def uid() -> str:
    # unique across processes, as the CLI's are: a resumed session's new messages must not
    # reuse the uuids of the ones it loaded
    COUNTER[0] += 1
    return f"00000000-0000-4000-8000-{os.getpid() % 10**6:06d}{COUNTER[0]:06d}"


class Run:
    def __init__(self) -> None:
        self.stdin: list[Any] = []
        self.session = option("--session-id") or option("--resume") or uid()
        self.model = option("--model") or "claude-opus-4-8"
        self.history: list[dict[str, Any]] = []
        self.tools: list[dict[str, Any]] = []
        self.tools_pending = False
        self.log()

    def log(self) -> None:
        if LOG:
            entry = {
                "pid": os.getpid(),
                "argv": sys.argv[1:],
                "env": sorted(os.environ),
                "cwd": os.getcwd(),
                "stdin": self.stdin,
            }
            path = f"{LOG}.{os.getpid()}"
            with open(path + ".tmp", "w") as f:
                json.dump(entry, f)
            os.replace(path + ".tmp", path)  # readers never see half a file

    def save(self) -> None:
        SESSIONS.mkdir(parents=True, exist_ok=True)
        (SESSIONS / f"{self.session}.json").write_text(json.dumps(self.history))

    def init(self) -> None:
        out(
            {
                "type": "system",
                "subtype": "init",
                "session_id": self.session,
                "model": self.model,
                "tools": [t["name"] for t in self.tools],
                "apiKeySource": "none" if "not-logged-in" in MODES else "ANTHROPIC_API_KEY",
            }
        )

    def result(self, **fields: Any) -> None:
        base = {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "api_error_status": None,
            "num_turns": 1,
            "session_id": self.session,
            "stop_reason": "end_turn",
            "total_cost_usd": 0.0125,
            "usage": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 5,
                "cache_read_input_tokens": 100,
                "output_tokens": 7,
            },
        }
        out(base | fields)


def event(run: Run, ev: dict[str, Any]) -> None:
    out(
        {"type": "stream_event", "event": ev, "session_id": run.session, "parent_tool_use_id": None}
    )


def call(run: Run, blocks: list[dict[str, Any]], stop: str) -> None:
    """One model call, streamed, with the whole-block assistant lines the real CLI interleaves."""
    msg = {"id": "msg_fake01", "type": "message", "role": "assistant", "model": run.model}
    usage = {"input_tokens": 10, "output_tokens": 1}
    event(run, {"type": "message_start", "message": msg | {"content": [], "usage": usage}})
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            event(
                run,
                {
                    "type": "content_block_start",
                    "index": i,
                    "content_block": {"type": "text", "text": ""},
                },
            )
            for piece in (block["text"][:3], block["text"][3:]):
                delta = {"type": "text_delta", "text": piece}
                event(run, {"type": "content_block_delta", "index": i, "delta": delta})
        elif block["type"] == "thinking":
            start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
            event(run, {"type": "content_block_start", "index": i, "content_block": start})
            delta = {"type": "thinking_delta", "thinking": block["thinking"]}
            event(run, {"type": "content_block_delta", "index": i, "delta": delta})
            delta = {"type": "signature_delta", "signature": block["signature"]}
            event(run, {"type": "content_block_delta", "index": i, "delta": delta})
        else:
            start = {**block, "input": {}}
            event(run, {"type": "content_block_start", "index": i, "content_block": start})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            event(run, {"type": "content_block_delta", "index": i, "delta": delta})
        leaf = uid()
        out(
            {
                "type": "assistant",
                "message": msg | {"content": [block], "stop_reason": None},
                "parent_tool_use_id": None,
                "session_id": run.session,
                "uuid": leaf,
            }
        )
        run.history.append({"role": "assistant", "content": [block], "uuid": leaf})
        event(run, {"type": "content_block_stop", "index": i})
    delta = {"stop_reason": stop, "stop_sequence": None}
    event(run, {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 7}})
    event(run, {"type": "message_stop"})


def answer(run: Run) -> None:
    run.init()
    if "crash" in MODES:
        event(
            run,
            {"type": "message_start", "message": {"id": "msg_x", "model": run.model, "usage": {}}},
        )
        sys.stderr.write("fake claude: boom\n")
        sys.stderr.flush()
        os._exit(3)
    if "hang" in MODES or "hang-hard" in MODES or "child" in MODES:
        if "hang-hard" in MODES:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if "child" in MODES:
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            out({"type": "system", "subtype": "child", "pid": child.pid})
        time.sleep(600)
    status = mode_arg("error")
    if status is not None or "not-logged-in" in MODES:
        kind = {"429": "rate_limit", "401": "authentication_failed"}.get(status or "", "unknown")
        text = f"API Error: {status} fake upstream error {status}"
        if "not-logged-in" in MODES:
            kind, text = "authentication_failed", "Not logged in · Please run /login"
        out(
            {
                "type": "assistant",
                "message": {
                    "model": "<synthetic>",
                    "role": "assistant",
                    "content": [{"type": "text", "text": text}],
                },
                "parent_tool_use_id": None,
                "error": kind,
                "session_id": run.session,
            }
        )
        run.result(
            is_error=True,
            api_error_status=int(status) if status else None,
            result=text,
            stop_reason="stop_sequence",
        )
        sys.exit(1)
    if "tool" in MODES and run.tools:
        tool = run.tools[0]["name"]
        call(
            run,
            [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_fake01",
                    "name": tool,
                    "input": {"city": "Paris"},
                },
            ],
            "tool_use",
        )
        out(
            {
                "type": "control_request",
                "request_id": "perm-1",
                "request": {
                    "subtype": "can_use_tool",
                    "tool_name": tool,
                    "input": {"city": "Paris"},
                    "tool_use_id": "toolu_fake01",
                },
            }
        )
        return
    if "internal-tool" in MODES:
        call(
            run,
            [
                {
                    "type": "tool_use",
                    "id": "toolu_own01",
                    "name": "Read",
                    "input": {"file_path": "x"},
                }
            ],
            "tool_use",
        )
        out(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_own01", "content": "x"}
                    ],
                },
                "parent_tool_use_id": None,
            }
        )
    blocks: list[dict[str, Any]] = []
    if "thinking" in MODES:
        blocks.append({"type": "thinking", "thinking": "Let me think.", "signature": "sig-fake"})
    given = sum(1 for m in run.history if m["role"] in ("user", "assistant"))
    blocks.append({"type": "text", "text": f"history={given} model={run.model}"})
    call(run, blocks, "end_turn")
    run.save()
    run.result()


MODELS = [
    {"value": "default", "resolvedModel": "claude-opus-4-8[1m]", "displayName": "Default"},
    {"value": "sonnet", "resolvedModel": "claude-sonnet-5", "displayName": "Sonnet"},
]


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"{os.environ.get('FAKE_CLAUDE_VERSION', '2.1.197')} (Claude Code)")
        return
    if sys.argv[1:3] == ["auth", "status"]:
        logged_in = "not-logged-in" not in MODES
        print(json.dumps({"loggedIn": logged_in, "authMethod": "api_key" if logged_in else "none"}))
        sys.exit(0 if logged_in else 1)
    run = Run()
    resume = option("--resume")
    if resume is not None:
        path = SESSIONS / f"{resume}.json"
        if not path.exists():
            sys.stderr.write(f"No conversation found with session ID: {resume}\n")
            out(
                {
                    "type": "result",
                    "subtype": "error_during_execution",
                    "is_error": True,
                    "num_turns": 0,
                    "session_id": resume,
                    "errors": [f"No conversation found with session ID: {resume}"],
                }
            )
            sys.exit(1)
        run.history = json.loads(path.read_text())
        at = option("--resume-session-at")
        if at is not None:
            cut = next(i for i, m in enumerate(run.history) if m.get("uuid") == at)
            run.history = run.history[: cut + 1]
    for raw in sys.stdin:
        line = json.loads(raw)
        run.stdin.append(line)
        run.log()
        kind = line.get("type")
        if kind == "control_request":
            req = line["request"]
            init = {"models": MODELS} if req.get("subtype") == "initialize" else {}
            ok = {"subtype": "success", "request_id": line["request_id"], "response": init}
            out({"type": "control_response", "response": ok})
            if req.get("sdkMcpServers"):
                message = {"method": "tools/list", "jsonrpc": "2.0", "id": 1}
                mcp = {"subtype": "mcp_message", "server_name": "client", "message": message}
                out({"type": "control_request", "request_id": "mcp-1", "request": mcp})
                run.tools_pending = True
        elif kind == "control_response":
            if line["response"].get("request_id") == "mcp-1":
                reply = line["response"]["response"]["mcp_response"]
                run.tools = reply["result"]["tools"]
                run.tools_pending = False
        elif kind == "assistant":
            if not isinstance(line["message"]["content"], list):  # as 2.1.197 does
                sys.stderr.write("e.message.content.some is not a function\n")
                sys.exit(1)
            run.history.append(line["message"])
        elif kind == "user":
            run.history.append(line["message"])
            if line.get("shouldQuery") is False:
                run.init()
                run.result(num_turns=0, usage={}, total_cost_usd=0)
                continue
            while run.tools_pending:  # the real CLI lists the MCP tools before its first call
                reply = json.loads(sys.stdin.readline())
                run.stdin.append(reply)
                run.log()
                if reply.get("type") == "control_response":
                    run.tools = reply["response"]["response"]["mcp_response"]["result"]["tools"]
                    run.tools_pending = False
            answer(run)
    sys.exit(0)


if __name__ == "__main__":
    main()
