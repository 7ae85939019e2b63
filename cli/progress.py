"""Progress for the commands that take a while (``export``, ``verify``, ``replay``, queries over
a second): rich's bars and spinners on stderr when it is a terminal, nothing at all otherwise,
so that scripts and pipes see only the command's own output."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console

# rich.progress is imported where a bar is drawn: most runs (pipes, quick commands) draw none,
# and it costs every command's start-up ~40 ms.
if TYPE_CHECKING:
    from rich.progress import Progress

T = TypeVar("T")
SPINNER_AFTER = 1.0  # seconds: a quick command shows nothing


def _console() -> Console | None:
    console = Console(stderr=True)
    return console if console.is_terminal else None


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """``items``, with a bar counting them (when stderr is a terminal)."""
    with counting(description, total) as done:
        for item in items:
            yield item
            done()


@contextmanager
def counting(description: str, total: int | None) -> Iterator[Callable[[], None]]:
    """A bar for work done elsewhere: call the yielded function once per item done."""
    console = _console()
    if console is None:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda: bar.advance(task)


@contextmanager
def spinner(description: str, after: float = SPINNER_AFTER) -> Iterator[None]:
    """A spinner if the block is still running ``after`` seconds (a terminal only)."""
    console = _console()
    if console is None:
        yield
        return
    shown: list[Progress] = []
    lock = threading.Lock()

    def show() -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with lock:
            if not done.is_set():
                p = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                             TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
                p.add_task(description, total=None)
                p.start()
                shown.append(p)

    done = threading.Event()
    timer = threading.Timer(after, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            timer.cancel()
            for p in shown:
                p.stop()


@contextmanager
def status(render: Callable[[], str]) -> Iterator[Callable[[], None]]:
    """A live line, redrawn when the yielded function is called (a long-running server's
    counters). Nothing when stderr is not a terminal."""
    console = _console()
    if console is None:
        yield lambda: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as line:  # fmt: skip
        task = line.add_task(render(), total=None)
        yield lambda: line.update(task, description=render())
