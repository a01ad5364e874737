"""The one epoch loop every trainable torch recommender shares (STYLE: one loop, small hooks).

A model subclasses `TorchRecommender` and writes four hooks: `_build` (the network),
`batches` (one epoch of training examples), `loss` (of one batch) and `refresh` (bring
`score()` up to date with the weights). The loop here owns everything else: seeding, thread
count, the optimiser, and validation NDCG@10 under full ranking (seen items excluded, through
`whyrec.recommend.validation.validation_ndcg`; validation items the user already had are left out,
as evaluation leaves them out); `whyrec.training.EpochLoop` early-stops on it, keeps the best
weights and reports progress.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from whyrec.recommend.base import Recommender, RecommenderConfig, TrainData
from whyrec.recommend.validation import validation_ndcg
from whyrec.training import EpochLoop, Stopping, seeded_torch

if TYPE_CHECKING:
    import torch

VALID_METRIC = "val_ndcg@10"


class TrainConfig(RecommenderConfig):
    """Optimisation settings every torch model shares; each model's config adds its own fields."""

    epochs: PositiveInt = 200  # upper bound; early stopping usually ends training sooner
    batch_size: PositiveInt = 128  # training examples per optimiser step (sequences, or (user, item) pairs)
    lr: PositiveFloat = 1e-3  # Adam(W) learning rate
    weight_decay: NonNegativeFloat = 0.0  # AdamW's decoupled weight decay on all parameters
    patience: NonNegativeInt = (
        10  # validations without a better NDCG@10 before stopping (RecBole's default); 0 = never stop early
    )
    eval_every: PositiveInt = 1  # validate every this many epochs (and after the last one)
    num_threads: NonNegativeInt = 0  # torch CPU threads while training; 0 = all cores this process may use


@dataclass
class TrainLog:
    """What training did: per-epoch loss, validation NDCG@10 where measured, and the epoch kept."""

    losses: list[float] = field(default_factory=list)  # mean batch loss per epoch
    valid: dict[int, float] = field(default_factory=dict)  # 1-based epoch -> validation NDCG@10
    best_epoch: int = 0  # epoch whose weights were kept (the last one when there is no validation)
    seconds: float = 0.0  # wall time of the loop, validation included


@contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """torch's CPU thread count set for the block (0 = all cores this process may use), restored after."""
    import torch

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    old = torch.get_num_threads()
    torch.set_num_threads(num_threads or available)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def torch_session(seed: int, num_threads: int) -> Iterator[None]:
    """Seeded, deterministic torch with a set thread count; torch's global settings are restored after.

    Model init and dropout are reproducible without moving the caller's own random state (`seeded_torch`).
    """
    import torch

    old_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with torch_threads(num_threads), seeded_torch(seed):
            yield
    finally:
        torch.use_deterministic_algorithms(old_deterministic)


def sample_negatives(rng: np.random.Generator, users: np.ndarray, n_items: int, owned: np.ndarray, tries: int = 10) -> np.ndarray:
    """One item per entry of `users`, uniform over items that user never had in training.

    `owned` is the sorted array of user * n_items + item keys of training pairs. Collisions are
    redrawn up to `tries` times; after that the few left keep their draw (a negligible bias
    except for users who had nearly the whole catalog).
    """
    users = users.astype(np.int64)
    neg = rng.integers(0, n_items, size=len(users))
    todo = np.arange(len(users))
    for _ in range(tries):
        keys = users[todo] * n_items + neg[todo]
        found = np.searchsorted(owned, keys)
        clash = owned[np.minimum(found, len(owned) - 1)] == keys
        todo = todo[clash]
        if not len(todo):
            break
        neg[todo] = rng.integers(0, n_items, size=len(todo))
    return neg


def owned_keys(seen: sp.csr_matrix) -> np.ndarray:
    """Sorted user * n_items + item keys of the nonzero entries of a CSR seen matrix (for `sample_negatives`)."""
    coo = seen.tocoo()
    return np.sort(coo.row.astype(np.int64) * seen.shape[1] + coo.col)


class TorchRecommender(Recommender):
    """A Recommender trained by `train_epochs`; subclasses write the hooks below and `score`."""

    config: TrainConfig
    # Attributes `_build` sets for training only (edges, sampled pairs...); dropped after fit to free memory.
    _training_only: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TrainConfig | None = None) -> None:
        super().__init__(config)
        self.net: torch.nn.Module | None = None  # the network while it exists (after fit; after load if rebuilt)
        self.train_log: TrainLog | None = None  # set by fit; not saved

    # ---- hooks ------------------------------------------------------------------------------
    @abstractmethod
    def _build(self, data: TrainData) -> torch.nn.Module:
        """A freshly initialised network for this data (called inside the seeded session)."""

    @abstractmethod
    def batches(self, rng: np.random.Generator) -> Iterable[Any]:
        """One epoch of training batches, shuffled with `rng`."""

    @abstractmethod
    def loss(self, batch: Any) -> torch.Tensor:
        """Scalar loss of one batch (the network is in training mode)."""

    def refresh(self) -> None:
        """Make `score()` reflect the current weights (called in eval mode, without gradients)."""

    # ---- the loop -------------------------------------------------------------------------------
    def _fit(self, data: TrainData) -> None:
        # A validation item the user already had in training can never be recommended (seen items
        # are excluded), so keeping it would early-stop on how well the model predicts repeats.
        valid = data.valid
        if len(valid):
            had = np.asarray(data.seen[valid["user"].to_numpy(), valid["item"].to_numpy()]).ravel() > 0
            valid = valid[~had]
        with torch_session(self.config.seed, self.config.num_threads):
            self.net = self._build(data)
            self.train_log = train_epochs(self, valid)
        for name in self._training_only:
            delattr(self, name)


def train_epochs(model: TorchRecommender, valid: pd.DataFrame) -> TrainLog:
    """Train `model.net` with AdamW for up to `epochs`, keeping the weights of the best validation NDCG@10.

    Validation runs every `eval_every` epochs and after the last one; without validation rows
    every epoch runs and the last weights are kept. Progress goes to `model.on_epoch` when a
    caller set one; otherwise to a rich bar on stderr (drawn only on a terminal).
    """
    import torch

    cfg = model.config
    net = model.net
    assert net is not None, "train_epochs runs after _build"
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)

    def train(_epoch: int) -> dict[str, float]:
        net.train()
        total, count = 0.0, 0
        for batch in model.batches(rng):
            optimiser.zero_grad(set_to_none=True)
            loss = model.loss(batch)
            loss.backward()
            optimiser.step()
            total, count = total + float(loss.detach()), count + 1
        return {"loss": total / max(count, 1)}

    def validate(epoch: int) -> dict[str, float]:
        if valid.empty or (epoch % cfg.eval_every and epoch != cfg.epochs):
            return {}
        net.eval()
        with torch.no_grad():
            model.refresh()
            return {VALID_METRIC: validation_ndcg(model, valid, k=10)}

    stopping = Stopping(VALID_METRIC, higher_is_better=True, patience=cfg.patience or None)
    run = EpochLoop(model.name, cfg.epochs, stopping, model.on_epoch).run(
        train, validate, keep=lambda: {k: v.detach().clone() for k, v in net.state_dict().items()}, restore=net.load_state_dict
    )
    net.eval()
    with torch.no_grad():
        model.refresh()
    return TrainLog(
        losses=[m["loss"] for m in run.metrics],
        valid={e: m[VALID_METRIC] for e, m in enumerate(run.metrics, 1) if VALID_METRIC in m},
        best_epoch=run.best_epoch or len(run.metrics),
        seconds=run.seconds,
    )
