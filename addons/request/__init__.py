"""The request side: which flows are the gateway's (:mod:`~addons.request.classify`), who may use
the listener as an explicit proxy (:mod:`~addons.request.proxy_auth`), and forwarding a request
to its route's upstream, translated (:mod:`~addons.request.forward`)."""
