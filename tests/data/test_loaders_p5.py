"""P5 loader: the real beauty sequences (full counts) and rejected lines on files written here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from whyrec.data.loaders import load
from whyrec.errors import ConfigError, DataError


def test_beauty_full_counts_and_raw_ids(datasets_dir: Path) -> None:
    folder = datasets_dir / "p5-sequential" / "beauty"
    result = load("p5", [folder])
    data = result.dataset
    assert (result.report.read, result.report.rejected) == (22_363, 0)  # one row per user line
    assert (data.n_users, data.n_items, len(data.interactions)) == (22_363, 12_101, 198_502)  # P5's Table 1
    maps = json.loads((folder / "datamaps.json").read_text())
    # line 1 is "1 1 2 3 4 5": user 1 bought items 1..5 in that order
    assert data.user_ids.raw[0] == maps["id2user"]["1"]
    first = data.interactions[data.interactions["user"] == 0]
    assert data.item_ids.to_raw(first["item"]) == [maps["id2item"][str(i)] for i in range(1, 6)]
    assert list(first["timestamp"]) == [0, 1, 2, 3, 4] and set(first["event"]) == {"purchase"}
    assert data.interactions.groupby("user").size().min() == 5  # 5-core


def test_files_with_one_map_and_bad_lines(datasets_dir: Path, tmp_path: Path) -> None:
    shutil.copy(datasets_dir / "p5-sequential" / "toys" / "datamaps.json", tmp_path / "datamaps.json")
    seq = tmp_path / "sequential_data.txt"
    seq.write_text("1 1 2 3\n2 4 99999 5\n1 6 7\n3 x 8\n4\n5 9 10\n")
    with pytest.raises(DataError, match=r"index 99999 is not in datamaps\.json") as err:
        load("p5", [seq, tmp_path / "datamaps.json"])
    assert (err.value.row, err.value.field) == (2, "item")
    result = load("p5", [seq, tmp_path / "datamaps.json"], on_error="skip")
    assert (result.report.read, result.report.kept, result.report.rejected) == (6, 2, 4)
    reasons = {r["row"]: r["reason"] for r in result.rejects}
    assert reasons[3].endswith("already has a sequence at row 1")
    assert reasons[4] == "not an index: 'x'" and reasons[5] == "a user line with no items"
    assert len(result.dataset.interactions) == 5
    with pytest.raises(ConfigError, match=r"exactly one datamaps\.json"):
        load("p5", [seq])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "counts"),
    [("sports", (35_598, 18_357, 296_337)), ("toys", (19_412, 11_924, 167_597)), ("yelp", (30_431, 20_033, 316_354))],
)
def test_other_sets_full_counts(datasets_dir: Path, name: str, counts: tuple[int, int, int]) -> None:
    """P5's Table 1 for the other three sets (~1 s each)."""
    data = load("p5", [datasets_dir / "p5-sequential" / name]).dataset
    assert (data.n_users, data.n_items, len(data.interactions)) == counts
