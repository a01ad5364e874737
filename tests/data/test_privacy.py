"""Privacy: pseudonymous ids at ingest (no raw id in the store file, the key never written) and the DP release."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import Run, one_error_line, one_json
from whyrec.data.privacy import (
    KEY_ENV,
    clipped_counts,
    dp_statistics,
    key_fingerprint,
    laplace,
    pseudonym,
    pseudonymize,
)
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.errors import ConfigError

KEY = b"k3y-for-tests-only-0123456789"


@pytest.fixture(scope="module")
def gift_cards(datasets_dir: Path) -> tuple[Path, list[dict]]:
    """The real Amazon 2018 Gift Cards 5-core reviews (2,972 rows) and their records."""
    path = datasets_dir / "amazon2018-gift-cards" / "Gift_Cards_5.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return path, [json.loads(line) for line in f]


def store_bytes(path: Path) -> bytes:
    """The store file and its WAL/SHM side files, as a reader of the disk would see them."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")) if p.is_file())


# ---- pseudonyms ----------------------------------------------------------------------------------------


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=50, unique=True))
def test_pseudonyms_are_stable_distinct_and_keyed(raw: list[str]) -> None:
    first = [pseudonym(r, KEY) for r in raw]
    assert first == [pseudonym(r, KEY) for r in raw]
    assert len(set(first)) == len(raw)
    assert all(len(p) == 33 and p.startswith("p") and int(p[1:], 16) >= 0 for p in first)
    other = [pseudonym(r, KEY + b"!") for r in raw]
    assert not set(first) & set(other)


def test_pseudonymize_keeps_rows_and_replaces_only_user_ids() -> None:
    sample = generate_sample(seed=2, n_users=30, n_items=25)
    out = pseudonymize(sample, KEY)
    assert out.item_ids == sample.item_ids
    assert out.user_ids.raw == tuple(pseudonym(r, KEY) for r in sample.user_ids.raw)
    for table in ("interactions", "reviews", "queries"):
        assert getattr(out, table).equals(getattr(sample, table))


def test_ingest_pseudonymize_leaves_no_raw_user_id_and_no_key_in_the_store(
    cli: Run, gift_cards: tuple[Path, list[dict]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, records = gift_cards
    key_file = tmp_path / "id.key"
    key_file.write_bytes(KEY + b"\n")
    monkeypatch.delenv(KEY_ENV, raising=False)
    store = tmp_path / "shop.sqlite"
    out = one_json(
        cli("ingest", path, "--format", "amazon", "--store", store, "--pseudonymize", "--id-key-file", key_file, "--json")
    )
    raw_ids = {r["reviewerID"] for r in records}
    with Store(store) as db:
        users = db.read_dataset().user_ids.raw
        stats_out = db.setting("user_ids")
    assert len(users) == len(raw_ids) == out["users"]
    assert set(users) == {pseudonym(r, KEY) for r in raw_ids}
    blob = store_bytes(store)
    leaked = [r for r in raw_ids if r.encode() in blob]
    assert leaked == []
    assert KEY not in blob and stats_out == f"hmac-sha256:{key_fingerprint(KEY)}"
    # the same file and key again adds nothing: pseudonyms are stable across runs
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    again = one_json(cli("ingest", path, "--format", "amazon", "--store", store, "--pseudonymize", "--json"))
    assert again["added"]["interactions"] == 0


def test_mixing_raw_and_pseudonymous_ids_or_two_keys_is_refused(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    store = tmp_path / "p.sqlite"
    assert KEY_ENV in one_error_line(cli("ingest", "--format", "sample", "--store", store, "--pseudonymize"))
    assert not store.exists()
    monkeypatch.setenv(KEY_ENV, "short")
    assert "at least 16 bytes" in one_error_line(cli("ingest", "--format", "sample", "--store", store, "--pseudonymize"))
    monkeypatch.setenv(KEY_ENV, KEY.decode())
    assert cli("ingest", "--format", "sample", "--store", store, "--pseudonymize").returncode == 0
    assert "holds pseudonymous user ids" in one_error_line(cli("ingest", "--format", "sample", "--store", store))
    monkeypatch.setenv(KEY_ENV, "another-key-of-enough-length")
    assert "another key" in one_error_line(cli("ingest", "--format", "sample", "--store", store, "--pseudonymize"))
    plain = tmp_path / "raw.sqlite"
    assert cli("ingest", "--format", "sample", "--store", plain).returncode == 0
    assert "holds raw user ids" in one_error_line(cli("ingest", "--format", "sample", "--store", plain, "--pseudonymize"))
    stray = cli("ingest", "--format", "sample", "--store", plain, "--id-key-file", tmp_path / "k")
    assert "only used with --pseudonymize" in one_error_line(stray)


# ---- differential privacy --------------------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 5.0])
def test_laplace_noise_scale_matches_epsilon(epsilon: float) -> None:
    sensitivity = 4.0
    counts = np.full(20_000, 100.0)
    noise = laplace(counts, sensitivity, epsilon, np.random.default_rng(0)) - counts
    b = sensitivity / epsilon
    # Laplace(b) has variance 2 b^2 and mean |x| = b; 20k draws estimate the variance within ~2%
    assert noise.var() == pytest.approx(2 * b * b, rel=0.06)
    assert np.abs(noise).mean() == pytest.approx(b, rel=0.03)
    assert abs(noise.mean()) < 4 * b * np.sqrt(2 / 20_000)
    with pytest.raises(ConfigError):
        laplace(counts, sensitivity, 0.0, np.random.default_rng(0))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4)), min_size=1, max_size=200),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(0, 6),
)
def test_clipping_bounds_what_one_user_can_change(events: list[tuple[int, int]], clip: int, max_cells: int, gone: int) -> None:
    cells = ["a", "b", "c", "d", "e"]
    user = np.array([u for u, _ in events])
    cell = np.array([cells[c] for _, c in events], dtype=object)
    keep = user != gone
    for limit, bound in ((max_cells, clip * max_cells), (None, clip * len(cells))):
        with_user = clipped_counts(user, cell, cells, clip, limit)
        without = clipped_counts(user[keep], cell[keep], cells, clip, limit)
        assert np.abs(with_user - without).sum() <= bound
        assert (with_user >= without).all()  # removing a user never raises a count


