"""The one in-memory data model every stage reads.

Columnar in pandas: it is what implicit, scipy and most shops' pipelines already speak,
and pyarrow backs its Parquet reading. Ids are dense int32 indices; `IdMap` keeps the raw
string ids so nothing user-facing ever shows an internal index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Behaviour events, weakest to strongest signal. "rating" carries a value; the others don't.
EVENT_TYPES: tuple[str, ...] = ("view", "click", "cart", "purchase", "rating")

INTERACTION_COLUMNS = {"user": "int32", "item": "int32", "timestamp": "int64", "event": "object", "rating": "float32"}
REVIEW_COLUMNS = {"user": "int32", "item": "int32", "rating": "float32", "text": "object", "timestamp": "int64"}
ITEM_COLUMNS = {
    "item": "int32",
    "title": "object",
    "category": "object",  # category path joined with " > ", e.g. "Outdoor > Jackets > Rain"
    "brand": "object",
    "price": "float64",  # NaN where unknown
    "description": "object",
}
QUERY_COLUMNS = {"user": "int32", "query": "object", "timestamp": "int64"}


@dataclass(frozen=True)
class IdMap:
    """Raw string id <-> dense int index, in the order ids were first met."""

    raw: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {r: i for i, r in enumerate(self.raw)})
        if len(self._index) != len(self.raw):
            raise ValueError("IdMap raw ids must be unique")

    @classmethod
    def from_raw(cls, ids: Iterable[str]) -> IdMap:
        """Map built from ids in first-seen order, duplicates ignored."""
        return cls(tuple(dict.fromkeys(str(i) for i in ids)))

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, raw_id: object) -> bool:
        return raw_id in self._index

    def index(self, raw_id: str) -> int:
        """Dense index of a raw id; KeyError if unknown."""
        return self._index[raw_id]

    def get(self, raw_id: str, default: int = -1) -> int:
        return self._index.get(raw_id, default)

    def indices(self, raw_ids: Iterable[str]) -> np.ndarray:
        """Dense indices for many raw ids; -1 for unknown ones."""
        return np.fromiter((self._index.get(str(r), -1) for r in raw_ids), dtype=np.int64)

    def to_raw(self, indices: Iterable[int]) -> list[str]:
        return [self.raw[int(i)] for i in indices]


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _conform(frame: pd.DataFrame | None, columns: dict[str, str], what: str) -> pd.DataFrame:
    if frame is None:
        return _empty(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks columns {missing}")
    return frame[list(columns)].astype(columns).reset_index(drop=True)


@dataclass
class Dataset:
    """Interactions, reviews, items and search queries of one shop, with their id maps.

    `interactions` is sorted by (user, timestamp), stable, so each user's rows are their
    behaviour sequence in order. Every review is also an interaction (event "rating").
    """

    interactions: pd.DataFrame
    user_ids: IdMap
    item_ids: IdMap
    reviews: pd.DataFrame | None = None
    items: pd.DataFrame | None = None
    queries: pd.DataFrame | None = None
    name: str = ""

    def __post_init__(self) -> None:
        inter = _conform(self.interactions, INTERACTION_COLUMNS, "interactions")
        self.interactions = inter.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
        self.reviews = _conform(self.reviews, REVIEW_COLUMNS, "reviews")
        self.items = _conform(self.items, ITEM_COLUMNS, "items")
        self.queries = _conform(self.queries, QUERY_COLUMNS, "queries")
        for frame, what in ((self.interactions, "interactions"), (self.reviews, "reviews")):
            if len(frame) and (frame["user"].min() < 0 or frame["user"].max() >= self.n_users):
                raise ValueError(f"{what} reference users outside the user id map")
            if len(frame) and (frame["item"].min() < 0 or frame["item"].max() >= self.n_items):
                raise ValueError(f"{what} reference items outside the item id map")

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def item_text(self, item: int) -> str:
        """Title, category, brand and description of one item as one string ('' if no catalog row)."""
        rows = self.items[self.items["item"] == item]
        if rows.empty:
            return ""
        row = rows.iloc[0]
        parts = [row["title"], row["category"], row["brand"], row["description"]]
        return ". ".join(str(p) for p in parts if isinstance(p, str) and p)


# Listings whose reviews coincide at least this much (Jaccard over author, text and time) are variants of one product
# sharing Amazon's review pool: All Beauty's variant pairs overlap 0.42-1.0, while gift cards a shopper bought
# together and reviewed in one pasted text overlap at most 0.2.
VARIANT_OVERLAP = 1 / 3


def review_copies(reviews: pd.DataFrame, rows: np.ndarray | None = None) -> dict[int, int]:
    """Of the review positions `rows` (all by default): copy row -> the row it copies. Amazon files a review under every
    variant of a product, so a shopper counted by listings "wrote" four reviews of one shampoo: a copy has an earlier
    row's author, text and time, on a listing whose reviews among `rows` are largely the same (`VARIANT_OVERLAP`). One
    text pasted under several gift cards bought together, or written again later, is a review of each."""
    rows = np.sort(np.asarray(range(len(reviews)) if rows is None else rows, dtype=np.int64))
    frame = reviews.iloc[rows]
    keys = list(zip(frame["user"].tolist(), frame["text"].tolist(), frame["timestamp"].tolist(), strict=True))
    pools: dict[int, set] = {}
    for item, key in zip(frame["item"].tolist(), keys, strict=True):
        pools.setdefault(int(item), set()).add(key)
    copies: dict[int, int] = {}
    kept: dict[tuple, list[tuple[int, int]]] = {}  # key -> (row, listing) of the reviews it names so far
    for row, item, key in zip(rows.tolist(), frame["item"].tolist(), keys, strict=True):
        pool = pools[int(item)]
        first = next(
            (r for r, other in kept.get(key, ()) if len(pool & pools[other]) >= VARIANT_OVERLAP * len(pool | pools[other])),
            None,
        )
        if first is None:
            kept.setdefault(key, []).append((row, int(item)))
        else:
            copies[row] = first
    return copies


def written_once(reviews: pd.DataFrame, rows: np.ndarray | None = None, copies: Mapping[int, int] | None = None) -> np.ndarray:
    """Of the review positions `rows` (all by default), sorted, those that copy none before them (`copies`, found by
    `review_copies` where not given)."""
    rows = np.sort(np.asarray(range(len(reviews)) if rows is None else rows, dtype=np.int64))
    copies = review_copies(reviews, rows) if copies is None else copies
    return rows[[r not in copies for r in rows.tolist()]] if len(rows) else rows
