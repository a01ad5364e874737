"""A shop's own export: CSV/TSV, Parquet or JSON lines (plain or gzipped), with a column mapping.

Each row is one event (user, item, time, event type, optional rating and review text) and/or, when a
query column is mapped, one search query. Catalog columns (title, category, brand, price,
description) are read from the `meta` files when given, otherwise from the events rows themselves.
A catalog does not promise to cover every item: events of items without a catalog row are kept.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tomllib
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from whyrec.data.loaders._common import (
    CATALOG_FIELDS,
    Collector,
    as_id,
    as_number,
    as_rating,
    as_text,
    catalog_values,
    category_path,
    check_time,
    iter_lines,
    open_binary,
    parse_iso_time,
    parse_json_object,
    parse_price,
)
from whyrec.data.schema import EVENT_TYPES
from whyrec.errors import ConfigError, DataError

# Above this a number cannot be unix seconds (year 5138) but is milliseconds (1973 onwards).
MILLIS_FROM = 100_000_000_000


# What each mapping field says, in the words error messages use.
FIELD_WORDS = {
    "user": "the column with the shopper's id",
    "item": "the column with the product's id",
    "timestamp": "the column with the time",
    "timestamp_format": "auto, unix, unix_ms or iso",
    "event": "the column saying view, click, cart, purchase or rating",
    "default_event": "the event of rows without one",
    "rating": "the rating column",
    "rating_scale": "[lowest, highest] rating",
    "text": "the review text column",
    "query": "the search query column",
    "title": "the product title column",
    "category": "the category column",
    "brand": "the brand column",
    "price": "the price column",
    "description": "the product description column",
    "category_separator": 'what splits a category path, e.g. "/"',
    "catalog_item": "the product id column of the --meta file",
    "delimiter": "the CSV field separator",
}


class TableMapping(BaseModel):
    """Which column holds what, and how to read it. Only `user` and `item` are required in the data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = "user"  # raw user id column
    item: str = "item"  # raw item id column (may be empty on query rows)
    timestamp: str | None = "timestamp"  # None: the row's 0-based position stands for its time
    timestamp_format: Literal["auto", "unix", "unix_ms", "iso"] = "auto"  # auto: numbers > 1e11 are ms, text is ISO-8601
    event: str | None = None  # event column (view/click/cart/purchase/rating); None: see default_event
    default_event: str = "purchase"  # event of rows without an event column or value; a row with a rating is a "rating"
    rating: str | None = None  # rating column; only "rating" events carry one
    rating_scale: tuple[float, float] = (1.0, 5.0)  # inclusive (min, max)
    text: str | None = None  # review text column: a row with text is also a review
    query: str | None = None  # search query column: a row with a query is also a search (Dataset.queries)
    title: str | None = None  # catalog columns: of the meta file when one is given, else of the events file
    category: str | None = None
    brand: str | None = None
    price: str | None = None  # numbers or strings like "$25.00"; negative prices are rejected
    description: str | None = None
    category_separator: str | None = None  # splits a category path ("A/B/C" with "/"), re-joined with " > "
    catalog_item: str | None = None  # item id column of the meta file [default: `item`]
    delimiter: str | None = None  # CSV field separator [default: tab for .tsv, comma otherwise]

    @field_validator("default_event")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"must be one of {', '.join(EVENT_TYPES)}")
        return value

    @model_validator(mode="after")
    def _scale_is_a_range(self) -> TableMapping:
        if not self.rating_scale[0] < self.rating_scale[1]:
            raise ValueError(f"rating_scale must be (min, max) with min < max, got {self.rating_scale}")
        return self

    @classmethod
    def from_toml(cls, path: str | Path) -> TableMapping:
        """A mapping from a TOML file of `key = value` lines (the field names above)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{p}: mapping file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: invalid TOML: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"]) or "mapping"
            if first["type"] == "extra_forbidden":
                known = "; ".join(f"{k} ({v})" for k, v in FIELD_WORDS.items())
                raise ConfigError(f"{p}: field '{field}' is not one a --mapping file can set; it can set {known}") from None
            words = FIELD_WORDS.get(str(first["loc"][0]), "") if first["loc"] else ""
            message = first["msg"].removeprefix("Value error, ")
            if first["type"] == "string_type":
                message = 'must be a column name in quotes, e.g. user = "customer_id"'
            raise ConfigError(f"{p}: field '{field}'" + (f" ({words})" if words else "") + f": {message}") from None

    def catalog_columns(self) -> dict[str, str]:
        """Catalog field -> column, for the mapped ones."""
        return {f: getattr(self, f) for f in CATALOG_FIELDS if getattr(self, f) is not None}


def read(into: Collector, paths: list[Path], *, meta: list[Path], mapping: TableMapping | None = None) -> None:
    """Read event files, then catalog files, into `into`; without a mapping the columns are user, item and timestamp."""
    m = mapping or TableMapping()
    inline_catalog = m.catalog_columns() if not meta else {}
    position = 0  # a row's position over all event files: its time when no timestamp column is mapped
    for path in paths:
        columns = [m.user, m.item, *(c for c in (m.timestamp, m.event, m.rating, m.text, m.query) if c), *inline_catalog.values()]
        for row, record, raw in _records(path, into, columns, m.delimiter):
            position += 1
            try:
                user, item, timestamp, event, rating, text, query = _event_fields(record, m, position - 1)
                values = _catalog_fields(record, inline_catalog, m.category_separator) if inline_catalog and item else None
                conflict = into.catalog_conflict(item, values) if values is not None else None
                if conflict is not None:
                    raise conflict
            except DataError as err:
                into.reject(err.located(file=path, row=row), raw)
                continue
            if item is None:  # a search without an item: counted here, added with the query below
                first = into.first_seen(("query", user, query, timestamp), path, row)
                if first is not None:
                    into.duplicate(first, path, row, raw)
                    continue
                into.kept()
            elif into.keep_event(path, row, raw, user, item, timestamp, event, rating, text) is None:
                continue  # a repeat of an earlier row, counted
            elif values is not None:
                into.add_catalog(item, values, path, row)
            if query is not None:
                into.add_query(user, query, timestamp)
    catalog = m.catalog_columns()
    item_column = m.catalog_item or m.item
    for path in meta:
        for row, record, raw in _records(path, into, [item_column, *catalog.values()], m.delimiter):
            try:
                item = as_id(_cell(record, item_column), item_column)
                values = _catalog_fields(record, catalog, m.category_separator)
            except DataError as err:
                into.reject(err.located(file=path, row=row), raw)
                continue
            into.keep_catalog(path, row, raw, item, values)


def _cell(record: dict[str, Any], column: str | None) -> Any:
    """A cell's value, None when the column is unmapped or the cell is empty (blank text, null, NaN)."""
    if column is None:
        return None
    value = record.get(column)
    if value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _event_fields(
    record: dict[str, Any], m: TableMapping, position: int
) -> tuple[str, str | None, int, str, float, str | None, str | None]:
    """(user, item or None, unix seconds, event, rating or NaN, text, query) of one row."""
    raw_user = _cell(record, m.user)
    if raw_user is None:
        raise DataError("missing", field=m.user)
    user = as_id(raw_user, m.user)
    query = as_text(_cell(record, m.query), m.query) if m.query else None
    raw_item = _cell(record, m.item)
    if raw_item is None and query is None:
        raise DataError("missing" if not m.query else "missing (and no query either)", field=m.item)
    item = as_id(raw_item, m.item) if raw_item is not None else None
    timestamp = position if m.timestamp is None else _time(_cell(record, m.timestamp), m.timestamp_format, m.timestamp)
    rating_value = _cell(record, m.rating)
    rating = as_rating(rating_value, m.rating, m.rating_scale) if rating_value is not None else math.nan
    event_value = _cell(record, m.event)
    if event_value is None:
        event = "rating" if rating_value is not None else m.default_event
    else:
        event = str(event_value).strip().lower()
        if event not in EVENT_TYPES:
            raise DataError(f"unknown event {event_value!r} (expected one of {', '.join(EVENT_TYPES)})", field=m.event)
    if event == "rating" and rating_value is None and item is not None:
        raise DataError("a 'rating' event needs a rating", field=m.rating or m.event)
    if event != "rating" and rating_value is not None:
        raise DataError(f"a {event!r} event carries no rating; give rating rows the event 'rating'", field=m.rating)
    text = as_text(_cell(record, m.text), m.text) if m.text else None
    return user, item, timestamp, event, rating, text, query


