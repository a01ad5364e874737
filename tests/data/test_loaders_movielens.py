"""MovieLens loader: the real ML-100K folder and split files, and the ML-1M '::' format on files written here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from whyrec.data.loaders import load
from whyrec.errors import ConfigError, DataError


def ratings_of(data: pd.DataFrame, user_ids: tuple[str, ...], item_ids: tuple[str, ...]) -> set[tuple[str, str, float, int]]:
    return {
        (user_ids[u], item_ids[i], float(r), int(t))
        for u, i, r, t in zip(data["user"], data["item"], data["rating"], data["timestamp"], strict=True)
    }


def test_ml100k_folder_full_counts_and_catalog(datasets_dir: Path) -> None:
    result = load("movielens", [datasets_dir / "movielens-100k"])
    data = result.dataset
    assert (result.report.read, result.report.kept, result.report.rejected) == (100_000 + 1682, 100_000 + 1682, 0)
    assert (data.n_users, data.n_items, len(data.interactions), len(data.items)) == (943, 1682, 100_000, 1682)
    assert data.interactions["rating"].between(1, 5).all() and set(data.interactions["event"]) == {"rating"}
    assert data.user_ids.raw[:3] == ("196", "186", "22") and data.item_ids.raw[0] == "242"  # u.data's first rows
    first = data.interactions[data.interactions["user"] == 0].iloc[0]  # user 196's earliest rating
    assert first["timestamp"] == data.interactions.loc[data.interactions["user"] == 0, "timestamp"].min()
    items = data.items.set_index(data.items["item"].map(lambda i: data.item_ids.raw[i]))
    assert (items.loc["1", "title"], items.loc["1", "category"]) == ("Toy Story (1995)", "Animation, Children's, Comedy")
    assert items.loc["543", "title"] == "Misérables, Les (1995)"  # latin-1 decoded
    assert pd.isna(items.loc["267", "category"])  # its only genre flag is "unknown"


def test_official_split_files_are_readable_as_data(datasets_dir: Path) -> None:
    folder = datasets_dir / "movielens-100k"
    whole = pd.read_csv(folder / "u.data", sep="\t", names=["user", "item", "rating", "timestamp"], dtype=str)
    reference = {(u, i, float(r), int(t)) for u, i, r, t in whole.itertuples(index=False)}
    test = load("movielens", [folder / "u1.test"], meta=[folder / "u.item"]).dataset
    assert len(test.interactions) == 20_000 and len(test.items) == 1682
    assert ratings_of(test.interactions, test.user_ids.raw, test.item_ids.raw) <= reference
    per_user = load("movielens", [folder / "ua.test"]).dataset  # exactly 10 ratings per user
    assert per_user.n_users == 943 and (per_user.interactions.groupby("user").size() == 10).all()


def write_ml1m(folder: Path) -> Path:
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "3::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1")
    )
    (folder / "users.dat").write_text("1::F::1::10::48067\n")
    return folder


def test_ml1m_format_folder_and_files(tmp_path: Path) -> None:
    folder = write_ml1m(tmp_path / "ml-1m")
    data = load("movielens", [folder]).dataset
    assert (data.n_users, len(data.interactions), len(data.items)) == (2, 3, 3)
    assert data.item_ids.raw == ("1193", "661", "3")  # rated first, then catalog-only movies
    items = data.items.set_index("item")
    assert items.loc[1, "category"] == "Animation, Children's, Musical"
    assert items.loc[2, "title"] == "Misérables, Les (1995)"
    same = load("movielens", [folder / "ratings.dat", folder / "movies.dat"]).dataset
    pd.testing.assert_frame_equal(same.interactions, data.interactions)
    with pytest.raises(ConfigError, match="demographics"):
        load("movielens", [folder / "ratings.dat", folder / "users.dat"])


def test_a_rating_of_a_movie_missing_from_the_catalog_is_rejected(tmp_path: Path) -> None:
    folder = write_ml1m(tmp_path / "ml-1m")
    with (folder / "ratings.dat").open("a") as f:
        f.write("2::9999::4::978298413\n")
    with pytest.raises(DataError, match="movie 9999 is not in the catalog") as err:
        load("movielens", [folder])
    assert (err.value.row, err.value.field) == (4, "item")
    skipped = load("movielens", [folder], on_error="skip")
    assert (skipped.report.read, skipped.report.kept, skipped.report.rejected) == (7, 6, 1)
    assert "9999" not in skipped.dataset.item_ids


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("1\t1193\t6\t978300760", "rating", "outside the scale"),
        ("1\tx\t5\t978300760", "item", "positive integer id"),
        ("1\t1193\t5", None, "expected 4 fields"),
        ("1\t1193\t5\t97830076000", "timestamp", "future"),
    ],
)
def test_bad_rating_lines_name_row_and_field(tmp_path: Path, line: str, field: str | None, reason: str) -> None:
    path = tmp_path / "u.data"
    path.write_text("1\t661\t3\t978302109\n" + line + "\n")
    with pytest.raises(DataError, match=reason) as err:
        load("movielens", [path])
    assert (err.value.file, err.value.row, err.value.field) == (str(path), 2, field)
