"""The shared epoch loop on scripted validation scores: which epoch stops training, which state comes back."""

from __future__ import annotations

import math

import pytest
from rich.progress import Progress

from whyrec import training
from whyrec.progress import progress
from whyrec.training import EpochLoop, Stopping


class Scripted:
    """Fake hooks: epoch e trains to state e and validates to scores[e - 1] (None: not validated that epoch)."""

    def __init__(self, scores: list[float | None], metric: str = "score") -> None:
        self.scores = scores
        self.metric = metric
        self.state = 0  # the "weights": the last epoch trained, or the epoch restored
        self.misses: list[int] = []  # epochs after which on_miss ran
        self.restored: list[int] = []

    def train(self, epoch: int) -> dict[str, float]:
        self.state = epoch
        return {"loss": 1.0 / epoch}

    def validate(self, epoch: int) -> dict[str, float]:
        score = self.scores[epoch - 1]
        return {} if score is None else {self.metric: score}

    def keep(self) -> int:
        return self.state

    def restore(self, kept: int) -> None:
        self.restored.append(kept)
        self.state = kept

    def run(self, stopping: Stopping, epochs: int | None = None, calls: list | None = None):
        on_epoch = None if calls is None else (lambda e, n, m: calls.append((e, n, m)))
        loop = EpochLoop("fake", epochs or len(self.scores), stopping, on_epoch)
        return loop.run(self.train, self.validate, self.keep, self.restore, on_miss=lambda: self.misses.append(self.state))


def test_higher_is_better_stops_after_patience_misses_since_the_best_and_restores_it() -> None:
    fake = Scripted([0.1, 0.3, 0.2, 0.35, 0.3, 0.34, 0.9, 0.95])
    calls: list = []
    log = fake.run(Stopping("score", higher_is_better=True, patience=2), calls=calls)
    # epoch 5 misses once (reset by epoch 4's best), epoch 6 is the second miss in a row: stop there
    assert len(log.metrics) == 6 and fake.misses == [3, 5]
    assert (log.best_epoch, log.best) == (4, 0.35) and fake.restored == [4] and fake.state == 4
    assert [(e, n) for e, n, _ in calls] == [(e, 8) for e in range(1, 7)]
    assert calls[2][2] == {"loss": 1.0 / 3, "score": 0.2} and [m for _, _, m in calls] == log.metrics


def test_misses_in_all_counts_every_miss_of_the_run_as_peter_does() -> None:
    scores = [5.0, 4.0, 4.5, 3.0, 3.5, 2.0, 1.0]  # lower is better: misses at epochs 3 and 5
    peter = Scripted(scores).run(Stopping("score", higher_is_better=False, patience=2, misses_in_all=True))
    assert len(peter.metrics) == 5 and peter.best_epoch == 4  # the second miss in all ends it
    reset = Scripted(scores)
    log = reset.run(Stopping("score", higher_is_better=False, patience=2))
    assert (
        len(log.metrics) == 7 and log.best_epoch == 7 and reset.restored == []
    )  # the last epoch is the best: nothing to put back


def test_on_miss_runs_only_when_training_goes_on() -> None:
    fake = Scripted([1.0, 2.0, 3.0])
    log = fake.run(Stopping("score", higher_is_better=False, patience=2, misses_in_all=True))
    assert len(log.metrics) == 3 and fake.misses == [2]  # epoch 3's miss stops training before annealing


def test_epochs_without_validation_neither_count_nor_stop() -> None:
    fake = Scripted([None, 0.5, None, 0.4, None, 0.3, None])  # validated every other epoch
    log = fake.run(Stopping("score", higher_is_better=True, patience=2))
    assert len(log.metrics) == 6 and log.best_epoch == 2 and fake.restored == [2]
    assert "score" not in log.metrics[0] and log.metrics[1]["score"] == 0.5


def test_no_patience_runs_every_epoch_and_no_validation_keeps_the_last() -> None:
    fake = Scripted([0.5, 0.4, 0.3, 0.2])
    log = fake.run(Stopping("score", higher_is_better=True, patience=None))
    assert len(log.metrics) == 4 and log.best_epoch == 1 and fake.state == 1
    unvalidated = Scripted([None] * 3)
    log = unvalidated.run(Stopping("score", higher_is_better=True, patience=1))
    assert len(log.metrics) == 3 and log.best_epoch is None and log.best is None and unvalidated.state == 3


def test_patience_zero_stops_at_the_first_miss() -> None:
    log = Scripted([3.0, 2.0, 2.5, 1.0]).run(Stopping("score", higher_is_better=False, patience=0, misses_in_all=True))
    assert len(log.metrics) == 3 and log.best_epoch == 2


def test_a_nan_score_is_never_the_best() -> None:
    fake = Scripted([math.nan, 0.2, math.nan, 0.1])
    log = fake.run(Stopping("score", higher_is_better=False, patience=None))
    assert log.best_epoch == 4 and log.best == pytest.approx(0.1)


@pytest.fixture
def bars(monkeypatch: pytest.MonkeyPatch) -> list[Progress]:
    """The progress bars the loop draws (hidden), to read their counts."""
    made: list[Progress] = []

    def quiet_progress(*, quiet: bool = False) -> Progress:
        made.append(progress(quiet=True))
        return made[-1]

    monkeypatch.setattr(training, "progress", quiet_progress)
    return made


def test_the_bar_counts_epochs_or_the_steps_the_train_hook_ticks(bars: list[Progress]) -> None:
    Scripted([0.5, 0.4, 0.3, 0.2]).run(Stopping("score", higher_is_better=True, patience=2))
    assert (bars[0].tasks[0].completed, bars[0].tasks[0].total) == (3, 4)  # stopped after epoch 3 of 4

    loop = EpochLoop("steps", 2, Stopping("score", higher_is_better=True, patience=None), steps=6)
    loop.tick()  # before run: nothing to move

    def train(epoch: int) -> dict[str, float]:
        for _ in range(3):
            loop.tick()
        return {"loss": 0.0}

    loop.run(train, lambda e: {}, keep=lambda: None, restore=lambda kept: None)
    loop.tick()  # after run: nothing to move
    assert (bars[1].tasks[0].completed, bars[1].tasks[0].total) == (6, 6)