def _time(value: Any, fmt: str, field: str) -> int:
    """Unix seconds from a number (seconds or ms), an ISO-8601 string, or a datetime/date (Parquet)."""
    if value is None:
        raise DataError("missing", field=field)
    if isinstance(value, datetime | date):
        moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
        return check_time(int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()), field)
    if fmt == "iso" or (fmt == "auto" and isinstance(value, str) and not _numeric(value)):
        if not isinstance(value, str):
            raise DataError(f"expected an ISO-8601 string, got {value!r}", field=field)
        return check_time(parse_iso_time(value, field), field)
    number = as_number(value, field)
    if fmt == "unix_ms" or (fmt == "auto" and number >= MILLIS_FROM):
        number /= 1000
    return check_time(int(number), field)


def _numeric(text: str) -> bool:
    """Whether a string reads as a number (then a time is unix seconds or ms, not ISO-8601)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _catalog_fields(record: dict[str, Any], columns: dict[str, str], separator: str | None) -> tuple[Any, ...]:
    """Catalog values of one row from the mapped columns."""
    values: dict[str, Any] = {}
    for field, column in columns.items():
        value = _cell(record, column)
        if field == "price":
            values["price"] = parse_price(value, column)
        elif field == "category" and value is not None and separator:
            values["category"] = category_path([x.strip() for x in str(value).split(separator)], column)
        else:
            text = as_text(str(value) if isinstance(value, int | float) else value, column)
            values[field] = text.strip() if text else None
    return catalog_values(**values)


# ---- file formats: each yields (row, record, raw text for the rejects file) ------------------------


def _records(path: Path, into: Collector, columns: list[str], delimiter: str | None) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Rows of a CSV/TSV, Parquet or JSON-lines file (by extension; .gz allowed), checked for the mapped columns."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    kind = suffixes[-1] if suffixes else ""
    if kind in (".csv", ".tsv", ".txt"):
        return _csv_rows(path, into, columns, delimiter or ("\t" if kind == ".tsv" else ","))
    if kind in (".parquet", ".pq"):
        return _parquet_rows(path, columns)
    if kind in (".jsonl", ".ndjson", ".json"):
        return _jsonl_rows(path, into)
    raise ConfigError(f"{path}: table files are .csv, .tsv, .parquet or .jsonl (optionally .gz)")


def _missing_columns(path: Path, header: list[str], columns: list[str]) -> None:
    """A DataError naming the first mapped column the file does not have."""
    missing = [c for c in dict.fromkeys(columns) if c not in header]
    if missing:
        raise DataError(
            f"mapped column(s) {', '.join(missing)} not in the header {header[:12]}; say which column holds what in a "
            f'mapping TOML passed with --mapping, e.g. user = "{header[0] if header else "customer_id"}" '
            f"(user: {FIELD_WORDS['user']}; item: {FIELD_WORDS['item']}; timestamp: {FIELD_WORDS['timestamp']}; "
            "optional: event, rating, text, title, category, brand, price)",
            file=path,
            row=1,
            field=missing[0],
        )


def _csv_rows(path: Path, into: Collector, columns: list[str], delimiter: str) -> Iterator[tuple[int, dict[str, Any], str]]:
    """CSV records with their line numbers; undecodable, short or long records are rejected here.

    Bad bytes decode to lone surrogates (surrogateescape), so the bad row is named, not the whole file.
    """
    with open_binary(path) as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = next(reader, [])
            _missing_columns(path, header, columns)
            for fields in reader:
                row = reader.line_num
                raw = delimiter.join(fields)
                if not any(f.strip() for f in fields):
                    continue
                try:
                    raw.encode("utf-8")
                except UnicodeEncodeError:
                    safe = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                    into.reject(DataError("invalid utf-8", file=path, row=row), safe)
                    continue
                if len(fields) != len(header):
                    into.reject(DataError(f"expected {len(header)} fields, got {len(fields)}", file=path, row=row), raw)
                    continue
                yield row, dict(zip(header, fields, strict=True)), raw
        except (EOFError, OSError, zlib.error) as exc:  # a truncated or corrupt gzip stream
            into.reject(DataError(f"compressed file is truncated or corrupt: {exc}", file=path, row=reader.line_num + 1), None)
        except csv.Error as exc:
            into.reject(DataError(f"malformed CSV: {exc}", file=path, row=reader.line_num), None)


def _parquet_rows(path: Path, columns: list[str]) -> Iterator[tuple[int, dict[str, Any], str]]:
    """Parquet records, typed by the file (ints, floats, datetimes, nulls); rows numbered from 1."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except Exception as exc:  # pyarrow reports a broken file through several exception types
        raise DataError(f"not a readable Parquet file: {exc}", file=path) from None
    _missing_columns(path, table.column_names, columns)
    for row, record in enumerate(table.to_pylist(), start=1):
        yield row, record, json.dumps(record, ensure_ascii=False, default=str)


def _jsonl_rows(path: Path, into: Collector) -> Iterator[tuple[int, dict[str, Any], str]]:
    """JSON-lines records with their line numbers; lines that are no JSON object are rejected here."""
    for row, line in iter_lines(path, into):
        try:
            record = parse_json_object(line)
        except DataError as err:
            into.reject(err.located(file=path, row=row), line)
            continue
        yield row, record, line
