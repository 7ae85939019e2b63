"""A real OTLP/HTTP trace receiver on 127.0.0.1 for tests: ``POST /v1/traces`` with a protobuf
``ExportTraceServiceRequest`` body, decoded with the official ``opentelemetry-proto`` package.

Spans are kept as :class:`ReceivedSpan` values (ids as hex, attributes as plain Python values,
events), with their resource. ``fail_with`` makes it answer that status instead (a collector
that refuses); :meth:`OtlpReceiver.stop` makes it a collector that is down.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
    Span.SPAN_KIND_PRODUCER: "producer",
    Span.SPAN_KIND_CONSUMER: "consumer",
}
STATUS = {Status.STATUS_CODE_UNSET: "unset", Status.STATUS_CODE_OK: "ok",
          Status.STATUS_CODE_ERROR: "error"}  # fmt: skip


@dataclass
class ReceivedEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass
class ReceivedSpan:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[ReceivedEvent]
    status: str
    status_message: str
    resource: dict[str, Any]
    scope: str
    trace_state: str = ""


@dataclass
class Batch:
    path: str
    headers: dict[str, str]
    spans: list[ReceivedSpan] = field(default_factory=list)


def down_url() -> str:
    """An OTLP base URL where nothing listens (a collector that is down)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return attributes(v.kvlist_value.values)
    return None if kind is None else getattr(v, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


def decode(body: bytes) -> list[ReceivedSpan]:
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    out = []
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(ReceivedSpan(
                    name=s.name, kind=KINDS[s.kind], trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(), parent_span_id=s.parent_span_id.hex() or None,
                    start_ns=s.start_time_unix_nano, end_ns=s.end_time_unix_nano,
                    attributes=attributes(s.attributes),
                    events=[ReceivedEvent(e.name, e.time_unix_nano, attributes(e.attributes))
                            for e in s.events],
                    status=STATUS[s.status.code], status_message=s.status.message,
                    resource=resource, scope=ss.scope.name, trace_state=s.trace_state,
                ))  # fmt: skip
    return out


class OtlpReceiver:
    def __init__(self, port: int = 0) -> None:
        self.batches: list[Batch] = []
        self.fail_with: int | None = None
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests += 1
                    fail = receiver.fail_with
                if fail is not None:
                    self.send_response(fail)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                batch = Batch(self.path, {k.lower(): v for k, v in self.headers.items()})
                batch.spans = decode(body)
                with receiver._lock:
                    receiver.batches.append(batch)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def do_GET(self) -> None:  # noqa: N802 - /_count: the spans received so far
                body = str(len(receiver.spans)).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return [s for b in self.batches for s in b.spans]

    def wait_spans(self, n: int, timeout: float = 20.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        while len(self.spans) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.spans


def main() -> None:
    """``python -m fakes.otlp --port N``: a receiver in its own process (the benchmark's)."""
    import argparse

    ap = argparse.ArgumentParser(description="OTLP/HTTP trace receiver on 127.0.0.1")
    ap.add_argument("--port", type=int, default=4318)
    rx = OtlpReceiver(ap.parse_args().port)
    rx.server.serve_forever()


if __name__ == "__main__":
    main()
