"""One codec per dialect, every codec the same contract (:class:`recorder.codecs.base.Codec`):
both directions, three kinds of body, and streams in the dialect's own framing.

A dialect's codec is a module ``recorder/codecs/NAME.py`` (helpers in ``NAME_*.py``) exposing::

    request_to_ir(body: Any) -> ir.Request                       # WireFormatError on a bad shape
    request_from_ir(req: ir.Request, ctx: Context) -> dict        # drops with ctx.note(...), or
                                                                  # UnsupportedContentError
    response_to_ir(body: Any, ctx: Context) -> ir.Response       # ctx.ids for missing ids
    response_from_ir(resp: ir.Response, ctx: Context) -> dict
    error_to_ir(status: int, body: Any) -> ir.ErrorInfo           # any body, even non-JSON text
    error_from_ir(err: ir.ErrorInfo) -> tuple[int, dict]          # (status, body) in this dialect
    class StreamDecoder:                 # wire frames -> IR stream events; one per response
                                         # (ended: its terminal event was read)
    class StreamEncoder:                 # IR stream events -> wire SSE events; one per response
    CODEC: Codec[Frame]                  # all of it as one typed value (base.FunctionCodec)

and ``CODEC`` also says how its stream ends, what an in-stream error looks like, which events
are tokens and how ``GET /v1/models`` answers. The registry (:mod:`recorder.dialects`) hands
codecs out: ``dialects.codec(name)``.

Codecs import only the standard library, pydantic and ``recorder.{ir,sse,errors,context,wire}``
(checked by tests/test_layering.py).
"""
