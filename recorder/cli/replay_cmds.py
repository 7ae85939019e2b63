"""Commands: ``replay`` (serve a cassette), ``export`` (DuckDB -> cassette), ``verify``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated, Literal

import typer

from recorder.cli.app import app

DEFAULT_REPLAY_PORT = 8090


@app.command()
def replay(
    cassette: Annotated[Path, typer.Argument(help="Cassette directory, e.g. cassettes/hello.")],
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = (
        DEFAULT_REPLAY_PORT
    ),
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    as_: Annotated[
        str,
        typer.Option(
            "--as",
            help="upstream: answer the gateway's upstream requests; gateway: answer clients.",
        ),
    ] = "upstream",
    timing: Annotated[
        str, typer.Option(help="instant | recorded | xN (N times the recorded gaps).")
    ] = "instant",
    strict: Annotated[
        bool, typer.Option(help="Exit 1 if an interaction was never played or a request missed.")
    ] = True,
    repeat: Annotated[bool, typer.Option(help="Let played interactions answer again.")] = False,
) -> None:
    """Serve a recorded cassette deterministically over HTTP until Ctrl-C / SIGTERM."""
    from replay.cassette import CassetteError
    from replay.engine import Timing
    from replay.server import make_engine

    if as_ not in ("upstream", "gateway"):
        raise typer.BadParameter("must be 'upstream' or 'gateway'", param_hint="--as")
    role: Literal["upstream", "gateway"] = "upstream" if as_ == "upstream" else "gateway"
    try:
        t = Timing.parse(timing)
        engine = make_engine(cassette, role, t, strict, repeat)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--timing") from e
    except CassetteError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    asyncio.run(_serve(engine, host, port))
    played = sum(1 for n in engine.play_counts().values() if n)
    total = len(engine.play_counts())
    typer.echo(f"played {played}/{total} interactions, {len(engine.misses)} misses", err=True)
    problems = engine.problems()
    if strict and problems:
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)


async def _serve(engine: object, host: str, port: int) -> None:
    from replay.engine import ReplayEngine
    from replay.server import start

    assert isinstance(engine, ReplayEngine)
    srv = await start(engine, host, port)
    n = len(engine.play_counts())
    typer.echo(f"replaying {engine.where}: {n} interactions on {srv.url}", err=True)
    typer.echo(srv.url)  # stdout: just the URL, for scripts
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await srv.stop()


@app.command()
def export(
    cassette: Annotated[Path, typer.Argument(help="Directory to write, e.g. cassettes/hello.")],
    db: Annotated[Path, typer.Option(help="DuckDB file to read.")] = Path("traffic.duckdb"),
    session: Annotated[str | None, typer.Option(help="Only this session's exchanges.")] = None,
    id_: Annotated[
        list[str] | None, typer.Option("--id", help="Only these exchange ids (repeatable).")
    ] = None,
    where: Annotated[str | None, typer.Option(help="SQL condition on the exchanges table.")] = None,
    name: Annotated[str | None, typer.Option(help="Cassette name (default: folder name).")] = None,
) -> None:
    """Write recorded exchanges from DuckDB as a cassette directory."""
    from recorder.store.reader import load_exchanges
    from replay.export import export as write_cassette

    conditions = [f"({where})"] if where else []
    params: list[str] = []
    if session:
        conditions.append("session_id = ?")
        params.append(session)
    if id_:
        conditions.append(f"id IN ({', '.join('?' for _ in id_)})")
        params += id_
    if not db.exists():
        typer.echo(f"error: no database at {db}", err=True)
        raise typer.Exit(2)
    try:
        exchanges = load_exchanges(str(db), where=" AND ".join(conditions) or None, params=params)
    except Exception as e:  # duckdb errors (bad --where, locked file) are the user's to read
        typer.echo(f"error: cannot read {db}: {e}", err=True)
        raise typer.Exit(2) from e
    if not exchanges:
        typer.echo("error: no exchanges match; nothing written", err=True)
        raise typer.Exit(1)
    cas = write_cassette(exchanges, cassette, name)
    typer.echo(f"wrote {len(cas.interactions)} interactions to {cassette}")


def _cassette_dirs(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if (p / "cassette.json").is_file():
            out.append(p)
        else:  # a folder of cassettes
            out += sorted(c.parent for c in p.glob("*/cassette.json"))
    return out


@app.command()
def verify(
    cassettes: Annotated[list[Path], typer.Argument(help="Cassette dirs, or folders of them.")],
) -> None:
    """Replay each cassette's upstream leg through the current translator; diff the client leg."""
    from replay.cassette import CassetteError
    from replay.verify import verify_cassette

    dirs = _cassette_dirs(cassettes)
    if not dirs:
        typer.echo("error: no cassettes found", err=True)
        raise typer.Exit(2)
    failed = 0
    for d in dirs:
        try:
            result = verify_cassette(d)
        except CassetteError as e:
            typer.echo(f"error: {e}", err=True)
            failed += 1
            continue
        typer.echo(result.report())
        failed += not result.ok
    typer.echo(f"{len(dirs) - failed}/{len(dirs)} cassettes verified")
    if failed:
        raise typer.Exit(1)
