"""P5's sequential data: `sequential_data.txt` (one line per user: `user_idx item_idx ...`) and `datamaps.json`.

The id maps (`id2user`, `id2item`) turn P5's 1-based indices back into the raw Amazon/Yelp ids,
which become the Dataset's raw ids. The files keep only the order of each user's items, not their
time: an interaction's timestamp is its 0-based position in the user's sequence. The source rows are
reviews, but without their rating or text, so the event is "purchase". A line is one row: a line
naming an index missing from the maps is rejected whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from whyrec.data.loaders._common import Collector, iter_lines, read_text, refuse
from whyrec.errors import ConfigError, DataError

SEQUENCE_NAMES = ("sequential_data.txt", "sequential.txt")  # P5's name; POD/RDRec's copies use the second
MAPS_NAME = "datamaps.json"


def read(into: Collector, paths: list[Path], *, meta: list[Path], mapping: object = None) -> None:
    """Read P5 folders, or sequence files with one datamaps.json, into `into`."""
    refuse("p5", meta=meta, mapping=mapping)
    for sequences, maps in _pairs(paths):
        id2user, id2item = _read_maps(maps)
        for row, line in iter_lines(sequences, into):
            tokens = line.split()
            try:
                user = _lookup(id2user, tokens[0], "user")
                items = [_lookup(id2item, tok, "item") for tok in tokens[1:]]
                if not items:
                    raise DataError("a user line with no items", field="item")
                first = into.first_seen(("p5 user", user), sequences, row)
                if first is not None:
                    raise DataError(f"user {user} already has a sequence at row {first[1]}", field="user")
            except DataError as err:
                into.reject(err.located(file=sequences, row=row), line)
                continue
            for position, item in enumerate(items):
                into.add_event(user, item, position, "purchase")
            into.kept()


def _pairs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(sequence file, id map file) pairs: one per folder, or each sequence file with the one map file given."""
    pairs: list[tuple[Path, Path]] = []
    loose: list[Path] = []
    maps: list[Path] = []
    for p in paths:
        if p.is_dir():
            sequences = next((p / n for n in SEQUENCE_NAMES if (p / n).is_file()), None)
            if sequences is None or not (p / MAPS_NAME).is_file():
                raise DataError(f"a P5 folder holds {SEQUENCE_NAMES[0]} and {MAPS_NAME}", file=p)
            pairs.append((sequences, p / MAPS_NAME))
        elif p.suffix == ".json":
            maps.append(p)
        else:
            loose.append(p)
    if loose and len(maps) != 1:
        raise ConfigError(f"p5: give sequence files with exactly one {MAPS_NAME} (or give folders), got {len(maps)}")
    return pairs + [(s, maps[0]) for s in loose]


def _read_maps(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(id2user, id2item) of a datamaps.json; anything else in it (attribute maps) is not needed."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg}", file=path, row=exc.lineno) from None
    out = []
    for field in ("id2user", "id2item"):
        table = data.get(field) if isinstance(data, dict) else None
        if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
            raise DataError("expected an object of index -> raw id strings", file=path, field=field)
        out.append(table)
    return out[0], out[1]


def _lookup(table: dict[str, Any], token: str, field: str) -> str:
    """The raw id of a P5 index token."""
    raw = table.get(token)
    if raw is None:
        reason = f"index {token} is not in {MAPS_NAME}" if token.isdigit() else f"not an index: {token[:20]!r}"
        raise DataError(reason, field=field)
    return raw
