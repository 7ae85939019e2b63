"""The keys of ``flow.metadata`` that the addons share, defined once."""

FLOW_STATE = "tapegate.gw"  # the Gateway's per-flow state (addons.flow_state.FlowState)
EXCHANGE = "tapegate.exchange"  # the recorded Exchange the Gateway fills, the Recorder stores
# A health check (HEAD, GET /) the gateway answers itself: never an exchange or a session.
HEALTH_CHECK = "tapegate.health"
RECORDED = "tapegate.recorded"  # the Recorder handed this flow's exchange to its sinks
# The gateway wrote the whole response to the client itself and killed the flow only so that
# mitmproxy writes nothing more (addons.upstream.retries): that kill is no failure.
DELIVERED = "tapegate.delivered"
# A request mitmproxy refused before the gateway could answer it (its headers fail mitmproxy's
# checks): answered and recorded by addons.request.rejections, not by the flow's hooks.
REJECTED = "tapegate.rejected"
