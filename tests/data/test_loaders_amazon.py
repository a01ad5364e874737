"""Amazon loader on the real 2018 files (slices and full counts), 2014 metadata literals and the 2023 format."""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from whyrec.data.loaders import load
from whyrec.errors import DataError


def beauty(datasets_dir: Path) -> Path:
    return datasets_dir / "amazon2018-all-beauty-5core" / "All_Beauty_5.json.gz"


def head_gz(src: Path, dst: Path, n: int) -> list[dict]:
    """Copy the first n lines of a gzipped JSON-lines file into a new gzip file; return them parsed."""
    with gzip.open(src, "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(n)]
    with gzip.open(dst, "wt", encoding="utf-8") as out:
        out.writelines(lines)
    return [json.loads(line) for line in lines]


def test_a_slice_of_all_beauty_becomes_ratings_and_reviews(datasets_dir: Path, tmp_path: Path) -> None:
    recs = head_gz(beauty(datasets_dir), tmp_path / "beauty.json.gz", 1000)
    result = load("amazon", [tmp_path / "beauty.json.gz"], name="beauty")
    data = result.dataset
    exact = Counter((r["reviewerID"], r["asin"], r["unixReviewTime"], r.get("reviewText")) for r in recs)
    n_unique = len(exact)
    assert n_unique == 998  # lines 558 and 941 repeat the line before them
    assert (result.report.read, result.report.kept, result.report.rejected) == (1000, 998, 2)
    assert data.user_ids.raw == tuple(dict.fromkeys(r["reviewerID"] for r in recs))  # first-seen order
    assert data.item_ids.raw == tuple(dict.fromkeys(r["asin"] for r in recs))
    assert len(data.interactions) == n_unique and set(data.interactions["event"]) == {"rating"}
    assert len(data.reviews) == sum(1 for key in exact if key[3])  # rows without text are ratings only
    # the first line, as in the dataset's SOURCE.md sample
    first = data.reviews.iloc[0]
    assert data.user_ids.raw[first["user"]] == "A3CIUOJXQ5VDQ2" and data.item_ids.raw[first["item"]] == "B0000530HU"
    assert (first["rating"], first["text"], first["timestamp"]) == (5.0, "As advertised. Reasonably priced", 1472688000)
    assert data.name == "beauty" and data.items.empty


def test_all_beauty_full_counts_with_its_duplicates_set_aside(datasets_dir: Path) -> None:
    result = load("amazon", [beauty(datasets_dir)])
    data, report = result.dataset, result.report
    # 5,269 rows; 1,177 repeat a (user, item) pair, 1,053 of them exactly (same time and text): those are set aside
    assert (report.read, report.kept, report.rejected) == (5269, 4216, 1053)
    assert (data.n_users, data.n_items, len(data.interactions), len(data.reviews)) == (991, 85, 4216, 4212)
    assert all(r["reason"].startswith("duplicate of row ") for r in result.rejects)
    # each reject names the row it repeats, and that row holds the same review
    with gzip.open(beauty(datasets_dir), "rt", encoding="utf-8") as f:
        lines = f.read().splitlines()
    for rej in result.rejects[:50]:
        first = json.loads(lines[int(rej["reason"].rsplit(" ", 1)[1]) - 1])
        again = json.loads(lines[rej["row"] - 1])
        assert [first.get(k) for k in ("reviewerID", "asin", "unixReviewTime", "reviewText")] == [
            again.get(k) for k in ("reviewerID", "asin", "unixReviewTime", "reviewText")
        ]


def test_appliances_full_counts_most_rows_are_repeats(datasets_dir: Path) -> None:
    result = load("amazon", [datasets_dir / "amazon2018-appliances-5core" / "Appliances_5.json.gz"])
    data = result.dataset
    # the release's known quirk: 2,094 of 2,277 rows repeat a (user, item) pair, 2,074 of them exactly
    assert (result.report.read, result.report.kept, result.report.rejected) == (2277, 203, 2074)
    assert (data.n_users, data.n_items, len(data.reviews)) == (47, 48, 203)


def test_duplicates_can_be_made_errors(datasets_dir: Path, tmp_path: Path) -> None:
    head_gz(beauty(datasets_dir), tmp_path / "b.json.gz", 1000)
    with pytest.raises(DataError, match="duplicate of row 557") as err:
        load("amazon", [tmp_path / "b.json.gz"], duplicates="reject")
    assert (err.value.file, err.value.row) == (str(tmp_path / "b.json.gz"), 558)
    skipped = load("amazon", [tmp_path / "b.json.gz"], duplicates="reject", on_error="skip")
    assert (skipped.report.read, skipped.report.kept, skipped.report.rejected) == (1000, 998, 2)


def test_gift_cards_folder_reads_reviews_and_catalog(datasets_dir: Path) -> None:
    result = load("amazon", [datasets_dir / "amazon2018-gift-cards"])
    data = result.dataset
    assert (result.report.read, result.report.rejected) == (2972 + 1547, 0)
    assert (len(data.interactions), len(data.reviews), len(data.items)) == (2972, 2966, 1547)
    # 458 reviewers; the 148 reviewed items come first, then catalog-only items
    assert data.n_users == 458 and data.n_items == 1547
    reviewed = set(data.interactions["item"])
    assert reviewed == set(range(148))
    items = data.items.set_index("item")
    card = items.loc[data.item_ids.index("B004LLIKVU")]
    assert card["category"] == "Gift Cards"  # ["Gift Cards", "Gift Cards"] with the repeat merged
    assert items["price"].notna().sum() == 358  # every "$x" parsed; 1,185 empty and 4 page-markup prices unknown
    assert (items["price"].dropna() > 0).all() and 25.0 in set(items["price"])
    # no scraped feature bullet ("Variety of designs for any occasion.") is left as a category level
    assert not items["category"].dropna().str.contains(r"\.", regex=True).any()
    reviewed_rows = items.loc[sorted(reviewed)]
    assert reviewed_rows["title"].notna().sum() == 148 and reviewed_rows["price"].notna().sum() == 107


def test_magazine_titles_lose_their_broken_html(datasets_dir: Path) -> None:
    folder = datasets_dir / "amazon2018-magazine-subscriptions"
    result = load("amazon", [folder / "Magazine_Subscriptions_5.json.gz"], meta=[folder / "meta_Magazine_Subscriptions.json.gz"])
    data = result.dataset
    items = data.items
    # 3,385 metadata rows, 2,320 distinct and the 1,065 others exact repeats; 44 exact review repeats
    assert len(items) == 2320 and (result.report.read, result.report.rejected) == (2375 + 3385, 1065 + 44)
    titles = items["title"].dropna()
    assert not titles.str.contains("[<>]").any()
    # 3,153 titles were only '<span class="a-size-medium a-color-secondary"': nothing is left of them
    assert "Reason" not in set(titles) and "PC World" in set(titles)
    assert items["title"].isna().sum() > 2000
    descriptions = items["description"].dropna()
    assert descriptions.str.contains("Maximum PC brings tons of news").any()
    assert not descriptions.str.contains("<i>|&amp;").any()
    assert "Magazine Subscriptions > Professional & Educational Journals > Professional & Trade > Transportation" in set(
        items["category"]
    )
    assert items["price"].isna().all()  # empty, or page CSS scraped into the price field
    # 6 of the 157 reviewed magazines have no metadata: their reviews are kept all the same
    reviewed = set(data.interactions["item"])
    assert len(reviewed) == 157 and len(reviewed - set(items["item"])) == 6


def test_2014_metadata_is_read_from_python_literals(tmp_path: Path) -> None:
    reviews = tmp_path / "reviews_Beauty_5.json"
    reviews.write_text(
        json.dumps(
            {
                "reviewerID": "A1",
                "asin": "B01",
                "overall": 4.0,
                "reviewText": "Nice.",
                "summary": "ok",
                "unixReviewTime": 1400000000,
            }
        )
        + "\n"
    )
    meta = tmp_path / "meta_Beauty.json"
    meta.write_text(
        "{'asin': 'B01', 'title': 'Rose &amp; Oud Cream', 'price': 12.99, 'brand': 'Acme', "
        "'categories': [['Beauty', 'Skin Care', 'Face'], ['Beauty', 'Gifts']], 'description': 'A rich cream.'}\n"
    )
    item = load("amazon", [reviews], meta=[meta]).dataset.items.iloc[0]
    assert (item["title"], item["category"], item["brand"], item["price"], item["description"]) == (
        "Rose & Oud Cream",
        "Beauty > Skin Care > Face",
        "Acme",
        12.99,
        "A rich cream.",
    )


def test_2023_files_are_detected_by_their_field_names(tmp_path: Path) -> None:
    reviews = tmp_path / "All_Beauty.jsonl"
    rows = [
        {"rating": 5.0, "title": "Great", "text": "Smells lovely.", "asin": "B00YQ6X8EO", "parent_asin": "B00YQ6X8EO",
         "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588687728923, "helpful_vote": 0, "verified_purchase": True},
        {"rating": 4.0, "title": "Good", "text": "Spray is fine.", "asin": "B081TJ8YS3", "parent_asin": "B081TJ8YS3",
         "user_id": "AGKHLEW2SOWHNMFQIJGBECAF7INQ", "timestamp": 1588615855070, "helpful_vote": 1, "verified_purchase": True},
        {"rating": 1.0, "title": "Bad", "text": "", "asin": "B0VARIANT1", "parent_asin": "B081TJ8YS3",
         "user_id": "AHOTHERUSER", "timestamp": 1589665266052, "helpful_vote": 0, "verified_purchase": False},
    ]  # fmt: skip
    reviews.write_text("".join(json.dumps(r) + "\n" for r in rows))
    meta = tmp_path / "meta_All_Beauty.jsonl"
    meta.write_text(
        json.dumps({"main_category": "All Beauty", "title": "Howard LC0008 Leather Conditioner", "average_rating": 4.8,
                    "features": [], "description": ["Conditions leather.", "8 oz."], "price": None, "store": "Howard Products",
                    "categories": [], "parent_asin": "B00YQ6X8EO"}) + "\n"
        + json.dumps({"main_category": "All Beauty", "title": "Mist Spray", "description": [], "price": 9.99, "store": "Yes To",
                      "categories": ["Beauty & Personal Care", "Fragrance"], "parent_asin": "B081TJ8YS3"}) + "\n"
    )  # fmt: skip
    data = load("amazon", [reviews], meta=[meta]).dataset
    assert data.item_ids.raw == ("B00YQ6X8EO", "B081TJ8YS3")  # variants fold into their parent
    assert list(data.interactions["timestamp"]) == [1588615855, 1588687728, 1589665266]  # ms -> s, sorted per user
    assert len(data.reviews) == 2  # the empty text is a rating only
    items = data.items.set_index("item")
    first, second = items.loc[0], items.loc[1]
    assert (first["category"], first["brand"], first["description"]) == (
        "All Beauty",
        "Howard Products",
        "Conditions leather. 8 oz.",
    )
    assert math.isnan(first["price"]) and second["price"] == 9.99
    assert second["category"] == "Beauty & Personal Care > Fragrance"


def test_a_review_of_neither_release_names_the_missing_field(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"user": "A1", "item": "B1", "stars": 5}) + "\n")
    with pytest.raises(DataError, match="reviewerID") as err:
        load("amazon", [path])
    assert (err.value.row, err.value.field) == (1, "reviewerID")
