"""Train/valid/test splits as data: index files plus the protocol and seed that made them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from whyrec.errors import ConfigError, DataError

if TYPE_CHECKING:  # annotations only: loading a split needs no pandas
    from whyrec.data.schema import Dataset

SPLIT_FORMAT = 1


@dataclass(frozen=True)
class Split:
    """Row indices into one table of a Dataset ("interactions" or "reviews")."""

    protocol: str
    seed: int | None
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    table: str = "interactions"

    def save(self, out_dir: str | Path) -> Path:
        """Write train/valid/test.index (PETER's format: space-separated row numbers) and split.json."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for part in ("train", "valid", "test"):
            (out / f"{part}.index").write_text(" ".join(map(str, getattr(self, part).tolist())) + "\n")
        meta = {"format": SPLIT_FORMAT, "protocol": self.protocol, "seed": self.seed, "table": self.table}
        (out / "split.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, split_dir: str | Path) -> Split:
        d = Path(split_dir)
        meta_path = d / "split.json"
        if not meta_path.exists():
            raise DataError("not a split folder (no split.json)", file=d)
        try:
            meta = json.loads(meta_path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"not valid JSON ({exc})", file=meta_path) from exc
        if not isinstance(meta, dict) or meta.get("format") != SPLIT_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise DataError(f"split format {found} != {SPLIT_FORMAT}", file=meta_path, field="format")
        protocol, seed, table = meta.get("protocol"), meta.get("seed"), meta.get("table", "interactions")
        if not isinstance(protocol, str) or not (seed is None or type(seed) is int) or table not in ("interactions", "reviews"):
            raise DataError("protocol, seed or table missing or of the wrong type", file=meta_path)
        parts = {part: read_index_file(d / f"{part}.index") for part in ("train", "valid", "test")}
        return cls(protocol, seed, table=table, **parts)


def read_index_file(path: str | Path) -> np.ndarray:
    """Read a PETER-style index file: non-negative integers separated by whitespace."""
    p = Path(path)
    if not p.exists():
        raise DataError("index file missing", file=p)
    try:
        tokens = p.read_bytes().decode("ascii").split()
    except UnicodeDecodeError as exc:
        raise DataError(f"not an index file (byte {exc.start} is not ASCII)", file=p) from exc
    out = np.empty(len(tokens), dtype=np.int64)
    for i, tok in enumerate(tokens):
        if not tok.isdigit() or len(tok) > 18:  # ASCII digits only (str.isdigit also accepts "²"), within int64
            raise DataError(f"not a non-negative integer: {tok!r}", file=p, row=i + 1, field="index")
        out[i] = int(tok)
    return out


# ---- protocols: pure functions from a Dataset to a Split ---------------------------------

PROTOCOLS = ("leave-last-out", "temporal", "ratio")


def leave_last_out(dataset: Dataset) -> Split:
    """Per user: test = last interaction, valid = the one before, train = the rest (P5's protocol).

    Rows follow `dataset.interactions` order, (user, timestamp) stable, so "last" is the latest
    timestamp and, on ties, the row stored last. Users with fewer than 3 interactions go wholly to
    train: holding out their only rows would leave nothing to learn them from.
    """
    users = dataset.interactions["user"].to_numpy()
    n = len(users)
    # position of each row counted from its user's end: 0 = last, 1 = second to last
    starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    sizes = np.diff(np.r_[starts, n])
    from_end = np.repeat(starts + sizes, sizes) - 1 - np.arange(n)
    eligible = np.repeat(sizes >= 3, sizes)
    idx = np.arange(n, dtype=np.int64)
    test = eligible & (from_end == 0)
    valid = eligible & (from_end == 1)
    return Split("leave-last-out", None, idx[~(test | valid)], idx[valid], idx[test])


def temporal(dataset: Dataset, valid_frac: float = 0.1, test_frac: float = 0.1) -> Split:
    """One global time cut: the latest `test_frac` of interactions test, the `valid_frac` before valid.

    Rows sharing a timestamp never straddle a cut (they all go to the later part), so the parts
    can be slightly larger than asked for when timestamps tie.
    """
    if not (0 <= valid_frac and 0 <= test_frac and valid_frac + test_frac < 1):
        raise ConfigError(f"temporal split: need 0 <= valid_frac, test_frac and a sum < 1, got {valid_frac}, {test_frac}")
    ts = dataset.interactions["timestamp"].to_numpy()
    n = len(ts)
    ordered = np.sort(ts)
    n_test = round(n * test_frac)
    n_valid = round(n * valid_frac)
    # cut times: the timestamp of the first row of each later part, or past the end when it is empty
    never = np.iinfo(np.int64).max
    t_test = ordered[n - n_test] if n_test else never
    t_valid = ordered[n - n_test - n_valid] if n_valid else t_test
    idx = np.arange(n, dtype=np.int64)
    return Split("temporal", None, idx[ts < t_valid], idx[(ts >= t_valid) & (ts < t_test)], idx[ts >= t_test])


def ratio(
    dataset: Dataset,
    seed: int,
    table: Literal["reviews", "interactions"] = "reviews",
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    rows: np.ndarray | None = None,
) -> Split:
    """A seeded random train/valid/test split of one table's rows: PETER/PEPLER's 8:1:1 over reviews.

    Part sizes are floor(n * f) for train and valid, the remainder test; indices are sorted
    within each part so index files read in table order. `rows` limits the split to those row
    positions (e.g. `distinct_reviews`); the others are in no part.
    """
    if table not in ("reviews", "interactions"):
        raise ConfigError(f"ratio split: table must be 'reviews' or 'interactions', not {table!r}")
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ConfigError(f"ratio split: fractions must be three non-negative numbers summing to 1, got {fractions}")
    size = len(getattr(dataset, table))
    if rows is None:
        rows = np.arange(size)
    elif len(rows) and (np.min(rows) < 0 or np.max(rows) >= size or len(np.unique(rows)) != len(rows)):
        raise ConfigError(f"ratio split: rows must be distinct positions below {size}")
    n = len(rows)
    order = np.asarray(rows, dtype=np.int64)[np.random.default_rng(seed).permutation(n)]
    n_train = int(n * fractions[0])
    n_valid = int(n * fractions[1])
    parts = np.split(order, [n_train, n_train + n_valid])
    return Split("ratio", seed, *(np.sort(p).astype(np.int64) for p in parts), table=table)


def distinct_reviews(dataset: Dataset) -> np.ndarray:
    """Positions of the reviews that are not a repeat of one the same user wrote earlier (same text).

    Amazon files one review under every variant of an item (size, colour): most of All Beauty's
    5-core reviews repeat their author's earlier text. Split as they are, the test sentences sit
    verbatim in training and a generator scores by recalling them; splitting only these keeps one copy.
    """
    reviews = dataset.reviews
    ordered = reviews.assign(_pos=np.arange(len(reviews))).sort_values(["timestamp", "_pos"], kind="stable")
    first = ordered.loc[~ordered.duplicated(["user", "text"]), "_pos"]
    return np.sort(first.to_numpy(dtype=np.int64))


def make_split(dataset: Dataset, protocol: str, seed: int = 42, *, table: str | None = None) -> Split:
    """The split a protocol name asks for. `seed` matters only to "ratio", whose table defaults to
    reviews when the dataset has any (PETER's protocol) and to interactions otherwise."""
    if table is not None and protocol != "ratio":
        raise ConfigError(f"a table can be chosen only for the ratio protocol; {protocol} splits interactions")
    if protocol == "leave-last-out":
        return leave_last_out(dataset)
    if protocol == "temporal":
        return temporal(dataset)
    if protocol == "ratio":
        return ratio(dataset, seed, table=table or ("reviews" if len(dataset.reviews) else "interactions"))
    raise ConfigError(f"unknown split protocol {protocol!r} (expected one of {', '.join(PROTOCOLS)})")
