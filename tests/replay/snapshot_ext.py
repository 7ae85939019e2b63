"""A syrupy extension for replayed client legs: one JSON file per cassette interaction.

The file reads top-down like the exchange it guards::

    {
      "client_dialect": "anthropic",
      "upstream_dialect": "openai",
      "status": 200,
      "events": [                       # or "body": {...} for a JSON answer
        {"event": "message_start", "data": {...}},
        ...

Bodies and event data keep their keys sorted (so a re-ordering in a codec is no diff), while the
header fields and each event's ``event`` come first (so a diff hunk says where it is). Values that
change with the clock or per upstream deployment are replaced by a ``<key>`` placeholder rather
than dropped, so the snapshot still shows that the field is sent.
"""

from __future__ import annotations

import difflib
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from syrupy.extensions.json import JSONSnapshotExtension

if TYPE_CHECKING:
    from syrupy.types import (
        PropertyFilter,
        PropertyMatcher,
        PropertyPath,
        SerializableData,
        SerializedData,
    )

# Keys whose values are per run (the gateway's clock) or per upstream deployment. Ids need no
# entry: the replay seeds its id factory like the gateway did, so minted ids are reproducible.
VOLATILE_KEYS = frozenset({"created", "created_at", "date", "obfuscation", "system_fingerprint"})


def volatile_matcher(*, data: SerializableData, path: PropertyPath) -> SerializableData:
    """A syrupy matcher: the value of a volatile key becomes ``"<key>"`` (null stays null)."""
    if path and data is not None:
        key = path[-1][0]
        if isinstance(key, str) and key in VOLATILE_KEYS:
            return f"<{key}>"
    return data


def client_leg(
    client_dialect: str | None, upstream_dialect: str | None, response: dict[str, Any]
) -> OrderedDict[str, Any]:
    """The snapshot document for one replayed response (``{"status", "body"|"events"}``, as
    :func:`replay.verify.replay_response` gives it)."""
    doc: OrderedDict[str, Any] = OrderedDict(
        client_dialect=client_dialect, upstream_dialect=upstream_dialect, status=response["status"]
    )
    if "events" in response:
        doc["events"] = [OrderedDict(event=e["event"], data=e["data"]) for e in response["events"]]
    else:
        doc["body"] = response.get("body")
    return doc


class ClientLegSnapshotExtension(JSONSnapshotExtension):
    """JSON, indent 2, one file per snapshot, volatile values always masked (a test cannot forget
    to pass the matcher); a caller's own matcher still runs after ours. Mismatches are shown as
    a plain unified diff, which stays readable in CI logs and in an assertion message."""

    def diff_lines(
        self, serialized_data: SerializedData, snapshot_data: SerializedData
    ) -> Iterator[str]:
        want, got = (_text(d).splitlines() for d in (snapshot_data, serialized_data))
        yield from difflib.unified_diff(want, got, "snapshot", "replayed now", n=4, lineterm="")

    def serialize(
        self,
        data: SerializableData,
        *,
        exclude: PropertyFilter | None = None,
        include: PropertyFilter | None = None,
        matcher: PropertyMatcher | None = None,
    ) -> SerializedData:
        def both(*, data: SerializableData, path: PropertyPath) -> SerializableData:
            masked = volatile_matcher(data=data, path=path)
            return masked if matcher is None else matcher(data=masked, path=path)

        return super().serialize(data, exclude=exclude, include=include, matcher=both)


def _text(data: SerializedData) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data
