"""PETER/PEPLER loader: reviews.pickle in the exact record format, a refused malicious pickle, split folders."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from whyrec.data.loaders import load, load_peter_split, load_peter_templates
from whyrec.errors import DataError

# Records as PETER's TripAdvisor/Yelp pickles hold them: raw string ids, a 1-5 rating, and
# template = (feature, adjective, sentence, sentiment); PEPLER's copies add `predicted`.
RECORDS = [
    {"user": "u_anna", "item": "h_harbour", "rating": 5, "text": "the staff were very friendly and the room was spotless",
     "template": ("staff", "friendly", "the staff were very friendly", 1)},
    {"user": "u_ben", "item": "h_harbour", "rating": 2,
     "template": ("breakfast", "cold", "the breakfast was cold", -1), "predicted": ("breakfast", "good", "the breakfast was good", 1)},
    {"user": "u_anna", "item": "h_peak", "rating": 4.0,
     "template": ("view", "great", "great view from the room", 1)},
    {"user": "u_chen", "item": "h_peak", "rating": 3,
     "template": ("location", "convenient", "convenient location near the station", 1)},
]  # fmt: skip


def write_pickle(path: Path, records: object) -> Path:
    path.write_bytes(pickle.dumps(records, protocol=4))
    return path


def test_records_become_reviews_in_pickle_order(tmp_path: Path) -> None:
    path = write_pickle(tmp_path / "reviews.pickle", RECORDS)
    result = load("peter", [tmp_path])  # a folder stands for its reviews.pickle
    data = result.dataset
    assert (result.report.read, result.report.kept) == (4, 4)
    assert data.user_ids.raw == ("u_anna", "u_ben", "u_chen") and data.item_ids.raw == ("h_harbour", "h_peak")
    # reviews keep the pickle's order, so PETER's index files address them directly
    assert list(data.reviews["text"]) == [
        "the staff were very friendly and the room was spotless",
        "the breakfast was cold",  # no text: the template sentence stands in
        "great view from the room",
        "convenient location near the station",
    ]
    assert list(data.reviews["rating"]) == [5.0, 2.0, 4.0, 3.0] and list(data.reviews["timestamp"]) == [0, 1, 2, 3]
    assert len(data.interactions) == 4 and set(data.interactions["event"]) == {"rating"}
    templates = load_peter_templates(path)
    assert list(templates.columns) == ["record", "review", "feature", "adj", "sentence", "sentiment"]
    assert templates.iloc[1].tolist() == [1, 1, "breakfast", "cold", "the breakfast was cold", -1]


def test_a_pickle_that_would_run_code_is_refused_before_it_runs(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, (f"touch {sentinel}",))

    path = write_pickle(tmp_path / "reviews.pickle", [RECORDS[0], Exploit()])
    for on_error in ("raise", "skip"):
        with pytest.raises(DataError, match=r"asks for (posix|os)\.system") as err:
            load("peter", [path], on_error=on_error)
        assert err.value.file == str(path)
    assert not sentinel.exists()
    pickle.loads(path.read_bytes())  # the payload is live: a plain unpickler runs it
    assert sentinel.exists()
    # any class at all is refused, even a harmless one
    write_pickle(path, [{**RECORDS[0], "rating": np.float64(4.0)}])
    with pytest.raises(DataError, match="only plain lists, dicts"):
        load("peter", [path])


def test_unreadable_pickles_are_data_errors(tmp_path: Path) -> None:
    path = write_pickle(tmp_path / "reviews.pickle", RECORDS)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="not a readable pickle"):
        load("peter", [path])
    write_pickle(path, {"user": "u"})
    with pytest.raises(DataError, match="expected a list of review dicts"):
        load("peter", [path])


def test_bad_records_are_rejected_and_templates_say_which_review_is_which(tmp_path: Path) -> None:
    bad = [
        RECORDS[0],
        {**RECORDS[1], "rating": 7},
        {**RECORDS[2], "template": ("view", "great", "great view")},
        "not a dict",
        {**RECORDS[3], "template": ("location", "convenient", "", 1)},
        {**RECORDS[3], "template": ("location", "convenient", "near the station", 0)},
        RECORDS[3],
    ]
    path = write_pickle(tmp_path / "reviews.pickle", bad)
    with pytest.raises(DataError, match="outside the scale") as err:
        load("peter", [path])
    assert (err.value.row, err.value.field) == (2, "rating")
    result = load("peter", [path], on_error="skip")
    assert (result.report.read, result.report.kept, result.report.rejected) == (7, 2, 5)
    assert [(r["row"], r["field"]) for r in result.rejects] == [
        (2, "rating"), (3, "template"), (4, None), (5, "text"), (6, "template.sentiment")
    ]  # fmt: skip
    templates = load_peter_templates(path, on_error="skip")
    assert templates[["record", "review"]].values.tolist() == [[0, 0], [6, 1]]
    assert result.dataset.reviews["text"].iloc[1] == templates["sentence"].iloc[1]


def write_split(folder: Path, train: str, valid: str, test: str) -> Path:
    folder.mkdir()
    (folder / "train.index").write_text(train)
    (folder / "validation.index").write_text(valid)
    (folder / "test.index").write_text(test)
    return folder


def test_peter_split_folders_index_reviews(tmp_path: Path) -> None:
    split = load_peter_split(write_split(tmp_path / "1", "0 3 4 7 1 2 5 6", "8", "9\n"), n_reviews=10)
    assert (split.protocol, split.seed, split.table) == ("ratio", None, "reviews")
    assert split.train.tolist() == [0, 3, 4, 7, 1, 2, 5, 6] and split.valid.tolist() == [8] and split.test.tolist() == [9]
    with pytest.raises(DataError, match="index 10 is past the 10 reviews") as err:
        load_peter_split(write_split(tmp_path / "2", "0 1", "10", "2"), n_reviews=10)
    assert (Path(err.value.file).name, err.value.row, err.value.field) == ("validation.index", 1, "index")
    with pytest.raises(DataError, match=r"also in train\.index") as err:
        load_peter_split(write_split(tmp_path / "3", "0 1 2", "3", "4 1"), n_reviews=10)
    assert (Path(err.value.file).name, err.value.row) == ("test.index", 2)
