"""SASRec: the shared contract, causality, padding, both losses, the training loop, and sequence fold-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from whyrec.data.sample import generate_sample
from whyrec.data.schema import Dataset
from whyrec.data.split import Split, leave_last_out
from whyrec.errors import ConfigError
from whyrec.recommend.base import Recommender
from whyrec.recommend.popular import Popularity
from whyrec.recommend.sasrec import PAD, SASRec, SASRecConfig, extend_latest, latest_items
from whyrec.recommend.validation import validation_ndcg

from .contract import RecommenderContract, checkerboard

# One thread: on a shared 2-core machine torch's thread pool spins and tiny models run slower with two.
SMALL = dict(hidden=16, blocks=1, max_len=20, dropout=0.2, batch_size=8, lr=0.01, num_threads=1)
SHOP = dict(hidden=32, blocks=1, max_len=30, dropout=0.2, batch_size=32, lr=0.005, num_threads=1)


class TestSASRecCE(RecommenderContract):
    model = "sasrec"
    score_atol = 1e-5

    def make(self) -> Recommender:
        return SASRec(SASRecConfig(**SMALL, epochs=15, loss="ce"))


class TestSASRecBCE(RecommenderContract):
    model = "sasrec"
    score_atol = 1e-5

    def make(self) -> Recommender:
        return SASRec(SASRecConfig(**SMALL, epochs=15, loss="bce"))


@pytest.fixture(scope="module")
def board_model() -> SASRec:
    """Two blocks and two heads, so causality and padding are checked through every attention path."""
    return SASRec(SASRecConfig(**{**SMALL, "blocks": 2, "heads": 2}, epochs=3)).fit(checkerboard())


def _encode(model: SASRec, seq: list[list[int]]) -> torch.Tensor:
    model.net.eval()
    with torch.no_grad():
        return model.encode(torch.tensor(seq))


def test_attention_is_causal(board_model: SASRec) -> None:
    seq = [[0, 0, 5, 9, 13, 2, 7, 11]]  # item + 1 ids, left-padded
    changed = [[0, 0, 5, 9, 13, 30, 7, 11]]  # a different item at position 5
    a, b = _encode(board_model, seq)[0], _encode(board_model, changed)[0]
    torch.testing.assert_close(a[2:5], b[2:5], atol=1e-6, rtol=0)  # earlier positions cannot see it
    assert not torch.allclose(a[5:], b[5:], atol=1e-3)  # it and every later position do


def test_padding_does_not_change_states(board_model: SASRec, tmp_path: Path) -> None:
    items = [5, 9, 13, 2, 7]
    short = _encode(board_model, [items])[0]
    padded = _encode(board_model, [[0] * 15 + items])[0]
    torch.testing.assert_close(padded[-5:], short, atol=1e-5, rtol=0)
    # ...and scoring a user beside a longer sequence (so with more padding) leaves its scores alone.
    model = Recommender.load(board_model.save(tmp_path / "m"))
    alone = model.score(np.array([0]))
    model.latest[1] = np.arange(model.config.max_len) % model.n_items  # a full-length history
    together = model.score(np.array([0, 1]))
    np.testing.assert_allclose(together[:1], alone, atol=1e-5)


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return generate_sample(seed=0)


def _new_valid(shop: Dataset, split: Split) -> pd.DataFrame:
    """Validation rows whose item the user did not have in training: what early stopping is measured on."""
    valid = shop.interactions.iloc[split.valid]
    train = shop.interactions.iloc[split.train]
    had = valid.merge(train[["user", "item"]].drop_duplicates(), how="left", indicator=True)["_merge"] == "both"
    return valid[~had.to_numpy()]


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_both_losses_train_on_the_sample_shop(shop: Dataset, loss: str) -> None:
    split = leave_last_out(shop)
    calls: list[tuple[int, int, dict[str, float]]] = []
    model = SASRec(SASRecConfig(**SHOP, epochs=4, loss=loss))
    model.on_epoch = lambda epoch, total, metrics: calls.append((epoch, total, metrics))
    model.fit(shop, split)
    assert [(e, t) for e, t, _ in calls] == [(e, 4) for e in range(1, 5)]
    losses = [m["loss"] for _, _, m in calls]
    assert losses[-1] < 0.8 * losses[0], losses  # measured: 5.31 -> 3.89 (ce), 0.63 -> 0.40 (bce)
    # Validation NDCG@10 is measured every epoch, and training leaves the best epoch's weights in place.
    ndcg = {e: m["val_ndcg@10"] for e, _, m in calls}
    assert model.train_log.best_epoch == max(ndcg, key=ndcg.get)
    valid = _new_valid(shop, split)
    assert 0 < len(valid) < len(split.valid)  # the shop's funnels (view, cart, purchase) repeat items
    assert validation_ndcg(model, valid) == pytest.approx(max(ndcg.values()), abs=1e-6)
    # measured on the 104 non-repeat validation rows: 0.36 (ce), 0.25 (bce) against popularity's 0.067
    assert max(ndcg.values()) > 3 * validation_ndcg(Popularity().fit(shop, split), valid), ndcg


def test_early_stopping_keeps_the_best_epoch(shop: Dataset) -> None:
    split = leave_last_out(shop)
    # A learning rate this high makes validation fall after a few epochs; patience 2 must stop it.
    model = SASRec(SASRecConfig(**{**SHOP, "lr": 0.05}, epochs=40, patience=2)).fit(shop, split)
    log = model.train_log
    assert log.best_epoch == max(log.valid, key=log.valid.get)
    assert len(log.losses) == log.best_epoch + 2 < 40  # stopped after two validations without improvement
    assert validation_ndcg(model, _new_valid(shop, split)) == pytest.approx(log.valid[log.best_epoch], abs=1e-6)


def test_latest_items_and_extend_keep_the_newest_in_order() -> None:
    frame = pd.DataFrame({"user": [0, 0, 0, 0, 2], "item": [4, 5, 6, 7, 9]})
    latest = latest_items(frame, n_users=3, width=3)
    assert latest.tolist() == [[5, 6, 7], [PAD, PAD, PAD], [PAD, PAD, 9]]
    extend_latest(latest, pd.DataFrame({"user": [1, 2, 2], "item": [3, 8, 1]}))
    assert latest.tolist() == [[5, 6, 7], [PAD, PAD, 3], [9, 8, 1]]


def test_observe_scores_from_the_latest_events(board_model: SASRec, tmp_path: Path) -> None:
    model = Recommender.load(board_model.save(tmp_path / "m"))
    width = model.config.max_len
    # Users 2 and 3 have different histories; after both observe the same max_len new items,
    # only those items are left in view, so their scores become identical.
    before = model.score(np.array([2, 3]))
    assert not np.allclose(before[0], before[1], atol=1e-4)
    new = np.arange(width) % model.n_items
    stamps = 2_000_000_000 + np.arange(width)
    events = pd.DataFrame({"user": np.repeat([2, 3], width), "item": np.tile(new, 2), "timestamp": np.tile(stamps, 2)})
    model.observe(events.assign(event="view", rating=np.nan))
    after = model.score(np.array([2, 3]))
    np.testing.assert_allclose(after[0], after[1], atol=1e-5)
    assert model.latest[2].tolist() == new.tolist()


def test_training_leaves_torch_global_state_alone() -> None:
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    rng_state = torch.random.get_rng_state()
    SASRec(SASRecConfig(**{**SMALL, "num_threads": threads + 1}, epochs=1)).fit(checkerboard(8))
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng_state)


def test_heads_must_divide_hidden() -> None:
    with pytest.raises(ConfigError, match=r"field 'heads'.*must divide hidden"):
        SASRec.from_options({"hidden": 10, "heads": 3})
