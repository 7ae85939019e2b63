"""The dialect registry: the one place that lists the dialects and what the rest of tapegate needs
to know about each. Code outside the codecs asks here; it never compares dialect names.

An entry brings the dialect's codec (:class:`recorder.codecs.base.Codec`, which also knows its
error shape, how its stream ends and which events are tokens), its endpoint paths, its vendor's
API, how an upstream of it takes a key, its stream framing, the headers that belong to it, the
few rules the translation asks of a target (tool names, opt-in usage), and its session hints (how
its clients' requests tell which conversation they belong to).

A new dialect adds its name to :data:`recorder.ir.Dialect`, its wire models and codec modules
(``recorder/wire/NAME.py``, ``recorder/codecs/NAME*.py`` ending in ``CODEC``), a loader of its
codec (and of any function of it an entry names) below, and one :class:`DialectEntry` to
:data:`ENTRIES`. An upstream-only dialect (Kiro) sets ``client=False``: no client is answered in
it, so its codec's client halves may refuse.

Codecs load when first asked for, not with the registry: their pydantic wire models are most
of what the gateway loads at start (all five: ~0.15 s of each start), and a gateway answers
one or two dialects. The registry itself (names, paths, hosts, headers) imports no codec.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

from recorder.codecs.responses_history import STORED, StoredConversations
from recorder.ir import Dialect

if TYPE_CHECKING:
    from recorder.codecs.base import Codec

KeyStyle = Literal["x-api-key", "bearer"]


@dataclass(frozen=True, slots=True)
class Framing:
    """How a dialect's streamed response is cut into frames (its codec parses them)."""

    name: str
    content_type: str  # the content type of a streamed response in this framing


SSE: Final = Framing("sse", "text/event-stream")
AWS_EVENT_STREAM: Final = Framing("aws-eventstream", "application/vnd.amazon.eventstream")


@dataclass(frozen=True, slots=True)
class SessionHints:
    """How a dialect's requests tell which conversation they belong to, for the recorder's
    sessions (:mod:`recorder.store.sessions`, which reads every entry's)."""

    # Request headers its clients name their session in (lower case).
    headers: tuple[str, ...] = ()
    # The session its clients name in the request body (None: not named there).
    in_body: Callable[[dict[str, Any]], str | None] | None = None
    # Where its requests hold the conversation's prefix, which every turn of a stateless chat
    # re-sends (its hash is the session of a client that names none): the top-level field of
    # the system prompt, the field of the turns, whether that may be a string (the one user
    # message), and the roles of turns that are system prompt.
    system_field: str | None = None
    turns_field: str = "messages"
    text_turns: bool = False
    system_roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DialectEntry:
    name: Dialect
    # Its codec's loader (imports the codec module the first time: see the module's doc);
    # :attr:`codec` is what it loads.
    load_codec: Callable[[], Codec[Any]]
    # Its roles in the gateway: clients may speak it (False: no client is answered in it), and
    # the gateway may send requests of it upstream (``gateway_upstream_api``, a route's ``api``).
    client: bool
    upstream: bool
    # Its chat endpoint, relative to a base URL: where its clients send requests to the gateway
    # and where the gateway sends requests of this dialect upstream.
    chat_path: str
    # The vendor's official API (the default upstream of its clients) and the hosts that
    # explicit-proxy traffic of this dialect goes to; None / (): no such thing.
    vendor_base: str | None
    vendor_hosts: tuple[str, ...]
    key_style: KeyStyle  # how an upstream of this dialect takes its key
    framing: Framing = SSE
    # recorder show lists an upstream leg's events even in SSE framing: they carry more than
    # the answer (the CLI run: argv, every line it read and wrote, exit code, stderr).
    upstream_events_shown: bool = False
    # A run-like upstream (the CLI): its events as a body answered in one piece holds them
    # (not streamed, or an error before the answer), and what the recording keeps of its run
    # beyond the answer (``exchanges.extra``: cost, the backend's own session).
    run_events: Callable[[Any], list[tuple[str, str]] | None] | None = None
    run_facts: Callable[[list[tuple[str | None, str | None]]], dict[str, Any]] | None = None
    # Its codec writes answers for a client (responses, SSE streams); False: upstream only.
    encodes: bool = True
    # Its token-counting endpoint, forwarded to an upstream of this dialect (others estimate).
    count_tokens_path: str | None = None
    # Request headers that mark a client of this dialect on a path that is not its chat path.
    client_hints: tuple[str, ...] = ()
    # Headers an upstream of this dialect needs (set when the client did not send them), and
    # headers only it understands (dropped when its client's request goes to another dialect).
    required_headers: tuple[tuple[str, str], ...] = ()
    own_headers: tuple[str, ...] = ()
    # Tool names must match ^[a-zA-Z0-9_-]{1,64}$: longer or odd names are renamed reversibly.
    short_tool_names: bool = False
    # A stream carries usage only when the client asks (``stream_options.include_usage``).
    usage_opt_in: bool = False
    # The GenAI semantic conventions' ``gen_ai.provider.name`` of its vendor.
    provider: str = ""
    # Its clients may continue an earlier answer by id (the Responses API's
    # previous_response_id): towards another dialect the gateway rebuilds the conversation
    # from its recording, and answers GET <retrieve_prefix><id> from it.
    stored: StoredConversations | None = None
    # An upstream that needs more than a base URL and a key (Kiro: tokens it refreshes, a
    # region, its own settings) brings its own backend: ``"module:factory"``, imported when
    # first used (``recorder.backends.backend_for``). None: a plain HTTP upstream
    # (``RemoteBackend``).
    backend: str | None = None
    # The module whose ``OPTIONS`` are the gateway options that backend reads: every gateway
    # declares them at start, so it is a light module apart from the backend's.
    backend_options: str | None = None
    sessions: SessionHints = SessionHints()

    @property
    def codec(self) -> Codec[Any]:
        return self.load_codec()


