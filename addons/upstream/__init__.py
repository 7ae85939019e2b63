"""The upstream policy: retries, the connect probe, timeouts, and a cassette as the upstream.

* :mod:`~addons.upstream.policy` — what is retried and how long to wait (pure)
* :mod:`~addons.upstream.probe` — the connect probe before a new upstream connection
* :mod:`~addons.upstream.retries` — re-sending on 429/5xx, delivering a retried stream
* :mod:`~addons.upstream.timeouts` — the deadlines on mitmproxy's own connection
* :mod:`~addons.upstream.keepalive` — idle upstream connections closed after a bounded keep-alive
* :mod:`~addons.upstream.cassette` — ``gateway_upstream=cassettes/x``: a cassette served in the loop

Talking to upstreams when mitmproxy's own connection is not enough: retries and timeouts.

Why it is split this way (mitmproxy 11/12 constraints, read from ``proxy/layers/http``):

* The common path stays mitmproxy's: its pooled upstream connection, the response streamed
  through ``flow.response.stream``. No extra hop, no extra task per request.
* mitmproxy answers a failed upstream connect with its own HTML 502, and no hook can replace
  it once the connect was tried. So before a request needs a *new* upstream connection the
  gateway probes the address itself (:mod:`~addons.upstream.probe`, bounded by
  ``gateway_connect_timeout``, retried with backoff); when the probe fails the gateway answers
  in the client's dialect (502 unreachable, 504 timeout) without letting mitmproxy try.
  Connections already open on the same client connection (tracked through
  ``server_connected``/``server_disconnected``) skip the probe, so a keep-alive client pays for
  it once.
* An upstream that answers 429 or 5xx (before any byte reached the client: such responses are
  never streamed) is retried from the ``response`` hook with httpx, honouring ``retry-after``
  up to a cap (:mod:`~addons.upstream.retries`). A response set by an addon is sent whole, so a
  stream that succeeds on a retry is written to an HTTP/1 client by the gateway itself, chunk by
  chunk as it arrives; HTTP/2 clients get it whole.
* Deadlines (first byte, first token, idle, total): on the common path one timer per flow turns
  a silent upstream into an in-dialect 504, cuts a JSON body that does not finish (504), or
  ends a stream whose whole events do not come with an in-dialect error event
  (:mod:`~addons.upstream.timeouts`); the retry path bounds its reads with httpx's timeouts and
  keeps no idle upstream connection.
"""
