"""peter: the shared contract on a small fast configuration, plus its own behaviour."""

from __future__ import annotations

from whyrec.explain.base import Reasoner
from whyrec.explain.peter import Peter, PeterConfig

from .contract import ReasonerContract

# Small and quick to fit on the contract's battery shop; Adam-free SGD as PETER, but a lower lr
# and no early stop so a few dozen examples are enough.
TINY = {"emsize": 32, "nhead": 2, "nhid": 64, "nlayers": 1, "dropout": 0.0, "epochs": 40, "batch_size": 8, "min_aspect_count": 1}


class TestPeterContract(ReasonerContract):
    def make(self) -> Reasoner:
        return Peter(PeterConfig(**TINY))
