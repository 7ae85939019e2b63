"""The typer application object shared by the command modules."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="recorder",
    help="tapegate: translate, record, query and replay LLM API traffic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"tapegate {version('tapegate')}")
        raise typer.Exit()


@app.callback(
    epilog="Exit status: 0 done; 1 a check failed (verify, strict replay) or nothing matched; "
    "2 a usage error (bad option or argument, a database or cassette missing or unreadable, "
    "port in use, an output that cannot be written, a wrong SQL statement, input translate "
    "cannot read or translate)."
)
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """tapegate: translate, record, query and replay LLM API traffic."""
