"""The Recommender interface. Models write `_fit` and `score`; ranking is written once here.

Seen-item exclusion, unknown-user fallback, cold-item masking, top-k and save/load live in
this base class so every model gets them right the same way (STYLE 2, 7).
"""

from __future__ import annotations

import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, ValidationError

from whyrec.data.schema import Dataset
from whyrec.data.split import Split
from whyrec.errors import ArtifactError, ConfigError, NotFoundError
from whyrec.training import EpochHook

RECOMMENDER_FORMAT = 1
_RANK_BATCH = 1024  # users scored at once in recommend(); bounds memory at batch x n_items floats


class RecommenderConfig(BaseModel):
    """Fields every model config shares; subclasses add their own."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42  # model init and sampling


@dataclass(frozen=True)
class TrainData:
    """What `_fit` gets: the dataset, its training and validation rows, and the seen matrix."""

    dataset: Dataset
    train: pd.DataFrame  # interactions rows used for training, in (user, timestamp) order
    valid: pd.DataFrame  # held-out rows for early stopping (may be empty)
    seen: sp.csr_matrix  # (n_users, n_items) binary, from `train`


@dataclass(frozen=True)
class Ranked:
    """Top-k items for one user, best first. `fallback` marks answers for users the model did not know."""

    user: int
    items: np.ndarray
    scores: np.ndarray
    fallback: bool = False


def interaction_matrix(frame: pd.DataFrame, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary (n_users, n_items) CSR matrix of the (user, item) pairs in `frame`."""
    data = np.ones(len(frame), dtype=np.float32)
    m = sp.csr_matrix((data, (frame["user"].to_numpy(), frame["item"].to_numpy())), shape=(n_users, n_items))
    m.data[:] = 1.0  # duplicates summed by the constructor; presence is what counts
    return m


def histories_matrix(histories: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary (len(histories), n_items) CSR matrix: row h marks the items of histories[h]."""
    lengths = [len(h) for h in histories]
    items = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if histories else np.empty(0, np.int64)
    rows = np.repeat(np.arange(len(histories)), lengths)
    m = sp.csr_matrix((np.ones(len(items), np.float32), (rows, items)), shape=(len(histories), n_items))
    m.data[:] = 1.0
    return m


def top_k(scores: np.ndarray, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per row of (B, n_items) scores, the indices and scores of the k best finite scores, best first.

    Ties go to the lower index, also at the k-th place (argpartition alone picks arbitrarily there),
    so a ranking never depends on numpy's partition algorithm. NaN counts as -inf (never ranked).
    """
    k = max(0, min(k, scores.shape[1]))
    if k == 0:
        return [np.empty(0, np.int64)] * len(scores), [np.empty(0, np.float32)] * len(scores)
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1)  # (B,) the k-th best score per row
    items, values = [], []
    for row, threshold in zip(scores, kth, strict=True):
        above = np.flatnonzero(row > threshold)
        tied = np.flatnonzero(row == threshold)[: k - len(above)]
        cand = np.concatenate([above, tied])
        cand = cand[np.lexsort((cand, -row[cand]))]
        cand = cand[np.isfinite(row[cand])]
        items.append(cand.astype(np.int64))
        values.append(row[cand].astype(np.float32))
    return items, values


@dataclass(frozen=True)
class ArraySpec:
    """What one saved array must be, checked on load before any model code reads it.

    `shape` names each dimension: "users" and "items" are the model's counts, an int is exact, any
    other name must agree wherever it recurs (e.g. "factors"), None is free. `kind` is numpy's dtype
    kind ("f" floats, "i" integers); integer arrays may be bounded to [low, high), high "items" meaning n_items.
    """

    shape: tuple[str | int | None, ...]
    kind: str = "f"
    low: int | None = None
    high: int | str | None = None


