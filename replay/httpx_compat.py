"""One transport class for ``httpx`` and ``httpx2`` (the fork that anthropic >= 2 and openai >= 3
take as their ``http_client``): transport bases that subclass both packages' bases, and the
package a request comes from (their classes do not mix)."""

from __future__ import annotations

import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

# One transport class for both packages: subclass both base classes when httpx2 is installed,
# so ``httpx2.Client(transport=...)`` type-checks too (the SDKs' http_client is an httpx2 client).
if TYPE_CHECKING:
    import httpx2

    class SyncTransportBase(httpx.BaseTransport, httpx2.BaseTransport):
        def handle_request(self, request: Any) -> Any: ...

    class AsyncTransportBase(httpx.AsyncBaseTransport, httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: Any) -> Any: ...
else:
    try:
        import httpx2

        class SyncTransportBase(httpx.BaseTransport, httpx2.BaseTransport):
            pass

        class AsyncTransportBase(httpx.AsyncBaseTransport, httpx2.AsyncBaseTransport):
            pass
    except ImportError:  # pragma: no cover - anthropic < 2 / openai < 3 environments
        SyncTransportBase, AsyncTransportBase = httpx.BaseTransport, httpx.AsyncBaseTransport


def package_of(request: Any) -> ModuleType:
    """``httpx`` or ``httpx2``: whichever built the request (their classes don't mix)."""
    return sys.modules[type(request).__module__.partition(".")[0]]