def test_one_heavy_user_moves_a_category_by_at_most_clip() -> None:
    user = np.array([0] * 1000 + [1, 2, 3])
    cell = np.array(["x"] * 1000 + ["x", "y", "x"], dtype=object)
    assert clipped_counts(user, cell, ["x", "y"], clip=2).tolist() == [4.0, 1.0]


def test_dp_release_states_its_guarantee_and_its_noise_has_that_scale() -> None:
    sample = generate_sample(seed=0, n_users=150, n_items=90)
    first = dp_statistics(sample, 0.5, clip=2, max_categories=3, seed=1)
    n_cats = len(first["category_popularity"])
    assert first["sensitivity"] == 2 * (3 + 5) and first["laplace_scale"] == 32.0
    assert "epsilon=0.5" in first["statement"] and "sensitivity is 16" in first["statement"]
    assert first == dp_statistics(sample, 0.5, clip=2, max_categories=3, seed=1)  # seeded: reproducible
    # event-type cells are far from 0, so rounding and clamping hardly matter: their spread is the noise's
    draws = np.array(
        [
            [r["count"] for r in sorted(dp_statistics(sample, 0.5, clip=2, seed=s)["event_types"], key=lambda r: r["name"])]
            for s in range(100)
        ]
    )
    pooled_sd = (draws - draws.mean(axis=0)).std() * np.sqrt(draws.size / (draws.size - draws.shape[1]))
    assert n_cats >= 2
    assert pooled_sd == pytest.approx(first["noise_sd"], rel=0.15)  # 500 deviations: the sd is known to ~5%


def test_stats_dp_epsilon_prints_only_the_private_release(cli: Run, tmp_path: Path) -> None:
    store = tmp_path / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0, n_users=50, n_items=40))
    out = one_json(cli("stats", "--store", store, "--dp-epsilon", "2", "--dp-clip", "3", "--dp-seed", "7", "--json"))
    assert set(out) >= {"epsilon", "sensitivity", "laplace_scale", "statement", "category_popularity", "event_types"}
    assert not set(out) & {"users", "interactions", "sparsity", "top_aspects", "ratings"}  # the exact figures stay out
    assert out["sensitivity"] == 3 * (3 + 5) and out["laplace_scale"] == 12.0
    assert [r["name"] for r in out["event_types"]] and all(r["count"] >= 0 for r in out["category_popularity"])
    human = cli("stats", "--store", store, "--dp-epsilon", "2")
    assert human.returncode == 0 and "epsilon-DP with epsilon=2" in human.stdout
    assert "--dp-epsilon" in one_error_line(cli("stats", "--store", store, "--dp-epsilon", "0"))
