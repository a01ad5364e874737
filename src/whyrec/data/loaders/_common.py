"""What every loader shares: reading lines safely, checking one field at a time, and collecting rows.

Field checkers are pure: they return the clean value or raise a DataError naming the field, and the
loader adds the file and row. `Collector` owns the row accounting (a `RowSink`), duplicate handling
and the building of the `Dataset`, so a format module only says how its rows map to events.
"""

from __future__ import annotations

import gzip
import html
import json
import math
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from whyrec.data.schema import Dataset, IdMap
from whyrec.data.validate import IngestReport, OnError, RowSink
from whyrec.errors import ConfigError, DataError

Duplicates = Literal["drop", "reject"]

# Event times before this are not shop events (1990-01-01 UTC, before the web); after "now + 1 day"
# they are in the future. Either means a wrong unit or a broken value.
MIN_TIME = 631_152_000
CLOCK_SLACK = 86_400

CATALOG_FIELDS = ("title", "category", "brand", "price", "description")


@dataclass(frozen=True)
class LoadResult:
    """A loaded Dataset and what the load did to the rows.

    `rejects` holds the rejected rows (file, row, field, reason, raw) in memory whether or not they
    were also written to a rejects file.
    """

    dataset: Dataset
    report: IngestReport
    rejects: tuple[dict, ...] = ()


# ---- reading ------------------------------------------------------------------------------------


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it starts with the gzip magic (whatever its name says)."""
    try:
        with path.open("rb") as f:
            magic = f.read(2)
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except IsADirectoryError:
        raise DataError("is a folder, expected a file", file=path) from None
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


def iter_lines(path: Path, into: Collector | RowSink, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text) for each non-blank line of a plain or gzipped text file.

    A line that does not decode is rejected here. A compressed stream that ends early or breaks is
    one reject at the row it reached (or raises there), after the rows before it were yielded.
    """
    row = 0
    try:
        with open_binary(path) as f:
            for row, raw in enumerate(f, start=1):
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    error = DataError(f"invalid {encoding} (byte {exc.start} of the line)", file=path, row=row)
                    into.reject(error, raw.decode(encoding, "replace").rstrip("\r\n"))
                    continue
                if text.strip():
                    yield row, text.rstrip("\r\n")
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        into.reject(DataError(f"compressed file is truncated or corrupt: {exc}", file=path, row=row + 1), None)


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A whole small text file (an id map, an index); undecodable bytes are a DataError naming the line."""
    try:
        with open_binary(path) as f:
            data = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"compressed file is truncated or corrupt: {exc}", file=path) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(f"invalid {encoding}", file=path, row=data.count(b"\n", 0, exc.start) + 1) from None


def parse_json_object(text: str) -> dict[str, Any]:
    """One JSON-lines record; anything but an object is a DataError."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise DataError("invalid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise DataError(f"expected a JSON object, got {type(value).__name__}")
    return value


def refuse(fmt: str, *, meta: list[Path] | None = None, mapping: object = None) -> None:
    """Config errors for options a format has no use for (rather than ignoring them)."""
    if meta:
        raise ConfigError(f"--format {fmt} takes no metadata file (--meta)")
    if mapping is not None:
        raise ConfigError(f"--format {fmt} takes no column mapping (--mapping is for --format table)")


# ---- field checks: pure, each raises a DataError naming its field -------------------------------


def required(record: dict[str, Any], field: str) -> Any:
    """A field that must be present and not null."""
    value = record.get(field)
    if value is None:
        raise DataError("missing", field=field)
    return value


