"""Constraints: bans and seeded nucleus samples, as both decoding loops apply them per row."""

import math

import torch

from whyrec.explain.decoding import Banned, Constraints


def scores_of(probs: list[float], vocab: int = 60) -> torch.Tensor:
    """(V,) logits whose softmax puts `probs` on the first tokens and spreads the rest thinly over the others."""
    rest = (1 - sum(probs)) / (vocab - len(probs))
    return torch.tensor([*probs, *[rest] * (vocab - len(probs))]).log()


def test_sampled_rows_keep_their_nucleus_and_greedy_rows_their_scores() -> None:
    row = scores_of([0.5, 0.3, 0.15, 0.01])
    banned = Banned.of({(1,)}, set())
    constraints = Constraints([Banned.empty(), banned, Banned.empty()], [7, None, 7], top_p=0.9, temperature=1.0)
    out = constraints.apply(torch.stack([row, row, row]), [[], [], []], [0, 1, 2])
    # nucleus of 0.9: 0.5 + 0.3 leave it open, 0.15 closes it; its tokens carry noise, the others -inf
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [0, 1, 2]
    assert not torch.equal(out[0, :3], row[:3])
    # greedy row: its scores, less its banned token
    assert out[1, 1] == -math.inf and torch.equal(out[1, [0, *range(2, 60)]], row[[0, *range(2, 60)]])
    # the same seed draws the same noise; each row's generator is its own
    assert torch.equal(out[0], out[2])


def test_a_rows_sample_does_not_depend_on_the_other_rows() -> None:
    rows = [scores_of([0.3, 0.3, 0.2, 0.1]), scores_of([0.6, 0.35]), scores_of([0.2] * 4)]
    alone = Constraints([Banned.empty()], [11], top_p=0.9, temperature=0.8).apply(rows[0][None], [[]], [0])
    together = Constraints([Banned.empty()] * 3, [11, 5, 3], top_p=0.9, temperature=0.8)
    out = together.apply(torch.stack(rows), [[], [], []], [0, 1, 2])
    assert torch.equal(out[0], alone[0])
    assert torch.isfinite(out[1]).sum() == 2  # 0.6 + 0.35 > 0.9 at the second token
    # rows already finished drop out of later calls: the remaining rows' generators go on from where they were
    later = together.apply(torch.stack(rows[1:]), [[4], [2]], [1, 2])
    assert later.shape == (2, 60) and torch.isfinite(later[0]).sum() == 2
