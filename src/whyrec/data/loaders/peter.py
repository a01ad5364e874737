"""PETER / PEPLER / NETE data: `reviews.pickle`, read without running any code, and split index folders.

A `reviews.pickle` is a list of dicts: user, item, rating (1-5), optional text, and
template = (feature, adjective, sentence, sentiment +1/-1); some releases add `predicted`, a model's
output, which is not loaded. The review text is `text`, or the template's sentence when there is none.
The records keep no time: a review's timestamp is its 0-based position in the list, so the
reviews table of a load of one pickle without rejects has the pickle's order, and PETER's
`train/validation/test.index` files (positions in that list) index it directly.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from whyrec.data.loaders._common import Collector, as_id, as_int, as_rating, as_text, refuse, required
from whyrec.data.split import Split, read_index_file
from whyrec.data.validate import OnError
from whyrec.errors import DataError

SCALE = (1.0, 5.0)
TEMPLATE_FIELDS = ("feature", "adj", "sentence", "sentiment")
# PETER names its validation part "validation.index"; whyrec's own split folders say "valid.index"
SPLIT_FILES = {"train": ("train.index",), "valid": ("validation.index", "valid.index"), "test": ("test.index",)}


class _PlainUnpickler(pickle.Unpickler):
    """Refuses every class and function a pickle names.

    Containers, strings and numbers are built by opcodes that never call `find_class`; anything
    else (an object, `os.system` via __reduce__) must go through it, and is refused before it runs.
    """

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        raise DataError(
            f"the pickle asks for {module}.{name}; only plain lists, dicts, tuples, strings and numbers are read",
            file=self.path,
        )


def read_pickle(path: Path) -> list[Any]:
    """The top-level list of a reviews pickle, refusing any pickle that would build more than plain data.

    A pickle that names a class or function always raises, whatever on_error says: it is not a
    bad row but a file that tries to run code.
    """
    try:
        with path.open("rb") as f:
            data = _PlainUnpickler(f, path).load()
    except FileNotFoundError:
        raise DataError("file not found", file=path) from None
    except DataError:
        raise
    except Exception as exc:  # truncated or malformed pickles raise many kinds (UnpicklingError, EOFError, ValueError, ...)
        raise DataError(f"not a readable pickle: {type(exc).__name__}: {exc}", file=path) from None
    if not isinstance(data, list):
        raise DataError(f"expected a list of review dicts, got {type(data).__name__}", file=path)
    return data


def review_fields(record: Any) -> tuple[str, str, float, str, tuple[str, str, str, int]]:
    """(user, item, rating, text, template) of one record."""
    if not isinstance(record, dict):
        raise DataError(f"expected a dict, got {type(record).__name__}")
    user = as_id(required(record, "user"), "user")
    item = as_id(required(record, "item"), "item")
    rating = as_rating(required(record, "rating"), "rating", SCALE)
    template = required(record, "template")
    if not isinstance(template, tuple | list) or len(template) != 4:
        raise DataError("expected (feature, adj, sentence, sentiment)", field="template")
    feature, adj, sentence = (as_text(v, f"template.{f}") or "" for v, f in zip(template[:3], TEMPLATE_FIELDS[:3], strict=True))
    sentiment = as_int(template[3], "template.sentiment")
    if sentiment not in (-1, 1):
        raise DataError(f"sentiment must be 1 or -1, got {sentiment}", field="template.sentiment")
    text = as_text(record.get("text"), "text") or sentence or None
    if text is None:
        raise DataError("no text and an empty template sentence", field="text")
    return user, item, rating, text, (feature, adj, sentence, sentiment)


def _read(into: Collector, path: Path) -> list[tuple[int, tuple[str, str, str, int]]]:
    """Add one pickle's records to `into`; return (record position, template) of the records kept."""
    templates = []
    for position, record in enumerate(read_pickle(path)):
        try:
            user, item, rating, text, template = review_fields(record)
        except DataError as err:
            into.reject(err.located(file=path, row=position + 1), repr(record))
            continue
        if into.keep_event(path, position + 1, repr(record), user, item, position, "rating", rating, text) is not None:
            templates.append((position, template))
    return templates


def read(into: Collector, paths: list[Path], *, meta: list[Path], mapping: object = None) -> None:
    """Read reviews pickles (a folder stands for its reviews.pickle) into `into`."""
    refuse("peter", meta=meta, mapping=mapping)
    for p in paths:
        _read(into, p / "reviews.pickle" if p.is_dir() else p)


def load_peter_templates(path: str | Path, on_error: OnError = "raise") -> pd.DataFrame:
    """The (feature, adj, sentence, sentiment) template of each review of one pickle.

    Columns: `record` (position in the pickle, what PETER's index files count), `review` (row of
    the reviews table that `load("peter", [path], on_error=on_error)` returns), then the template.
    The two differ only past records that were rejected.
    """
    p = Path(path)
    kept = _read(Collector(on_error), p / "reviews.pickle" if p.is_dir() else p)
    frame = pd.DataFrame([(pos, *t) for pos, t in kept], columns=["record", *TEMPLATE_FIELDS])
    frame.insert(1, "review", np.arange(len(frame), dtype=np.int64))
    return frame.astype({"record": "int64", "sentiment": "int64"})


def load_peter_split(folder: str | Path, n_reviews: int) -> Split:
    """One PETER split folder (`1/` ... `5/`: train, validation and test index files) as a Split of reviews.

    `n_reviews` is the number of reviews the indices point into (`len(dataset.reviews)`): an index
    past it, or one that appears twice, is a DataError naming the file and its position.
    PETER's seeds are not published, so the split's seed is None.
    """
    d = Path(folder)
    parts: dict[str, np.ndarray] = {}
    seen: dict[int, str] = {}
    for part, names in SPLIT_FILES.items():
        path = next((d / n for n in names if (d / n).is_file()), d / names[0])
        indices = read_index_file(path)
        for position, index in enumerate(indices.tolist(), start=1):
            if index >= n_reviews:
                raise DataError(f"index {index} is past the {n_reviews} reviews", file=path, row=position, field="index")
            if index in seen:
                raise DataError(f"index {index} is also in {seen[index]}", file=path, row=position, field="index")
            seen[index] = path.name
        parts[part] = indices
    return Split("ratio", None, parts["train"], parts["valid"], parts["test"], table="reviews")
