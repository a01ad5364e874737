"""Amazon Reviews, 2014, 2018 and 2023 releases: review JSON lines and item metadata, plain or gzipped.

The release is told per row by its field names (2014/2018: reviewerID, asin, overall, reviewText,
unixReviewTime; 2023: user_id, parent_asin, rating, text, timestamp in ms), so files of different
releases can be read together. Each review is an interaction (event "rating") and, when it has
text, a review row. Metadata gives catalog rows; it does not promise to cover every reviewed item
(the 2018 Magazine_Subscriptions file misses 6 of 157), so a review of an item without metadata
is kept, and the item simply has no catalog row.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from whyrec.data.loaders._common import (
    Collector,
    as_id,
    as_int,
    as_rating,
    as_text,
    catalog_values,
    category_path,
    check_time,
    iter_lines,
    parse_json_object,
    parse_price,
    refuse,
    required,
    strip_html,
)
from whyrec.errors import DataError

SCALE = (1.0, 5.0)  # Amazon's star ratings
PATTERNS = ("*.json", "*.json.gz", "*.jsonl", "*.jsonl.gz")


def read(into: Collector, paths: list[Path], *, meta: list[Path], mapping: object = None) -> None:
    """Read review files and metadata files into `into`.

    A folder in `paths` stands for its JSON(-lines) files, those named `meta_*` being metadata
    (the release's own naming); files named one by one are review files unless given as `meta`.
    """
    refuse("amazon", mapping=mapping)
    reviews: list[Path] = []
    metadata = list(meta)
    for p in paths:
        if p.is_dir():
            found = sorted({f for pat in PATTERNS for f in p.glob(pat) if f.is_file()})
            if not found:
                raise DataError("no .json or .json.gz file in this folder", file=p)
            reviews += [f for f in found if not f.name.startswith("meta_")]
            metadata += [f for f in found if f.name.startswith("meta_")]
        else:
            reviews.append(p)
    for path in reviews:
        for row, line in iter_lines(path, into):
            try:
                user, item, timestamp, rating, text = review_fields(parse_json_object(line))
            except DataError as err:
                into.reject(err.located(file=path, row=row), line)
                continue
            into.keep_event(path, row, line, user, item, timestamp, "rating", rating, text)
    for path in metadata:
        for row, line in iter_lines(path, into):
            try:
                item, values = meta_fields(_parse_meta_line(line))
            except DataError as err:
                into.reject(err.located(file=path, row=row), line)
                continue
            into.keep_catalog(path, row, line, item, values)


def review_fields(record: dict[str, Any]) -> tuple[str, str, int, float, str | None]:
    """(user, item, unix seconds, rating, text or None) of one review record of any release."""
    if "user_id" in record:  # 2023: items are keyed by parent_asin, as its metadata is
        user = as_id(required(record, "user_id"), "user_id")
        item_field = "parent_asin" if record.get("parent_asin") is not None else "asin"
        item = as_id(required(record, item_field), item_field)
        rating = as_rating(required(record, "rating"), "rating", SCALE)
        millis = as_int(required(record, "timestamp"), "timestamp")
        return user, item, check_time(millis // 1000, "timestamp"), rating, as_text(record.get("text"), "text")
    if "reviewerID" in record or "asin" in record:  # 2014 and 2018
        user = as_id(required(record, "reviewerID"), "reviewerID")
        item = as_id(required(record, "asin"), "asin")
        rating = as_rating(required(record, "overall"), "overall", SCALE)
        timestamp = check_time(as_int(required(record, "unixReviewTime"), "unixReviewTime"), "unixReviewTime")
        return user, item, timestamp, rating, as_text(record.get("reviewText"), "reviewText")
    raise DataError("missing (a review needs reviewerID, or user_id in the 2023 release)", field="reviewerID")


def _parse_meta_line(line: str) -> dict[str, Any]:
    """A metadata record: JSON, or a Python dict literal as the 2014 metadata files are written.

    `ast.literal_eval` builds only literals, never calls anything, so it is safe on untrusted text.
    """
    try:
        return parse_json_object(line)
    except DataError as err:
        if not line.lstrip().startswith("{'"):
            raise
        try:
            value = ast.literal_eval(line)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            raise err from None
        if not isinstance(value, dict):
            raise err from None
        return value


def meta_fields(record: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """(item, catalog values) of one metadata record of any release.

    Category: the 2018 `category` list, the first of the 2014 `categories` lists, or the 2023
    `categories`; the main category when the list is empty. Description lists are joined.
    Tags and tag fragments are stripped from every text field (2018 titles are often broken HTML).
    """
    if "parent_asin" in record:  # 2023
        item = as_id(required(record, "parent_asin"), "parent_asin")
        category = category_path(record.get("categories") or [], "categories") or _text(record, "main_category")
        brand = _text(record, "store")
    else:  # 2014 and 2018
        item = as_id(required(record, "asin"), "asin")
        if "categories" in record:  # 2014: a list of category paths
            paths = record["categories"]
            if not isinstance(paths, list) or not all(isinstance(p, list) for p in paths):
                raise DataError("expected a list of category lists", field="categories")
            category = category_path(paths[0], "categories") if paths else None
        else:
            category = category_path(_leaf_levels(record.get("category") or []), "category")
        category = category or _text(record, "main_cat")
        brand = _text(record, "brand")
    return item, catalog_values(
        title=_text(record, "title"),
        category=category,
        brand=brand,
        price=_price(record.get("price")),
        description=_description(record.get("description")),
    )


def _text(record: dict[str, Any], field: str) -> str | None:
    """An optional text field with tags stripped; None when absent or nothing is left."""
    value = as_text(record.get(field), field)
    return (strip_html(value) or None) if value is not None else None


def _leaf_levels(levels: Any) -> Any:
    """A 2018 category list without the product-feature bullets its scrape leaked into it.

    Gift_Cards has paths like ["Gift Cards", "Gift Cards", "No expiration, no fees.", ...]:
    a level that is a sentence (ends in . or !, or runs past six words) is no category name.
    """
    if not isinstance(levels, list):
        return levels
    return [x for x in levels if not (isinstance(x, str) and (x.rstrip().endswith((".", "!")) or len(x.split()) > 6))]


def _price(value: Any) -> float:
    """Price, with the page CSS/HTML that the 2018 scrape left in some price fields read as unknown."""
    if isinstance(value, str) and ("<" in value or "{" in value):
        return float("nan")
    return parse_price(value)


def _description(value: Any) -> str | None:
    """A description string, or a list of paragraphs joined with spaces; tags stripped."""
    if value is None:
        return None
    parts = value if isinstance(value, list) else [value]
    if not all(isinstance(p, str) for p in parts):
        raise DataError("expected a string or a list of strings", field="description")
    return " ".join(filter(None, map(strip_html, parts))) or None
