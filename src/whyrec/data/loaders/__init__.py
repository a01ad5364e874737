"""Loaders: public datasets and shop exports into one validated `Dataset`.

`load(fmt, paths, ...)` is the one entry point. Every row read is kept or rejected with a reason
naming file, row and field (read == kept + rejected, always); on_error="raise" stops at the first
bad row, "skip" sets bad rows aside. Rejects are written as JSON lines to `rejects_path` when one
is given (the CLI always gives one) and are otherwise kept in memory, in `LoadResult.rejects`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from whyrec.data.loaders import amazon, movielens, p5, peter, table, xrec
from whyrec.data.loaders._common import Collector, Duplicates, LoadResult
from whyrec.data.loaders.peter import load_peter_split, load_peter_templates
from whyrec.data.loaders.table import TableMapping
from whyrec.data.loaders.xrec import load_xrec_predictions
from whyrec.data.validate import OnError
from whyrec.errors import ConfigError

__all__ = [
    "FORMATS",
    "LOADERS",
    "LoadResult",
    "TableMapping",
    "load",
    "load_peter_split",
    "load_peter_templates",
    "load_xrec_predictions",
]

# format name -> reader(collector, paths, meta=..., mapping=...); one line per format.
LOADERS: dict[str, Callable[..., None]] = {
    "amazon": amazon.read,
    "movielens": movielens.read,
    "p5": p5.read,
    "xrec": xrec.read,
    "peter": peter.read,
    "table": table.read,
}
FORMATS: tuple[str, ...] = ("amazon", "movielens", "p5", "xrec", "peter", "table")


def load(
    fmt: str,
    paths: list[str | Path],
    *,
    meta: list[str | Path] | None = None,
    on_error: OnError = "raise",
    rejects_path: str | Path | None = None,
    mapping: TableMapping | str | Path | None = None,
    name: str = "",
    duplicates: Duplicates = "drop",
) -> LoadResult:
    """Load files of one format into a Dataset, with the row counts of what was kept and rejected.

    `mapping` (table format only) is a TableMapping or the path of a TOML file holding one.
    `duplicates`: an exact repeat of a kept row (real files hold them, e.g. the 2018 Amazon 5-core
    All_Beauty) is set aside as a "duplicate" reject under "drop", whatever `on_error` says, so
    counts stay exact and real files load; under "reject" it is a bad row like any other.
    """
    if fmt not in LOADERS:
        raise ConfigError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if not paths:
        raise ConfigError(f"format {fmt} needs at least one path")
    if isinstance(mapping, str | Path):
        mapping = TableMapping.from_toml(mapping)
    into = Collector(on_error, duplicates)
    LOADERS[fmt](into, [Path(p) for p in paths], meta=[Path(m) for m in meta or []], mapping=mapping)
    return into.build(name, rejects_path)