def as_id(value: Any, field: str) -> str:
    """A raw user/item id: a non-empty string (integers are read as their decimal string)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"expected a string id, got {type(value).__name__}", field=field)
    out = str(value).strip()
    if not out:
        raise DataError("empty id", field=field)
    return out


def as_number(value: Any, field: str) -> float:
    """A finite number, from a JSON number or a numeric string."""
    if isinstance(value, bool):
        raise DataError(f"expected a number, got {value!r}", field=field)
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            raise DataError(f"not a number: {value[:40]!r}", field=field) from None
    else:
        raise DataError(f"expected a number, got {type(value).__name__}", field=field)
    if not math.isfinite(out):
        raise DataError(f"not a finite number: {value!r}", field=field)
    return out


def as_rating(value: Any, field: str, scale: tuple[float, float]) -> float:
    """A rating within its declared scale (inclusive)."""
    out = as_number(value, field)
    lo, hi = scale
    if not lo <= out <= hi:
        raise DataError(f"rating {out:g} outside the scale {lo:g}-{hi:g}", field=field)
    return out


def as_int(value: Any, field: str) -> int:
    """A whole number, from a JSON integer or a string of digits."""
    if isinstance(value, bool):
        raise DataError(f"expected an integer, got {value!r}", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise DataError(f"not an integer: {str(value)[:40]!r}", field=field)


def check_time(ts: int, field: str) -> int:
    """A unix time in seconds, refused when before MIN_TIME or in the future (a unit or data error)."""
    now = int(time.time())
    if ts < MIN_TIME:
        raise DataError(f"time {ts} is before 1990 (expected unix seconds)", field=field)
    if ts > now + CLOCK_SLACK:
        hint = " (milliseconds? expected seconds)" if MIN_TIME * 1000 <= ts <= (now + CLOCK_SLACK) * 1000 else ""
        raise DataError(f"time {ts} is in the future{hint}", field=field)
    return ts


def parse_iso_time(value: str, field: str) -> int:
    """Unix seconds of an ISO-8601 date or date-time; one without a zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise DataError(f"not an ISO-8601 time: {value[:40]!r}", field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def as_text(value: Any, field: str) -> str | None:
    """An optional string field: None when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", field=field)
    return value if value.strip() else None


# Complete tags; a tag cut off at the end ("<span class=..."); the tail of a tag whose start was
# cut off (' Magazines" />'). Scraped catalogs hold all three. HTML parsers keep the fragments as
# text, which is why this is a regular expression.
_TAG = re.compile(r"<[^<>]*>|<[^>]*$|^[^<>]*\"\s*/?>")
_SPACE = re.compile(r"\s+")


def strip_html(text: str) -> str:
    """Text without HTML tags or tag fragments, entities decoded, whitespace collapsed."""
    previous = None
    while text != previous:  # removing one tag can leave a fragment behind ("<<b>" -> "<")
        previous, text = text, _TAG.sub(" ", text)
    return _SPACE.sub(" ", html.unescape(text)).strip()


_MONEY = re.compile(r"^\$?\s*(\d[\d,]*(?:\.\d+)?)(?:\s*-\s*\$?\s*\d[\d,]*(?:\.\d+)?)?$")


def parse_price(value: Any, field: str = "price") -> float:
    """A non-negative price from a number or a string like "$25.00"; NaN when empty.

    A range "$10.00 - $20.00" gives its low end, the price the shopper can pay. Negative and
    non-numeric prices are DataErrors.
    """
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return math.nan
        match = _MONEY.match(text)
        if match is None:
            kind = "negative" if text.lstrip("$ ").startswith("-") else "not a"
            raise DataError(f"{kind} price: {text[:40]!r}", field=field)
        out = float(match.group(1).replace(",", ""))
    else:
        out = as_number(value, field)
    if out < 0:
        raise DataError(f"negative price: {out:g}", field=field)
    return out


def catalog_values(
    *,
    title: str | None = None,
    category: str | None = None,
    brand: str | None = None,
    price: float = math.nan,
    description: str | None = None,
) -> tuple[Any, ...]:
    """Catalog fields in CATALOG_FIELDS order, an unknown price as None so equal rows compare equal."""
    return (title, category, brand, None if math.isnan(price) else price, description)


def category_path(levels: list[Any], field: str) -> str | None:
    """A category list joined as "A > B > C", tags stripped and repeated neighbours merged."""
    if not isinstance(levels, list) or not all(isinstance(x, str) for x in levels):
        raise DataError("expected a list of strings", field=field)
    path: list[str] = []
    for level in map(strip_html, levels):
        if level and (not path or path[-1] != level):
            path.append(level)
    return " > ".join(path) or None


# ---- collecting rows ----------------------------------------------------------------------------


class Collector:
    """Rows of one load by raw id, with their accounting; `build` makes the Dataset in one pass.

    Each row read must end in exactly one of `kept`, `reject` or `duplicate` so that
    read == kept + rejected. An exact repeat of a kept row is set aside ("drop", the default: it
    adds nothing and the count stays visible in the report) or is a bad row ("reject": raises under
    on_error="raise").
    """

    def __init__(self, on_error: OnError = "raise", duplicates: Duplicates = "drop") -> None:
        if duplicates not in ("drop", "reject"):
            raise ConfigError(f"duplicates must be 'drop' or 'reject', not {duplicates!r}")
        self.sink = RowSink(on_error)
        self.duplicates = duplicates
        # interactions, one list per column, in the order read
        self.users: list[str] = []
        self.items: list[str] = []
        self.times: list[int] = []
        self.events: list[str] = []
        self.ratings: list[float] = []
        # reviews: the interaction each review belongs to, and its text
        self.review_of: list[int] = []
        self.texts: list[str] = []
        # catalog: raw item -> field values (price None when unknown), and where each came from
        self.catalog: dict[str, tuple[Any, ...]] = {}
        self._catalog_at: dict[str, tuple[Path, int]] = {}
        self.query_users: list[str] = []
        self.queries: list[str] = []
        self.query_times: list[int] = []
        self._seen: dict[tuple, tuple[Path, int]] = {}

    # accounting
    def kept(self) -> None:
        self.sink.kept()

    def reject(self, error: DataError, raw: str | None) -> None:
        self.sink.reject(error, raw)

    def duplicate(self, first: tuple[Path, int], file: Path, row: int, raw: str | None) -> None:
        """Count a row that repeats the row at `first` (file, row)."""
        where = f"row {first[1]}" if first[0] == file else f"{first[0]} row {first[1]}"
        error = DataError(f"duplicate of {where}", file=file, row=row)
        if self.duplicates == "drop":
            self.sink.set_aside(error, raw)
        else:
            self.sink.reject(error, raw)

    def first_seen(self, key: tuple, file: Path, row: int) -> tuple[Path, int] | None:
        """Where `key` was first seen, or None (and remember this row) when it is new."""
        here = (file, row)
        first = self._seen.setdefault(key, here)
        return None if first is here else first  # identity: setdefault hands back what it stored

    # rows
    def add_event(
        self, user: str, item: str, timestamp: int, event: str, rating: float = math.nan, text: str | None = None
    ) -> int:
        """Append one interaction (and its review when it has text); returns the interaction's position."""
        self.users.append(user)
        self.items.append(item)
        self.times.append(timestamp)
        self.events.append(event)
        self.ratings.append(rating)
        position = len(self.users) - 1
        if text is not None:
            self.add_review(position, text)
        return position

    def add_review(self, interaction: int, text: str) -> None:
        """A review of the interaction at that position (same user, item, rating and time)."""
        self.review_of.append(interaction)
        self.texts.append(text)

    def keep_event(
        self,
        file: Path,
        row: int,
        raw: str | None,
        user: str,
        item: str,
        timestamp: int,
        event: str,
        rating: float = math.nan,
        text: str | None = None,
    ) -> int | None:
        """Count a row that is one event: kept (returns its position), or a duplicate of an earlier one (None).

        A review repeats another when user, item, time and text are equal; an event without text
        when user, item, time and event are (the keys the store deduplicates on).
        """
        key = ("review", user, item, timestamp, text) if text is not None else ("event", user, item, timestamp, event)
        first = self.first_seen(key, file, row)
        if first is not None:
            self.duplicate(first, file, row, raw)
            return None
        position = self.add_event(user, item, timestamp, event, rating, text)
        self.kept()
        return position

    def catalog_conflict(self, item: str, values: tuple[Any, ...]) -> DataError | None:
        """An error when the item already has catalog values that differ from these (None otherwise)."""
        known = self.catalog.get(item)
        if known is None or known == values:
            return None
        field = next(f for f, a, b in zip(CATALOG_FIELDS, known, values, strict=True) if a != b)
        file, row = self._catalog_at[item]
        return DataError(f"item {item!r} has a different {field} at {file} row {row}", field=field)

    def add_catalog(self, item: str, values: tuple[Any, ...], file: Path, row: int) -> None:
        """Record catalog values (in CATALOG_FIELDS order) for an item that has none yet."""
        if item not in self.catalog:
            self.catalog[item] = values
            self._catalog_at[item] = (file, row)

    def keep_catalog(self, file: Path, row: int, raw: str | None, item: str, values: tuple[Any, ...]) -> None:
        """Count a row that is one catalog entry: kept, an exact repeat, or a conflicting second entry."""
        if item in self.catalog:
            error = self.catalog_conflict(item, values)
            if error is None:
                self.duplicate(self._catalog_at[item], file, row, raw)
            else:
                self.reject(error.located(file=file, row=row), raw)
            return
        self.add_catalog(item, values, file, row)
        self.kept()

    def add_query(self, user: str, query: str, timestamp: int) -> None:
        self.query_users.append(user)
        self.queries.append(query)
        self.query_times.append(timestamp)

    # result
    def build(self, name: str, rejects_path: str | Path | None) -> LoadResult:
        """The Dataset (ids in first-seen order: interactions, then queries / catalog-only items) and report."""
        n = len(self.users)
        user_codes, user_raw = pd.factorize(pd.Series(self.users + self.query_users, dtype=object), sort=False)
        catalog_items = list(self.catalog)
        item_codes, item_raw = pd.factorize(pd.Series(self.items + catalog_items, dtype=object), sort=False)
        interactions = pd.DataFrame(
            {
                "user": user_codes[:n],
                "item": item_codes[:n],
                "timestamp": np.asarray(self.times, dtype=np.int64),
                "event": pd.Series(self.events, dtype=object),
                "rating": np.asarray(self.ratings, dtype=np.float32),
            }
        )
        of = np.asarray(self.review_of, dtype=np.int64)
        reviews = pd.DataFrame(
            {
                "user": user_codes[of],
                "item": item_codes[of],
                "rating": interactions["rating"].to_numpy()[of],
                "text": pd.Series(self.texts, dtype=object),
                "timestamp": interactions["timestamp"].to_numpy()[of],
            }
        )
        columns = list(zip(*self.catalog.values(), strict=True)) or [()] * len(CATALOG_FIELDS)
        items = pd.DataFrame({"item": item_codes[n:], **{f: list(col) for f, col in zip(CATALOG_FIELDS, columns, strict=True)}})
        items["price"] = pd.to_numeric(items["price"], errors="raise").astype("float64")  # None -> NaN
        queries = pd.DataFrame(
            {
                "user": user_codes[n:],
                "query": pd.Series(self.queries, dtype=object),
                "timestamp": np.asarray(self.query_times, dtype=np.int64),
            }
        )
        dataset = Dataset(
            interactions,
            IdMap(tuple(user_raw)),
            IdMap(tuple(item_raw)),
            reviews=reviews,
            items=items,
            queries=queries,
            name=name,
        )
        return LoadResult(dataset, self.sink.report(rejects_path), tuple(self.sink.rejects))
