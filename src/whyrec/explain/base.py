"""The Reasoner interface: fit on a dataset's reviews, then write one reason per (user, item).

`Reasoner.fit` is a template method: it checks the split is over reviews, takes the training
rows, builds the aspect lexicon from them, and hands a `TrainingReviews` to the model's hooks.
`save`/`load` write and check the metadata every reasoner has (config.json, lexicon.json, the
model's JSON parts); models add their weights through hooks.
"""

from __future__ import annotations

import json
import zipfile
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from whyrec.data.schema import Dataset, review_copies, written_once
from whyrec.data.split import Split
from whyrec.errors import ArtifactError, ConfigError
from whyrec.explain.aspects import AspectLexicon
from whyrec.explain.targets import aspect_mentions, catalog_aspects
from whyrec.training import EpochHook, seeded_torch

if TYPE_CHECKING:
    import pandas as pd


def _read_json(path: Path, model: str) -> Any:
    """One JSON file of a saved reasoner; missing or damaged, an ArtifactError naming it."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path.parent}: {model} reasoner incomplete ({path.name} missing)") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc


# What a damaged saved file raises while a model restores from it (wrong JSON shapes, unreadable or mistyped arrays).
_DAMAGE = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    RuntimeError,
    EOFError,
    zipfile.BadZipFile,
    json.JSONDecodeError,
)


class ReasonerConfig(BaseModel):
    """Fields every reasoner config shares; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42
    min_aspect_count: int = 3  # reviewers whose reviews must judge a feature for the lexicon built in fit to keep it


@dataclass(frozen=True)
class ReasonRequest:
    """Explain why `item` suits `user` (dense ids of the fitted dataset; -1 = unknown user).

    `hint` names an aspect the reason should be about (PETER+'s feature; the grounding filter's
    retry); reasoners that cannot steer their text may ignore it. `praised` lists what the served
    facts say the item's reviews praise, best first: the store's reviews now, which a reasoner's
    record from fitting may lack (an item whose reviews all came later), for a reasoner that picks
    its own hint; `praised_with` the adjectives those reviews praised each aspect with, most used first
    ("bottle": ("pretty",)), for a reasoner that words its praise as the reviews did.
    """

    user: int
    item: int
    hint: str | None = None
    praised: tuple[str, ...] = ()
    praised_with: tuple[tuple[str, tuple[str, ...]], ...] = ()


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


@dataclass
class TrainingReviews:
    """What `Reasoner.fit` hands a model's hooks: the training reviews and what the lexicon finds in them."""

    dataset: Dataset
    split: Split | None  # the reviews split fit was given, if any
    rows: np.ndarray  # positions in dataset.reviews to learn from, in the split's order (all reviews without one)
    lexicon: AspectLexicon  # built from the reviews at `rows`, a review filed under several variants once
    # row -> the earlier row it copies, of the reviews Amazon files under several variants (`review_copies`); found
    # here where not given, given by `Reasoner.fit`, which found them for the lexicon
    copies: dict[int, int] | None = None

    def __post_init__(self) -> None:
        if self.copies is None:
            self.copies = review_copies(self.dataset.reviews, self.rows)

    @cached_property
    def once(self) -> set[int]:
        """The positions of `rows` that copy no earlier review: the shopper's side counts a review Amazon files under
        several variants once, where each listing's side keeps its copy."""
        return set(written_once(self.dataset.reviews, self.rows, self.copies).tolist())

    @cached_property
    def reviewed_on(self) -> dict[int, dict[int, int]]:
        """user -> item -> unix time of their review of it, oldest first: the rows written once, each item's first."""
        written = self.dataset.reviews.iloc[np.sort(self.rows)]
        written = written.loc[written.index.isin(self.once)].sort_values("timestamp", kind="stable")
        out: dict[int, dict[int, int]] = defaultdict(dict)
        for user, item, at in zip(*(written[c].to_numpy() for c in ("user", "item", "timestamp")), strict=True):
            out[int(user)].setdefault(int(item), int(at))
        return dict(out)

    @cached_property
    def variants(self) -> dict[int, dict[int, list[int]]]:
        """user -> item whose review is first filed under it -> the other listings (variants) Amazon files that same
        review under, where there are any."""
        out: dict[int, dict[int, list[int]]] = defaultdict(dict)
        user_of, item_of = self.dataset.reviews["user"].to_numpy(), self.dataset.reviews["item"].to_numpy()
        for copy, first in sorted(self.copies.items()):
            listed = out[int(user_of[first])].setdefault(int(item_of[first]), [])
            if int(item_of[copy]) not in listed:
                listed.append(int(item_of[copy]))
        return dict(out)

    @cached_property
    def mentions(self) -> pd.DataFrame:
        """Every lexicon aspect the training reviews judge (`targets.aspect_mentions`), in row order."""
        return aspect_mentions(self.dataset, self.lexicon, self.rows)

    @cached_property
    def catalog(self) -> dict[int, set[str]]:
        """Per item, the lexicon aspects its catalog text names."""
        return catalog_aspects(self.dataset, self.lexicon)


def first_listing(variants: Mapping[int, Iterable[int]], item: int) -> int:
    """The listing a shopper's review of `item` is first filed under (`variants`: theirs, as `TrainingReviews.variants`
    gives them): `item` itself, or the one it is another variant of. One review, one date, one item to the shopper."""
    return next((first for first, copies in variants.items() if item in copies), item)


def with_catalog(ranked: Mapping[int, list[str]], catalog: Mapping[int, Iterable[str]]) -> dict[int, list[str]]:
    """Per item in either, its aspects ranked from reviews, then its other catalog aspects (sorted): what grounding checks."""
    return {i: list(dict.fromkeys([*ranked.get(i, []), *sorted(catalog.get(i, ()))])) for i in sorted(set(ranked) | set(catalog))}


