"""XRec's data: interaction CSVs (`total*.csv`: user,item[,Time]) and test explanations (`tst.jsonl`).

Ids are XRec's 0-based integers, kept as their digit strings. Interactions are implicit feedback,
event "purchase". Their time: the `Time` column (a date like "01 7, 2015", amazon only) when the file
has one, otherwise its position among the interactions loaded, in file order: XRec keeps no time.
A folder stands for `total.csv` when present (yelp: the union of the splits), else its `total_*.csv`.

Each `tst.jsonl` row (uid, iid, title, user_summary, item_summary, explanation) becomes a review whose
text is the GPT-written explanation, attached to that pair's interaction from the CSVs; a pair the
CSVs lack (the amazon CSVs here are only val/test) gets a "purchase" interaction of its own. The
title is the item's catalog title; the GPT profiles are not loaded (they are model output, not data).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from whyrec.data.loaders._common import (
    Collector,
    as_int,
    as_text,
    catalog_values,
    check_time,
    iter_lines,
    parse_json_object,
    refuse,
    required,
)
from whyrec.data.validate import RowSink
from whyrec.errors import ConfigError, DataError

TIME_FORMAT = "%m %d, %Y"  # Amazon's reviewTime, e.g. "01 7, 2015"
PREDICTIONS_NAME = "tst_pred_ref.jsonl"


def read(into: Collector, paths: list[Path], *, meta: list[Path], mapping: object = None) -> None:
    """Read XRec folders or files into `into`: all CSVs first, so explanations find their interactions."""
    refuse("xrec", meta=meta, mapping=mapping)
    tables: list[Path] = []
    explanations: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = [p / "total.csv"] if (p / "total.csv").is_file() else sorted(p.glob("total_*.csv"))
            found += [p / "tst.jsonl"] if (p / "tst.jsonl").is_file() else []
            if not found:
                raise DataError("no total*.csv or tst.jsonl in this folder", file=p)
            tables += [f for f in found if f.suffix == ".csv"]
            explanations += [f for f in found if f.suffix == ".jsonl"]
        elif p.name == PREDICTIONS_NAME:
            raise ConfigError(f"{p}: XRec's generated explanations are no data; read them with load_xrec_predictions")
        elif p.suffix == ".csv":
            tables.append(p)
        else:
            explanations.append(p)
    interaction_of: dict[tuple[str, str], int] = {}  # (user, item) -> position of its first interaction
    for path in tables:
        _read_csv(into, path, interaction_of)
    for path in explanations:
        _read_explanations(into, path, interaction_of)


def _read_csv(into: Collector, path: Path, interaction_of: dict[tuple[str, str], int]) -> None:
    """One interaction CSV; records where each (user, item) pair's first interaction sits."""
    lines = iter_lines(path, into)
    header_row, header = next(lines, (1, ""))
    columns = header.split(",")
    if columns[:2] != ["user", "item"] or columns[2:] not in ([], ["Time"]):
        raise DataError(f"expected the header user,item[,Time], got {header[:60]!r}", file=path, row=header_row)
    timed = len(columns) == 3
    for row, line in lines:
        # the Time values hold a comma inside quotes; the csv module is needed only for them
        fields = next(csv.reader([line])) if '"' in line else line.split(",")
        try:
            if len(fields) != len(columns):
                raise DataError(f"expected {len(columns)} fields, got {len(fields)}")
            user, item = _xrec_id(fields[0], "user"), _xrec_id(fields[1], "item")
            timestamp = _date(fields[2]) if timed else len(into.users)
        except DataError as err:
            into.reject(err.located(file=path, row=row), line)
            continue
        if timed:
            position = into.keep_event(path, row, line, user, item, timestamp, "purchase")
            if position is None:
                continue  # a repeat of an earlier row, counted
        else:  # its time is its position, so it cannot repeat another row: no duplicate check
            position = into.add_event(user, item, timestamp, "purchase")
            into.kept()
        interaction_of.setdefault((user, item), position)


@lru_cache(maxsize=100_000)  # a few thousand distinct days cover a whole file; strptime is slow
def _date(value: str) -> int:
    """Unix seconds (UTC midnight) of a Time value."""
    try:
        moment = datetime.strptime(value.strip(), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise DataError(f"expected a date like '01 7, 2015', got {value[:30]!r}", field="Time") from None
    return check_time(int(moment.timestamp()), "Time")


def _xrec_id(value: Any, field: str) -> str:
    """XRec ids are non-negative integers; kept as their digit string."""
    if isinstance(value, str) and value.isascii() and value.isdigit():  # the common case, checked fast
        return str(int(value))
    out = as_int(value, field)
    if out < 0:
        raise DataError(f"negative id {out}", field=field)
    return str(out)


def _read_explanations(into: Collector, path: Path, interaction_of: dict[tuple[str, str], int]) -> None:
    """One tst.jsonl: each row a review on its pair's interaction (added when the CSVs lack it) plus the item title."""
    for row, line in iter_lines(path, into):
        try:
            record = parse_json_object(line)
            user, item = _xrec_id(required(record, "uid"), "uid"), _xrec_id(required(record, "iid"), "iid")
            text = as_text(required(record, "explanation"), "explanation")
            if text is None:
                raise DataError("empty", field="explanation")
            title = as_text(record.get("title"), "title")
            values = catalog_values(title=title.strip() if title else None)
            conflict = into.catalog_conflict(item, values) if title else None
            if conflict is not None:
                raise conflict
        except DataError as err:
            into.reject(err.located(file=path, row=row), line)
            continue
        first = into.first_seen(("explanation", user, item, text), path, row)
        if first is not None:
            into.duplicate(first, path, row, line)
            continue
        if (user, item) in interaction_of:
            into.add_review(interaction_of[(user, item)], text)
        else:
            interaction_of[(user, item)] = into.add_event(user, item, len(into.users), "purchase", text=text)
        if title:
            into.add_catalog(item, values, path, row)
        into.kept()


def load_xrec_predictions(path: str | Path) -> pd.DataFrame:
    """XRec's `tst_pred_ref.jsonl`: uid, iid (nullable ints), reference and XRec's generated explanation.

    For benchmarks that score XRec's own outputs. Rows whose uid/iid are null are kept: they are real
    predictions whose pair could not be matched back to `tst.jsonl` (1,562 of 3,000 for yelp).
    Any malformed row raises a DataError naming it.
    """
    p = Path(path)
    rows: dict[str, list[Any]] = {"uid": [], "iid": [], "reference": [], "xrec_generated": []}
    for row, line in iter_lines(p, RowSink("raise")):
        try:
            record = parse_json_object(line)
            for field in ("uid", "iid"):
                value = record.get(field)
                rows[field].append(None if value is None else int(_xrec_id(value, field)))
            for field in ("reference", "xrec_generated"):
                text = as_text(required(record, field), field)
                if text is None:
                    raise DataError("empty", field=field)
                rows[field].append(text)
        except DataError as err:
            raise err.located(file=p, row=row) from None
    frame = pd.DataFrame(rows)
    frame[["uid", "iid"]] = frame[["uid", "iid"]].astype("Int64")
    return frame
