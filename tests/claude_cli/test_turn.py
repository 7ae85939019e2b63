"""Whole turns against a fake ``claude`` executable (tests/claude_cli/fake_claude.py): sessions,
the process pool, timeouts, kills, crashes. Fast and deterministic; the real CLI is exercised in
tests/clients (``-m clients``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recorder import ir
from recorder.claude_cli.invocation import CliPolicy
from recorder.claude_cli.pool import CliPool, PoolBusyError
from recorder.claude_cli.turn import ClaudeCliBackend, CliSettings, CliTurn, CliUnavailableError
from recorder.codecs import openai as openai_codec
from recorder.context import Context
from recorder.errors import UnsupportedContentError

FAKE = Path(__file__).with_name("fake_claude.py")
POLICY = CliPolicy(env_names=("FAKE_CLAUDE_MODE", "FAKE_CLAUDE_LOG"))


class Harness:
    def __init__(self, tmp: Path, mode: str = "text", **settings: Any) -> None:
        self.tmp = tmp
        exe = tmp / "claude"
        run = f"import runpy\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
        exe.write_text(f"#!{sys.executable}\n{run}")
        exe.chmod(0o755)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp / "home"),
            "FAKE_CLAUDE_MODE": mode,
            "FAKE_CLAUDE_LOG": str(tmp / "log"),
            "ANTHROPIC_API_KEY": "fake-key-for-tests-0000000000000",
            "OPENAI_API_KEY": "must-not-reach-the-cli",
        }
        pool = CliPool(settings.pop("max_concurrency", 4), settings.pop("queue_timeout", 5.0))
        ids = iter(f"00000000-0000-4000-a000-{i:012d}" for i in range(1, 1000))
        self.backend = ClaudeCliBackend(
            CliSettings(str(exe), tmp / "work", **settings),
            self.env,
            pool,
            new_session_id=lambda: next(ids),
        )

    def turn(
        self, messages: list[dict[str, Any]], *, name: str | None = None, **body: Any
    ) -> tuple[CliTurn, Context]:
        ctx = Context(client="openai", upstream="anthropic")
        req = openai_codec.request_to_ir({"model": "sonnet", "messages": messages, **body})
        return self.backend.turn_for(req, ctx, POLICY, name=name), ctx

    def runs(self) -> list[dict[str, Any]]:
        """The fake's log, one entry per process, in start order."""
        entries = [json.loads(p.read_text()) for p in self.tmp.glob("log.*[0-9]")]
        return sorted(entries, key=lambda e: e["pid"])


async def drain(turn: CliTurn) -> list[ir.StreamEvent]:
    async with contextlib.aclosing(turn.events()) as events:
        return [ev async for ev in events]


def answer_text(events: list[ir.StreamEvent]) -> str:
    return "".join(ev.text for ev in events if isinstance(ev, ir.TextDelta))


def error_of(events: list[ir.StreamEvent]) -> ir.ErrorInfo:
    assert isinstance(events[-1], ir.StreamError), events[-1]
    return events[-1].error


def gone(pid: int) -> bool:
    """No such process, not even a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return False if state != "Z" else pytest.fail(f"process {pid} is a zombie")


def dead(pid: int) -> bool:
    """Not running: gone, or a zombie left to init (an orphaned grandchild is reaped by PID 1,
    not by us; some container inits do that late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return True
    return stat[0] == "Z" and int(stat[1]) != os.getpid()


def test_a_turn_streams_and_the_next_resumes(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    t1, _ = h.turn([{"role": "user", "content": "q1"}])
    events = asyncio.run(drain(t1))
    assert answer_text(events) == "history=1 model=sonnet"
    assert isinstance(events[-1], ir.Finish) and events[-1].stop_reason == "end_turn"
    assert t1.resumed_from is None and t1.session is not None
    assert t1.transcripts[0].exit_code == 0 and t1.transcripts[0].killed is None

    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "history=1 model=sonnet"},
        {"role": "user", "content": "q2"},
    ]
    t2, _ = h.turn(history)
    assert answer_text(asyncio.run(drain(t2))) == "history=3 model=sonnet"
    assert t2.resumed_from == t1.session
    first, second = h.runs()
    assert "--session-id" in first["argv"]
    at = second["argv"].index("--resume-session-at")
    assert t1.session is not None and second["argv"][at + 1] == t1.session.leaf
    sent = [ln for ln in second["stdin"] if ln["type"] == "user"]
    assert len(sent) == 1 and sent[0]["message"]["content"][0]["text"] == "q2"  # only the new turn


