"""The SQLite store: lossless round trip, idempotent re-ingest, upserts, versioning, live events."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whyrec.data.sample import generate_sample
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.store import STORE_FORMAT, Store
from whyrec.errors import ArtifactError, DataError


@pytest.fixture(scope="module")
def sample() -> Dataset:
    return generate_sample(seed=3, n_users=120, n_items=90)


def gift_cards(datasets_dir: Path) -> Dataset:
    """All Amazon 2018 Gift Cards 5-core reviews (2,972 rows, 7 duplicated user-item pairs) plus catalog rows."""
    with gzip.open(datasets_dir / "amazon2018-gift-cards" / "Gift_Cards_5.json.gz", "rt", encoding="utf-8") as f:
        recs = [json.loads(line) for line in f]
    users = IdMap.from_raw(r["reviewerID"] for r in recs)
    items = IdMap.from_raw(r["asin"] for r in recs)
    frame = pd.DataFrame(
        {
            "user": users.indices(r["reviewerID"] for r in recs),
            "item": items.indices(r["asin"] for r in recs),
            "rating": [r["overall"] for r in recs],
            "text": [r.get("reviewText", "") for r in recs],
            "timestamp": [r["unixReviewTime"] for r in recs],
        }
    )
    catalog = []
    with gzip.open(datasets_dir / "amazon2018-gift-cards" / "meta_Gift_Cards.json.gz", "rt", encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            if m["asin"] in items:
                price = m.get("price", "").lstrip("$")
                catalog.append(
                    {
                        "item": items.index(m["asin"]),
                        "title": m.get("title") or None,
                        "category": " > ".join(m.get("category", [])) or None,
                        "brand": m.get("brand") or None,
                        "price": float(price) if price.replace(".", "", 1).isdigit() else np.nan,
                        "description": " ".join(m.get("description", [])) or None,
                    }
                )
    catalog = pd.DataFrame(catalog).drop_duplicates("item")
    inter = frame.assign(event="rating")[["user", "item", "timestamp", "event", "rating"]]
    return Dataset(inter, users, items, reviews=frame, items=catalog, name="gift_cards")


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.user_ids == b.user_ids and a.item_ids == b.item_ids
    for table in ("interactions", "reviews", "items", "queries"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_dtype=True)


def test_sample_round_trips_exactly(tmp_path: Path, sample: Dataset) -> None:
    with Store(tmp_path / "shop.sqlite") as store:
        added = store.write_dataset(sample)
        back = store.read_dataset(name=sample.name)
    assert added == {
        "users": sample.n_users,
        "items": sample.n_items,
        "interactions": len(sample.interactions),
        "reviews": len(sample.reviews),
        "queries": len(sample.queries),
    }
    assert_same(sample, back)


def test_real_reviews_round_trip_and_duplicates_collapse(tmp_path: Path, datasets_dir: Path) -> None:
    data = gift_cards(datasets_dir)
    with Store(tmp_path / "gc.sqlite") as store:
        added = store.write_dataset(data)
        assert set(store.write_dataset(data).values()) == {0}
        back = store.read_dataset()
    # rows collapse only onto an identical natural key: the source's repeated user-item pairs differ
    # in time or text, so every review is kept
    rev_keys = data.reviews.assign(text=data.reviews["text"].fillna(""))[["user", "item", "timestamp", "text"]]
    assert added["reviews"] == len(rev_keys.drop_duplicates()) == 2972
    assert added["interactions"] == len(data.interactions[["user", "item", "timestamp", "event"]].drop_duplicates())
    assert back.user_ids == data.user_ids and back.item_ids == data.item_ids
    pd.testing.assert_frame_equal(back.items, data.items.sort_values("item").reset_index(drop=True))
    assert set(back.reviews["text"]) == set(data.reviews["text"].fillna(""))
    assert back.items["price"].notna().sum() == data.items["price"].notna().sum() > 0


def test_reingest_adds_nothing(tmp_path: Path, sample: Dataset) -> None:
    path = tmp_path / "shop.sqlite"
    with Store(path) as store:
        store.write_dataset(sample)
        before = store.counts()
    with Store(path) as store:  # a fresh open, as a second `whyrec ingest` would
        assert store.write_dataset(sample) == dict.fromkeys(["users", "items", "interactions", "reviews", "queries"], 0)
        assert store.counts() == before


def test_second_dataset_appends_ids_in_first_seen_order(tmp_path: Path) -> None:
    first = Dataset(
        pd.DataFrame({"user": [0, 1], "item": [0, 1], "timestamp": [1, 2], "event": "view", "rating": np.nan}),
        IdMap(("alice", "bob")),
        IdMap(("pan", "lid")),
    )
    second = Dataset(
        pd.DataFrame({"user": [0, 1], "item": [0, 1], "timestamp": [3, 2], "event": ["purchase", "view"], "rating": np.nan}),
        IdMap(("carol", "bob")),
        IdMap(("knife", "lid")),
    )
    with Store(tmp_path / "s.sqlite") as store:
        store.write_dataset(first)
        assert store.write_dataset(second)["interactions"] == 1  # bob's view of the lid at t=2 is already there
        back = store.read_dataset()
    assert back.user_ids.raw == ("alice", "bob", "carol")
    assert back.item_ids.raw == ("pan", "lid", "knife")
    rows = {
        (back.user_ids.raw[u], back.item_ids.raw[i], e)
        for u, i, e in back.interactions[["user", "item", "event"]].itertuples(index=False)
    }
    assert rows == {("alice", "pan", "view"), ("bob", "lid", "view"), ("carol", "knife", "purchase")}


def test_catalog_upsert_keeps_known_fields(tmp_path: Path) -> None:
    def shop(title: str | None, price: float) -> Dataset:
        return Dataset(
            pd.DataFrame({"user": [0], "item": [0], "timestamp": [1], "event": ["view"], "rating": [np.nan]}),
            IdMap(("u",)),
            IdMap(("sku1",)),
            items=pd.DataFrame(
                {
                    "item": [0],
                    "title": [title],
                    "category": ["Kitchen > Cookware > Pans"],
                    "brand": [None],
                    "price": [price],
                    "description": [None],
                }
            ),
        )

    with Store(tmp_path / "s.sqlite") as store:
        store.write_dataset(shop("Castrum Pan", 30.0))
        store.write_dataset(shop(None, 25.0))  # a later feed lacking the title: price updates, title stays
        row = store.read_dataset().items.iloc[0]
    assert (row["title"], row["price"], row["category"]) == ("Castrum Pan", 25.0, "Kitchen > Cookware > Pans")


def test_unknown_event_is_a_data_error(tmp_path: Path) -> None:
    bad = Dataset(
        pd.DataFrame({"user": [0, 0], "item": [0, 0], "timestamp": [1, 2], "event": ["view", "wishlist"], "rating": np.nan}),
        IdMap(("u",)),
        IdMap(("i",)),
        name="feed.csv",
    )
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(DataError) as err:
            store.write_dataset(bad)
        assert store.counts()["interactions"] == 0  # the transaction rolled back
    assert (err.value.file, err.value.row, err.value.field) == ("feed.csv", 2, "event")


def test_file_is_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == STORE_FORMAT
    conn.execute(f"PRAGMA user_version = {STORE_FORMAT + 1}")
    conn.close()
    with pytest.raises(ArtifactError, match=f"store format {STORE_FORMAT + 1}"):
        Store(path)


@pytest.mark.parametrize("content", [b"not a database at all" * 100, None])
def test_refuses_files_that_are_not_stores(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "other.sqlite"
    if content is None:  # a real SQLite file of some other application
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE t(x)")
        conn.close()
    else:
        path.write_bytes(content)
    with pytest.raises(ArtifactError, match="not a whyrec store"):
        Store(path)


def test_missing_store_is_refused_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no store here"):
        Store(tmp_path / "nope.sqlite", create=False)
    assert not (tmp_path / "nope.sqlite").exists()


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            store._conn.execute("INSERT INTO interactions(user, item, timestamp, event) VALUES (99, 99, 1, 'view')")


def test_live_events_feedback_and_catalog_edits(tmp_path: Path, sample: Dataset) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.write_dataset(sample)
        events = [("U00001", "SKU00002", 1_800_000_000, "view", None), ("new-user", "SKU00002", 1_800_000_100, "rating", 4.0)]
        assert store.add_events(events) == [0, 1]
        assert store.add_events(events) == []
        # a repeat inside one batch is not new either: only the positions the store inserted come back
        again = [("U00001", "SKU00003", 1_800_000_300, "view", None)] * 2 + [events[0]]
        assert store.add_events(again) == [0]
        with pytest.raises(DataError, match="unknown event"):
            store.add_events([("U00001", "SKU00002", 1, "wishlist", None)])
        store.add_feedback("new-user", "SKU00003", "dismiss", timestamp=1_800_000_200, payload={"reason": "owned"})
        store.upsert_item("SKU-NEW", title="Castrum Lid", price=12.5)
        with pytest.raises(DataError, match="colour"):
            store.upsert_item("SKU-NEW", colour="red")
    with Store(path, create=False) as reader:  # another connection sees the committed writes
        back = reader.read_dataset()
        assert reader.feedback() == [
            {
                "user": "new-user",
                "item": "SKU00003",
                "event": "dismiss",
                "timestamp": 1_800_000_200,
                "payload": {"reason": "owned"},
            }
        ]
    assert back.user_ids.raw[-1] == "new-user" and back.item_ids.raw[-1] == "SKU-NEW"
    new_rows = back.interactions[back.interactions["user"] == back.user_ids.index("new-user")]
    assert new_rows[["event", "rating"]].values.tolist() == [["rating", 4.0]]
    assert back.items.iloc[-1][["title", "price"]].tolist() == ["Castrum Lid", 12.5]


def test_reason_cache_drops_items_and_stales_only_attributions(tmp_path: Path, sample: Dataset) -> None:
    """A shopper's events leave their cached reasons and drop what the recommender credited; an item change drops it."""
    with Store(tmp_path / "s.sqlite") as store:
        store.write_dataset(sample)
        payload = {"reason": {"text": "The hood is great."}, "attribution": {"method": "cosine", "items": []}}
        for user in ("U00001", "U00002"):
            store.put_reasons(user, "v1", {"SKU00002": payload, "SKU00003": payload})
        assert store.stale_attributions(["U00001", "nobody"]) == 2
        assert store.stale_attributions(["U00001"]) == 0  # nothing left to drop
        assert store.cached_reasons("U00001", ["SKU00002", "SKU00003"], "v1") == {
            "SKU00002": {"reason": payload["reason"]},
            "SKU00003": {"reason": payload["reason"]},
        }
        assert store.cached_reasons("U00002", ["SKU00002"], "v1") == {"SKU00002": payload}
        assert store.drop_reasons(["SKU00002"]) == 2
        assert store.reason_counts("v1") == {"U00001": 1, "U00002": 1}


