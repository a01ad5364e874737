"""peter: the shared contract on a small fast configuration, plus PETER's own mechanics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from whyrec.errors import ArtifactError, NotFoundError
from whyrec.explain.base import Reasoner, ReasonRequest
from whyrec.explain.peter import BOS, EOS, PAD, UNK, Peter, PeterConfig, Vocabulary, _build_network, detokenize
from whyrec.explain.tokens import tokenize

from .contract import ReasonerContract

# Small enough to fit the contract's 40-review shop in seconds; PETER's SGD and early stopping as they are.
TINY = {"emsize": 32, "nhead": 2, "nhid": 64, "nlayers": 1, "dropout": 0.0, "epochs": 40, "batch_size": 8, "min_aspect_count": 1}


class TestPeterContract(ReasonerContract):
    model = "peter"

    def make(self) -> Reasoner:
        return Peter(PeterConfig(**TINY))

    def test_rating_head_learns_the_item_effect(self, fitted: Peter) -> None:
        # In the battery shop an item's rating is 4 + (item % 2): odd items are rated higher.
        users = np.repeat(np.arange(8), 6)
        items = np.tile(np.arange(6), 8)
        pred = fitted.predict_ratings(users, items)
        assert pred.min() >= 4.0 and pred.max() <= 5.0  # clipped to the training range
        assert pred[items % 2 == 1].mean() > pred[items % 2 == 0].mean() + 0.2

    def test_training_history_and_early_stopping(self, fitted: Peter) -> None:
        losses = [h["train_text"] for h in fitted.history]
        assert losses[-1] < losses[0] / 2
        assert all("valid_loss" in h for h in fitted.history)
        assert len(fitted.history) <= TINY["epochs"]

    def test_generated_length_is_bounded(self, fitted: Peter) -> None:
        for r in fitted.generate([ReasonRequest(u, i) for u in range(8) for i in range(6)]):
            assert 0 < len(tokenize(r.text)) <= fitted.config.max_words
            assert "<unk>" not in r.text and "<pad>" not in r.text

    def test_unknown_item_is_refused(self, fitted: Peter) -> None:
        with pytest.raises(NotFoundError):
            fitted.generate([ReasonRequest(0, 99)])

    def test_saved_weights_are_plain_arrays_and_checked(self, fitted: Peter, tmp_path: Path) -> None:
        fitted.save(tmp_path)
        with np.load(tmp_path / "weights.npz", allow_pickle=False) as z:
            assert "word_emb.weight" in z.files
        meta = json.loads((tmp_path / "config.json").read_text())
        (tmp_path / "config.json").write_text(json.dumps({**meta, "format": 99}))
        with pytest.raises(ArtifactError, match="format"):
            Peter.load(tmp_path)


def _tiny_net(peter_mask: bool):
    torch.manual_seed(0)
    config = PeterConfig(emsize=16, nhead=2, nhid=32, nlayers=2, dropout=0.0, peter_mask=peter_mask)
    return _build_network(config, n_users=3, n_items=4, n_words=10, feature_words=[[5], [UNK]]).eval()


@pytest.mark.parametrize("peter_mask", [True, False])
def test_attention_mask_user_sees_item_only_under_peter_mask(peter_mask: bool) -> None:
    net = _tiny_net(peter_mask)
    words = torch.tensor([[BOS, 5, 6, 7]])
    with torch.no_grad():
        a = net(torch.tensor([0]), torch.tensor([1]), None, words)  # (1, 6, D)
        b = net(torch.tensor([0]), torch.tensor([2]), None, words)  # another item
        c = net(torch.tensor([0]), torch.tensor([1]), None, torch.tensor([[BOS, 5, 9, 9]]))  # later words changed
    # the user position reads the item only under the PETER mask
    assert (not torch.allclose(a[0, 0], b[0, 0])) == peter_mask
    # words never see later words: positions up to word 5 are unchanged
    assert torch.allclose(a[0, :4], c[0, :4], atol=1e-6)
    assert not torch.allclose(a[0, 4], c[0, 4])


def test_mask_matrix() -> None:
    blocked = _tiny_net(True).mask(5, torch.device("cpu"))
    expected = torch.ones(5, 5, dtype=torch.bool).triu(1)
    expected[0, 1] = False
    assert torch.equal(blocked, expected)


def test_padding_does_not_change_real_positions() -> None:
    net = _tiny_net(True)
    with torch.no_grad():
        short = net(torch.tensor([1]), torch.tensor([0]), None, torch.tensor([[BOS, 5, EOS]]))
        padded = net(torch.tensor([1]), torch.tensor([0]), None, torch.tensor([[BOS, 5, EOS, PAD, PAD]]))
    assert torch.allclose(short[0], padded[0, :5], atol=1e-6)


def test_vocabulary_keeps_the_most_frequent_words_and_embeds_features_from_words() -> None:
    vocab = Vocabulary.build([["great", "battery"], ["great", "gift", "card"], ["great"]], ["gift card", "battery"], size=2)
    assert vocab.words[4:] == ["great", "battery"]  # "gift" and "card" fall outside the 2 most frequent
    assert vocab.features == ["battery", "gift card"]
    assert vocab.feature_words() == [[5], [UNK, UNK], [UNK]]
    assert vocab.feature_id("gift card") == 1 and vocab.feature_id("screen") == 2 and vocab.feature_id(None) == 2


_WORD = st.sampled_from(["the", "battery", "is", "great", "does", "n't", "it", "'s", "works", "(", ")", ",", ".", "!", "?"])


@given(st.lists(_WORD, min_size=1, max_size=20))
def test_detokenize_is_undone_by_tokenize(tokens: list[str]) -> None:
    tokens = tokenize(" ".join(tokens))  # metric tokens, as the model emits them
    assert tokenize(detokenize(tokens)) == tokens
