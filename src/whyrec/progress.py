"""Progress bars for long CLI stages: drawn on stderr, so stdout stays clean for --json.

Bars are off when stderr is not a terminal (pipes, CI logs, tests) or when the caller asks for
quiet output (e.g. --json), so scripts never see control characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def progress(*, quiet: bool = False) -> Progress:
    """A rich Progress on stderr, disabled when `quiet` or stderr is not a terminal; use as a context manager."""
    console = Console(stderr=True)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),  # an ETA once the total is known
        console=console,
        disable=quiet or not console.is_terminal,
        transient=False,
    )


def track(items: Iterable[T], description: str, *, total: int | None = None, quiet: bool = False) -> Iterator[T]:
    """Iterate over `items` with a progress bar (see `progress` for when it is shown)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress(quiet=quiet) as bar:
        yield from bar.track(items, total=total, description=description)