def test_an_unknown_history_is_seeded_without_model_calls(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    t, _ = h.turn(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {"role": "user", "content": "q2"},
        ]
    )
    assert answer_text(asyncio.run(drain(t))) == "history=3 model=sonnet"
    [run] = h.runs()
    assert run["stdin"][0]["request"] == {"subtype": "initialize", "systemPrompt": ["Be terse."]}
    kinds = [(ln["type"], ln.get("shouldQuery")) for ln in run["stdin"][1:]]
    assert kinds == [("user", False), ("assistant", None), ("user", None)]


def test_regenerating_an_answer_continues_from_the_same_point(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    t1, _ = h.turn([{"role": "user", "content": "q1"}])
    asyncio.run(drain(t1))
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "history=1 model=sonnet"},
        {"role": "user", "content": "q2"},
    ]
    for _ in range(2):  # the same request twice: both continue from turn 1's answer
        t, _ = h.turn(history)
        assert answer_text(asyncio.run(drain(t))) == "history=3 model=sonnet"
        assert t.resumed_from == t1.session


def test_a_named_conversation_needs_no_history(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    asyncio.run(drain(h.turn([{"role": "user", "content": "q1"}], name="chat-1")[0]))
    t2, _ = h.turn([{"role": "user", "content": "q2"}], name="chat-1")
    assert answer_text(asyncio.run(drain(t2))) == "history=3 model=sonnet"
    t3, _ = h.turn([{"role": "user", "content": "q1"}], name="chat-2")
    assert answer_text(asyncio.run(drain(t3))) == "history=1 model=sonnet"


def test_a_session_the_cli_lost_is_seeded_again(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    t1, _ = h.turn([{"role": "user", "content": "q1"}])
    asyncio.run(drain(t1))
    for f in (tmp_path / "home" / ".fake-claude").iterdir():
        f.unlink()
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "history=1 model=sonnet"},
        {"role": "user", "content": "q2"},
    ]
    t2, ctx = h.turn(history)
    assert answer_text(asyncio.run(drain(t2))) == "history=3 model=sonnet"
    assert len(t2.transcripts) == 2 and t2.resumed_from is None
    assert any("is gone" in n.reason for n in ctx.notes)


def test_a_client_tool_call_ends_the_answer_and_the_process(tmp_path: Path) -> None:
    h = Harness(tmp_path, "tool")
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    t, _ = h.turn([{"role": "user", "content": "weather?"}], tools=[weather])
    events = asyncio.run(drain(t))
    assert isinstance(events[-1], ir.Finish) and events[-1].stop_reason == "tool_use"
    calls = [ev.part for ev in events if isinstance(ev, ir.PartStart)]
    assert isinstance(calls[-1], ir.ToolCallPart) and calls[-1].name == "get_weather"
    [run] = h.runs()
    assert gone(run["pid"])
    assert t.transcripts[0].killed == "the answer ended in the client's tool call"
    assert t.session is None  # not resumable: the CLI would drop the pending call
    mcp = [ln for ln in run["stdin"] if ln["type"] == "control_response"]
    assert mcp[0]["response"]["response"]["mcp_response"]["result"]["tools"][0]["name"] == (
        "get_weather"
    )


