"""The recorder's store: every exchange and SSE event in DuckDB. The only package importing duckdb.

* :mod:`~recorder.store.migrations` — the schema, as ordered ``mNNN_*`` functions (docs/schema.md)
* :mod:`~recorder.store.rows` — Exchange <-> table rows (pure; re-redacts secrets)
* :mod:`~recorder.store.writer` — the one background writer thread (queue -> Appender batches)
* :mod:`~recorder.store.reader` — queries and ``load_exchanges``, with or without a running gateway
* :mod:`~recorder.store.query_server` — loopback endpoint + sidecar file for querying a held file
* :mod:`~recorder.store.sessions`, :mod:`~recorder.store.conversation` — pure readings of traffic
"""

from __future__ import annotations

from recorder.store.reader import load_exchanges, open_reader, query
from recorder.store.results import QueryResult, StoreError
from recorder.store.writer import StoreWriter

__all__ = ["QueryResult", "StoreError", "StoreWriter", "load_exchanges", "open_reader", "query"]
