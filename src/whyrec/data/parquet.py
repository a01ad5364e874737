"""A store's tables as Parquet, the input of a distributed engine (Spark), and read back as a Dataset.

One file per table, with raw string ids and the Dataset's own columns (no second schema):

  DIR/interactions.parquet   user, item, timestamp, event, rating
  DIR/reviews.parquet        user, item, rating, text, timestamp
  DIR/catalog.parquet        item, title, category, brand, price, description
  DIR/users.parquet, DIR/items.parquet   raw id per dense id, in order ("user" / "item")

Reading them back yields the same Dataset, dense ids included, as `Store.read_dataset`, and
`Store.write_dataset` imports what was read (or what an engine wrote in these columns).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from whyrec.data.schema import INTERACTION_COLUMNS, ITEM_COLUMNS, REVIEW_COLUMNS, Dataset, IdMap
from whyrec.errors import DataError

TABLES = {"interactions": INTERACTION_COLUMNS, "reviews": REVIEW_COLUMNS, "catalog": ITEM_COLUMNS}


def _raw(frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    """Dense user/item columns replaced by raw ids."""
    out = frame.copy()
    if "user" in out:
        out["user"] = np.asarray(dataset.user_ids.raw, dtype=object)[out["user"].to_numpy()]
    out["item"] = np.asarray(dataset.item_ids.raw, dtype=object)[out["item"].to_numpy()]
    return out


def export_parquet(dataset: Dataset, out: str | Path) -> dict[str, int]:
    """Write the three tables under `out` (replacing it only once all are written); rows per table."""
    target = Path(out)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    frames = {"interactions": dataset.interactions, "reviews": dataset.reviews, "catalog": dataset.items}
    for name, frame in frames.items():
        _raw(frame, dataset).to_parquet(partial / f"{name}.parquet", index=False)
    pd.DataFrame({"user": list(dataset.user_ids.raw)}).to_parquet(partial / "users.parquet", index=False)
    pd.DataFrame({"item": list(dataset.item_ids.raw)}).to_parquet(partial / "items.parquet", index=False)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return {name: len(frame) for name, frame in frames.items()}


def read_parquet(folder: str | Path, name: str = "") -> Dataset:
    """The Dataset `export_parquet` wrote; without the id files, ids are dense in first-seen order."""
    d = Path(folder)
    tables: dict[str, pd.DataFrame] = {}
    for table, columns in TABLES.items():
        path = d / f"{table}.parquet"
        if not path.exists():
            raise DataError(f"no {table} table here (export one with `whyrec export`)", file=path)
        frame = pd.read_parquet(path)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(f"columns {missing} missing", file=path, field=missing[0])
        tables[table] = frame
    inter, reviews, catalog = tables["interactions"], tables["reviews"], tables["catalog"]
    users = IdMap.from_raw([*_listed(d / "users.parquet", "user"), *inter["user"], *reviews["user"]])
    items = IdMap.from_raw([*_listed(d / "items.parquet", "item"), *inter["item"], *reviews["item"], *catalog["item"]])

    def dense(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.assign(item=items.indices(frame["item"]))
        return out.assign(user=users.indices(frame["user"])) if "user" in frame else out

    return Dataset(dense(inter), users, items, reviews=dense(reviews), items=dense(catalog), name=name)


def _listed(path: Path, column: str) -> list[str]:
    """The ids of an id file, in order; none when the file is absent (a table written by another engine)."""
    return pd.read_parquet(path)[column].tolist() if path.exists() else []
