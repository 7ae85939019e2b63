"""A fake Kiro upstream on 127.0.0.1, written from research/kiro.md (UNOFFICIAL, like the notes).

It speaks what the reverse-engineered clients describe:

- chat: ``POST /generateAssistantResponse`` (``application/json``) or ``POST /`` with
  ``x-amz-target: AmazonCodeWhispererStreamingService.GenerateAssistantResponse``
  (``application/x-amz-json-1.0``), answered with an AWS event stream
  (``application/vnd.amazon.eventstream``, one frame per HTTP chunk, or split frames);
- models: ``GET /ListAvailableModels?origin=AI_EDITOR`` and ``POST /`` with
  ``x-amz-target: AmazonCodeWhispererService.ListAvailableModels``, paginated by ``nextToken``;
- auth: ``POST /refreshToken`` (Kiro Desktop: ``{"refreshToken"}``) and ``POST /token`` (AWS SSO
  OIDC: ``{"clientId","clientSecret","refreshToken","grantType":"refresh_token"}``) issue
  access tokens with an expiry and rotate refresh tokens; ``expire_tokens()`` (or
  ``POST /_fake/expire``) makes every access token stale, as if an hour had passed.

Every chat request is checked: a bearer token it issued and that has not expired (else 403 "The
bearer token included in the request is invalid."), the profile ARN when ``require_profile_arn``,
then the request rules of :mod:`fakes.kiro_rules` (else 400 naming the rule).

Modes (script queue, ``x-fake-mode`` header, or the default), ``name[:arg]`` joined by ``+``:
``text``; ``tool`` (a call of the request's first tool, or the one :meth:`FakeKiro.script_tool`
chose, arguments in fragments cut mid-string); ``parallel-tools``; ``truncated-tool`` (a tool
call cut off: no ``stop``, no metering); ``truncated-text``; ``echo`` (describes the current
message: text, images, tool results); ``reasoning`` (native reasoningContentEvent);
``nested`` (payloads wrapped in their event name); ``unknown-event``; ``exception:TYPE``;
``corrupt`` (a frame with a bad CRC after the first text); ``error:STATUS[:REASON]``;
``improper:RULE`` (Kiro's 400 "Improperly formed request.", naming RULE);
``split:N`` (write the stream in N-byte chunks); ``gap:MS`` (between frames); ``tokens`` (a
metadataEvent with token counts); ``expire`` (every access token expires after this answer: the
next request meets a 403, as an hour into a session).
When the current message carries ``<thinking_mode>``, the answer starts with a
``<thinking>`` block, as the tag-based reasoning makes real models do.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fakes import kiro_rules
from fakes.upstream import REASONS, FakeUpstream, Received
from recorder.wire.eventstream import encode_message

CHAT_TARGET = "AmazonCodeWhispererStreamingService.GenerateAssistantResponse"
MODELS_TARGET = "AmazonCodeWhispererService.ListAvailableModels"
PROFILE_ARN = "arn:aws:codewhisperer:us-east-1:000000000000:profile/FAKEPROFILE"
BAD_TOKEN = "The bearer token included in the request is invalid."
MODELS = (
    ("auto", 200_000),
    ("claude-sonnet-4.5", 200_000),
    ("claude-sonnet-4", 200_000),
    ("claude-haiku-4.5", 200_000),
    ("claude-opus-4.6", 1_000_000),
)
TEXT = ("Hello", " world", "!")
THINKING = "Let me think about this."
METERING = {"unit": "credit", "unitPlural": "credits", "usage": 0.0123}
CONTEXT = {"contextUsagePercentage": 1.73}
TOKENS = {
    "uncachedInputTokens": 20,
    "cacheReadInputTokens": 100,
    "cacheWriteInputTokens": 0,
    "outputTokens": 7,
    "totalTokens": 127,
}
OIDC_CLIENT = ("fake-client-id", "fake-client-secret")


@dataclass(slots=True)
class KiroMode:
    name: str = "text"
    status: int = 200
    reason: str | None = None
    arg: str = ""
    split: int = 0
    gap_ms: float = 0.0  # between frames (each its own chunk)
    expire: bool = False  # every access token expires once this answer is sent

    @classmethod
    def parse(cls, spec: str) -> KiroMode:
        mode = cls()
        for item in filter(None, (s.strip() for s in spec.split("+"))):
            name, _, arg = item.partition(":")
            if name == "split":
                mode.split = int(arg)
            elif name == "gap":
                mode.gap_ms = float(arg)
            elif name == "expire":
                mode.expire = True
            elif name == "error":
                status, _, reason = arg.partition(":")
                mode.name, mode.status, mode.reason = "error", int(status or 500), reason or None
            else:
                mode.name, mode.arg = name, arg
        return mode


def frame(event_type: str, payload: Any) -> bytes:
    headers = {
        ":event-type": event_type,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_message(headers, json.dumps(payload).encode())


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, json.dumps({"message": message}).encode())


@dataclass
class FakeKiro(FakeUpstream):
    default_mode: str = "text"
    token_ttl: int = 3600
    rotate_refresh_tokens: bool = True
    require_profile_arn: bool = True
    limits: kiro_rules.Limits = field(default_factory=kiro_rules.Limits)
    models_page: int = 2
    refresh_tokens: set[str] = field(default_factory=lambda: {"fake-refresh-1"})
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch)
    refreshes: list[str] = field(default_factory=list)  # "social" / "oidc", one per refresh
    rejected: list[kiro_rules.Violation] = field(default_factory=list)
    _issued: int = 0
    _tool_turns: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)

    # ------------------------------------------------------------------ tokens

    def issue(self) -> tuple[str, str]:
        """A fresh (access token, refresh token) pair, as a refresh would return."""
        self._issued += 1
        access = f"fake-access-{self._issued}"
        refresh = f"fake-refresh-{self._issued + 1}"
        self.access_tokens[access] = time.time() + self.token_ttl
        self.refresh_tokens.add(refresh)
        return access, refresh

    def expire_tokens(self) -> None:
        for token in self.access_tokens:
            self.access_tokens[token] = 0.0

    def script_tool(
        self, name: str, tool_input: dict[str, Any], then: str = "", mode: str = "tool"
    ) -> None:
        """The next model turn calls this tool with this input (``mode``: ``tool``, or
        ``truncated-tool`` to cut it off; ``then``: more mode items, e.g. ``"+expire"``)."""
        self._tool_turns.append((name, tool_input))
        self.script(mode + then)

    def clear(self) -> None:
        super().clear()
        self._tool_turns.clear()
        self.rejected.clear()

    def chat_requests(self) -> list[Received]:
        return [r for r in self.requests if _is_chat(r)]

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        path, _, query = req.path.partition("?")
        if path.startswith("/_fake/"):
            if path == "/_fake/expire":
                self.expire_tokens()
                return await self._send_json(writer, 200, {"ok": True})
            return await self._control(req, path, writer)
        if self.log:
            self.requests.append(req)
        target = req.headers.get("x-amz-target", "")
        if req.method == "POST" and path == "/refreshToken":
            return await self._refresh_social(req, writer)
        if req.method == "POST" and path == "/token":
            return await self._refresh_oidc(req, writer)
        if (req.method == "GET" and path == "/ListAvailableModels") or target == MODELS_TARGET:
            return await self._models(req, query, writer)
        if _is_chat(req):
            return await self._chat(req, writer)
        return await self._send_json(
            writer, 400, {"__type": "UnknownOperationException", "message": f"{req.method} {path}"}
        )

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, payload: Any) -> bool:
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n"
            f"x-amzn-requestid: fake-request\r\n\r\n".encode()
            + data
        )
        if self.log:
            self.sent.append(data)
        await writer.drain()
        return True

    # ------------------------------------------------------------------ auth

    async def _refresh_social(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        body = _json(req.body)
        token = body.get("refreshToken")
        if token not in self.refresh_tokens:
            err = {"error": "invalid_grant", "error_description": "Invalid refresh token provided"}
            return await self._send_json(writer, 400, err)
        self.refreshes.append("social")
        access, refresh = self._rotate(token)
        out = {"accessToken": access, "refreshToken": refresh, "expiresIn": self.token_ttl}
        out["profileArn"] = PROFILE_ARN
        return await self._send_json(writer, 200, out)

    async def _refresh_oidc(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        body = _json(req.body)
        if body.get("grantType") != "refresh_token" or "grant_type" in body:
            err = {"error": "invalid_request", "error_description": "grantType refresh_token"}
            return await self._send_json(writer, 400, err)
        if (body.get("clientId"), body.get("clientSecret")) != OIDC_CLIENT:
            err = {"error": "invalid_client", "error_description": "Invalid client"}
            return await self._send_json(writer, 401, err)
        token = body.get("refreshToken")
        if token not in self.refresh_tokens:
            err = {"error": "invalid_grant", "error_description": "Invalid refresh token provided"}
            return await self._send_json(writer, 400, err)
        self.refreshes.append("oidc")
        access, refresh = self._rotate(token)
        out = {
            "accessToken": access,
            "refreshToken": refresh,
            "expiresIn": self.token_ttl,
            "tokenType": "Bearer",
        }
        return await self._send_json(writer, 200, out)

    def _rotate(self, used: str) -> tuple[str, str]:
        access, refresh = self.issue()
        if self.rotate_refresh_tokens:
            self.refresh_tokens.discard(used)
        else:
            self.refresh_tokens.discard(refresh)
            refresh = used
        return access, refresh

    def _authorised(self, req: Received) -> bool:
        auth = req.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        return auth.startswith("Bearer ") and self.access_tokens.get(token, 0.0) > time.time()

    # ------------------------------------------------------------------ models

    async def _models(self, req: Received, query: str, writer: asyncio.StreamWriter) -> bool:
        if not self._authorised(req):
            return await self._send_json(writer, 403, {"message": BAD_TOKEN, "reason": None})
        if req.method == "GET":
            q = {k: v[0] for k, v in parse_qs(query).items()}
        else:
            q = _json(req.body)
        start = int(q.get("nextToken") or 0)
        page = MODELS[start : start + self.models_page]
        out: dict[str, Any] = {
            "defaultModel": {"modelId": "auto"},
            "models": [
                {
                    "modelId": mid,
                    "modelName": mid,
                    "description": f"fake {mid}",
                    "supportedInputTypes": ["TEXT", "IMAGE"],
                    "tokenLimits": {"maxInputTokens": window, "maxOutputTokens": 32_000},
                    "rateMultiplier": 1.0,
                    "rateUnit": "Credit",
                }
                for mid, window in page
            ],
        }
        if start + self.models_page < len(MODELS):
            out["nextToken"] = str(start + self.models_page)
        return await self._send_json(writer, 200, out)

    # ------------------------------------------------------------------ chat

    async def _chat(self, req: Received, writer: asyncio.StreamWriter) -> bool:
        spec = self._queue.popleft() if self._queue else req.headers.get("x-fake-mode")
        mode = KiroMode.parse(spec or self.default_mode)
        if not self._authorised(req):
            return await self._send_json(writer, 403, {"message": BAD_TOKEN, "reason": None})
        if mode.name == "error":
            body = {"message": f"fake Kiro error {mode.status}", "reason": mode.reason}
            return await self._send_json(writer, mode.status, body)
        if mode.name == "improper":  # Kiro's catch-all refusal, as if rule ``arg`` broke
            problem = kiro_rules.improper(mode.arg or "scripted", "refused on purpose")
            self.rejected.append(problem)
            return await self._send_json(writer, problem.status, problem.body())
        problem = self._check_envelope(req)
        if problem is None:
            models = frozenset(m for m, _ in MODELS)
            problem = kiro_rules.check(req.body, models, self.limits)
        if problem is not None:
            self.rejected.append(problem)
            return await self._send_json(writer, problem.status, problem.body())
        body = json.loads(req.body)
        frames = self._answer(mode, body)
        keep = await self._stream(writer, frames, mode)
        if mode.expire:
            self.expire_tokens()
        return keep

    def _check_envelope(self, req: Received) -> kiro_rules.Violation | None:
        ctype = req.headers.get("content-type", "")
        target = req.headers.get("x-amz-target")
        if target is not None and not ctype.startswith("application/x-amz-json-1.0"):
            return kiro_rules.improper("content-type", f"{ctype!r} with x-amz-target")
        if target is None and not ctype.startswith("application/json"):
            return kiro_rules.improper("content-type", f"{ctype!r}")
        if self.require_profile_arn:
            arn = _json(req.body).get("profileArn")
            if arn != PROFILE_ARN:
                return kiro_rules.Violation(
                    400, None, "profileArn is required for this request.", "profile-arn"
                )
        return None

    def _answer(self, mode: KiroMode, body: dict[str, Any]) -> list[bytes]:
        current = body["conversationState"]["currentMessage"]["userInputMessage"]
        ctx = current.get("userInputMessageContext") or {}
        tools = [t["toolSpecification"]["name"] for t in ctx.get("tools") or []]
        wrap = mode.name == "nested"
        out: list[bytes] = []

        def ev(event_type: str, payload: dict[str, Any]) -> None:
            out.append(frame(event_type, {event_type: payload} if wrap else payload))

        if mode.name == "reasoning":
            ev("reasoningContentEvent", {"text": THINKING})
            ev("reasoningContentEvent", {"signature": "fake-signature"})
        elif "<thinking_mode>" in current["content"]:
            ev("assistantResponseEvent", {"content": "<thin"})
            ev("assistantResponseEvent", {"content": f"king>{THINKING}</thinking>\n\n"})
        texts = _echo(current) if mode.name == "echo" else TEXT
        for t in texts:
            ev("assistantResponseEvent", {"content": t})
        if mode.name == "unknown-event":
            ev("someFutureEvent", {"whatever": 1})
        if mode.name == "corrupt":
            bad = bytearray(frame("assistantResponseEvent", {"content": "lost"}))
            bad[-1] ^= 0xFF
            out.append(bytes(bad))
            return out
        if mode.name == "exception":
            out.append(exception_frame(mode.arg or "ThrottlingException", "fake exception"))
            return out
        if mode.name in ("tool", "truncated-tool", "parallel-tools"):
            calls = self._calls(mode, tools)
            for n, (name, tool_input) in enumerate(calls, start=1):
                tool_id = f"tooluse_fake{n:02d}"
                args = json.dumps(tool_input)
                cuts = [0, len(args) // 3, 2 * len(args) // 3, len(args)]
                ev("toolUseEvent", {"name": name, "toolUseId": tool_id, "input": ""})
                for a, b in zip(cuts, cuts[1:], strict=False):
                    ev("toolUseEvent", {"name": name, "toolUseId": tool_id, "input": args[a:b]})
                if mode.name == "truncated-tool":
                    out.pop()  # the last fragment never came either
                    return out
                ev("toolUseEvent", {"name": name, "toolUseId": tool_id, "stop": True})
        if mode.name == "truncated-text":
            return out
        if mode.name == "tokens":
            ev("metadataEvent", {"tokenUsage": TOKENS})
        ev("meteringEvent", METERING)
        ev("contextUsageEvent", CONTEXT)
        return out

    def _calls(self, mode: KiroMode, tools: list[str]) -> list[tuple[str, dict[str, Any]]]:
        if mode.name in ("tool", "truncated-tool") and self._tool_turns:
            return [self._tool_turns.popleft()]
        names = tools or ["get_weather"]
        if mode.name == "parallel-tools":
            return [
                (names[0], {"city": "Paris"}),
                (names[min(1, len(names) - 1)], {"city": "Tokyo"}),
            ]
        return [(names[0], {"city": "Paris", "note": "x" * 60})]

    async def _stream(
        self, writer: asyncio.StreamWriter, frames: list[bytes], mode: KiroMode
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\n"
            b"x-amzn-requestid: fake-request\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        data = b"".join(frames)
        if mode.split:
            pieces = [data[i : i + mode.split] for i in range(0, len(data), mode.split)]
        else:
            pieces = frames
        for i, piece in enumerate(pieces):
            if mode.gap_ms and i:
                await asyncio.sleep(mode.gap_ms / 1000)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        if self.log:
            self.sent.append(data)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _is_chat(req: Received) -> bool:
    path = req.path.partition("?")[0]
    target = req.headers.get("x-amz-target")
    return req.method == "POST" and (
        path == "/generateAssistantResponse" or (path == "/" and target == CHAT_TARGET)
    )


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _echo(current: dict[str, Any]) -> tuple[str, ...]:
    parts = [f"text {json.dumps(current['content'])}"]
    for img in current.get("images") or []:
        parts.append(f"image {img['format']} {len(img['source']['bytes'])} b64 chars")
    ctx = current.get("userInputMessageContext") or {}
    for r in ctx.get("toolResults") or []:
        parts.append(f"tool_result {r['toolUseId']}: {json.dumps(r['content'][0].get('text'))}")
    text = "Echo: " + "; ".join(parts)
    third = max(1, len(text) // 3)
    return (text[:third], text[third : 2 * third], text[2 * third :])
