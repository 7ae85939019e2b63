"""Split inline ``<think>…</think>`` reasoning out of assistant text, incrementally.

Some OpenAI-compatible servers (llama.cpp, Ollama, vLLM without a reasoning parser) stream a
reasoning model's thoughts as ordinary ``content`` wrapped in ``<think>`` or ``<thinking>``
tags. The tags can be split across chunks (``"<thi"`` + ``"nk>"``), so the splitter holds back
any suffix that could still become a tag and releases it once it cannot.

Choices (why): the opening tag is only recognised at the very start of the content (after
whitespace), because a tag later in an answer is far more likely to be the model *talking about*
tags (code, XML) than reasoning. Whitespace right after the opening tag and right after the
closing tag is dropped: templates put ``"\\n"`` / ``"\\n\\n"`` there and an Anthropic client would
otherwise get a whitespace-only thinking block or an answer starting with blank lines. An orphan
closing tag (template-injected opening tag) is left as text: detecting it would mean buffering
the whole answer, which defeats streaming. An unclosed ``<think>`` stays thinking to the end.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["thinking", "text"]
Segment = tuple[Kind, str]

OPEN_TAGS: tuple[str, ...] = ("<think>", "<thinking>")
_LONGEST_OPEN = max(len(t) for t in OPEN_TAGS)

# States: "start" (before any non-whitespace), "lead" (inside thinking, before its first
# non-whitespace), "thinking", "gap" (after the closing tag, before the answer's first
# non-whitespace), "text" (pass-through for good).
_State = Literal["start", "lead", "thinking", "gap", "text"]


class ThinkTagSplitter:
    """``push(text)`` returns the segments that are certain so far; ``flush()`` the rest."""

    __slots__ = ("_state", "_buf", "_close", "in_text")

    def __init__(self) -> None:
        self._state: _State = "start"
        self._buf = ""  # held-back text whose meaning is not yet known
        self._close = ""  # the closing tag that matches the opening tag seen
        # True once everything further is plain text (state "text", which is final). An
        # attribute, not a property: the per-chunk fast paths read it.
        self.in_text = False

    def _to_text(self) -> None:
        self._state = "text"
        self.in_text = True

    def push(self, text: str) -> list[Segment]:
        if self._state == "text":
            return [("text", text)] if text else []
        out: list[Segment] = []
        self._buf += text
        while self._buf:
            progressed = self._step(out)
            if not progressed:
                break
        return out

    def flush(self) -> list[Segment]:
        """End of the content (or another part starts): release what is held back."""
        buf, self._buf = self._buf, ""
        out: list[Segment] = []
        if self._state == "start":
            self._to_text()
            if buf:
                out.append(("text", buf))
        elif self._state == "thinking" and buf:
            out.append(("thinking", buf))
        return out

    # ------------------------------------------------------------------ one transition

    def _step(self, out: list[Segment]) -> bool:
        """Consume a prefix of ``_buf``; False when more input is needed to decide."""
        buf = self._buf
        if self._state == "start":
            body = buf.lstrip()
            if not body:
                return False  # whitespace only: could still precede a tag
            for tag in OPEN_TAGS:
                if body.startswith(tag):
                    self._state, self._close = "lead", "</" + tag[1:]
                    self._buf = body[len(tag) :]
                    return True
            if len(body) < _LONGEST_OPEN and any(t.startswith(body) for t in OPEN_TAGS):
                return False  # "<thi": wait for the rest
            self._to_text()
            self._buf = ""
            out.append(("text", buf))
            return True
        if self._state in ("lead", "gap"):
            body = buf.lstrip()
            if not body:
                self._buf = ""
                return False
            self._buf = body
            if self._state == "lead":
                self._state = "thinking"
            else:
                self._to_text()
            return True
        if self._state == "thinking":
            at = buf.find(self._close)
            if at >= 0:
                if buf[:at]:
                    out.append(("thinking", buf[:at]))
                self._state, self._buf = "gap", buf[at + len(self._close) :]
                return True
            keep = _partial_suffix(buf, self._close)
            if len(buf) > keep:
                out.append(("thinking", buf[: len(buf) - keep]))
            self._buf = buf[len(buf) - keep :]
            return False
        # "text"
        out.append(("text", buf))
        self._buf = ""
        return True


def _partial_suffix(buf: str, tag: str) -> int:
    """Length of the longest suffix of ``buf`` that is a proper prefix of ``tag``."""
    for n in range(min(len(buf), len(tag) - 1), 0, -1):
        if tag.startswith(buf[-n:]):
            return n
    return 0


def split_think_tags(text: str) -> list[Segment]:
    """A whole (non-streamed) content string as merged segments."""
    s = ThinkTagSplitter()
    return merge(s.push(text) + s.flush())


def merge(segments: list[Segment]) -> list[Segment]:
    """Adjacent segments of the same kind joined; empty ones dropped."""
    out: list[Segment] = []
    for kind, text in segments:
        if not text:
            continue
        if out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text))
    return out
