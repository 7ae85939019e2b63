"""The recorder's store: every exchange and SSE event in DuckDB. The only package importing duckdb.

* :mod:`~recorder.store.migrations` — the schema, as ordered ``mNNN_*`` functions (docs/schema.md)
* :mod:`~recorder.store.rows` — Exchange <-> table rows (pure; re-redacts secrets)
* :mod:`~recorder.store.writer` — the one background writer thread (queue -> Appender batches)
* :mod:`~recorder.store.reader` — queries and ``load_exchanges``, with or without a running gateway
* :mod:`~recorder.store.query_server` — loopback endpoint + sidecar file for querying a held file
* :mod:`~recorder.store.sessions` — which session an exchange belongs to (pure)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from recorder.store.results import NotADatabase, QueryError, QueryResult, StoreError

if TYPE_CHECKING:
    from recorder.store.reader import load_exchanges, open_reader, query
    from recorder.store.writer import StoreWriter

__all__ = [
    "NotADatabase",
    "QueryError",
    "QueryResult",
    "StoreError",
    "StoreWriter",
    "load_exchanges",
    "open_reader",
    "query",
]

# Loaded on first use: the gateway process imports this package for its hand-off and sessions
# and never needs DuckDB itself (its writer process does).
_LAZY = {
    "load_exchanges": "recorder.store.reader",
    "open_reader": "recorder.store.reader",
    "query": "recorder.store.reader",
    "StoreWriter": "recorder.store.writer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
