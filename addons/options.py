"""The gateway's mitmproxy options: declared in ``load()``, read and checked in ``configure()``.

mitmproxy's ``--set`` parses only str/int/bool, so durations are strings of seconds ("0.5").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from addons.declare import options as declare_options
from addons.upstream import claude_cli_options as cli_options
from addons.upstream.policy import RetryPolicy
from recorder import dialects
from recorder.backends import Backend, BackendOptions, backend_for, backend_option_specs
from recorder.faults.scope import FaultScope
from recorder.ir import Dialect
from replay.cassette import is_cassette_dir

# A cassette, the Claude Code CLI and faults are loaded only when an option asks for them.
if TYPE_CHECKING:
    from addons.upstream.cassette import CassetteUpstream
    from addons.upstream.claude_cli import CliRuntime
    from recorder.faults.spec import FaultSpec

DEFAULT_MAX_BODY = 32 << 20
DEFAULT_MAX_JSON_DEPTH = 64

_OPTIONS: list[tuple[str, type, Any, str]] = [
    (
        "gateway_upstream",
        str,
        "",
        "Base URL of the upstream, e.g. http://127.0.0.1:11434/v1 or https://openrouter.ai/api/v1, "
        "a cassette directory (cassettes/x) replayed as the upstream, offline, or claude-cli "
        "(the local Claude Code CLI answers; see the claude_cli_* options). "
        "Empty: each dialect goes to its vendor's official API with the client's own key.",
    ),
    (
        "gateway_upstream_api",
        str,
        "",
        f"Dialect of gateway_upstream: {' | '.join(dialects.UPSTREAM_DIALECTS)}. Empty: the "
        "client's own dialect (for a cassette: the dialect it was recorded against). kiro "
        "needs no gateway_upstream (see the kiro_* options).",
    ),
    (
        "gateway_upstream_key_env",
        str,
        "",
        "Environment variable holding the key for gateway_upstream (routes have key_env).",
    ),
    ("gateway_config", str, "", "YAML routes file (aliases, routes); validated at start-up."),
    (
        "gateway_key",
        str,
        "",
        "Key clients must present (x-api-key or Authorization: Bearer; through the listener as "
        "an explicit proxy: Proxy-Authorization, e.g. HTTPS_PROXY=http://tapegate:KEY@host:port)"
        "; never sent upstream.",
    ),
    (
        "gateway_key_env",
        str,
        "",
        "Environment variable holding gateway_key (instead of putting the key on the command "
        "line, where the process list shows it).",
    ),
    ("gateway_allow_remote", bool, False, "Allow listening beyond loopback without gateway_key."),
    (
        "gateway_http2",
        bool,
        False,
        "Speak HTTP/2 with clients and upstreams that offer it (sets mitmproxy's http2 option). "
        "Off: every connection is HTTP/1.1, the only one on which the gateway's deadlines, its "
        "in-dialect stream errors and its 400s for malformed requests hold.",
    ),
    (
        "gateway_retries",
        int,
        2,
        "Extra attempts on 429/5xx and connection errors before the first byte (0: none).",
    ),
    ("gateway_retry_backoff", str, "0.25", "First retry wait in seconds (doubles per attempt)."),
    ("gateway_retry_max_wait", str, "8", "Cap on one retry wait (retry-after included), seconds."),
    ("gateway_connect_timeout", str, "5", "Upstream connect timeout, seconds."),
    (
        "gateway_first_byte_timeout",
        str,
        "600",
        "Seconds from sending the request to the upstream's response head (a JSON answer's "
        "head comes when the model is done; the SDKs wait 600 s too): then a 504 in the "
        "client's dialect (0: no limit).",
    ),
    (
        "gateway_first_token_timeout",
        str,
        "0",
        "Seconds from sending the request to the first token (the first content event of a "
        "stream; the whole body of a JSON answer): 504 before the head, an in-dialect error "
        "event in a stream (0: no limit).",
    ),
    (
        "gateway_idle_timeout",
        str,
        "300",
        "Seconds a stream may go without a whole event (bytes trickling in do not count), and "
        "a JSON answer may take after its head: then an in-dialect error event, or a 504 "
        "(0: no limit).",
    ),
    (
        "gateway_total_timeout",
        str,
        "3600",
        "Seconds an exchange may take from sending the request to the upstream's last byte "
        "(0: no limit).",
    ),
    (
        "gateway_upstream_keepalive",
        str,
        "60",
        "Seconds an idle upstream connection is kept open once its client has no request under "
        "way (0: as long as the client keeps its own connection).",
    ),
    (
        "gateway_max_body",
        str,
        "32m",
        "Largest request body the gateway accepts (k/m/g suffixes; 32m, like Anthropic's API): "
        "beyond it a 413 in the client's dialect, and the body is not recorded.",
    ),
    (
        "gateway_max_json_depth",
        int,
        DEFAULT_MAX_JSON_DEPTH,
        "Deepest nesting of arrays/objects a request body may have: deeper is a 400 in the "
        "client's dialect (real requests nest about 10 deep).",
    ),
    (
        "gateway_fault",
        str,
        "",
        "Break the upstream's answers on purpose, for chaos testing an agent and the gateway "
        "together (README, Faults): e.g. error@3:overloaded, status:529:retry-after=2, "
        "truncate@-2, stall@1:5000, reset@4, rechunk:split. Recorded on each exchange it breaks.",
    ),
    (
        "gateway_fault_only",
        str,
        "",
        "Only requests whose model matches this glob (claude-haiku-*), or of one route "
        "(route:NAME), get gateway_fault. Empty: every request.",
    ),
    (
        "gateway_fault_header",
        bool,
        False,
        "Let each request choose its own fault with an x-tapegate-fault: SPEC header (chaos "
        "tests through one gateway; it overrides gateway_fault). Off: it is not honoured.",
    ),
    (
        "gateway_replay_timing",
        str,
        "instant",
        "When gateway_upstream is a cassette: instant | recorded | xN (N times the recorded gaps).",
    ),
    (
        "gateway_replay_repeat",
        bool,
        True,
        "When gateway_upstream is a cassette: played interactions may answer again.",
    ),
]


def declare(loader: Any) -> None:
    declare_options(loader, _OPTIONS + backend_option_specs() + cli_options.OPTIONS)


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    upstream: str | None = None
    cassette: str | None = None  # gateway_upstream named a cassette directory, not a URL
    api: Dialect | None = None
    upstream_key_env: str | None = None
    config: str | None = None
    key: str | None = None
    allow_remote: bool = False
    http2: bool = False  # gateway_http2: see addons.http_versions
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    replay_timing: str = "instant"
    replay_repeat: bool = True
    max_body: int = DEFAULT_MAX_BODY
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    fault: FaultSpec | None = None
    fault_scope: FaultScope = field(default_factory=FaultScope)
    fault_header: bool = False
    # the options of the dialects' own backends (kiro_*), as (name, value)
    backend_options: BackendOptions = ()
    claude_cli_default: bool = False  # gateway_upstream=claude-cli: the local CLI answers
    claude_cli: cli_options.CliOptions = field(default_factory=cli_options.CliOptions)


def _seconds(name: str, value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if v < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return v


def _size(name: str, value: str) -> int:
    from mitmproxy.utils.human import parse_size

    try:
        size = parse_size(value)
    except ValueError:
        size = None
    if size is None or size <= 0:
        raise ValueError(f"{name} must be a size such as 32m or 500k, got {value!r}")
    return size


def default_backend(
    o: GatewayOptions, cassette: CassetteUpstream | None, cli: CliRuntime | None = None
) -> Backend | None:
    """What answers requests no route claims: the cassette, the local Claude Code CLI, the
    configured upstream, or (None) each client's vendor."""
    if o.claude_cli_default and cli is not None:
        return cli.upstream(o.claude_cli.policy)
    if cassette is not None:
        from addons.upstream.cassette import CassetteBackend

        return CassetteBackend(cassette, o.api or cassette.dialect, o.upstream_key_env)
    if o.upstream is not None or (o.api is not None and dialects.entry(o.api).backend):
        return backend_for(o.api, o.upstream, o.upstream_key_env, o.backend_options)
    return None


