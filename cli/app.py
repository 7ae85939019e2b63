"""The typer application object shared by the command modules."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="recorder",
    help="tapegate: translate, record, query and replay LLM API traffic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """tapegate: translate, record, query and replay LLM API traffic."""
