"""XRec loader: interaction CSVs, GPT-written explanations as reviews, and XRec's own predictions."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from whyrec.data.loaders import load, load_xrec_predictions
from whyrec.errors import ConfigError, DataError


def head(src: Path, dst: Path, n: int) -> list[str]:
    with src.open(encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    dst.write_text("".join(lines), encoding="utf-8")
    return lines


def test_yelp_slice_attaches_explanations_to_their_interactions(datasets_dir: Path, tmp_path: Path) -> None:
    yelp = datasets_dir / "xrec" / "yelp"
    explanations = [json.loads(line) for line in head(yelp / "tst.jsonl", tmp_path / "tst.jsonl", 40)]
    pairs = {(str(e["uid"]), str(e["iid"])) for e in explanations}
    # a CSV slice holding the first 2,000 interactions plus the pairs of 20 of the explanations
    total = pd.read_csv(yelp / "total.csv", dtype=str)
    wanted = {(str(e["uid"]), str(e["iid"])) for e in explanations[:20]}
    later = total.iloc[2000:]
    picked = later[[pair in wanted for pair in zip(later["user"], later["item"], strict=True)]]
    kept_rows = [list(r) for r in pd.concat([total.iloc[:2000], picked]).itertuples(index=False)]
    with (tmp_path / "total.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["user", "item"], *kept_rows])
    result = load("xrec", [tmp_path])
    data = result.dataset
    n_csv = len(kept_rows)
    in_csv = {(r[0], r[1]) for r in kept_rows}
    assert wanted <= in_csv
    assert (result.report.read, result.report.rejected) == (n_csv + 40, 0)
    # explanations of pairs already in the CSV add no interaction; the others add one "purchase" each
    assert len(data.interactions) == n_csv + len(pairs - in_csv)
    assert set(data.interactions["event"]) == {"purchase"} and data.interactions["rating"].isna().all()
    assert len(data.reviews) == 40
    review = data.reviews.iloc[0]
    assert review["text"] == explanations[0]["explanation"]
    inter = data.interactions
    match = inter[(inter["user"] == review["user"]) & (inter["item"] == review["item"])]
    assert list(match["timestamp"]) == [review["timestamp"]]  # the review sits on its interaction
    items = data.items.set_index("item")
    assert items.loc[data.item_ids.index(str(explanations[0]["iid"])), "title"] == explanations[0]["title"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "n_csv", "users_items"),
    [("yelp", 393_680, (15_962, 14_085)), ("google", 411_840, (22_582, 16_557)), ("amazon", 2 * 36_084, None)],
)
def test_full_counts(datasets_dir: Path, name: str, n_csv: int, users_items: tuple[int, int] | None) -> None:
    """~3 s of CPU per set of ~400,000 CSV rows: over the default suite's budget per test."""
    result = load("xrec", [datasets_dir / "xrec" / name])
    data = result.dataset
    # every yelp/google explanation is about a pair in the CSVs; amazon's CSVs here (val, test) hold 624 of them
    n_new = 3000 - 624 if name == "amazon" else 0
    assert (len(data.interactions), len(data.reviews), len(data.items)) == (n_csv + n_new, 3000, data.items["item"].nunique())
    assert (result.report.read, result.report.rejected) == (n_csv + 3000, 0)
    if users_items is not None:
        assert (data.n_users, data.n_items) == users_items


def test_amazon_time_column_gives_dates(datasets_dir: Path, tmp_path: Path) -> None:
    lines = head(datasets_dir / "xrec" / "amazon" / "total_tst.csv", tmp_path / "total_tst.csv", 101)
    assert lines[1].startswith('13499,4728,"01 7, 2015"')
    data = load("xrec", [tmp_path / "total_tst.csv"]).dataset
    assert len(data.interactions) == 100
    first = data.interactions[(data.interactions["user"] == data.user_ids.index("13499"))]
    assert first["timestamp"].iloc[0] == int(datetime(2015, 1, 7, tzinfo=UTC).timestamp())


def test_bad_csv_rows_and_header(tmp_path: Path) -> None:
    path = tmp_path / "total_trn.csv"
    path.write_text("user,item\n1,2\n-3,4\n5\n6,seven\n8,9\n")
    result = load("xrec", [path], on_error="skip")
    assert (result.report.read, result.report.kept, result.report.rejected) == (5, 2, 3)
    assert [(r["row"], r["field"]) for r in result.rejects] == [(3, "user"), (4, None), (5, "item")]
    assert list(result.dataset.interactions["timestamp"]) == [0, 1]  # row order stands for time
    (tmp_path / "bad.csv").write_text("uid,iid\n1,2\n")
    with pytest.raises(DataError, match="header user,item") as err:
        load("xrec", [tmp_path / "bad.csv"])
    assert err.value.row == 1


def test_predictions_keep_rows_without_a_pair(datasets_dir: Path) -> None:
    preds = load_xrec_predictions(datasets_dir / "xrec" / "yelp" / "tst_pred_ref.jsonl")
    assert list(preds.columns) == ["uid", "iid", "reference", "xrec_generated"] and len(preds) == 3000
    assert preds["uid"].isna().sum() == 1562 and str(preds["uid"].dtype) == "Int64"
    assert preds["reference"].iloc[0].startswith("The user would enjoy MD Market")
    with pytest.raises(ConfigError, match="load_xrec_predictions"):
        load("xrec", [datasets_dir / "xrec" / "yelp" / "tst_pred_ref.jsonl"])


def test_predictions_name_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "tst_pred_ref.jsonl"
    path.write_text(
        '{"j": 0, "reference": "r", "xrec_generated": "g", "uid": 1, "iid": 2}\n{"j": 1, "reference": "r", "uid": 1, "iid": 2}\n'
    )
    with pytest.raises(DataError) as err:
        load_xrec_predictions(path)
    assert (err.value.row, err.value.field) == (2, "xrec_generated")
