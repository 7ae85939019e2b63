"""Kiro's gateway options (``kiro_*``): declared by every gateway at start (the dialect registry
names this module), so it loads nothing of the backend (:mod:`recorder.kiro.backend`)."""

from __future__ import annotations

from recorder.codecs.kiro_settings import DEFAULT_SETTINGS
from recorder.kiro.endpoint import DEFAULT_GENERATION, GENERATIONS

OPTIONS: list[tuple[str, type, object, str]] = [
    (
        "kiro_credentials",
        str,
        "",
        "Kiro credentials: a Kiro IDE token file (~/.aws/sso/cache/kiro-auth-token.json) or the "
        "kiro-cli database (~/.local/share/kiro-cli/data.sqlite3), told apart by content. "
        "Empty: KIRO_REFRESH_TOKEN / KIRO_ACCESS_TOKEN / KIRO_API_KEY (+ KIRO_CLIENT_ID, "
        "KIRO_CLIENT_SECRET, KIRO_PROFILE_ARN, KIRO_REGION) from the environment.",
    ),
    ("kiro_auth_url", str, "", "Kiro token refresh endpoint (default: by login type and region)."),
    (
        "kiro_region",
        str,
        "",
        "Kiro API region (default: the profile ARN's, else eu-central-1 for a European login, "
        "else us-east-1).",
    ),
    ("kiro_profile_arn", str, "", "Kiro profile ARN sent with requests (default: the login's)."),
    (
        "kiro_generation",
        str,
        DEFAULT_GENERATION,
        f"Kiro endpoint generation: {' | '.join(GENERATIONS)} (host, content type, target).",
    ),
    (
        "kiro_max_body",
        int,
        DEFAULT_SETTINGS.max_body_bytes,
        "Largest Kiro request body in bytes (undocumented by Kiro: 1.25 MB seen to pass, 1.3 MB "
        "to fail); beyond it the client gets a 400 naming this limit.",
    ),
    (
        "kiro_thinking",
        bool,
        False,
        "Tag-based reasoning for Kiro: ask for <thinking> in the prompt when the client asks "
        "for thinking, and hand it back as thinking / reasoning_content.",
    ),
]
