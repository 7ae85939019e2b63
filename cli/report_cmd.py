"""Command: ``report`` — an exchange or a session as a self-contained HTML page."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.app import app
from cli.progress import spinner
from cli.store_cmds import DEFAULT_DB, ExistingDbOption, store_failed


@app.command(epilog="Example: recorder report SESSION_OR_EXCHANGE_ID -o report.html")
def report(
    id: Annotated[str, typer.Argument(help="An exchange id or a session id.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="HTML file to write ('-': standard output). Default: report-<id>.html.",
        ),
    ] = None,  # fmt: skip
    db: ExistingDbOption = DEFAULT_DB,
    prices: Annotated[
        Path | None,
        typer.Option(help="JSON/YAML prices per model glob (USD per million tokens)."),
    ] = None,
    stall: Annotated[
        float | None,
        typer.Option(
            help="Seconds without an event that count as a stall (default: 1 s and 10× the "
            "stream's median gap)."
        ),
    ] = None,
) -> None:
    """Write one exchange, or a whole session, as a self-contained HTML page.

    The conversation and a timeline of both legs (first byte, first token, every event,
    stalls, retries, errors)."""
    from recorder.report.page import render
    from recorder.report.prices import PriceList
    from recorder.store import StoreError, load_exchanges

    try:
        price_list = PriceList.load(prices) if prices is not None else PriceList()
    except (OSError, ValueError) as e:
        raise typer.BadParameter(str(e), param_hint="--prices") from e
    if stall is not None and stall <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--stall")
    try:
        with spinner(f"reading {id}"):
            exchanges = load_exchanges(db, "id = ?", [id]) or load_exchanges(
                db, "session_id = ?", [id]
            )
    except StoreError as e:
        raise store_failed(e) from e
    if not exchanges:
        typer.echo(f"error: no exchange or session {id!r} in {db}", err=True)
        raise typer.Exit(1)
    with spinner(f"drawing {len(exchanges)} exchanges"):
        html = render(exchanges, prices=price_list, stall=stall)
    if output is not None and str(output) == "-":
        sys.stdout.write(html)
        return
    target = output or Path(f"report-{re.sub(r'[^A-Za-z0-9._-]+', '_', id)[:80]}.html")
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as e:
        typer.echo(f"error: cannot write {target}: {e.strerror or e}", err=True)
        raise typer.Exit(2) from e  # where to write is the user's argument
    what = "exchange" if len(exchanges) == 1 else f"session ({len(exchanges)} exchanges)"
    typer.echo(f"wrote {target} ({what})", err=True)
