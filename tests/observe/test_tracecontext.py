"""W3C trace context: the caller's trace is joined and the upstream is told our span."""

from __future__ import annotations

from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, TraceIdRatioBased

from recorder.observe.tracecontext import TraceIds, TraceStarter, upstream_headers

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_an_incoming_traceparent_is_joined_and_the_upstream_gets_our_upstream_span():
    ids = TraceStarter().start(PARENT, "congo=t61rcWkgMzE")
    assert f"{ids.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{ids.parent_span_id:016x}" == "b7ad6b7169203331"
    assert ids.sampled and len({ids.span_id, ids.upstream_span_id, ids.parent_span_id}) == 3
    h = upstream_headers(ids)
    assert h["traceparent"] == (
        f"00-0af7651916cd43dd8448eb211c80319c-{ids.upstream_span_id:016x}-01"
    )
    assert h["tracestate"] == "congo=t61rcWkgMzE"


def test_an_unsampled_caller_stays_unsampled_upstream():
    ids = TraceStarter().start(PARENT[:-2] + "00")
    assert not ids.sampled
    assert upstream_headers(ids)["traceparent"].endswith("-00")


def test_without_a_valid_traceparent_a_new_trace_starts():
    starter = TraceStarter()
    for bad in (None, "", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01"):
        ids = starter.start(bad)
        assert ids.parent_span_id is None and ids.trace_id != 0 and ids.sampled
        assert "tracestate" not in upstream_headers(ids)


def test_the_sampler_from_the_environment_decides_for_new_traces():
    assert not TraceStarter(ALWAYS_OFF).start(None).sampled
    ratio = TraceStarter(TraceIdRatioBased(0.5))
    decisions = {ratio.start(None).sampled for _ in range(200)}
    assert decisions == {True, False}


def test_ids_survive_the_recording_as_hex():
    ids = TraceStarter().start(PARENT, "a=b")
    extra = {"trace": ids.as_extra()}
    assert extra["trace"]["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert TraceIds.from_extra(extra) == ids
    assert TraceIds.from_extra({}) is None
    assert TraceIds.from_extra({"trace": {"trace_id": "zz"}}) is None