def check_arrays(arrays: Mapping[str, np.ndarray], specs: Mapping[str, ArraySpec], sizes: dict[str, int], file: Path) -> None:
    """ArtifactError naming `file` and the array unless each spec'd array is present with its shape, kind and range."""
    sizes = dict(sizes)
    for key, spec in specs.items():
        if key not in arrays:
            raise ArtifactError(f"{file}: array '{key}' missing")
        a = arrays[key]
        kinds = "iu" if spec.kind == "i" else spec.kind
        if a.dtype.kind not in kinds or a.ndim != len(spec.shape):
            raise ArtifactError(
                f"{file}: array '{key}' is {a.dtype}{list(a.shape)}, expected {len(spec.shape)}-D of kind '{spec.kind}'"
            )
        for dim, want in zip(a.shape, spec.shape, strict=True):
            expected = want if isinstance(want, int) or want is None else sizes.setdefault(want, dim)
            if expected is not None and dim != expected:
                raise ArtifactError(
                    f"{file}: array '{key}' has shape {list(a.shape)}, expected {list(spec.shape)} = {expected} there"
                )
        if spec.kind == "f" and a.size and not np.isfinite(a).all():
            raise ArtifactError(f"{file}: array '{key}' holds NaN or infinite values")
        high = sizes[spec.high] if isinstance(spec.high, str) else spec.high
        if a.size and ((spec.low is not None and a.min() < spec.low) or (high is not None and a.max() >= high)):
            raise ArtifactError(f"{file}: array '{key}' holds values outside [{spec.low}, {high})")


_BASE_ARRAYS = {
    "_seen_indices": ArraySpec(("seen",), "i", 0, "items"),
    "_seen_indptr": ArraySpec((None,), "i", 0, None),
    "_popularity": ArraySpec(("items",)),
}