def test_the_gateway_environment_is_filtered_and_cwd_is_per_session(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    t, _ = h.turn([{"role": "user", "content": "top secret prompt"}])
    asyncio.run(drain(t))
    [run] = h.runs()
    assert "OPENAI_API_KEY" not in run["env"] and "ANTHROPIC_API_KEY" in run["env"]
    assert run["cwd"] == str(tmp_path / "work" / t.session.id)  # type: ignore[union-attr]
    assert not any("secret" in a for a in run["argv"])
    assert "ANTHROPIC_API_KEY" in t.transcripts[0].env_names  # names only
    assert "fake-key" not in json.dumps(t.transcripts[0].env_names)


def test_a_hung_cli_is_killed_after_the_timeout(tmp_path: Path) -> None:
    h = Harness(tmp_path, "hang", timeout=0.5)
    t, _ = h.turn([{"role": "user", "content": "q"}])
    err = error_of(asyncio.run(drain(t)))
    assert err.kind == "timeout" and "claude_cli_timeout" in err.message
    assert gone(h.runs()[0]["pid"]) and t.transcripts[0].killed == "claude_cli_timeout"


def test_sigterm_ignored_means_sigkill(tmp_path: Path) -> None:
    h = Harness(tmp_path, "hang-hard", timeout=0.5, kill_grace=0.3)
    t, _ = h.turn([{"role": "user", "content": "q"}])
    assert error_of(asyncio.run(drain(t))).kind == "timeout"
    assert gone(h.runs()[0]["pid"])
    assert t.transcripts[0].exit_code == -9


def test_the_whole_process_group_goes(tmp_path: Path) -> None:
    h = Harness(tmp_path, "child", timeout=1.0)
    t, _ = h.turn([{"role": "user", "content": "q"}])
    asyncio.run(drain(t))
    [child] = [
        json.loads(text)["pid"]
        for _, stream, text in t.transcripts[0].lines
        if stream == "stdout" and '"child"' in text
    ]
    for _ in range(100):  # SIGKILL was sent; the kernel ends it when it next runs
        if dead(child):
            break
        time.sleep(0.05)
    assert dead(child)


def test_a_client_that_goes_away_kills_the_cli(tmp_path: Path) -> None:
    h = Harness(tmp_path, "slow:300")

    async def first_event_then_leave() -> None:
        t, _ = h.turn([{"role": "user", "content": "q"}])
        async with contextlib.aclosing(t.events()) as events:
            async for ev in events:
                if isinstance(ev, ir.MessageStart):
                    break
        assert t.transcripts[0].killed == "the client went away"

    asyncio.run(first_event_then_leave())
    assert gone(h.runs()[0]["pid"])  # already when aclose() returned
    assert h.backend.pool.running == 0


def test_a_crash_mid_answer_is_a_stream_error_with_stderr(tmp_path: Path) -> None:
    h = Harness(tmp_path, "crash")
    t, _ = h.turn([{"role": "user", "content": "q"}])
    events = asyncio.run(drain(t))
    err = error_of(events)
    assert err.kind == "bad_gateway" and "code 3" in err.message and "boom" in err.message
    assert any(isinstance(ev, ir.MessageStart) for ev in events)  # it had begun
    assert t.transcripts[0].exit_code == 3 and "boom" in t.transcripts[0].stderr


@pytest.mark.parametrize(
    ("mode", "kind", "status"),
    [
        ("error:529", "overloaded", 529),
        ("error:429", "rate_limit", 429),
        ("not-logged-in", "authentication", None),
    ],
)
def test_errors_behind_the_cli(tmp_path: Path, mode: str, kind: str, status: int | None) -> None:
    h = Harness(tmp_path, mode)
    t, _ = h.turn([{"role": "user", "content": "q"}])
    events = asyncio.run(drain(t))
    assert (error_of(events).kind, error_of(events).status) == (kind, status)
    assert not any(isinstance(ev, ir.MessageStart) for ev in events)  # -> an HTTP error status
    assert t.session is None


def test_beyond_the_limit_requests_wait_then_get_turned_away(tmp_path: Path) -> None:
    h = Harness(tmp_path, "slow:150", max_concurrency=1, queue_timeout=0.2)

    async def main() -> None:
        first = asyncio.create_task(drain(h.turn([{"role": "user", "content": "a"}])[0]))
        await asyncio.sleep(0.1)
        with pytest.raises(PoolBusyError) as busy:
            await drain(h.turn([{"role": "user", "content": "b"}])[0])
        assert busy.value.retry_after >= 1 and "claude_cli_max_concurrency" in str(busy.value)
        assert answer_text(await first).startswith("history=1")

    asyncio.run(main())


def test_queued_requests_run_when_a_slot_frees(tmp_path: Path) -> None:
    h = Harness(tmp_path, max_concurrency=1, queue_timeout=30)

    async def main() -> list[str]:
        turns = [h.turn([{"role": "user", "content": f"q{i}"}])[0] for i in range(3)]
        return [answer_text(evs) for evs in await asyncio.gather(*(drain(t) for t in turns))]

    assert asyncio.run(main()) == ["history=1 model=sonnet"] * 3
    starts = [r["pid"] for r in h.runs()]
    assert len(starts) == 3 and all(gone(p) for p in starts)


def test_shutdown_ends_every_live_cli(tmp_path: Path) -> None:
    h = Harness(tmp_path, "hang", timeout=30)

    async def main() -> list[ir.StreamEvent]:
        task = asyncio.create_task(drain(h.turn([{"role": "user", "content": "q"}])[0]))
        while not h.runs() or not h.runs()[0]["stdin"]:
            await asyncio.sleep(0.02)
        await h.backend.shutdown()
        return await task

    events = asyncio.run(main())
    assert isinstance(events[-1], ir.StreamError)
    assert gone(h.runs()[0]["pid"])


def test_a_missing_executable_says_what_to_do(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.backend.settings = CliSettings(str(tmp_path / "nope"), tmp_path / "work")
    t, _ = h.turn([{"role": "user", "content": "q"}])
    with pytest.raises(CliUnavailableError, match="claude_cli_path"):
        asyncio.run(drain(t))
    assert h.backend.pool.running == 0


def test_a_client_tool_may_not_shadow_a_builtin_the_route_allows(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    ctx = Context(client="openai", upstream="anthropic")
    body = {
        "model": "sonnet",
        "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "function", "function": {"name": "Read"}}],
    }
    req = openai_codec.request_to_ir(body)
    h.backend.turn_for(req, ctx, POLICY)  # fine when the CLI has no tools of its own
    with pytest.raises(UnsupportedContentError, match="built-in"):
        h.backend.turn_for(req, ctx, CliPolicy(tools=("Read",)))


@pytest.mark.parametrize("mode", ["text", "tool", "hang", "crash", "error:529"])
def test_the_listener_hears_the_run_and_the_codec_reads_it_alike(tmp_path: Path, mode: str) -> None:
    """What the backend serves (invocation, stdin, stdout, exit) decodes, gateway side, into the
    same IR events as the backend's own decoding."""
    from recorder.codecs import claude_cli as wire
    from recorder.sse import SseEvent

    h = Harness(tmp_path, mode, timeout=0.5)
    heard: list[tuple[str, str]] = []
    ctx = Context(client="openai", upstream="anthropic")
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    body = {"model": "sonnet", "messages": [{"role": "user", "content": "q"}], "tools": [weather]}
    turn = h.backend.turn_for(
        openai_codec.request_to_ir(body), ctx, POLICY, listener=lambda e, d: heard.append((e, d))
    )
    events = asyncio.run(drain(turn))
    names = [e for e, _ in heard]
    assert names[0] == "invocation" and names[-1] == "exit" and names.count("exit") == 1
    assert {"stdin", "stdout"} <= set(names)
    invocation = json.loads(heard[0][1])
    assert invocation["argv"] == list(turn.transcripts[0].argv)
    assert invocation["client_tools"] == ["get_weather"]
    dec = wire.StreamDecoder(Context(client="openai", upstream="anthropic"))
    again: list[ir.StreamEvent] = []
    for name, data in heard:
        again += dec.push(SseEvent(name, data))
    again += dec.finish()
    assert [type(e).__name__ for e in again] == [type(e).__name__ for e in events]
    assert again[-1] == events[-1]


def _recording_of(heard: list[tuple[str, str]]) -> dict[str, Any]:
    """What the recording keeps of a run (recorder.summary.read_run reads the same events)."""
    from recorder.codecs import claude_cli as wire

    facts = wire.run_facts([(e, d) for e, d in heard])
    assert "backend_session" in facts, facts
    return facts


def test_a_restarted_gateway_resumes_a_conversation_from_the_recording(tmp_path: Path) -> None:
    """Memory lost (a new backend), the recording's map remains: turn 2 resumes turn 1's
    session with only the new turn; a conversation the recording does not know is seeded."""
    from recorder.claude_cli.sessions import CliSession

    h = Harness(tmp_path)
    heard: list[tuple[str, str]] = []
    ctx = Context(client="openai", upstream="anthropic")
    req = openai_codec.request_to_ir(
        {"model": "sonnet", "messages": [{"role": "user", "content": "q1"}]}
    )
    t1 = h.backend.turn_for(req, ctx, POLICY, listener=lambda e, d: heard.append((e, d)))
    asyncio.run(drain(t1))
    facts = _recording_of(heard)
    assert facts["cost_usd"] == 0.0125
    row = facts["backend_session"]
    assert t1.session is not None and row["id"] == t1.session.id and row["leaf"] == t1.session.leaf
    asked: list[tuple[str, str]] = []

    async def recorded(kind: str, value: str) -> CliSession | None:
        asked.append((kind, value))
        if kind == "conversation" and value == row["conversation"]:
            return CliSession(row["id"], Path(row["cwd"]), row["leaf"])
        return None

    restarted = Harness(tmp_path)  # fresh memory, same CLI home and session folders
    restarted.backend.recorded = recorded  # type: ignore[assignment]
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "history=1 model=sonnet"},
        {"role": "user", "content": "q2"},
    ]
    t2, _ = restarted.turn(history)
    assert answer_text(asyncio.run(drain(t2))) == "history=3 model=sonnet"
    assert t2.resumed_from == t1.session and asked == [("conversation", row["conversation"])]
    sent = [ln for ln in restarted.runs()[-1]["stdin"] if ln["type"] == "user"]
    assert [ln["message"]["content"][0]["text"] for ln in sent] == ["q2"]  # only the new turn
    # asked once: turn 3 of the same conversation is known to memory again
    t3, _ = restarted.turn([*history, {"role": "assistant", "content": "history=3 model=sonnet"},
                            {"role": "user", "content": "q3"}])  # fmt: skip
    assert answer_text(asyncio.run(drain(t3))) == "history=5 model=sonnet"
    assert t3.resumed_from == t2.session and len(asked) == 1
    # an edited first answer: unknown to both, seeded
    other, _ = restarted.turn([history[0], {"role": "assistant", "content": "else"}, history[2]])
    asyncio.run(drain(other))
    assert other.resumed_from is None and len(asked) == 2


def test_a_restarted_gateway_resumes_a_named_conversation_from_the_recording(
    tmp_path: Path,
) -> None:
    from recorder.claude_cli.sessions import CliSession

    h = Harness(tmp_path)
    heard: list[tuple[str, str]] = []
    ctx = Context(client="openai", upstream="anthropic")
    req = openai_codec.request_to_ir(
        {"model": "sonnet", "messages": [{"role": "user", "content": "q1"}]}
    )
    t1 = h.backend.turn_for(
        req, ctx, POLICY, name="chat-1", listener=lambda e, d: heard.append((e, d))
    )
    asyncio.run(drain(t1))
    row = _recording_of(heard)["backend_session"]
    assert row["name"] == "chat-1"

    async def recorded(kind: str, value: str) -> CliSession | None:
        if (kind, value) == ("name", "chat-1"):
            return CliSession(row["id"], Path(row["cwd"]), row["leaf"])
        return None

    restarted = Harness(tmp_path)
    restarted.backend.recorded = recorded  # type: ignore[assignment]
    t2, _ = restarted.turn([{"role": "user", "content": "q2"}], name="chat-1")
    assert answer_text(asyncio.run(drain(t2))) == "history=3 model=sonnet"
    assert t2.resumed_from == t1.session


def test_a_seeded_run_reads_alike_on_the_gateway_side(tmp_path: Path) -> None:
    """A conversation the CLI does not know is seeded line by line, each history line answered
    by a result of its own: the gateway's decoder passes over those, streamed or not, and
    reads the answer (it once took the first seeding result for an empty answer)."""
    from recorder.codecs import claude_cli as wire
    from recorder.sse import SseEvent

    h = Harness(tmp_path)
    heard: list[tuple[str, str]] = []
    ctx = Context(client="openai", upstream="anthropic")
    history = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "q3"},
    ]
    req = openai_codec.request_to_ir({"model": "sonnet", "messages": history})
    turn = h.backend.turn_for(req, ctx, POLICY, listener=lambda e, d: heard.append((e, d)))
    events = asyncio.run(drain(turn))
    assert answer_text(events) == "history=5 model=sonnet" and turn.resumed_from is None
    seeding = [d for e, d in heard if e == "stdout" and '"num_turns": 0' in d]
    assert len(seeding) == 2  # one result per history user line, before the answer's
    dec = wire.StreamDecoder(Context(client="openai", upstream="anthropic"))
    again: list[ir.StreamEvent] = []
    for name, data in heard:
        again += dec.push(SseEvent(name, data))
    again += dec.finish()
    assert answer_text(again) == "history=5 model=sonnet" and again[-1] == events[-1]
    whole = wire.response_to_ir(wire.response_body(heard), Context("openai", "anthropic"))
    assert [p.text for p in whole.content if isinstance(p, ir.TextPart)] == [
        "history=5 model=sonnet"
    ]
