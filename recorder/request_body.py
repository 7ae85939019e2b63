"""A request body the gateway reads, within its limits (``gateway_max_body``,
``gateway_max_json_depth``). Pure: bytes in, the JSON object or the refusal out.

Everything the gateway accepts, the recorder can store and the codecs can translate, so a body
is refused, with an error in the client's dialect naming the limit, when it is:

* larger than ``gateway_max_body`` (413 ``request_too_large``), announced or decoded;
* not decodable with its ``content-encoding``, not UTF-8 (JSON on the wire is UTF-8 only,
  RFC 8259 §8.1: anything else is a client bug, and a lone surrogate *byte sequence* would
  reach the record as text no encoder takes), not JSON, not an object (400);
* nested deeper than ``gateway_max_json_depth`` (400): Python's JSON reader gives up at about
  1,500 levels, and the codecs, pydantic and the writer would each meet their own limit before.

A JSON string holding an escaped lone surrogate (``"\\udfff"``) is valid JSON and accepted; the
recorder stores it with the surrogate replaced (:mod:`recorder.safejson`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recorder import dialects, ir
from recorder.codecs.responses_history import Turn
from recorder.context import Context
from recorder.safejson import nests_deeper
from recorder.translate import translate_request


@dataclass(frozen=True, slots=True)
class Refused:
    kind: ir.ErrorKind
    message: str


def too_large(size: int, limit: int, what: str = "request body") -> Refused:
    return Refused(
        "request_too_large",
        f"{what} is {size:,} bytes, over this gateway's limit of {limit:,} (gateway_max_body)",
    )


def read_json(raw: bytes, decode: Any, max_body: int, max_depth: int) -> dict[str, Any] | Refused:
    """The JSON object of a request body. ``raw`` is the body as received; ``decode()`` returns
    it decoded by its content-encoding (mitmproxy's ``get_content``: ValueError when it cannot)."""
    if len(raw) > max_body:
        return too_large(len(raw), max_body)
    try:
        content: bytes = decode() or b""
    except ValueError as e:
        return Refused("invalid_request", f"request body cannot be decoded: {e}")
    if len(content) > max_body:
        return too_large(len(content), max_body, "decoded request body")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as e:
        return Refused(
            "invalid_request",
            f"request body is not valid UTF-8 (byte {e.start}: {e.reason}); JSON must be UTF-8",
        )
    deep = Refused(
        "invalid_request",
        f"request body nests deeper than {max_depth} levels (gateway_max_json_depth)",
    )
    try:
        body = json.loads(text)
    except RecursionError:
        return deep
    except ValueError as e:
        return Refused("invalid_request", f"body is not valid JSON: {e}")
    if not isinstance(body, dict):
        return Refused("invalid_request", "body must be a JSON object")
    if nests_deeper(content, max_depth):
        return deep
    return body


def continues(body: dict[str, Any], client: ir.Dialect) -> str | None:
    """The id of the earlier answer ``body`` continues, for a client dialect whose answers
    are referred to by id (the registry's ``stored`` recipe); None otherwise."""
    recipe = dialects.entry(client).stored
    return None if recipe is None else recipe.continues(body)


def rewrite(
    body: dict[str, Any],
    sent: str | None,
    asked: str | None,
    ctx: Context,
    turns: dict[str, Turn] | None = None,
) -> bytes | None:
    """The body the upstream gets: translated into ``ctx.upstream``'s dialect (filling ``ctx``),
    with the conversation the recorded ``turns`` stand for written out when it continues one,
    or for the client's own dialect only renamed to the ``sent`` model; None when the client's
    bytes can go as they are. TranslationError when it cannot be translated."""
    if ctx.client == ctx.upstream:
        if sent != asked and sent is not None:
            return json.dumps(body | {"model": sent}).encode()
        return None
    recipe = dialects.entry(ctx.client).stored
    if turns is not None and recipe is not None:
        body = recipe.expand(body, turns.get)
    if sent is not None:
        body["model"] = sent
    return json.dumps(translate_request(body, ctx)).encode()