class Reasoner(ABC):
    """fit(dataset, split) -> generate(requests) -> list[Reason]; save/load as config + JSON parts + weights.

    A model writes `_fit_reviews` (and `_fit_weights` when it has weights), `generate`,
    `item_aspects`, and the persistence hooks `_meta`, `_json_parts`, `_save_weights`, `_restore`.
    """

    name: ClassVar[str]
    config_class: ClassVar[type[ReasonerConfig]] = ReasonerConfig
    format_version: ClassVar[int]  # saved-folder format; load refuses another
    json_parts: ClassVar[tuple[str, ...]] = ()  # JSON files saved beside config.json and lexicon.json
    seeds_torch: ClassVar[bool] = False  # True: `_fit_weights` runs with torch seeded by config.seed, in a forked RNG

    def __init__(self, config: ReasonerConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.lexicon: AspectLexicon | None = None  # the aspect vocabulary fit built; grounding names aspects with it
        self.on_epoch: EpochHook | None = None  # progress of reasoners trained by epochs; set by callers

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, dataset: Dataset, split: Split | None = None) -> Self:
        """Learn from the training reviews of `split` (a reviews split), or all reviews."""
        if split is not None and split.table != "reviews":
            raise ConfigError(f"{self.name} trains on a reviews split, not a {split.table} split")
        rows = np.arange(len(dataset.reviews)) if split is None else split.train
        # a feature needs `min_aspect_count` reviewers, and a review Amazon files under several variants is one: counted
        # by listing, one review's "a fresh charge" (of a water flosser) passed as an aspect, "The charge is fresh.";
        # counted by review, one reviewer's edit filed beside the original passed "plateau", "You'll love the plateau."
        copies = review_copies(dataset.reviews, rows)
        written = dataset.reviews.iloc[written_once(dataset.reviews, rows, copies)]
        self.lexicon = AspectLexicon.build(written["text"], self.config.min_aspect_count, authors=written["user"])
        reviews = TrainingReviews(dataset, split, rows, self.lexicon, copies)
        self._fit_reviews(reviews)
        with seeded_torch(self.config.seed) if self.seeds_torch else nullcontext():
            self._fit_weights(reviews)
        return self

    @abstractmethod
    def _fit_reviews(self, reviews: TrainingReviews) -> None:
        """Keep what the training reviews say that generation and evidence need (aspect profiles, histories)."""

    def _fit_weights(self, reviews: TrainingReviews) -> None:
        """Learn or load the model's weights (none by default)."""

    # ---- generating ------------------------------------------------------------------------
    @abstractmethod
    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        """One Reason per request, in order."""

    @abstractmethod
    def item_aspects(self) -> dict[int, list[str]]:
        """Per item (dense id) the aspects the fitted reasoner knows it has, best first: what grounding checks against."""

    def forget_user(self, user: int) -> bool:
        """Erase what the fitted reasoner keeps about one user (dense id); False when it cannot (retrain to forget)."""
        return False

    def _fitted(self) -> bool:
        """Whether fit (or load) has run; generate and save refuse otherwise."""
        return self.lexicon is not None

    def _require_fitted(self) -> None:
        if not self._fitted():
            raise ArtifactError(f"{self.name} reasoner is not fitted")

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """config.json ({"model", "format", "config"} and the model's `_meta`), lexicon.json, the JSON parts, the weights."""
        self._require_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"model": self.name, "format": self.format_version, "config": self.config.model_dump(), **self._meta()}
        (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        self.lexicon.save(out / "lexicon.json")
        parts = self._json_parts()
        for name in self.json_parts:
            (out / name).write_text(json.dumps(parts[name], ensure_ascii=False) + "\n", encoding="utf-8")
        self._save_weights(out)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Restore a saved reasoner. Missing, damaged or mistyped files and other models' or formats' folders are
        ArtifactErrors naming the folder or file, never a crash deeper in."""
        d = Path(path)
        meta = _read_json(d / "config.json", cls.name)
        parts = {name: _read_json(d / name, cls.name) for name in cls.json_parts}
        if not isinstance(meta, dict) or meta.get("model") != cls.name or meta.get("format") != cls.format_version:
            found = meta if isinstance(meta, dict) else {}
            raise ArtifactError(
                f"{d}: saved {found.get('model')} format {found.get('format')}; expects {cls.name} format {cls.format_version}"
            )
        try:
            model = cls(cls.config_class.model_validate(meta.get("config")))
        except ValidationError as exc:
            raise ArtifactError(f"{d / 'config.json'}: invalid config ({exc.errors()[0]['msg']})") from exc
        try:
            model.lexicon = AspectLexicon.load(d / "lexicon.json")
            model._restore(d, meta, parts)
        except FileNotFoundError as exc:
            raise ArtifactError(f"{d}: {cls.name} reasoner incomplete ({Path(exc.filename or '').name or exc} missing)") from exc
        except _DAMAGE as exc:
            raise ArtifactError(f"{d}: {cls.name} reasoner damaged ({type(exc).__name__}: {exc})") from exc
        return model

    def _meta(self) -> dict[str, Any]:
        """Fields config.json holds beside model, format and config (sizes, fit statistics)."""
        return {}

    def _json_parts(self) -> dict[str, Any]:
        """The content of each file named in `json_parts`."""
        return {}

    def _save_weights(self, out: Path) -> None:
        """Write the weights into the saved folder `out` (none by default)."""

    @abstractmethod
    def _restore(self, path: Path, meta: dict[str, Any], parts: dict[str, Any]) -> None:
        """Fill a freshly built model from its saved folder: config.json's `meta`, the JSON `parts` by file name, the weights."""
