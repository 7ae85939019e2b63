"""The reliability suite's summary: cases tried per fuzz target, the seed, the figures of the
soak and crash runs (printed at the end of the session, and written to
``reliability-report.json`` with TAPEGATE_LONG=1 for the README)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.fuzzing import CASES, LONG, SEED, TALLY

REPORT: dict[str, Any] = {}  # other modules add their figures here
REPORT_FILE = Path(os.environ.get("TAPEGATE_RELIABILITY_REPORT", "reliability-report.json"))


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if call.excinfo is not None and "fuzz" in item.nodeid:
        item.add_report_section(
            call.when, "fuzz seed", f"rerun with TAPEGATE_FUZZ_SEED={SEED} (cases: {CASES})"
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY.cases and not REPORT:
        return
    tr = terminalreporter
    tr.section("reliability")
    if TALLY.cases:
        tr.write_line(f"fuzz seed {SEED} (TAPEGATE_FUZZ_SEED={SEED} reruns it), {CASES} per test")
        for target in sorted(TALLY.cases):
            n, errs = TALLY.cases[target], TALLY.expected_errors[target]
            slow = TALLY.slowest[target]
            tr.write_line(
                f"  {target:<28} {n:>7} cases, {errs:>6} documented errors, slowest {slow:.3f} s"
            )
    for name, figures in REPORT.items():
        tr.write_line(f"{name}: {json.dumps(figures)}")
    if LONG:
        doc = {
            "fuzz": {
                "seed": SEED,
                "cases": dict(TALLY.cases),
                "errors": dict(TALLY.expected_errors),
            },
            **REPORT,
        }
        REPORT_FILE.write_text(json.dumps(doc, indent=2) + "\n")
        tr.write_line(f"written to {REPORT_FILE}")