def test_summaries_agree_with_the_data(tmp_path: Path, sample: Dataset) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.write_dataset(sample)
        events = store.event_histogram()
        ratings = store.rating_histogram()
        sparsity = store.sparsity()
        texts = store.review_texts(50, seed=1)
        assert store.review_texts(50, seed=1) == texts
        assert len(store.review_texts(10**6)) == (sample.reviews["text"] != "").sum()
    inter = sample.interactions
    assert events == inter["event"].value_counts().reindex(list(events), fill_value=0).to_dict()
    rated = inter["rating"].dropna()
    assert ratings == {f"{r:g}": int(n) for r, n in rated.value_counts().sort_index().items()}
    pairs = len(inter[["user", "item"]].drop_duplicates())
    assert sparsity == pytest.approx(1 - pairs / (sample.n_users * sample.n_items))
    assert len(texts) == 50 and set(texts) <= set(sample.reviews["text"])


def test_a_bulk_write_keeps_each_event_once(tmp_path: Path) -> None:
    """20,000 views with 2,000 of them sent again: each (user, item, time) is stored once, and reads back as written."""
    rng = np.random.default_rng(0)
    views = pd.DataFrame(
        {"user": rng.permutation(20_000) % 1_000, "item": rng.integers(0, 500, 20_000), "timestamp": np.arange(20_000) + 10**9}
    ).assign(event="view", rating=np.nan)
    sent = pd.concat([views, views.sample(2_000, random_state=0)], ignore_index=True)
    data = Dataset(sent, IdMap.from_raw(f"u{i}" for i in range(1_000)), IdMap.from_raw(f"i{i}" for i in range(500)))
    with Store(tmp_path / "big.sqlite") as store:
        assert store.write_dataset(data)["interactions"] == 20_000
        back = store.read_dataset().interactions
    key = ["user", "item", "timestamp"]
    got = back[key].sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, views[key].sort_values(key, ignore_index=True), check_dtype=False)
