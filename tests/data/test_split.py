"""Split protocols: each partitions the rows, holds out what it promises, and round-trips to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.data.sample import generate_sample
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.split import PROTOCOLS, Split, distinct_reviews, leave_last_out, make_split, ratio, temporal
from whyrec.errors import ConfigError


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    """Small shops with repeated users and tied timestamps, the cases splits get wrong."""
    n_users = draw(st.integers(1, 6))
    n = draw(st.integers(0, 50))
    users = draw(st.lists(st.integers(0, n_users - 1), min_size=n, max_size=n))
    times = draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))
    n_reviews = draw(st.integers(0, 30))
    inter = pd.DataFrame({"user": users, "item": 0, "timestamp": times, "event": "view", "rating": np.nan})
    reviews = pd.DataFrame({"user": 0, "item": 0, "rating": 4.0, "text": [f"r{i}" for i in range(n_reviews)], "timestamp": 0})
    return Dataset(inter, IdMap.from_raw(f"u{i}" for i in range(n_users)), IdMap(("i",)), reviews=reviews)


def assert_partition(split: Split, n: int) -> None:
    parts = np.concatenate([split.train, split.valid, split.test])
    assert len(parts) == n and np.array_equal(np.sort(parts), np.arange(n))


@settings(max_examples=60, deadline=None)
@given(datasets(), st.integers(0, 2**31 - 1))
def test_every_protocol_partitions_the_rows(data: Dataset, seed: int) -> None:
    for protocol in PROTOCOLS:
        s = make_split(data, protocol, seed)
        assert_partition(s, len(getattr(data, s.table)))
    assert_partition(ratio(data, seed, table="interactions"), len(data.interactions))


@settings(max_examples=60, deadline=None)
@given(datasets())
def test_leave_last_out_holds_out_each_users_latest(data: Dataset) -> None:
    s = leave_last_out(data)
    inter = data.interactions
    sizes = inter.groupby("user").size()
    eligible = set(sizes[sizes >= 3].index)
    assert sorted(inter.loc[s.test, "user"]) == sorted(eligible)
    assert sorted(inter.loc[s.valid, "user"]) == sorted(eligible)
    latest = inter.groupby("user")["timestamp"].max()
    for row in s.test:
        assert inter.at[row, "timestamp"] == latest[inter.at[row, "user"]]
    rest = inter.drop(index=s.test).groupby("user")["timestamp"].max()
    for row in s.valid:
        assert inter.at[row, "timestamp"] == rest[inter.at[row, "user"]]
    assert (s.protocol, s.seed, s.table) == ("leave-last-out", None, "interactions")


@settings(max_examples=60, deadline=None)
@given(datasets(), st.floats(0, 0.45), st.floats(0, 0.45))
def test_temporal_cut_orders_parts_in_time(data: Dataset, valid_frac: float, test_frac: float) -> None:
    s = temporal(data, valid_frac=valid_frac, test_frac=test_frac)
    assert_partition(s, len(data.interactions))
    ts = data.interactions["timestamp"].to_numpy()
    for earlier, later in ((s.train, s.valid), (s.valid, s.test), (s.train, s.test)):
        if len(earlier) and len(later):
            assert ts[earlier].max() < ts[later].min()
    # ties may push rows later, never earlier: the test part is at least as large as asked
    assert len(s.test) >= round(len(ts) * test_frac)


@settings(max_examples=40, deadline=None)
@given(datasets(), st.integers(0, 2**31 - 1))
def test_ratio_is_reproducible_by_seed_with_8_1_1_sizes(data: Dataset, seed: int) -> None:
    a, b = ratio(data, seed), ratio(data, seed)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    n = len(data.reviews)
    assert (len(a.train), len(a.valid)) == (int(n * 0.8), int(n * 0.1))
    assert (a.protocol, a.seed, a.table) == ("ratio", seed, "reviews")


def test_ratio_differs_across_seeds_on_the_sample() -> None:
    shop = generate_sample(seed=1, n_users=80, n_items=60)
    a, b = ratio(shop, 1), ratio(shop, 2)
    assert not np.array_equal(a.test, b.test)
    assert len(a.test) == len(shop.reviews) - int(len(shop.reviews) * 0.8) - int(len(shop.reviews) * 0.1)


def test_distinct_reviews_keeps_each_authors_first_copy_of_a_text() -> None:
    # One review filed under three variant items, written at times 5, 1 and 9: the copy at time 1 stays;
    # another user's identical text is their own review and stays too.
    reviews = pd.DataFrame(
        {
            "user": [0, 0, 0, 1, 0],
            "item": [0, 1, 2, 0, 3],
            "rating": 5.0,
            "text": ["love it", "love it", "love it", "love it", "too small"],
            "timestamp": [5, 1, 9, 3, 2],
        }
    )
    data = Dataset(
        pd.DataFrame(columns=["user", "item", "timestamp", "event", "rating"]),
        IdMap(("a", "b")),
        IdMap(tuple("wxyz")),
        reviews=reviews,
    )
    assert distinct_reviews(data).tolist() == [1, 3, 4]


@settings(max_examples=40, deadline=None)
@given(datasets(), st.integers(0, 2**31 - 1), st.data())
def test_ratio_over_chosen_rows_partitions_exactly_those(data: Dataset, seed: int, draw: st.DataObject) -> None:
    n = len(data.reviews)
    rows = np.array(sorted(draw.draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))) if n else [], dtype=np.int64)
    split = ratio(data, seed, rows=rows)
    parts = np.concatenate([split.train, split.valid, split.test])
    assert np.array_equal(np.sort(parts), rows)
    assert (len(split.train), len(split.valid)) == (int(len(rows) * 0.8), int(len(rows) * 0.1))


def test_ratio_refuses_rows_outside_the_table() -> None:
    shop = generate_sample(seed=1, n_users=30, n_items=20)
    with pytest.raises(ConfigError, match="distinct positions"):
        ratio(shop, 1, rows=np.array([0, len(shop.reviews)]))


def test_leave_last_out_on_the_sample_holds_one_row_per_user(tmp_path: Path) -> None:
    shop = generate_sample(seed=1, n_users=80, n_items=60)
    s = leave_last_out(shop)
    assert len(s.test) == len(s.valid) == shop.n_users
    back = Split.load(s.save(tmp_path / "split"))
    assert (back.protocol, back.seed, back.table) == (s.protocol, s.seed, s.table)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(back, part), getattr(s, part))


@settings(max_examples=30, deadline=None)
@given(datasets(), st.sampled_from(PROTOCOLS), st.integers(0, 1000))
def test_save_load_round_trip(tmp_path_factory: pytest.TempPathFactory, data: Dataset, protocol: str, seed: int) -> None:
    s = make_split(data, protocol, seed)
    back = Split.load(s.save(tmp_path_factory.mktemp("split")))
    assert (back.protocol, back.seed, back.table) == (s.protocol, s.seed, s.table)
    for part in ("train", "valid", "test"):
        assert np.array_equal(getattr(back, part), getattr(s, part))


def test_make_split_picks_table_by_data() -> None:
    shop = generate_sample(seed=1, n_users=40, n_items=30)
    assert make_split(shop, "ratio", 3).table == "reviews"
    no_reviews = Dataset(shop.interactions, shop.user_ids, shop.item_ids)
    assert make_split(no_reviews, "ratio", 3).table == "interactions"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: make_split(d, "random", 1), "unknown split protocol 'random'"),
        (lambda d: make_split(d, "temporal", 1, table="reviews"), "only for the ratio protocol"),
        (lambda d: ratio(d, 1, fractions=(0.8, 0.1, 0.2)), "summing to 1"),
        (lambda d: ratio(d, 1, table="items"), "table must be"),
        (lambda d: temporal(d, valid_frac=0.5, test_frac=0.5), "sum < 1"),
    ],
)
def test_bad_requests_are_config_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    shop = generate_sample(seed=1, n_users=20, n_items=20)
    with pytest.raises(ConfigError, match=message):
        call(shop)