# ---------------------------------------------------------------------------- codec loaders
# Each imports its codec module when first called (cached: the import is done once).


def _codec_loader(module: str) -> Callable[[], Codec[Any]]:
    """The loader of ``recorder.codecs.<module>``'s codec."""

    @functools.cache
    def load() -> Codec[Any]:
        codec: Codec[Any] = import_module(f"recorder.codecs.{module}").CODEC
        return codec

    return load


def _anthropic_session(body: dict[str, Any]) -> str | None:
    from recorder.codecs import anthropic

    return anthropic.session_in_request(body)


def _responses_session(body: dict[str, Any]) -> str | None:
    from recorder.codecs import responses

    return responses.session_in_request(body)


def _claude_cli_run_events(body: Any) -> list[tuple[str, str]] | None:
    from recorder.codecs import claude_cli

    return claude_cli.run_events(body)


def _claude_cli_run_facts(events: list[tuple[str | None, str | None]]) -> dict[str, Any]:
    from recorder.codecs import claude_cli

    return claude_cli.run_facts(events)


ANTHROPIC_VERSION = "2023-06-01"

ENTRIES: Final[tuple[DialectEntry, ...]] = (
    DialectEntry(
        name="anthropic",
        load_codec=_codec_loader("anthropic"),
        client=True,
        upstream=True,
        chat_path="/v1/messages",
        vendor_base="https://api.anthropic.com",
        vendor_hosts=("api.anthropic.com",),
        key_style="x-api-key",
        count_tokens_path="/v1/messages/count_tokens",
        client_hints=("anthropic-version", "x-api-key"),
        required_headers=(("anthropic-version", ANTHROPIC_VERSION),),
        own_headers=(
            "anthropic-version",
            "anthropic-beta",
            "anthropic-dangerous-direct-browser-access",
        ),
        provider="anthropic",
        sessions=SessionHints(
            headers=("x-claude-code-session-id",),  # Claude Code
            in_body=_anthropic_session,
            system_field="system",
        ),
    ),
    DialectEntry(
        name="openai",
        load_codec=_codec_loader("openai"),
        client=True,
        upstream=True,
        chat_path="/v1/chat/completions",
        vendor_base="https://api.openai.com/v1",
        vendor_hosts=("api.openai.com",),
        key_style="bearer",
        short_tool_names=True,
        usage_opt_in=True,
        provider="openai",
        sessions=SessionHints(system_roles=("system", "developer")),
    ),
    DialectEntry(
        name="responses",
        load_codec=_codec_loader("responses"),
        client=True,
        upstream=True,
        chat_path="/v1/responses",
        vendor_base="https://api.openai.com/v1",
        vendor_hosts=(),  # api.openai.com is OpenAI's: its /v1/responses traffic is told by path
        key_style="bearer",
        short_tool_names=True,
        provider="openai",
        stored=STORED,
        sessions=SessionHints(
            headers=("session-id", "thread-id"),  # Codex: both its thread id
            in_body=_responses_session,
            system_field="instructions",
            turns_field="input",
            text_turns=True,
            system_roles=("system", "developer"),
        ),
    ),
    DialectEntry(
        name="kiro",
        load_codec=_codec_loader("kiro"),
        client=False,  # upstream only
        upstream=True,
        chat_path="/generateAssistantResponse",
        vendor_base=None,  # its backend finds the endpoint (region, generation)
        vendor_hosts=(),
        key_style="bearer",
        framing=AWS_EVENT_STREAM,
        encodes=False,
        provider="aws.bedrock",
        backend="recorder.kiro.backend:from_options",
        backend_options="recorder.kiro.options",
    ),
    DialectEntry(
        name="claude_cli",
        load_codec=_codec_loader("claude_cli"),
        client=False,  # the gateway's own backend dialect: the local Claude Code CLI's runs
        upstream=True,  # a cassette recorded against the CLI replays in it
        chat_path="/v1/claude-cli/turn",  # recorder.codecs.claude_cli.CHAT_PATH
        vendor_base=None,
        vendor_hosts=(),
        key_style="bearer",  # the backend's per-run token
        encodes=False,
        provider="anthropic",
        upstream_events_shown=True,
        run_events=_claude_cli_run_events,
        run_facts=_claude_cli_run_facts,
    ),
)

