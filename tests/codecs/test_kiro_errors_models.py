"""Kiro errors -> IR -> the client's dialect (recorder/codecs/kiro_errors.py), and Kiro model
names (recorder/codecs/kiro_models.py)."""

from __future__ import annotations

import anthropic as anthropic_sdk
import pytest

from recorder.codecs import anthropic, kiro, openai
from recorder.codecs.kiro_models import estimate_tokens, normalize, resolve
from tests.sdk import anthropic_error
from tests.sdk_openai import openai_error


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (
            400,
            {"message": "Improperly formed request.", "reason": None},
            "invalid_request",
            "Kiro: Improperly formed request.",
        ),
        (
            400,
            {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"},
            "invalid_request",
            "prompt is too long for Kiro: Input is too long."
            " (reason: CONTENT_LENGTH_EXCEEDS_THRESHOLD)",
        ),
        (
            402,
            {"message": "You have reached the limit.", "reason": "MONTHLY_REQUEST_COUNT"},
            "billing",
            "Kiro: You have reached the limit. (reason: MONTHLY_REQUEST_COUNT)",
        ),
        (
            400,
            {"message": "Invalid model.", "reason": "INVALID_MODEL_ID"},
            "not_found",
            "Kiro: Invalid model. (reason: INVALID_MODEL_ID)",
        ),
        (
            403,
            {"message": "The bearer token included in the request is invalid.", "reason": None},
            "authentication",
            "Kiro: The bearer token included in the request is invalid.",
        ),
        (403, {"message": "profile is not allowed"}, "permission", "Kiro: profile is not allowed"),
        (
            400,
            {
                "__type": "com.amazon.aws.codewhisperer#ThrottlingException",
                "message": "Rate exceeded",
            },
            "rate_limit",
            "Kiro: Rate exceeded (reason: ThrottlingException)",
        ),
        (
            402,
            {"message": "quota", "error": {"reason": "MONTHLY_REQUEST_COUNT"}},
            "billing",
            "Kiro: quota (reason: MONTHLY_REQUEST_COUNT)",
        ),
        (502, b"<html>bad gateway</html>", "bad_gateway", "Kiro: <html>bad gateway</html>"),
        (500, b"", "api_error", "Kiro: HTTP 500"),
    ],
)
def test_error_to_ir(status: int, body: object, kind: str, says: str) -> None:
    err = kiro.error_to_ir(status, body)
    assert (err.kind, err.message) == (kind, says)


def test_errors_reach_the_sdks_in_their_dialect() -> None:
    too_long = kiro.error_to_ir(
        400, {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
    )
    e = anthropic_error(*anthropic.error_from_ir(too_long))
    assert isinstance(e, anthropic_sdk.BadRequestError) and "prompt is too long" in str(e)
    quota = kiro.error_to_ir(402, {"message": "limit", "reason": "MONTHLY_REQUEST_COUNT"})
    o = openai_error(*openai.error_from_ir(quota))
    assert o.status_code == 402 and "MONTHLY_REQUEST_COUNT" in str(o)


def test_error_from_ir_is_kiro_shaped() -> None:
    err = kiro.error_to_ir(
        400, {"message": "Input is too long.", "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"}
    )
    assert kiro.error_from_ir(err) == (
        400,
        {"message": err.message, "reason": "CONTENT_LENGTH_EXCEEDS_THRESHOLD"},
    )


@pytest.mark.parametrize(
    ("name", "kiro_id"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4.5"),
        ("claude-sonnet-4-5", "claude-sonnet-4.5"),
        ("claude-opus-4-6[1m]", "claude-opus-4.6"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4.5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-7-sonnet-20250219", "claude-3.7-sonnet"),
        ("claude-sonnet-4.5-20250929", "claude-sonnet-4.5"),
        ("claude-4.5-opus-high", "claude-opus-4.5"),
        ("claude-opus-4-6-thinking", "claude-opus-4.6"),
        ("Claude-Sonnet-4.5", "claude-sonnet-4.5"),
        ("claude-3.7-sonnet", "claude-3.7-sonnet"),
        ("auto", "auto"),
        ("claude-sonnet-5", "claude-sonnet-5"),
        ("gpt-4o", "gpt-4o"),
        ("Qwen3:8B", "Qwen3:8B"),
    ],
)
def test_normalize(name: str, kiro_id: str) -> None:
    assert normalize(name) == kiro_id


def test_resolve_order() -> None:
    assert resolve("auto-kiro", aliases={"auto-kiro": "auto"}).how == "alias"
    assert resolve("claude-sonnet-4-5", known={"claude-sonnet-4-5"}).wire == "claude-sonnet-4-5"
    assert resolve("claude-sonnet-4-5", known={"claude-sonnet-4.5"}).wire == "claude-sonnet-4.5"
    r = resolve("mystery-model", known={"auto"})
    assert (r.wire, r.how) == ("mystery-model", "as is")  # never silently replaced by auto


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("日本語") == 2
