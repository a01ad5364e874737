"""What `Reasoner.fit` does for every reasoner: refuse a split over interactions, and leave the caller's torch RNG alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whyrec.data.split import Split, ratio
from whyrec.errors import ConfigError
from whyrec.explain.base import ReasonRequest
from whyrec.explain.peter import Peter, PeterConfig
from whyrec.explain.registry import REASONERS, make_reasoner
from whyrec.explain.template import TemplateReasoner

from .contract import battery_shop


@pytest.mark.parametrize("name", sorted(REASONERS))
def test_every_reasoner_refuses_an_interactions_split(name: str) -> None:
    interactions = Split("leave-last-out", None, np.arange(10), np.arange(10, 12), np.arange(12, 14))
    with pytest.raises(ConfigError, match=f"{name} trains on a reviews split, not a interactions split"):
        make_reasoner(name).fit(battery_shop(), interactions)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Peter(PeterConfig(emsize=16, nhead=2, nhid=32, nlayers=1, dropout=0.2, epochs=2, min_aspect_count=1)),
        TemplateReasoner,
    ],
    ids=["peter", "template"],
)
def test_fitting_leaves_the_callers_torch_rng_alone(make) -> None:
    shop = battery_shop()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    model = make().fit(shop, ratio(shop, seed=0, table="reviews"))
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.rand(7)  # the caller's RNG moves on; fit seeds its own, so the same model comes out
    again = make().fit(shop, ratio(shop, seed=0, table="reviews"))
    requests = [ReasonRequest(u, i) for u in range(-1, 3) for i in range(3)]
    assert [(r.text, r.score) for r in model.generate(requests)] == [(r.text, r.score) for r in again.generate(requests)]
