"""The request rules the fake Kiro upstream enforces, written from research/kiro.md (§2, §7.1)
independently of the codec, so that the fake judges what the codec sends.

Real Kiro answers most violations with ``400 {"message": "Improperly formed request.",
"reason": null}`` and never says which rule broke. The fake answers the same status and body
shape but names the rule in ``message`` (after Kiro's own sentence), so a test can tell which
rule it hit and a client sees a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

IMPROPER = "Improperly formed request."
IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})


@dataclass(frozen=True, slots=True)
class Violation:
    status: int
    reason: str | None
    message: str
    rule: str  # short name, for tests

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 1_250_000
    tool_name_max: int = 64
    tool_description_max: int = 10_240


def improper(rule: str, detail: str) -> Violation:
    return Violation(400, None, f"{IMPROPER} [fake: {rule}: {detail}]", rule)


def check(raw: bytes, models: frozenset[str], limits: Limits = Limits()) -> Violation | None:
    """The first rule ``raw`` (the request body) breaks, or None."""
    if len(raw) > limits.max_body_bytes:
        return Violation(400, "CONTENT_LENGTH_EXCEEDS_THRESHOLD", "Input is too long.", "size")
    try:
        body = json.loads(raw)
    except ValueError:
        return improper("json", "body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("conversationState"), dict):
        return improper("shape", "no conversationState")
    if (null := _find_null(body, "")) is not None:
        return improper("null", f"null value at {null}")
    state = body["conversationState"]
    if state.get("chatTriggerType") != "MANUAL":
        return improper("trigger", f"chatTriggerType {state.get('chatTriggerType')!r}")
    current = (state.get("currentMessage") or {}).get("userInputMessage")
    if not isinstance(current, dict):
        return improper("current", "currentMessage.userInputMessage missing")
    history = state.get("history", [])
    if history == []:
        if "history" in state:
            return improper("history", "empty history array (omit it instead)")
    if not isinstance(history, list):
        return improper("history", "history is not a list")
    items: list[tuple[str, dict[str, Any]]] = []
    for i, item in enumerate(history):
        if not isinstance(item, dict) or len(item) != 1:
            return improper("history", f"history[{i}] needs exactly one key")
        ((key, msg),) = item.items()
        if key not in ("userInputMessage", "assistantResponseMessage") or not isinstance(msg, dict):
            return improper("history", f"history[{i}] has {key!r}")
        items.append(("user" if key == "userInputMessage" else "assistant", msg))
    items.append(("user", current))
    if items[0][0] != "user":
        return improper("first-user", "conversation starts with the assistant")
    for i in range(1, len(items)):
        if items[i][0] == items[i - 1][0]:
            return improper("alternation", f"two {items[i][0]} messages in a row at {i}")
    for i, (role, msg) in enumerate(items):
        content = msg.get("content")
        if not isinstance(content, str) or not content.strip():
            return improper("empty-content", f"message {i} ({role}) has empty content")
        if role == "user":
            if not msg.get("modelId"):
                return improper("model", f"message {i} has no modelId")
            if (v := _check_images(msg.get("images"), i)) is not None:
                return v
    ctx = current.get("userInputMessageContext") or {}
    tools = ctx.get("tools") or []
    names: set[str] = set()
    for j, t in enumerate(tools):
        if (v := _check_tool(t, j, limits)) is not None:
            return v
        names.add(t["toolSpecification"]["name"].lower())
    if (v := _check_pairing(items, names)) is not None:
        return v
    if current["modelId"] not in models:
        return Violation(
            400,
            "INVALID_MODEL_ID",
            "Invalid model. Please select a different model to continue.",
            "model-id",
        )
    return None


_DATA_KEYS = frozenset({"input", "json"})


def _find_null(value: Any, path: str) -> str | None:
    if value is None:
        return path or "<body>"
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _DATA_KEYS:
                continue  # tool inputs and schemas are data: null is a value there
            if (found := _find_null(v, f"{path}.{k}")) is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if (found := _find_null(v, f"{path}[{i}]")) is not None:
                return found
    return None


def _check_images(images: Any, i: int) -> Violation | None:
    if images is None:
        return None
    if not isinstance(images, list) or not images:
        return improper("images", f"message {i}: images must be a non-empty list")
    for img in images:
        src = (img or {}).get("source") or {}
        data = src.get("bytes")
        if img.get("format") not in IMAGE_FORMATS:
            return improper("images", f"message {i}: image format {img.get('format')!r}")
        if not isinstance(data, str) or not data or data.startswith("data:"):
            return improper("images", f"message {i}: image bytes must be bare base64")
    return None


def _check_tool(t: Any, j: int, limits: Limits) -> Violation | None:
    spec = (t or {}).get("toolSpecification") if isinstance(t, dict) else None
    if not isinstance(spec, dict) or set(t) != {"toolSpecification"}:
        return improper("tool-shape", f"tools[{j}] is not {{toolSpecification}} (cachePoint?)")
    name, desc = spec.get("name"), spec.get("description")
    if not isinstance(name, str) or not name or len(name) > limits.tool_name_max:
        return improper("tool-name", f"tools[{j}] name {name!r} is empty or too long")
    if not isinstance(desc, str) or not desc.strip():
        return improper("tool-description", f"tools[{j}] has an empty description")
    if len(desc) > limits.tool_description_max:
        return improper("tool-description", f"tools[{j}] description is {len(desc)} chars")
    schema = (spec.get("inputSchema") or {}).get("json")
    if not isinstance(schema, dict):
        return improper("tool-schema", f"tools[{j}] has no inputSchema.json object")
    if (bad := _schema_problem(schema, f"tools[{j}]")) is not None:
        return improper("tool-schema", bad)
    return None


def _schema_problem(schema: Any, path: str) -> str | None:
    if isinstance(schema, list):
        for i, s in enumerate(schema):
            if (bad := _schema_problem(s, f"{path}[{i}]")) is not None:
                return bad
        return None
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key == "additionalProperties":
            return f"{path}: additionalProperties"
        if key == "required" and value == []:
            return f"{path}: empty required"
        if key in ("enum", "const", "default", "examples", "required"):
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties"):
            if isinstance(value, dict):
                for name, sub in value.items():
                    if (bad := _schema_problem(sub, f"{path}.{key}.{name}")) is not None:
                        return bad
            continue
        if (bad := _schema_problem(value, f"{path}.{key}")) is not None:
            return bad
    return None


def _check_pairing(items: list[tuple[str, dict[str, Any]]], names: set[str]) -> Violation | None:
    any_results = False
    for i, (role, msg) in enumerate(items):
        if role == "assistant":
            uses = msg.get("toolUses") or []
            ids = [u.get("toolUseId") for u in uses]
            if len(set(ids)) != len(ids):
                return improper("tool-use-dup", f"message {i} repeats a toolUseId")
            for u in uses:
                if not isinstance(u.get("input"), dict):
                    return improper("tool-input", f"message {i}: toolUse input is not an object")
                if "" in u["input"]:
                    return improper("tool-input", f"message {i}: empty key in toolUse input")
                if str(u.get("name", "")).lower() not in names:
                    return improper("tool-undefined", f"message {i}: tool {u.get('name')!r}")
            answered = (
                [
                    r.get("toolUseId")
                    for r in (
                        (items[i + 1][1].get("userInputMessageContext") or {}).get("toolResults")
                        or []
                    )
                ]
                if i + 1 < len(items)
                else []
            )
            for tid in ids:
                if tid not in answered:
                    return improper("orphan-tool-use", f"message {i}: {tid} has no result")
        else:
            results = (msg.get("userInputMessageContext") or {}).get("toolResults") or []
            if not results:
                continue
            any_results = True
            before = items[i - 1][1].get("toolUses") or [] if i > 0 else []
            asked = {u.get("toolUseId") for u in before}
            seen: set[str] = set()
            for r in results:
                tid = r.get("toolUseId")
                if tid in seen:
                    return improper("tool-result-dup", f"message {i}: {tid} answered twice")
                seen.add(tid)
                if tid not in asked:
                    return improper("orphan-tool-result", f"message {i}: {tid} was not asked")
                content = r.get("content")
                if not isinstance(content, list) or not content:
                    return improper("tool-result", f"message {i}: {tid} has no content")
                if r.get("status") not in ("success", "error"):
                    return improper("tool-result", f"message {i}: status {r.get('status')!r}")
    if any_results and not names:
        return improper("results-without-tools", "toolResults but no tools defined")
    return None