# By name; one dict, so that a test may swap an entry (monkeypatch.setitem).
REGISTRY: Final[dict[str, DialectEntry]] = {e.name: e for e in ENTRIES}
# The dialects the gateway answers clients in, and every dialect it can send upstream.
CLIENT_DIALECTS: Final[tuple[Dialect, ...]] = tuple(e.name for e in ENTRIES if e.client)
UPSTREAM_DIALECTS: Final[tuple[Dialect, ...]] = tuple(e.name for e in ENTRIES if e.upstream)
# A client whose dialect nothing reveals (an unknown path, no telling header) is answered in
# the most common one.
FALLBACK_CLIENT: Final[Dialect] = "openai"
_ROLES: Final[dict[str, tuple[Dialect, ...]]] = {
    "client": CLIENT_DIALECTS,
    "upstream": UPSTREAM_DIALECTS,
    "any": tuple(e.name for e in ENTRIES),
}
_BY_HOST: Final = {h: e for e in ENTRIES for h in e.vendor_hosts}


def entry(name: Dialect) -> DialectEntry:
    return REGISTRY[name]


def codec(name: Dialect) -> Codec[Any]:
    return REGISTRY[name].codec


def named(name: str) -> DialectEntry | None:
    """The entry of a dialect name read from outside (an option, a file, a recording)."""
    return REGISTRY.get(name)


def session_hints() -> tuple[SessionHints, ...]:
    """Every dialect's session hints, in registry order. The recorder reads them all, whatever
    an exchange's dialect: a client's hint names its session on any endpoint it calls (Codex
    sends its session-id to Chat Completions too), and traffic of no known dialect has sessions
    as well."""
    return tuple(e.sessions for e in REGISTRY.values())


def parse(name: str, what: str, role: Literal["client", "upstream", "any"] = "upstream") -> Dialect:
    """``name`` as a dialect the gateway serves in ``role`` (``any``: a registered dialect), or
    ValueError naming ``what`` and the choices."""
    found = REGISTRY.get(name)
    choices = _ROLES[role]
    if found is None or found.name not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {name!r}")
    return found.name


def for_path(path: str) -> DialectEntry | None:
    """The client dialect a gateway endpoint belongs to (path without query)."""
    for e in ENTRIES:
        if e.client and path.startswith(e.chat_path):
            return e
    return None


def recorded(host: str, path: str) -> DialectEntry | None:
    """The dialect of traffic the recorder saw without the gateway: by an endpoint path
    (prefixed or not) of any dialect, else by its vendor host."""
    return _endpoint(path) or _BY_HOST.get(host)


def for_host(host: str, path: str = "") -> DialectEntry | None:
    """The dialect of a vendor API host (explicit-proxy traffic); on a host that serves more
    than one dialect (api.openai.com: Chat Completions and Responses), the one whose endpoint
    ``path`` is."""
    vendor = _BY_HOST.get(host)
    if vendor is None:
        return None
    by_path = _endpoint(path)
    if by_path is not None and by_path.vendor_base is not None:
        if urlsplit(by_path.vendor_base).hostname == host:
            return by_path
    return vendor


def _endpoint(path: str) -> DialectEntry | None:
    """The dialect whose endpoint ``path`` is (behind any prefix), or one under it
    (``/v1/messages/count_tokens``, ``/v1/responses/{id}``)."""
    for e in ENTRIES:
        if path.endswith(e.chat_path) or f"{e.chat_path}/" in path:
            return e
    return None


