"""What every model trained by epochs shares: the epoch loop with early stopping, and seeded torch.

Recommenders (`recommend.training`), `peter` and `prompt_lm` each write their own epoch of
training and their own validation; `EpochLoop` runs the epochs, keeps the best validated state
under the model's `Stopping` rule, reports each epoch to `on_epoch` or a progress bar, and puts
the best state back. A leaf module (it imports only `whyrec.progress`), so `recommend` and
`explain` both use it without importing each other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from whyrec.progress import progress

# Training progress: (epoch done, 1-based; epoch limit; metrics such as {"loss": ..., "val_ndcg@10": ...}).
EpochHook = Callable[[int, int, dict[str, float]], None]


@contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """torch's CPU RNG seeded with `seed` inside the block, and the caller's RNG state back after it.

    Model init, dropout and sampling inside are reproducible, and fitting never moves the random
    state of the code around it.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@dataclass(frozen=True)
class Stopping:
    """Which validation metric selects the epoch to keep, which way is better, and when to stop."""

    metric: str  # key of the validate hook's metrics; an epoch without it was not validated
    higher_is_better: bool
    patience: int | None  # validations without a better score that end training; None = never stop early
    misses_in_all: bool = False  # count misses over the whole run (PETER's endure_count), not since the last best


@dataclass
class EpochLog:
    """What the loop did: the metrics of each epoch (as `on_epoch` got them) and the epoch kept."""

    metrics: list[dict[str, float]] = field(default_factory=list)  # per epoch, 1-based epoch e at index e - 1
    best_epoch: int | None = None  # the validated epoch whose state was kept; None when none was validated
    best: float | None = None  # its score
    seconds: float = 0.0  # wall time of the loop, validation included


class EpochLoop:
    """Runs up to `epochs` epochs: train, validate, keep the best, report, stop by `stopping`; restores the best.

    The bar (on stderr, only on a terminal and when no `on_epoch` hook listens) counts epochs, or
    optimiser steps when `steps` is given and the train hook calls `tick()` after each one.
    """

    def __init__(
        self, name: str, epochs: int, stopping: Stopping, on_epoch: EpochHook | None = None, steps: int | None = None
    ) -> None:
        self.name = name
        self.epochs = epochs
        self.stopping = stopping
        self.on_epoch = on_epoch
        self.steps = steps
        self._advance: Callable[[], None] = lambda: None

    def tick(self) -> None:
        """One optimiser step done: moves a bar that counts steps (a no-op when it counts epochs)."""
        self._advance()

    def run(
        self,
        train: Callable[[int], dict[str, float]],
        validate: Callable[[int], dict[str, float]],
        keep: Callable[[], Any],
        restore: Callable[[Any], None],
        on_miss: Callable[[], None] | None = None,
    ) -> EpochLog:
        """Epochs of `train(epoch)` then `validate(epoch)` (their metrics merged, in that order).

        `keep()` copies the trained state when a validation is the best so far; `restore(copy)` puts
        the best back at the end when a later epoch ran. `on_miss()` runs after a validation that
        was not better, unless it ends training (PETER anneals its learning rate there).
        """
        rule = self.stopping
        sign = 1.0 if rule.higher_is_better else -1.0
        log, state, misses, best = EpochLog(), None, 0, -math.inf  # best: the best score so far, times sign
        start = time.perf_counter()
        with progress(quiet=self.on_epoch is not None) as bar:
            task = bar.add_task(self.name, total=self.steps or self.epochs)
            if self.steps:
                self._advance = lambda: bar.advance(task)
            try:
                for epoch in range(1, self.epochs + 1):
                    metrics = train(epoch)
                    metrics.update(validate(epoch))
                    log.metrics.append(metrics)
                    missed = False
                    if rule.metric in metrics:
                        score = metrics[rule.metric]
                        if sign * score > best:  # a NaN score never is better
                            best, log.best_epoch, log.best, state = sign * score, epoch, score, keep()
                            if not rule.misses_in_all:
                                misses = 0
                        else:
                            misses, missed = misses + 1, True
                    shown = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
                    bar.update(task, advance=0 if self.steps else 1, description=f"{self.name} {shown}")
                    if self.on_epoch is not None:
                        self.on_epoch(epoch, self.epochs, metrics)
                    if missed and rule.patience is not None and misses >= rule.patience:
                        break
                    if missed and on_miss is not None:
                        on_miss()
            finally:
                self._advance = lambda: None
        if log.best_epoch is not None and log.best_epoch != len(log.metrics):
            restore(state)
        log.seconds = time.perf_counter() - start
        return log
