"""Commands: ``replay`` (serve a cassette), ``export`` (DuckDB -> cassette), ``verify``."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.app import app
from cli.progress import counting, spinner, status, track
from cli.store_cmds import DEFAULT_DB, ExistingDbOption

DEFAULT_REPLAY_PORT = 8090


@app.command(epilog="Example: recorder replay cassettes/a2o-stream-text --as gateway --port 9000")
def replay(
    cassette: Annotated[Path, typer.Argument(help="Cassette directory, e.g. cassettes/hello.")],
    port: Annotated[
        int, typer.Option(help="Port to listen on (0: any free port).", min=0, max=65535)
    ] = DEFAULT_REPLAY_PORT,
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
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Break the replay on purpose: SPEC for every interaction it fits, N=SPEC for "
            "interaction N (repeatable). E.g. truncate@3, error@2:overloaded, "
            "status:529:retry-after=2, stall@1:5000, rechunk:bytes, drop-done, garbage@4, "
            "reset@-1. `recorder faults DIR` lists good places.",
        ),
    ] = None,
) -> None:
    """Serve a recorded cassette deterministically over HTTP until Ctrl-C / SIGTERM."""
    import asyncio

    from replay.cassette import CassetteError
    from replay.engine import Timing
    from replay.faultplan import FaultPlan
    from replay.server import make_engine

    if as_ not in ("upstream", "gateway"):
        raise typer.BadParameter("must be 'upstream' or 'gateway'", param_hint="--as")
    role: Literal["upstream", "gateway"] = "upstream" if as_ == "upstream" else "gateway"
    try:
        t = Timing.parse(timing)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--timing") from e
    try:
        plan = FaultPlan.parse(fault or [])
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--fault") from e
    try:
        engine = make_engine(cassette, role, t, strict, repeat, faults=plan)
    except CassetteError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    except ValueError as e:  # a fault that cannot apply to this cassette
        raise typer.BadParameter(str(e), param_hint="--fault") from e
    for note in engine.fault_notes:
        typer.echo(f"note: {note}", err=True)
    asyncio.run(_serve(engine, host, port))
    played = sum(1 for n in engine.play_counts().values() if n)
    total = len(engine.play_counts())
    typer.echo(f"played {played}/{total} interactions, {len(engine.misses)} misses", err=True)
    problems = engine.problems(unplayed=not engine.faults)  # a faulted client may stop early
    if strict and problems:
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)


async def _serve(engine: object, host: str, port: int) -> None:
    import asyncio

    from replay.engine import ReplayEngine
    from replay.server import start

    assert isinstance(engine, ReplayEngine)
    try:
        srv = await start(engine, host, port)
    except OSError as e:  # busy port, an address not on this machine: the user's choice
        why = os.strerror(e.errno).lower() if e.errno and e.errno > 0 else e.strerror or str(e)
        hint = " (--port 0 picks a free one)" if e.errno == errno.EADDRINUSE else ""
        raise typer.BadParameter(
            f"cannot listen on {host}:{port}: {why}{hint}", param_hint="--port/--host"
        ) from None
    n = len(engine.play_counts())
    faults = f", faults {engine.faults}" if engine.faults else ""
    typer.echo(f"replaying {engine.where}: {_interactions(n)} on {srv.url}{faults}", err=True)
    typer.echo(srv.url)  # stdout: just the URL, for scripts
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    def counters() -> str:
        counts = engine.play_counts()
        played = sum(1 for c in counts.values() if c)
        return (f"{sum(counts.values())} requests answered · {played}/{len(counts)} "
                f"interactions played · {len(engine.misses)} misses")  # fmt: skip

    try:
        with status(counters) as redraw:  # on a terminal: live counters until Ctrl-C
            while not stop.is_set():
                redraw()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        await srv.stop()


@app.command(epilog="Example: recorder faults cassettes/o2a-stream-tool")
def faults(
    cassette: Annotated[Path, typer.Argument(help="Cassette directory, e.g. cassettes/hello.")],
    as_: Annotated[
        str,
        typer.Option(
            "--as", help="upstream: the upstream leg's streams; gateway: the client leg's."
        ),
    ] = "upstream",
    events: Annotated[bool, typer.Option(help="Also list every event of each stream.")] = False,
) -> None:
    """List the places worth breaking each streamed interaction at (for --fault SPEC)."""
    from recorder.faults.anatomy import describe, fault_points
    from replay.cassette import CassetteError, load
    from replay.faultplan import known_dialect

    if as_ not in ("upstream", "gateway"):
        raise typer.BadParameter("must be 'upstream' or 'gateway'", param_hint="--as")
    leg: Literal["client", "upstream"] = "upstream" if as_ == "upstream" else "client"
    try:
        cas = load(cassette)
    except CassetteError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    shown = 0
    for it in cas.interactions:
        rec = it.leg(leg)
        if rec is None or rec.response is None:
            continue
        raw = it.client_dialect if leg == "client" else it.upstream_dialect
        dialect = known_dialect(raw)
        head = f"#{it.index} {rec.request.method} {rec.request.path}"
        if it.model:
            head += f" model {it.model!r}"
        stream = rec.response.stream
        if stream is None:
            status = rec.response.status
            typer.echo(f"{head}: HTTP {status}, not a stream (status:CODE, stall@0:MS, reset@0)")
            continue
        if dialect is None:
            typer.echo(f"{head}: a stream in an unknown dialect ({raw!r}); positions count events")
            continue
        evs = describe(stream.data, dialect)
        typer.echo(f"{head}: {dialect} stream, {len(evs)} events")
        if events:
            for ev in evs:
                meaning = ", ".join(type(m).__name__ for m in ev.meaning) or "-"
                typer.echo(f"    event {ev.number:>3}  {ev.label:<24} {meaning}")
        for p in fault_points(evs):
            typer.echo(f"  @{p.at:<4} {p.why}")
        shown += 1
    if not shown:
        typer.echo(f"no streamed interactions on the {leg} leg of {cassette}")
    else:
        typer.echo(
            "\n@K means after event K (@0 before the first; @-1 before the last; @50% halfway).\n"
            f"Try: recorder replay {cassette} --as {as_} --fault truncate@K "
            "(or error@K:overloaded, stall@K:2000, reset@K, garbage@K, drop-done, "
            "rechunk:split, status:529:retry-after=2; N=SPEC for interaction N only)"
        )


@app.command(epilog="Example: recorder export --session SESSION_ID cassettes/my-bug")
def export(
    cassette: Annotated[Path, typer.Argument(help="Directory to write, e.g. cassettes/hello.")],
    db: ExistingDbOption = DEFAULT_DB,
    session: Annotated[str | None, typer.Option(help="Only this session's exchanges.")] = None,
    id_: Annotated[
        list[str] | None, typer.Option("--id", help="Only these exchange ids (repeatable).")
    ] = None,
    where: Annotated[str | None, typer.Option(help="SQL condition on the exchanges table.")] = None,
    name: Annotated[str | None, typer.Option(help="Cassette name (default: folder name).")] = None,
    world_readable: Annotated[
        bool,
        typer.Option(
            help="Create the files 0644 (for a cassette to commit after review); default 0600."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the cassette if the directory is not empty.")
    ] = False,
    redact: Annotated[
        list[str] | None,
        typer.Option(
            help="More header names / query parameters to redact, by pattern (e.g. "
            "'x-tenant-*'; repeatable), beyond the built-in deny-list (docs/schema.md)."
        ),
    ] = None,
) -> None:
    """Write recorded exchanges from DuckDB as a cassette directory (secrets redacted)."""
    from recorder import secrets
    from recorder.store.reader import load_exchanges
    from replay.cassette import CassetteError
    from replay.export import check_writable, refuse_overwrite
    from replay.export import export as write_cassette

    secrets.extend(redact or [])
    conditions = [f"({where})"] if where else []
    params: list[str] = []
    if session:
        conditions.append("session_id = ?")
        params.append(session)
    if id_:
        conditions.append(f"id IN ({', '.join('?' for _ in id_)})")
        params += id_
    if not overwrite:
        try:
            refuse_overwrite(cassette)
        except CassetteError as e:
            raise typer.BadParameter(
                f"{e}: choose a new directory, or --overwrite to replace it", param_hint="CASSETTE"
            ) from None
    try:
        check_writable(cassette)
    except CassetteError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    try:
        with spinner(f"reading exchanges from {db}"):
            where_sql = " AND ".join(conditions) or None
            exchanges = load_exchanges(str(db), where=where_sql, params=params)
    except Exception as e:  # duckdb errors (bad --where, locked file) are the user's to read
        typer.echo(f"error: cannot read {db}: {e}", err=True)
        raise typer.Exit(2) from e
    if not exchanges:
        typer.echo("error: no exchanges match; nothing written", err=True)
        raise typer.Exit(1)
    try:
        with counting(f"writing {cassette}", len(exchanges)) as done:
            cas = write_cassette(
                exchanges, cassette, name, world_readable=world_readable, on_each=done
            )
    except OSError as e:  # the disk filled up, the folder went away meanwhile
        typer.echo(f"error: cannot write {cassette}: {e.strerror or e}", err=True)
        raise typer.Exit(2) from e
    typer.echo(f"wrote {_interactions(len(cas.interactions))} to {cassette}")


def _interactions(n: int) -> str:
    return f"{n} interaction" if n == 1 else f"{n} interactions"


def _cassette_dirs(paths: list[Path]) -> list[Path]:
    """The cassettes named: each path a cassette or a folder of them. A path that is neither
    (a typo) is a usage error, not fewer cassettes verified."""
    out: list[Path] = []
    for p in paths:
        if (p / "cassette.json").is_file():
            out.append(p)
            continue
        found = sorted(c.parent for c in p.glob("*/cassette.json"))  # a folder of cassettes
        if not found:
            why = "no cassette.json in it or its folders" if p.is_dir() else "no such folder"
            typer.echo(f"error: no cassette at {p} ({why})", err=True)
            raise typer.Exit(2)
        out += found
    return out


@app.command(epilog="Example: recorder verify cassettes/")
def verify(
    cassettes: Annotated[list[Path], typer.Argument(help="Cassette dirs, or folders of them.")],
) -> None:
    """Replay each cassette's upstream leg through the current translator; diff the client leg."""
    from replay.cassette import CassetteError
    from replay.verify import verify_cassette

    dirs = _cassette_dirs(cassettes)
    failed = unchecked = unreadable = 0
    for d in track(dirs, "verifying", total=len(dirs)):
        try:
            result = verify_cassette(d)
        except CassetteError as e:
            typer.echo(f"error: {e}", err=True)
            unreadable += 1
            continue
        typer.echo(result.report())
        failed += not result.ok
        unchecked += result.ok and result.compared == 0
    # A cassette whose every interaction was skipped was not verified: it did not fail either.
    verified = len(dirs) - failed - unchecked - unreadable
    none = f", {unchecked} with nothing to compare (all skipped)" if unchecked else ""
    bad = f", {unreadable} unreadable" if unreadable else ""
    typer.echo(f"{verified}/{len(dirs)} cassettes verified{none}{bad}")
    if unreadable:  # the input is wrong, as for replay and faults: a usage error
        raise typer.Exit(2)
    if failed:
        raise typer.Exit(1)
