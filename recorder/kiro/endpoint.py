"""Where Kiro is and how a request to it looks: endpoint generations, regions, headers.

UNOFFICIAL (research/kiro.md §1): three generations of the service have existed. Each is a row
of :data:`GENERATIONS` (chat URL, content type, target header, model-list call), so a change on
the vendor's side is a configuration change. The default is the current one (``runtime``).

The API region is, first match wins: the configured ``kiro_region``; the region field of the
profile ARN (``arn:aws:codewhisperer:REGION:...``); the credential's own region mapped to a
region the API is deployed in (Europe -> eu-central-1, everything else -> us-east-1).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:  # the gateway reads GENERATIONS at start (kiro_generation); sqlite3 can wait
    from recorder.kiro.credentials import Credential

API_REGIONS: Final = ("us-east-1", "eu-central-1")
KIRO_VERSION: Final = "0.11.63"
SDK_VERSION: Final = "1.0.34"


@dataclass(frozen=True, slots=True)
class Generation:
    name: str
    chat_url: str  # template: {region}
    content_type: str
    target: str | None  # x-amz-target of the chat call (AWS JSON 1.0 protocol)
    models_url: str
    models_method: Literal["GET", "POST"]
    models_target: str | None
    origin: str  # the ``origin`` of model-list calls


GENERATIONS: Final[dict[str, Generation]] = {
    # 2026-05 onward: runtime.* (inference) and management.* (model list), AWS JSON 1.0
    "runtime": Generation(
        "runtime",
        "https://runtime.{region}.kiro.dev/generateAssistantResponse",
        "application/x-amz-json-1.0",
        "AmazonCodeWhispererStreamingService.GenerateAssistantResponse",
        "https://management.{region}.kiro.dev/",
        "POST",
        "AmazonCodeWhispererService.ListAvailableModels",
        "AI_EDITOR",
    ),
    # early-mid 2026: the Kiro IDE surface on q.{region}.amazonaws.com
    "q": Generation(
        "q",
        "https://q.{region}.amazonaws.com/generateAssistantResponse",
        "application/json",
        None,
        "https://q.{region}.amazonaws.com/ListAvailableModels",
        "GET",
        None,
        "AI_EDITOR",
    ),
    # 2025: CodeWhisperer, us-east-1 only
    "codewhisperer": Generation(
        "codewhisperer",
        "https://codewhisperer.us-east-1.amazonaws.com/generateAssistantResponse",
        "application/json",
        None,
        "https://codewhisperer.us-east-1.amazonaws.com/ListAvailableModels",
        "GET",
        None,
        "AI_EDITOR",
    ),
}
DEFAULT_GENERATION: Final = "runtime"


def api_region(configured: str | None, cred: Credential) -> str:
    if configured:
        return configured
    if cred.profile_arn:
        parts = cred.profile_arn.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return "eu-central-1" if cred.region.startswith("eu-") else "us-east-1"


def _rebase(url: str, base: str | None) -> str:
    """``url`` with scheme, host and path prefix of ``base`` (``gateway_upstream``)."""
    if not base:
        return url
    b, u = urlsplit(base.rstrip("/")), urlsplit(url)
    return f"{b.scheme}://{b.netloc}{b.path}{u.path or '/'}" + (f"?{u.query}" if u.query else "")


@dataclass(frozen=True, slots=True)
class Endpoint:
    generation: Generation
    region: str
    base_url: str | None = None  # overrides the service's scheme and host (tests, proxies)
    kiro_version: str = KIRO_VERSION

    def chat_url(self) -> str:
        return _rebase(self.generation.chat_url.format(region=self.region), self.base_url)

    def chat_headers(self, cred: Credential, invocation_id: str | None = None) -> dict[str, str]:
        g = self.generation
        headers = {
            "content-type": g.content_type,
            "accept": "application/vnd.amazon.eventstream, application/json",
            "authorization": f"Bearer {cred.access_token}",
            "amz-sdk-invocation-id": invocation_id or str(uuid.uuid4()),
            "amz-sdk-request": "attempt=1; max=1",
            "x-amzn-codewhisperer-optout": "true",
            "x-amzn-kiro-agent-mode": "vibe",
        }
        if g.target:
            headers["x-amz-target"] = g.target
        headers.update(self._agent(cred, "codewhispererstreaming"))
        headers.update(_token_type(cred))
        return headers

    def models_request(
        self, cred: Credential, next_token: str | None
    ) -> tuple[str, str, dict[str, str], dict[str, object] | None]:
        """``(method, url, headers, json body)`` of one ListAvailableModels page."""
        g = self.generation
        url = _rebase(g.models_url.format(region=self.region), self.base_url)
        headers = {"authorization": f"Bearer {cred.access_token}", "accept": "application/json"}
        headers.update(self._agent(cred, "codewhispererruntime"))
        headers.update(_token_type(cred))
        if g.models_method == "GET":
            query: dict[str, str] = {"origin": g.origin, "maxResults": "50"}
            if cred.profile_arn:
                query["profileArn"] = cred.profile_arn
            if next_token:
                query["nextToken"] = next_token
            return "GET", f"{url}?{urlencode(query)}", headers, None
        body: dict[str, object] = {"origin": g.origin}
        if cred.profile_arn:
            body["profileArn"] = cred.profile_arn
            headers["x-amzn-kiro-profile-arn"] = cred.profile_arn
        if next_token:
            body["nextToken"] = next_token
        headers["content-type"] = "application/x-amz-json-1.0"
        if g.models_target:
            headers["x-amz-target"] = g.models_target
        return "POST", url, headers, body

    def _agent(self, cred: Credential, api: str) -> dict[str, str]:
        # The service expects an official client's user agent (all reverse-engineered clients
        # send one); the machine id is derived from the credential, never random.
        seed = cred.profile_arn or cred.client_id or cred.source or "tapegate"
        machine = hashlib.sha256(seed.encode()).hexdigest()
        kiro = f"KiroIDE-{self.kiro_version}-{machine}"
        return {
            "user-agent": f"aws-sdk-js/{SDK_VERSION} ua/2.1 os/linux lang/js md/nodejs "
            f"api/{api}#{SDK_VERSION} m/E {kiro}",
            "x-amz-user-agent": f"aws-sdk-js/{SDK_VERSION} {kiro}",
        }


def _token_type(cred: Credential) -> dict[str, str]:
    match cred.kind:
        case "external_idp":
            return {"tokentype": "EXTERNAL_IDP"}
        case "api_key":
            return {"tokentype": "API_KEY"}
        case "social" | "oidc":
            return {}
