"""The observer process: exchanges handed over from an event loop, shown, exported, logged."""

from __future__ import annotations

import asyncio
import json

from fakes.otlp import OtlpReceiver
from recorder.observe import otel
from recorder.observe.console_options import Detail
from recorder.observe.messagelog_config import LogConfig
from recorder.observe.process import ObserverProcess, ObserveSettings
from recorder.observe.sinks import ConsoleConfig
from recorder.observe.tracecontext import TraceStarter
from tests.observe import exchanges
from tests.store import samples


def _run(settings: ObserveSettings, exs, **kw) -> tuple[ObserverProcess, list[dict]]:
    messages: list[dict] = []

    async def go() -> ObserverProcess:
        proc = ObserverProcess(settings, messages.append, **kw).start()
        for ex in exs:
            proc.put(ex)
        await asyncio.sleep(0)
        proc.close(timeout=30)
        return proc

    return asyncio.run(go()), messages


def test_console_spans_and_log_from_one_child(tmp_path, capfd):
    rx = OtlpReceiver().start()
    try:
        exs = [samples.streaming(), samples.plain(), exchanges.hung_up()]
        for ex in exs:
            ex.extra["trace"] = TraceStarter().start(None).as_extra()
        settings = ObserveSettings(
            console=ConsoleConfig(Detail.tools, color=False),
            otel=otel.config(rx.url),
            log=LogConfig(str(tmp_path / "m.jsonl")),
        )
        proc, messages = _run(settings, exs)
        spans = rx.wait_spans(6)
    finally:
        rx.stop()
    out = capfd.readouterr().out.splitlines()
    assert len(out) == 4, out  # three lines, one tool call under the first
    assert "gpt-5.5" in out[0] and " 200 " in out[0] and out[1] == '    ▸ Bash {"command":"ls"}'
    assert "claude-sonnet-5" in out[2] and "client_disconnected" in out[3]
    assert "\x1b[" not in "".join(out)  # no terminal: no colour codes
    assert len(spans) == 6
    assert {s.trace_id for s in spans} == {ex.extra["trace"]["trace_id"] for ex in exs}
    logged = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [x["id"] for x in logged] == ["ex-stream", "ex-plain", "ex-hung"]
    assert messages[0]["ready"] and messages[-1] == {
        "closed": True,
        "seconds": messages[-1]["seconds"],
    }
    final = next(m for m in messages if m.get("final"))
    assert final["otel"]["exported"] == 6 and final["otel"]["failed"] == 0
    assert (proc.sent, proc.dropped) == (3, 0)


def test_a_child_far_behind_drops_exchanges_and_counts_them(tmp_path, capfd):
    settings = ObserveSettings(log=LogConfig(str(tmp_path / "m.jsonl")))
    exs = [exchanges.turn(1, session=f"s{i}") for i in range(400)]
    proc, _ = _run(settings, exs, max_buffer=0)  # nothing may wait in the gateway
    assert proc.sent + proc.dropped == 400 and proc.dropped > 0
    logged = (tmp_path / "m.jsonl").read_text().splitlines()
    assert len(logged) == proc.sent


def test_an_exchange_a_sink_cannot_take_is_reported_once_and_the_rest_goes_on(tmp_path, capfd):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    settings = ObserveSettings(
        console=ConsoleConfig(Detail.none, color=False),
        log=LogConfig(str(tmp_path / "m.jsonl")),
    )
    # the log file turns into a directory after start: every write fails
    exs = [samples.plain(), samples.streaming()]
    (tmp_path / "m.jsonl").mkdir()
    proc, messages = _run(settings, exs)
    warnings = [m["warning"] for m in messages if "warning" in m]
    assert len(warnings) == 1 and warnings[0].startswith("messagelog: exchange ex-plain")
    assert len(capfd.readouterr().out.splitlines()) == 2  # the console went on