def read_options(o: Any) -> GatewayOptions:
    """ValueError with the option's name when a value is unusable."""
    api = (
        dialects.parse(o.gateway_upstream_api, "gateway_upstream_api")
        if o.gateway_upstream_api
        else None
    )
    if o.gateway_retries < 0:
        raise ValueError(f"gateway_retries must not be negative, got {o.gateway_retries}")
    upstream = o.gateway_upstream or None
    cassette = None
    cli_default = upstream == cli_options.UPSTREAM_NAME
    if cli_default:
        upstream = None
    elif upstream is not None and is_cassette_dir(upstream):
        cassette, upstream = upstream, None
    elif upstream is not None:
        from recorder.backends import parse_base_url

        try:
            parse_base_url(upstream)
        except ValueError as e:
            hint = "" if "://" in upstream else " (nor a cassette directory: no cassette.json)"
            raise ValueError(f"gateway_upstream: {e}{hint}") from None
    connect = _seconds("gateway_connect_timeout", o.gateway_connect_timeout)
    if connect == 0:
        raise ValueError("gateway_connect_timeout must be more than 0")
    policy = RetryPolicy(
        retries=o.gateway_retries,
        backoff=_seconds("gateway_retry_backoff", o.gateway_retry_backoff),
        max_wait=_seconds("gateway_retry_max_wait", o.gateway_retry_max_wait),
        connect_timeout=connect,
        first_token_timeout=_seconds("gateway_first_token_timeout", o.gateway_first_token_timeout),
        first_byte_timeout=_seconds("gateway_first_byte_timeout", o.gateway_first_byte_timeout),
        idle_timeout=_seconds("gateway_idle_timeout", o.gateway_idle_timeout),
        total_timeout=_seconds("gateway_total_timeout", o.gateway_total_timeout),
        upstream_keepalive=_seconds("gateway_upstream_keepalive", o.gateway_upstream_keepalive),
    )
    return GatewayOptions(
        upstream=upstream,
        cassette=cassette,
        api=api,
        upstream_key_env=o.gateway_upstream_key_env or None,
        config=o.gateway_config or None,
        key=_gateway_key(o.gateway_key, o.gateway_key_env),
        allow_remote=o.gateway_allow_remote,
        http2=o.gateway_http2,
        policy=policy,
        replay_timing=o.gateway_replay_timing,
        replay_repeat=o.gateway_replay_repeat,
        max_body=_size("gateway_max_body", o.gateway_max_body),
        max_json_depth=_depth(o.gateway_max_json_depth),
        fault=_fault(o.gateway_fault),
        fault_scope=FaultScope.parse(o.gateway_fault_only),
        fault_header=o.gateway_fault_header,
        backend_options=tuple((spec[0], getattr(o, spec[0])) for spec in backend_option_specs()),
        claude_cli_default=cli_default,
        claude_cli=cli_options.read_cli_options(o, _seconds),
    )


def _fault(text: str) -> FaultSpec | None:
    if not text.strip():
        return None
    from recorder.faults.spec import FaultSpecError
    from recorder.faults.spec import parse as parse_fault

    try:
        return parse_fault(text)
    except FaultSpecError as e:
        raise ValueError(f"gateway_fault: {e}") from None


def _gateway_key(key: str, env: str) -> str | None:
    if key and env:
        raise ValueError("set gateway_key or gateway_key_env, not both")
    if not env:
        return key or None
    from_env = os.environ.get(env, "")
    if not from_env:
        # Running without the key the operator meant to set would open the gateway.
        raise ValueError(f"gateway_key_env: environment variable {env} is not set or empty")
    return from_env


def _depth(value: int) -> int:
    if value < 2:
        raise ValueError(f"gateway_max_json_depth must be at least 2, got {value}")
    return value