class Recommender(ABC):
    """fit(dataset, split) -> score(users) -> recommend(users, k); save/load as config + arrays."""

    name: ClassVar[str]
    config_class: ClassVar[type[RecommenderConfig]] = RecommenderConfig
    scores_cold_items: ClassVar[bool] = False  # True for models that can score items with no training events
    # How whyrec.recommend.attribution may explain this model's scores; the first is what "auto" picks.
    # "none": scores do not depend on the user's history (or cannot be re-scored for another history).
    attribution_methods: ClassVar[tuple[str, ...]] = ("none",)
    # The arrays `_state` saves, as `load` checks them (keys without the "m_" prefix); arrays not named are checked by the model.
    state_arrays: ClassVar[dict[str, ArraySpec]] = {}

    def __init__(self, config: RecommenderConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.seen: sp.csr_matrix | None = None
        self.popularity: np.ndarray | None = None
        self.on_epoch: EpochHook | None = None  # set by callers (the CLI's progress bar); trainable models call it

    @classmethod
    def from_options(cls, options: dict) -> Self:
        """Build from a plain dict of config fields (e.g. a TOML section), with a clear error on a bad field."""
        try:
            return cls(cls.config_class.model_validate(options))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            raise ConfigError(f"models.{cls.name}: field '{field}': {first['msg']}") from exc

    # ---- what a model writes -------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: TrainData) -> None:
        """Learn from `data.train` (and early-stop on `data.valid`)."""

    @abstractmethod
    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        """(len(user_ids), len(item_ids) or n_items) float32 scores for known users; higher is better."""

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]:
        """Learned arrays to save (no objects: saved with allow_pickle=False)."""

    @abstractmethod
    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore from the arrays `_state` returned."""

    # ---- written once ----------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return 0 if self.seen is None else self.seen.shape[0]

    @property
    def n_items(self) -> int:
        return 0 if self.seen is None else self.seen.shape[1]

    def fit(self, dataset: Dataset, split: Split | None = None) -> Self:
        """Train on the split's training interactions (all interactions when no split)."""
        inter = dataset.interactions
        if split is not None and split.table != "interactions":
            raise ConfigError(f"recommenders train on an interactions split, not a {split.table} split")
        train = inter if split is None else inter.iloc[np.sort(split.train)]
        valid = inter.iloc[:0] if split is None else inter.iloc[np.sort(split.valid)]
        self.seen = interaction_matrix(train, dataset.n_users, dataset.n_items)
        self.popularity = np.asarray(self.seen.sum(axis=0)).ravel().astype(np.float32)
        self._fit(TrainData(dataset, train, valid, self.seen))
        return self

    def observe(self, events: pd.DataFrame) -> None:
        """Take new interactions (user, item, timestamp, ...) into account without retraining.

        They become "seen" (excluded from rankings) and each model's `_observe` folds them in
        (a sequence model extends the user's sequence, MF re-solves the user's factors, ...).
        Users and items must be known to the model (dense ids < n_users / n_items).
        """
        self._require_fitted()
        if events.empty:
            return
        users = events["user"].to_numpy()
        items = events["item"].to_numpy()
        if users.min() < 0 or users.max() >= self.n_users or items.min() < 0 or items.max() >= self.n_items:
            raise ConfigError("observe() got users or items unknown to the fitted model")
        added = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=self.seen.shape)
        self.seen = self.seen + added
        self.seen.data[:] = 1.0
        self._observe(events.sort_values(["user", "timestamp"], kind="stable"))

    def _observe(self, events: pd.DataFrame) -> None:
        """Model hook for `observe`; the default (models that read `self.seen` at score time) does nothing."""

    def history(self, user: int) -> np.ndarray:
        """The user's history as the model reads it: dense item ids, oldest first for models that read order."""
        self._require_fitted()
        return np.sort(self.seen[user].indices).astype(np.int64)

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        """(len(histories), len(item_ids) or n_items) scores `user` would get if each history were theirs.

        Histories are dense item ids, oldest first. The model is left unchanged; this is what
        occlusion attributions re-score. Models whose scores follow a history implement it.
        """
        raise ConfigError(f"recommender '{self.name}' cannot score a given history")

    def score_without_each(self, user: int, history: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        """(1 + H, len(item_ids) or n_items): scores with the whole `history`, then without each of its
        H distinct items in turn (ascending id; every occurrence removed). Occlusion's batch: models
        with an exact update cheaper than re-scoring every shortened history override it.
        """
        distinct = np.unique(history)
        return self.score_histories(user, [history, *(history[history != h] for h in distinct)], item_ids)

    def add_users(self, n: int) -> None:
        """Make room for `n` new users with no history yet (dense ids n_users .. n_users + n - 1).

        Lets `observe` take the events of shoppers who arrived after training (the serve pipeline).
        """
        self._require_fitted()
        if n <= 0:
            return
        self.seen = sp.vstack([self.seen, sp.csr_matrix((n, self.n_items), dtype=np.float32)], format="csr")
        self._add_users(n)

    def _add_users(self, n: int) -> None:
        """Model hook for `add_users`: append n rows of per-user state; models reading only `self.seen` need none."""

    def forget_users(self, users: np.ndarray | list[int]) -> None:
        """Erase what the model holds per user for these users (history, factors, sequence); their ids stay, empty.

        Shared weights learned from their events (item factors, similarities) stay until retraining.
        """
        self._require_fitted()
        users = np.asarray(users, dtype=np.int64)
        keep = np.ones(self.n_users, dtype=np.float32)
        keep[users] = 0.0
        self.seen = (sp.diags(keep) @ self.seen).tocsr()
        self.seen.eliminate_zeros()
        self._forget_users(users)

    def _forget_users(self, users: np.ndarray) -> None:
        """Model hook for `forget_users`: blank these users' rows of per-user state."""

    def _require_fitted(self) -> None:
        if self.seen is None:
            raise ArtifactError(f"recommender '{self.name}' is not fitted")

    def recommend(self, user_ids: np.ndarray | list[int], k: int = 10, exclude_seen: bool = True) -> list[Ranked]:
        """Top-k per user. Unknown users (index < 0 or >= n_users) get popularity, flagged `fallback`."""
        self._require_fitted()
        users = np.asarray(user_ids, dtype=np.int64).ravel()
        known = (users >= 0) & (users < self.n_users)
        out: list[Ranked | None] = [None] * len(users)
        pop_items, pop_scores = top_k(self.popularity[None, :], k)
        for pos in np.flatnonzero(~known):
            out[pos] = Ranked(int(users[pos]), pop_items[0], pop_scores[0], fallback=True)
        known_pos = np.flatnonzero(known)
        for start in range(0, len(known_pos), _RANK_BATCH):
            pos = known_pos[start : start + _RANK_BATCH]
            scores = np.asarray(self.score(users[pos]), dtype=np.float32).copy()  # (B, n_items)
            if not self.scores_cold_items:
                scores[:, self.popularity == 0] = -np.inf
            if exclude_seen:
                rows = self.seen[users[pos]].tocoo()
                scores[rows.row, rows.col] = -np.inf
            items, top = top_k(scores, k)
            for j, p in enumerate(pos):
                out[p] = Ranked(int(users[p]), items[j], top[j], fallback=False)
        return out  # type: ignore[return-value]

    # ---- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write config.json (name, format version, config) and weights.npz (arrays only)."""
        self._require_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"model": self.name, "format": RECOMMENDER_FORMAT, "config": self.config.model_dump()}
        (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        seen = self.seen.tocsr()
        arrays = {
            "_seen_indptr": seen.indptr,
            "_seen_indices": seen.indices,
            "_seen_shape": np.array(seen.shape, dtype=np.int64),
            "_popularity": self.popularity,
        }
        for key, value in self._state().items():
            arrays[f"m_{key}"] = np.asarray(value)
        np.savez(out / "weights.npz", **arrays)
        return out

    @classmethod
    def load(cls, path: str | Path, *, n_users: int | None = None, n_items: int | None = None) -> Recommender:
        """Load a saved model; the class comes from the saved name via the registry.

        Every array is checked (against `n_users` x `n_items` when given, e.g. by the artifact's manifest)
        before the model sees it: a damaged file is an ArtifactError naming it, never a crash in native code.
        """
        from whyrec.recommend.registry import get_recommender_class

        d = Path(path)
        try:
            meta = json.loads((d / "config.json").read_bytes().decode("utf-8"))
        except FileNotFoundError as exc:
            raise ArtifactError(f"{d}: no recommender saved here (config.json missing)") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"{d / 'config.json'}: not valid JSON ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != RECOMMENDER_FORMAT:
            found = meta.get("format") if isinstance(meta, dict) else None
            raise ArtifactError(
                f"{d}: recommender format {found} cannot be read by this version "
                f"(expects {RECOMMENDER_FORMAT}); retrain with `whyrec train`"
            )
        try:
            klass = get_recommender_class(str(meta.get("model")))
        except NotFoundError as exc:
            raise ArtifactError(f"{d / 'config.json'}: {exc}") from exc
        try:
            model = klass(klass.config_class.model_validate(meta.get("config")))
        except ValidationError as exc:
            raise ArtifactError(f"{d / 'config.json'}: invalid config ({exc.errors()[0]['msg']})") from exc
        weights = d / "weights.npz"
        try:
            with np.load(weights, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError as exc:
            raise ArtifactError(f"{weights}: missing") from exc
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"{weights}: unreadable ({type(exc).__name__}: {exc})") from exc
        check_arrays(arrays, {"_seen_shape": ArraySpec((2,), "i", 0, None)}, {}, weights)
        users, items = (int(x) for x in arrays["_seen_shape"])
        for saved, expected, what in ((users, n_users, "users"), (items, n_items, "items")):
            if expected is not None and saved != expected:
                raise ArtifactError(f"{weights}: a model of {saved} {what}, but the artifact has {expected}")
        check_arrays(arrays, _BASE_ARRAYS, {"users": users, "items": items}, weights)
        indptr, indices = arrays["_seen_indptr"], arrays["_seen_indices"]
        if len(indptr) != users + 1 or indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
            raise ArtifactError(f"{weights}: array '_seen_indptr' does not index '_seen_indices' over {users} users")
        state = {k[2:]: v for k, v in arrays.items() if k.startswith("m_")}
        check_arrays(state, klass.state_arrays, {"users": users, "items": items}, weights)
        ones = np.ones(len(indices), dtype=np.float32)
        model.seen = sp.csr_matrix((ones, indices, indptr), shape=(users, items))
        model.popularity = arrays["_popularity"].astype(np.float32)
        try:
            model._set_state(state)
        except (KeyError, ValueError, RuntimeError) as exc:  # e.g. torch's load_state_dict on mismatched weights
            raise ArtifactError(f"{weights}: weights do not fit the saved config ({type(exc).__name__}: {exc})") from exc
        return model
