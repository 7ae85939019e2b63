"""Which header names and URL query parameters hold secrets: the deny-list applied before anything
is stored (DuckDB), exported (cassettes) or logged (mitmproxy's flow lines), and how values are
redacted. Pure, apart from the one process-wide extension (:func:`extend`).

The deny-list matches names case-insensitively by pattern (``*`` is any run of characters,
``-`` and ``_`` are the same), so that credentials under names nobody listed are caught too:

* ``*token*``, ``*secret*``, ``*password*``, ``*passwd*``, ``*signature*``, ``*key*``,
  ``*credential*``, ``*auth*`` (``authorization``, ``x-auth-token``, ``proxy-authorization``,
  ``x-api-key``, ``x-goog-api-key``, ``client_secret``, ``access-token``, …)
* ``cookie``, ``set-cookie``, ``sig`` (signed URLs), ``pwd``, ``pass``, ``*passphrase*``,
  ``*jwt*``, ``openai-organization``, ``openai-project``

Rate-limit headers are exempt (``anthropic-ratelimit-input-tokens-remaining``,
``x-ratelimit-remaining-tokens``, …): they count tokens, they are none, and what a run was
allowed is worth keeping; so are authentication challenges (``www-authenticate``,
``proxy-authenticate``: a realm, no credential). Values are replaced by ``[redacted]``; names
stay, so a reader still sees that a credential was sent. The gateway's option
``recorder_redact`` (and ``recorder export --redact``) adds patterns of the same form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from urllib.parse import unquote

REDACTED = "[redacted]"

DEFAULT_PATTERNS: tuple[str, ...] = (
    "*token*", "*secret*", "*password*", "*passwd*", "*signature*", "*key*", "*credential*",
    "*auth*", "cookie", "set-cookie", "sig", "pwd", "pass", "*passphrase*", "*jwt*",
    "openai-organization", "openai-project",
)  # fmt: skip
EXEMPT_PATTERNS: tuple[str, ...] = ("*ratelimit*", "*rate-limit*", "*-authenticate")


def _regex(patterns: Iterable[str]) -> re.Pattern[str]:
    alternatives = [
        ".*".join(re.escape(part) for part in _norm(p).split("*")) for p in patterns if p.strip()
    ]
    return re.compile("|".join(alternatives) or "(?!)")


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


_deny = _regex(DEFAULT_PATTERNS)
_exempt = _regex(EXEMPT_PATTERNS)
_extra: tuple[str, ...] = ()


def extend(patterns: Iterable[str]) -> None:
    """Add patterns to the deny-list of this process (replacing those added before)."""
    global _deny, _extra
    _extra = tuple(p.strip() for p in patterns if p.strip())
    _deny = _regex(DEFAULT_PATTERNS + _extra)
    is_secret.cache_clear()


def extra_patterns() -> tuple[str, ...]:
    """The patterns :func:`extend` added (handed on to the writer process)."""
    return _extra


def parse_patterns(value: str) -> tuple[str, ...]:
    """``"x-tenant,*session*"`` (an option's value) as patterns."""
    return tuple(p.strip() for p in value.split(",") if p.strip())


@functools.lru_cache(maxsize=4096)
def is_secret(name: str) -> bool:
    """A header name or query parameter on the deny-list (cached: names repeat endlessly)."""
    n = _norm(name)
    return _deny.fullmatch(n) is not None and _exempt.fullmatch(n) is None


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, REDACTED if is_secret(k) else v) for k, v in headers]


_USERINFO = re.compile(r"(?<=://)[^/@?#]+@")
_PARAM = re.compile(r"([?&])([^&#=]*)=([^&#]*)")


def redact_url(url: str) -> str:
    """``url`` without credentials: no userinfo, and every secret query parameter's value
    redacted (its name kept)."""
    if "@" in url:
        url = _USERINFO.sub("", url, count=1)
    if "=" not in url:
        return url
    return _PARAM.sub(_redact_param, url)


def _redact_param(m: re.Match[str]) -> str:
    name = unquote(m.group(2))
    if not is_secret(name):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}={REDACTED}"
