"""The Reasoner interface: fit on a dataset's reviews, then write one reason per (user, item)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from whyrec.data.schema import Dataset
from whyrec.data.split import Split
from whyrec.errors import ArtifactError

if TYPE_CHECKING:
    from whyrec.explain.aspects import AspectLexicon


class ReasonerConfig(BaseModel):
    """Fields every reasoner config shares; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42


@dataclass(frozen=True)
class ReasonRequest:
    """Explain why `item` suits `user` (dense ids of the fitted dataset; -1 = unknown user).

    `hint` names an aspect the reason should be about (PETER+'s feature; the grounding filter's
    retry); reasoners that cannot steer their text may ignore it.
    """

    user: int
    item: int
    hint: str | None = None


@dataclass
class Reason:
    """A reason and what it rests on, so a client or auditor can check it."""

    user: int
    item: int
    text: str
    aspects: list[str]  # aspects the text names
    evidence: dict = field(default_factory=dict)  # {"item_aspects": [...], "history_items": [...], ...}
    score: float = 0.0  # the model's own confidence (e.g. mean token log-prob)
    flags: list[str] = field(default_factory=list)  # set by grounding/safety filters; empty = passed


class Reasoner(ABC):
    """fit(dataset, split) -> generate(requests) -> list[Reason]; save/load as config + weights."""

    name: ClassVar[str]
    config_class: ClassVar[type[ReasonerConfig]] = ReasonerConfig
    lexicon: AspectLexicon | None = None  # the aspect vocabulary fit() built; grounding names aspects with it

    def __init__(self, config: ReasonerConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()

    @abstractmethod
    def fit(self, dataset: Dataset, split: Split | None = None) -> Self:
        """Learn from the training reviews of `split` (a reviews split), or all reviews."""

    @abstractmethod
    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        """One Reason per request, in order."""

    @abstractmethod
    def item_aspects(self) -> dict[int, list[str]]:
        """Per item (dense id) the aspects the fitted reasoner knows it has, best first: what grounding checks against."""

    def forget_user(self, user: int) -> bool:
        """Erase what the fitted reasoner keeps about one user (dense id); False when it cannot (retrain to forget)."""
        return False

    @abstractmethod
    def save(self, path: str | Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Self: ...


def read_saved(path: Path, name: str, version: int, *json_files: str) -> tuple[dict, list[dict]]:
    """A saved reasoner's config.json, checked against `name` and format `version`, and its other JSON files.

    Missing files and other models' or formats' folders are ArtifactErrors naming the folder.
    """
    try:
        meta = json.loads((path / "config.json").read_text())
        parts = [json.loads((path / f).read_text(encoding="utf-8")) for f in json_files]
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: {name} reasoner incomplete ({Path(exc.filename).name} missing)") from exc
    if meta.get("model") != name or meta.get("format") != version:
        raise ArtifactError(f"{path}: saved {meta.get('model')} format {meta.get('format')}; expects {name} format {version}")
    return meta, parts
