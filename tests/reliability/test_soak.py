"""Soak: 16 concurrent streaming clients through the translating, recording gateway (30 s in CI,
10 minutes with TAPEGATE_LONG=1; TAPEGATE_SOAK_SECONDS overrides). The gateway's and its
writer's memory is sampled every second: after the warm-up it may grow by at most 5%. Every
exchange a client completed is a row in DuckDB, none failed, and the added latency (p50/p99
against the same streams straight from the upstream, in the same run) is reported."""

from __future__ import annotations

import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.procs import BIN, Service, free_port, start_service
from tests.reliability import gateway
from tests.reliability.conftest import REPORT
from tests.reliability.fuzzing import LONG
from tests.reliability.load import Runner

pytestmark = pytest.mark.e2e

CLIENTS = 16
SECONDS = float(os.environ.get("TAPEGATE_SOAK_SECONDS") or (600 if LONG else 30))
WARM_UP = min(SECONDS / 3, 120.0)  # allocators, caches and DuckDB's buffers settle first
MAX_GROWTH = 0.05
LONG_ENOUGH = 180.0  # seconds of soak for the writer's trend to mean something
# The writer process: DuckDB's memory limit (recorder.store.writer_process), the interpreter and
# the allocator's slack over it during a checkpoint.
WRITER_CEILING_MB = 400


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The fake upstream in a process of its own: the test's clients must not slow it down."""
    port = free_port()
    argv = [str(BIN / "python"), "-m", "fakes.upstream", "--port", str(port), "--no-log"]
    svc = start_service("upstream", argv, port=port, log_dir=tmp_path_factory.mktemp("up"))
    yield svc
    svc.stop()


Sample = tuple[float, float, float]  # seconds since start, gateway MB, writer MB


def _sample(g: gateway.Gateway, out: list[Sample], stop: threading.Event) -> None:
    t0 = time.monotonic()
    while not stop.wait(1.0):
        out.append((time.monotonic() - t0, *g.rss_mb()))


def _growth(samples: list[Sample], column: int) -> tuple[float, float, float]:
    """(MB after the warm-up, MB at the end, growth): the floor (10th percentile) of the first
    and of the last fifth of the samples after the warm-up. DuckDB's checkpoints make the
    writer's memory a saw-tooth; a leak raises its floor."""
    after = [s[column] for s in samples if s[0] >= WARM_UP]
    k = max(5, len(after) // 5)
    settled, final = _floor(after[:k]), _floor(after[-k:])
    return settled, final, final / settled - 1


def _floor(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[0]


def test_soak(upstream: Service, tmp_path: Path) -> None:
    g = gateway.start(
        tmp_path,
        [
            f"gateway_upstream={upstream.url}",
            "gateway_upstream_api=openai",
            "gateway_retries=0",
        ],  # fmt: skip
    )
    tag = f"soak-{uuid.uuid4().hex[:8]}"
    samples: list[Sample] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(g, samples, stop), daemon=True)
    try:
        sampler.start()
        runner = Runner(g.url, CLIENTS, tag, direct_url=upstream.url)
        time.sleep(SECONDS)
        load = runner.stop()
        stop.set()
        sampler.join(5)
        assert httpx.head(g.url, timeout=10).status_code == 200
        sql = f"select count(*) from exchanges where model_requested like '{tag}-%'"
        rows = gateway.wait_count(g.db, sql, len(load.done), timeout=60)
        ok_sql = sql + " and status = 200 and error is null"
        ok_rows = gateway.wait_count(g.db, ok_sql, len(load.done), timeout=10)
        assert not g.crashes(), g.crashes()[0]
    finally:
        stop.set()
        g.stop()
    gw_settled, gw_final, gw_growth = _growth(samples, 1)
    wr_settled, wr_final, wr_growth = _growth(samples, 2)
    figures = {
        "seconds": SECONDS,
        "clients": CLIENTS,
        "exchanges": len(load.done),
        "failed": len(load.failed),
        "rows": rows,
        "lost": len(load.done) - ok_rows,
        "gateway_rss_mb": [round(gw_settled, 1), round(gw_final, 1)],
        "gateway_rss_growth_pct": round(gw_growth * 100, 2),
        "writer_rss_mb": [round(wr_settled, 1), round(wr_final, 1)],
        "writer_rss_growth_pct": round(wr_growth * 100, 2),
        "rss_peak_mb": round(max(s[1] + s[2] for s in samples), 1),
        "streams_per_s": round(len(load.done) / SECONDS, 1),
        **load.latency(),
    }
    REPORT["soak"] = figures
    print(figures)
    if os.environ.get("TAPEGATE_SOAK_TRACE"):
        for t, gw_mb, wr_mb in samples[:: max(1, len(samples) // 40)]:
            print(f"  {t:6.0f} s  gateway {gw_mb:6.1f} MB  writer {wr_mb:6.1f} MB")
    assert not load.failed, load.failed[:5]
    assert len(load.done) > CLIENTS * 5, figures
    assert rows == len(load.done) and ok_rows == len(load.done), figures  # zero lost exchanges
    assert gw_growth <= MAX_GROWTH, figures
    if SECONDS >= LONG_ENOUGH:
        assert wr_growth <= MAX_GROWTH, figures
    else:  # the writer fills DuckDB's buffer pool (its memory limit) over the first minute
        assert max(s[2] for s in samples) <= WRITER_CEILING_MB, figures
