"""Whether and where spans are exported: the ``otel_endpoint`` option and the standard
``OTEL_EXPORTER_OTLP_*`` variables, read without the OpenTelemetry SDK (the gateway reads them at
start-up; the SDK and its exporter load only in the observer process, when export is on)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from recorder.errors import ConfigError

TRACES_PATH = "/v1/traces"


@dataclass(slots=True, frozen=True)
class OtelConfig:
    endpoint: str | None  # full traces URL; None: the exporter reads OTEL_EXPORTER_OTLP_* itself
    content: bool = False  # export message content (gen_ai.input.messages, ...)

    @property
    def target(self) -> str:
        """Where spans go, for messages."""
        if self.endpoint:
            return self.endpoint
        env = os.environ
        return env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
            env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/") + TRACES_PATH
        )


def config(
    endpoint: str, content: bool = False, env: Mapping[str, str] | None = None
) -> OtelConfig | None:
    """The export configuration, or None when export is off: no ``otel_endpoint`` and none of
    the standard endpoint variables, or ``OTEL_SDK_DISABLED=true``. ConfigError when it cannot
    work (a protocol other than OTLP/HTTP protobuf, a URL that is not http(s))."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    from_env = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint and not from_env:
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    if protocol and protocol.strip() != "http/protobuf":
        raise ConfigError(
            f"OpenTelemetry export speaks OTLP over HTTP with protobuf only; the environment asks "
            f"for {protocol!r} (set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, port 4318)"
        )
    url = endpoint.rstrip("/") if endpoint else None
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"otel_endpoint must be an http(s) URL such as http://127.0.0.1:4318, got {url!r}"
            )
        if not url.endswith(TRACES_PATH):
            url += TRACES_PATH
    return OtelConfig(url, content)
