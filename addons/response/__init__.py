"""The response side: a stream through the translator (:mod:`~addons.response.stream`), a whole
body (:mod:`~addons.response.buffered`), the gateway's own answers
(:mod:`~addons.response.replies`), ending a broken stream in the client's dialect
(:mod:`~addons.response.stream_end`) and what the ``error`` hook makes of a failed flow
(:mod:`~addons.response.failures`)."""