def guess_client(path: str, headers: Any) -> Dialect:
    """The dialect of a client request: by its path, else by a header only that dialect's
    clients send (for errors and ``/v1/models``), else :data:`FALLBACK_CLIENT`."""
    found = for_path(path)
    if found is not None:
        return found.name
    for e in ENTRIES:
        if e.client and any(h in headers for h in e.client_hints):
            return e.name
    return FALLBACK_CLIENT


# Top-level request fields that only one client dialect has and that OpenAI-compatible
# providers do not borrow (they do borrow ``reasoning`` and ``thinking``): a body with another
# dialect's is plainly of that dialect (``foreign_request``).
_OWN_REQUEST_FIELDS: Final[dict[Dialect, frozenset[str]]] = {
    "anthropic": frozenset({"system", "stop_sequences"}),
    "openai": frozenset(
        {
            "max_completion_tokens",
            "frequency_penalty",
            "presence_penalty",
            "logit_bias",
            "response_format",
            "n",
        }
    ),  # fmt: skip
    "responses": frozenset({"input", "instructions", "previous_response_id", "max_output_tokens"}),
}
# Top-level request fields that other client dialects share but this one never has: a plain
# Chat Completions or Messages body (``messages``, nothing of its own) read as a Responses request
# became one with no input at all.
_FOREIGN_SHARED_REQUEST_FIELDS: Final[dict[Dialect, dict[str, str]]] = {
    "responses": {"messages": "anthropic and openai"},
}
# The same for answers (every real answer in the corpus has its own dialect's and none of the
# others'; error bodies have none of them).
_OWN_RESPONSE_FIELDS: Final[dict[Dialect, frozenset[str]]] = {
    "anthropic": frozenset({"content", "stop_reason", "stop_sequence"}),
    "openai": frozenset({"choices", "system_fingerprint"}),
    "responses": frozenset({"output", "created_at", "incomplete_details"}),
}


# What a stream's first event says about its dialect (its JSON data): a stream whose first event
# is plainly another dialect's is refused by ``recorder translate`` in one line.
_OWN_STREAM_EVENT: Final[dict[Dialect, Callable[[dict[str, Any]], bool]]] = {
    "anthropic": lambda d: str(d.get("type", "")).startswith(("message_", "content_block_")),
    "openai": lambda d: "choices" in d or d.get("object") == "chat.completion.chunk",
    "responses": lambda d: str(d.get("type", "")).startswith("response."),
}


def foreign_request(name: Dialect, body: Any) -> str | None:
    """Why ``body`` is plainly not a request of dialect ``name`` (None: nothing says so): it
    has fields that only another client dialect's requests have."""
    found = _foreign(name, body, _OWN_REQUEST_FIELDS, "request", "requests")
    if found is not None or not isinstance(body, dict):
        return found
    for field, owners in _FOREIGN_SHARED_REQUEST_FIELDS.get(name, {}).items():
        if field in body:
            return (
                f"the body is not a request in the {name} dialect: {field} is a field of "
                f"{owners} requests, not of {name} ones"
            )
    return None


def foreign_response(name: Dialect, body: Any) -> str | None:
    """Why ``body`` is plainly not a response of dialect ``name`` (None: nothing says so)."""
    return _foreign(name, body, _OWN_RESPONSE_FIELDS, "response", "answers")


def foreign_stream(name: Dialect, first_event: Any) -> str | None:
    """Why a stream whose first event's data is ``first_event`` is plainly not of dialect
    ``name`` (None: nothing says so)."""
    if name not in _OWN_STREAM_EVENT or not isinstance(first_event, dict):
        return None
    if _OWN_STREAM_EVENT[name](first_event):
        return None
    for other, is_own in _OWN_STREAM_EVENT.items():
        if other != name and is_own(first_event):
            return f"the stream is not in the {name} dialect: its first event is {other}'s"
    return None


def _foreign(
    name: Dialect, body: Any, own: Mapping[Dialect, frozenset[str]], kind: str, kinds: str
) -> str | None:
    if name not in own or not isinstance(body, dict):
        return None
    for other, fields in own.items():
        hits = sorted(fields.intersection(body))
        if other != name and hits:
            return (
                f"the body is not a {kind} in the {name} dialect: {', '.join(hits)} "
                f"{'is a field' if len(hits) == 1 else 'are fields'} of {other} {kinds}"
            )
    return None
