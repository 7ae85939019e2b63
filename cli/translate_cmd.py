"""``recorder translate``: offline translation through exactly the code path the gateway runs."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, get_args

import typer

from cli.app import app
from recorder.errors import TapegateError
from recorder.ir import Dialect

if TYPE_CHECKING:
    from recorder.context import Context


class Kind(StrEnum):
    request = "request"
    response = "response"
    stream = "stream"


# Every dialect, named by recorder.ir (not the registry, which loads every codec: too slow for
# --help; tests/cli/test_app.py holds the two equal); one that answers no client (Kiro) refuses
# to be the target of a response or a stream, with an explicit error.
DIALECTS = ", ".join(get_args(Dialect))


def _dialect(value: str) -> str:
    from recorder import dialects

    if dialects.named(value) is None:
        raise typer.BadParameter(f"must be one of {DIALECTS}, got {value!r}")
    return value


def _fail(message: str, code: int = 2) -> typer.Exit:
    """One line on stderr; exit 2 for what is wrong with the input (the documented usage/input
    error), 1 only for a failure of our own."""
    typer.echo(f"recorder translate: {message}", err=True)
    return typer.Exit(code=code)


@app.command(epilog="Example: recorder translate request req.json --from anthropic --to openai")
def translate(
    kind: Annotated[
        Kind,
        typer.Argument(help="What FILE holds: a request JSON, a response JSON or an SSE stream."),
    ],
    file: Annotated[
        Path | None, typer.Argument(help="Input file; standard input when omitted.")
    ] = None,
    from_: Annotated[
        str, typer.Option("--from", help=f"Dialect of the input: {DIALECTS}.", callback=_dialect)
    ] = "anthropic",
    to: Annotated[
        str, typer.Option("--to", help=f"Dialect to translate into: {DIALECTS}.", callback=_dialect)
    ] = "openai",
    include_usage: Annotated[
        bool,
        typer.Option(help="Stream to openai: end with the usage chunk, as if the client asked."),
    ] = True,
    seed: Annotated[
        str, typer.Option(help="Seed for ids the translation has to mint.")
    ] = "tapegate",
    created: Annotated[int, typer.Option(help="Unix time for OpenAI 'created' fields.")] = 0,
    notes: Annotated[
        bool, typer.Option(help="List the fields the translation dropped on stderr.")
    ] = True,
) -> None:
    """Translate a request, response or SSE stream between API dialects and print the result."""
    from recorder import dialects
    from recorder.context import Context, IdFactory
    from recorder.translate import parse_json, translate_request, translate_response

    src = dialects.parse(from_, "--from", "any")
    dst = dialects.parse(to, "--to", "any")
    # A request flows client -> upstream; responses and streams flow upstream -> client.
    client, upstream = (src, dst) if kind is Kind.request else (dst, src)
    ctx = Context(client=client, upstream=upstream, ids=IdFactory(seed), created=created)
    ctx.include_usage = include_usage
    foreign = None
    try:
        if kind is Kind.stream:
            ok, first = _translate_stream(_open(file), ctx)
            foreign = None if ok else dialects.foreign_stream(src, _first_event(first))
        else:
            body = parse_json(_open(file).read())
            foreign = (
                dialects.foreign_request(src, body)
                if kind is Kind.request
                else dialects.foreign_response(src, body)
            )
            if foreign is None:
                fn = translate_request if kind is Kind.request else translate_response
                typer.echo(json.dumps(fn(body, ctx), indent=2, ensure_ascii=False))
            ok = True
    except TapegateError as e:
        raise _fail(str(e)) from None
    except OSError as e:
        raise _fail(f"cannot read input: {e}") from None
    except Exception as e:  # a bug of ours: still one line, never a traceback for the user
        raise _fail(f"internal error ({type(e).__name__}): {e}", code=1) from None
    if foreign is not None:
        raise _fail(foreign)
    if notes:
        for note in ctx.notes:
            typer.echo(f"# dropped {note.path}: {note.reason}", err=True)
    if not ok:
        raise _fail("the input stream could not be translated; an error event was emitted")


def _open(file: Path | None) -> BinaryIO:
    return file.open("rb") if file is not None else sys.stdin.buffer


def _translate_stream(src: BinaryIO, ctx: Context) -> tuple[bool, bytes]:
    """Pipe-friendly: output is written as soon as each input chunk is translated. Returns
    whether it translated, and the first chunk read (what the stream's first event says)."""
    from recorder.translate import StreamTranslator

    st = StreamTranslator(ctx)
    out = sys.stdout.buffer
    read = getattr(src, "read1", src.read)
    first = b""
    while chunk := read(65536):
        first = first or chunk
        out.write(st.feed(chunk))
        out.flush()
    out.write(st.close())
    out.flush()
    return not st.failed, first


def _first_event(chunk: bytes) -> Any:
    """The JSON data of the first SSE event in ``chunk`` (None: none there, or not JSON)."""
    for line in chunk.splitlines():
        if line.startswith(b"data:"):
            try:
                return json.loads(line[5:])
            except ValueError:
                return None
    return None
