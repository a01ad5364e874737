"""The contract every Recommender keeps, run on each model (STYLE 4).

A model's test class inherits `RecommenderContract` and only says which registered model it
tests and how to build it; test_registry.py fails for a registered name that no such class tests:

    class TestItemKNN(RecommenderContract):
        model = "itemknn"

        def make(self) -> Recommender:
            return ItemKNN(ItemKNNConfig(k=20))

The known answer is implicit's checkerboard: user u interacted with item i iff u + i is even,
except the diagonal (u, u), which is withheld. Every same-parity item is co-consumed with u's
history and every other-parity item never is, so the withheld diagonal item is the only
same-parity item left and must come first. Items also carry parity-specific catalog text so a
content model can find the same answer from text alone.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from whyrec.data.schema import Dataset, IdMap
from whyrec.errors import ArtifactError
from whyrec.recommend.base import Recommender
from whyrec.recommend.registry import get_recommender_class

BOARD_SIZE = 40  # users = items; even, so both parities have BOARD_SIZE / 2 members

# Two clearly different product families, one per parity, so text alone separates them.
_PARITY_CATALOG = (
    {
        "title": "Waterproof hiking boots",
        "category": "Outdoor > Footwear > Boots",
        "brand": "Trailmark",
        "description": "Leather hiking boots with a waterproof membrane and a grippy rubber sole.",
    },
    {
        "title": "Stainless steel chef knife",
        "category": "Kitchen > Cutlery > Knives",
        "brand": "Edgewell",
        "description": "A sharp stainless steel kitchen knife for chopping vegetables and slicing meat.",
    },
)


def checkerboard(n: int = BOARD_SIZE, seed: int = 0) -> Dataset:
    """n users x n items; (u, i) interacted iff u + i even and u != i; per-user timestamps shuffled."""
    rng = np.random.default_rng(seed)
    users, items, stamps = [], [], []
    for u in range(n):
        mine = [i for i in range(u % 2, n, 2) if i != u]
        users += [u] * len(mine)
        items += mine
        # Order carries no signal: a sequence model must not depend on one.
        stamps += (1_600_000_000 + rng.permutation(len(mine)) * 3600).tolist()
    inter = pd.DataFrame({"user": users, "item": items, "timestamp": stamps, "event": "purchase", "rating": np.nan})
    catalog = pd.DataFrame([{"item": i, "price": 20.0 + i, **_PARITY_CATALOG[i % 2]} for i in range(n)])
    return Dataset(
        interactions=inter,
        user_ids=IdMap.from_raw(f"u{u}" for u in range(n)),
        item_ids=IdMap.from_raw(f"i{i}" for i in range(n)),
        items=catalog,
        name="checkerboard",
    )


def movielens_100k(datasets_dir: Path, nrows: int | None = None) -> Dataset:
    """ML-100k ratings (the first `nrows` lines of u.data, or all) as a Dataset: real data for model tests."""
    raw = pd.read_csv(datasets_dir / "movielens-100k" / "u.data", sep="\t", names=["u", "i", "rating", "timestamp"], nrows=nrows)
    u, i = raw["u"].astype(str), raw["i"].astype(str)
    users, items = IdMap.from_raw(u), IdMap.from_raw(i)
    inter = pd.DataFrame(
        {
            "user": users.indices(u),
            "item": items.indices(i),
            "timestamp": raw["timestamp"],
            "event": "rating",
            "rating": raw["rating"],
        }
    )
    return Dataset(inter, users, items, name="movielens-100k")


def popularity_order(dataset: Dataset) -> np.ndarray:
    """Items by training count, most first, ties by lower index: what the fallback must return."""
    counts = np.bincount(dataset.interactions["item"].to_numpy(), minlength=dataset.n_items)
    return np.lexsort((np.arange(dataset.n_items), -counts))


class RecommenderContract:
    """Mixin of contract tests; subclasses set `model`, define `make()` and may adjust the class attributes."""

    model: ClassVar[str]  # the name in RECOMMENDERS of the model make() builds
    # Fraction of users whose first recommendation must be the withheld diagonal item.
    # Deterministic models keep 1.0; a stochastic model may lower it and say why beside it.
    known_answer_min_fraction: ClassVar[float] = 1.0
    # Whether observe() of a user's new events changes that user's scores (fold-in, sequences,
    # scores read from the seen matrix). False for models whose scores ignore history (popularity).
    observes_change: ClassVar[bool] = True
    # Tolerance for "identical scores" after save/load and between two same-seed fits.
    score_atol: ClassVar[float] = 1e-6

    def make(self) -> Recommender:
        """A fresh, unfitted model with settings small enough for a < 10 s contract run."""
        raise NotImplementedError

    # ---- shared fixtures (fitted once per model class) ------------------------------------
    @pytest.fixture(scope="class")
    def board(self) -> Dataset:
        return checkerboard()

    @pytest.fixture(scope="class")
    def fitted(self, request: pytest.FixtureRequest, board: Dataset) -> Recommender:
        return request.cls().make().fit(board)

    @staticmethod
    def _copy(model: Recommender, where: Path) -> Recommender:
        """An independent copy (through save/load) that a test may mutate."""
        return Recommender.load(model.save(where))

    # ---- (0) the model named ----------------------------------------------------------------
    def test_builds_the_registered_model(self, fitted: Recommender) -> None:
        assert type(fitted) is get_recommender_class(self.model)

    # ---- (1) known answer -------------------------------------------------------------------
    def test_known_answer_withheld_diagonal_first(self, fitted: Recommender, board: Dataset) -> None:
        users = np.arange(board.n_users)
        first = np.array([r.items[0] for r in fitted.recommend(users, k=1)])
        hit = float(np.mean(first == users))
        assert hit >= self.known_answer_min_fraction, f"diagonal first for only {hit:.0%} of users"

    # ---- (2) seen items never recommended -----------------------------------------------------
    def test_seen_items_never_recommended(self, fitted: Recommender, board: Dataset) -> None:
        seen = board.interactions.groupby("user")["item"].agg(set)
        for ranked in fitted.recommend(np.arange(board.n_users), k=board.n_items):
            assert not seen[ranked.user] & set(ranked.items.tolist())
            # Everything unseen is rankable here (no cold items), so the list is exactly the rest.
            assert len(ranked.items) == board.n_items - len(seen[ranked.user])
            assert len(set(ranked.items.tolist())) == len(ranked.items)
            assert np.all(np.diff(ranked.scores) <= 0)

    # ---- (3) unknown users fall back to popularity ------------------------------------------
    @pytest.mark.parametrize("where", ["negative", "past_end"])
    def test_unknown_user_gets_popular_items(self, fitted: Recommender, board: Dataset, where: str) -> None:
        user = -1 if where == "negative" else board.n_users
        [ranked] = fitted.recommend([user], k=5)
        assert ranked.fallback is True
        assert ranked.items.tolist() == popularity_order(board)[:5].tolist()
        [known] = fitted.recommend([0], k=5)
        assert known.fallback is False

    # ---- (4) save -> load round trip ------------------------------------------------------------
    def test_save_load_same_scores_and_recommendations(self, fitted: Recommender, board: Dataset, tmp_path: Path) -> None:
        loaded = self._copy(fitted, tmp_path / "model")
        assert type(loaded) is type(fitted)
        assert loaded.config == fitted.config
        users = np.arange(board.n_users)
        np.testing.assert_allclose(loaded.score(users), fitted.score(users), atol=self.score_atol)
        for a, b in zip(loaded.recommend(users, k=10), fitted.recommend(users, k=10), strict=True):
            np.testing.assert_array_equal(a.items, b.items)
        with np.load(tmp_path / "model" / "weights.npz", allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)

    # ---- (5) format version mismatch ----------------------------------------------------------
    def test_format_mismatch_refuses_to_load(self, fitted: Recommender, tmp_path: Path) -> None:
        folder = fitted.save(tmp_path / "model")
        meta = json.loads((folder / "config.json").read_text())
        meta["format"] = meta["format"] + 1
        (folder / "config.json").write_text(json.dumps(meta))
        with pytest.raises(ArtifactError, match="format"):
            Recommender.load(folder)

    # ---- (6) observe new events ------------------------------------------------------------------
    def test_observe_excludes_new_items_and_folds_in(self, fitted: Recommender, board: Dataset, tmp_path: Path) -> None:
        model = self._copy(fitted, tmp_path / "model")
        user, other = 3, 4
        # The withheld diagonal item and an other-parity item: both unseen before.
        new_items = [user, 0]
        before = model.score(np.array([user, other]))
        last = int(board.interactions["timestamp"].max())
        events = pd.DataFrame(
            {"user": [user, user], "item": new_items, "timestamp": [last + 1, last + 2], "event": "purchase", "rating": np.nan}
        )
        model.observe(events)
        after = model.score(np.array([user, other]))
        [ranked] = model.recommend([user], k=board.n_items)
        assert not set(new_items) & set(ranked.items.tolist())
        # Observing one user's events never changes another user's scores.
        np.testing.assert_allclose(after[1], before[1], atol=self.score_atol)
        if self.observes_change:
            assert not np.allclose(after[0], before[0], atol=self.score_atol)
        else:
            np.testing.assert_allclose(after[0], before[0], atol=self.score_atol)

    # ---- (7) score shape and dtype -----------------------------------------------------------------
    def test_score_shape_dtype_and_item_subset(self, fitted: Recommender, board: Dataset) -> None:
        users = np.array([0, 5, 7])
        full = fitted.score(users)
        assert full.shape == (3, board.n_items)
        assert full.dtype == np.float32
        assert np.all(np.isfinite(full))
        subset = np.array([9, 2, 2, 31])
        part = fitted.score(users, subset)
        assert part.shape == (3, 4)
        assert part.dtype == np.float32
        np.testing.assert_allclose(part, full[:, subset], atol=self.score_atol)

    # ---- (8) determinism -----------------------------------------------------------------------------
    def test_same_seed_same_scores(self, fitted: Recommender, board: Dataset) -> None:
        again = self.make().fit(board)
        users = np.arange(board.n_users)
        np.testing.assert_allclose(again.score(users), fitted.score(users), atol=self.score_atol)


def contract_classes() -> list[type[RecommenderContract]]:
    """Every RecommenderContract subclass in this folder's test modules, imported here so a partial run sees them all."""
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        import_module(f"{__package__}.{path.stem}")
    return RecommenderContract.__subclasses__()
