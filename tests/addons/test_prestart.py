"""The writer process starts while the gateway loads: only under mitmdump/mitmweb, and not when
the command line turns recording off."""

from __future__ import annotations

import gc

import pytest
from mitmproxy import optmanager
from mitmproxy.test import taddons

from addons.prestart import before_loading, recording_off
from recorder.store import spawn


def test_recording_is_off_only_when_recorder_db_is_empty() -> None:
    opts = optmanager.OptManager()
    assert not recording_off(opts)  # the default records (traffic.duckdb)
    opts.set("recorder_db=t.duckdb", defer=True)  # given, not declared yet
    assert not recording_off(opts)
    opts.set("recorder_db=", defer=True)
    assert recording_off(opts)
    opts.add_option("recorder_db", str, "traffic.duckdb", "")  # declared (a script reloaded)
    opts.process_deferred()  # as mitmproxy does once the addon declared it
    assert recording_off(opts)
    opts.update(recorder_db="again.duckdb")
    assert not recording_off(opts)


def test_outside_mitmdump_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn, "_prestarted", None)
    frozen = gc.get_freeze_count()
    before_loading()  # no mitmproxy at all (an import in a test)
    with taddons.context():  # a master without mitmdump's start-up checks
        before_loading()
    assert spawn._prestarted is None and gc.get_freeze_count() == frozen
