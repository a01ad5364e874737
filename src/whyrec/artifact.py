"""A trained pipeline as one folder: what `train` writes and `recommend`, `evaluate`, `serve` read.

ARTIFACT/
  artifact.json       format version, whyrec version, run config, created time, dataset, metrics
  users.txt items.txt raw ids, one per line, line n = dense index n
  interactions.npz    the interactions the split indexes (so evaluation needs no store, which may
                      have grown since training)
  recommender/        Recommender.save
  split/              Split.save (absent when trained on everything)
  reasoner/           Reasoner.save (absent without a reasoner)

Saving is atomic: the new folder is written beside the old one (.NAME.next), then switched into
place by two renames (the old folder passing through .NAME.old), so a crash at any instant leaves
a loadable artifact; `settle` finishes or undoes an interrupted switch. Loading checks every
array against the manifest before any model (or native library) sees it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whyrec import __version__
from whyrec.config import RunConfig
from whyrec.data.schema import EVENT_TYPES, INTERACTION_COLUMNS, Dataset, IdMap
from whyrec.data.split import Split, make_split, ratio
from whyrec.errors import ArtifactError, ConfigError, DataError
from whyrec.recommend.base import Recommender
from whyrec.recommend.registry import get_recommender_class
from whyrec.training import EpochHook

if TYPE_CHECKING:
    from whyrec.explain.base import Reasoner
    from whyrec.recommendation import Answer, Reasons
    from whyrec.serve.reasons import ShopFacts

ARTIFACT_FORMAT = 1
_MANIFEST = "artifact.json"
_NPZ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile)  # what np.load raises on a damaged file


def _staging(path: Path, role: str) -> Path:
    """The sibling folder a save writes into ("next") or moves the replaced artifact to ("old")."""
    full = path.resolve()  # "." or "art/" name their folder too
    return full.with_name(f".{full.name}.{role}")


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` to disk, so the switch never exposes unwritten data."""
    for p in sorted(folder.rglob("*"), reverse=True) + [folder]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def settle(path: str | Path, *, tidy: bool = False) -> Path:
    """Finish a save that a crash interrupted; returns the folder that holds the complete artifact.

    A complete `.next` with no artifact at `path` was about to be switched in: it is. With `tidy`
    (the writer, before it saves), a `.next` beside a complete artifact, which was still being
    written, is dropped, and so is an `.old` left by a crash before its removal. Where the folder
    cannot be written (read-only media), nothing moves and the complete one is named.
    """
    out = Path(path)
    ready, old = _staging(out, "next"), _staging(out, "old")
    try:
        if not (out / _MANIFEST).is_file() and (ready / _MANIFEST).is_file():
            if out.is_dir() and not any(out.iterdir()):
                out.rmdir()
            if not out.exists():
                os.replace(ready, out)
        if tidy:
            for stale in (ready, old):
                if stale.is_dir():
                    shutil.rmtree(stale)
    except PermissionError:
        if not (out / _MANIFEST).is_file() and (ready / _MANIFEST).is_file():
            return ready
    return out


def _switch(ready: Path, out: Path) -> None:
    """Put the fully written folder `ready` at `out`, replacing what is there; each step is one atomic rename."""
    old = _staging(out, "old")
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(ready, out)
    except FileNotFoundError:
        if not (out / _MANIFEST).is_file():  # else a reader's `settle` finished this very switch
            raise
    fd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if old.exists():
        shutil.rmtree(old)


def _ints(array: np.ndarray, file: Path, name: str, low: int, high: int) -> np.ndarray:
    """`array` if it is 1-D integers within [low, high); an ArtifactError naming the file otherwise."""
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ArtifactError(f"{file}: '{name}' is {array.dtype}{list(array.shape)}, expected 1-D integers")
    if len(array) and (array.min() < low or array.max() >= high):
        raise ArtifactError(f"{file}: '{name}' holds values outside [{low}, {high})")
    return array


def reasons_split(dataset: Dataset, seed: int) -> Split:
    """The seeded 8:1:1 split of the reviews a reasoner is fitted and scored on (PETER's protocol).

    Reviews are split on their own, not by the interactions split, so explanations are scored as in the papers.
    """
    return ratio(dataset, seed, table="reviews")


def write_ids(path: Path, ids: tuple[str, ...], what: str) -> None:
    """One raw id per line (UTF-8, "\\n" only); an id containing a newline cannot be stored and is refused."""
    for row, raw in enumerate(ids, start=1):
        if "\n" in raw:
            raise DataError(f"{what} id {raw!r} contains a newline; ids must fit on one line", row=row, field=what)
    # Bytes, not text mode: text mode would turn a "\r" inside an id into a line break on reading.
    path.write_bytes("".join(f"{raw}\n" for raw in ids).encode("utf-8"))


def read_ids(path: Path) -> tuple[str, ...]:
    """The ids `write_ids` wrote, in order."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: id file missing") from exc
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if text and not text.endswith("\n"):
        raise ArtifactError(f"{path}: truncated (no final newline)")
    return tuple(text.split("\n")[:-1])


@dataclass
class Artifact:
    """A fitted recommender (and optional reasoner) with everything needed to serve and evaluate it."""

    config: RunConfig
    recommender: Recommender
    user_ids: IdMap
    item_ids: IdMap
    interactions: pd.DataFrame  # the dataset's interactions at training time, in Dataset order
    split: Split | None = None
    reasoner: Reasoner | None = None
    dataset_name: str = ""
    store: str | None = None  # where the data came from, for the record
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    whyrec_version: str = __version__
    _serving: Recommender | None = field(default=None, init=False, repr=False)
    _served: tuple[Dataset, ShopFacts, Reasons | None] | None = field(default=None, init=False, repr=False)

    # ---- building --------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        dataset: Dataset,
        config: RunConfig,
        split: Split | None = None,
        *,
        store: str | None = None,
        on_epoch: EpochHook | None = None,
        on_reasoner_epoch: EpochHook | None = None,
        model: Recommender | None = None,
    ) -> Artifact:
        """Fit everything the run config names: the recommender on the interactions split (made unless
        given), and the reasoner, when named and the dataset has reviews, on `reasons_split`.

        `model`, when given, is the unfitted recommender to fit instead of a fresh one of the config's
        (e.g. `mf` whose factors Spark fits); it must carry the config's recommender name."""
        if split is None:
            table = "interactions" if config.split_protocol == "ratio" else None  # ratio alone would pick reviews
            split = make_split(dataset, config.split_protocol, config.seed, table=table)
        if split.table != "interactions":
            raise ConfigError(f"the recommender needs an interactions split; the given split is over {split.table}")
        recommender = model or get_recommender_class(config.recommender)(config.config_for(config.recommender))
        if recommender.name != config.recommender:
            raise ConfigError(f"the run config names recommender {config.recommender!r}, the given model is {recommender.name!r}")
        recommender.on_epoch = on_epoch
        recommender.fit(dataset, split)
        recommender.on_epoch = None
        reasoner = None
        if config.reasoner and len(dataset.reviews):
            from whyrec.explain.registry import get_reasoner_class

            reasoner = get_reasoner_class(config.reasoner)(config.config_for(config.reasoner))
            reasoner.on_epoch = on_reasoner_epoch
            reasoner.fit(dataset, reasons_split(dataset, config.seed))
            reasoner.on_epoch = None
        return cls(
            config=config,
            recommender=recommender,
            user_ids=dataset.user_ids,
            item_ids=dataset.item_ids,
            interactions=dataset.interactions,
            split=split,
            reasoner=reasoner,
            dataset_name=dataset.name,
            store=store,
        )

    def dataset(self) -> Dataset:
        """The interactions and id maps the recommender was trained on, as a Dataset."""
        return Dataset(self.interactions, self.user_ids, self.item_ids, name=self.dataset_name)

    def serving_recommender(self) -> Recommender:
        """The recommender with the held-out rows (valid + test) folded in, so users' whole history counts.

        Built once, on a copy (the stored recommender stays as fitted on train); live events can be passed to its `observe`.
        """
        if self._serving is None:
            model = copy.deepcopy(self.recommender)
            if self.split is not None and len(self.split.valid) + len(self.split.test):
                model.observe(self.interactions.iloc[np.concatenate([self.split.valid, self.split.test])])
            self._serving = model
        return self._serving

    # ---- serving -------------------------------------------------------------------------------
    def recommend(self, user: str, k: int = 10, items: list[str] | None = None, shop: Dataset | None = None) -> Answer:
        """Top-k for a raw user id (or, with `items`, those raw items) through the one served path.

        Unknown users get popular items. With `shop` (the store's data, `Store.read_dataset()`), reasons
        are checked and, when they fail, replaced exactly as the server does (`served`); without it they
        are checked against the reasoner's own record of each item and a failing one is withheld with its
        flags, answers carry ids only, and no stated price is backed.
        """
        from whyrec.recommendation import Reasons, RecordedFacts, recommend

        if shop is not None:
            facts, reasons = self.served(shop)
        else:
            facts = RecordedFacts.of(self.reasoner, self.item_ids)
            reasons = None if self.reasoner is None else Reasons(self.reasoner, facts, known_users=len(self.user_ids))
        dense = None if items is None else [self.item_ids.get(i) for i in items]
        return recommend(self.serving_recommender(), self.user_ids.get(user), k, facts, reasons=reasons, items=dense)

    def served(self, shop: Dataset) -> tuple[ShopFacts, Reasons | None]:
        """The server's checks for `shop`: its catalog and review aspects, and the template fallback fitted on its reviews.

        Built once per shop (reading every review and fitting the template takes seconds).
        """
        if self._served is None or self._served[0] is not shop:
            from whyrec.recommendation import Reasons
            from whyrec.serve.reasons import ServedReasons, ShopFacts

            facts = ShopFacts.read(shop, self.item_ids, None if self.reasoner is None else self.reasoner.lexicon)
            answers = ServedReasons(self, facts, version="artifact")
            answers.prepare(shop, None)
            reasons = (
                None if self.reasoner is None else Reasons(self.reasoner, facts, answers.fallback, known_users=len(self.user_ids))
            )
            self._served = (shop, facts, reasons)
        return self._served[1], self._served[2]

    # ---- persistence -----------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """What artifact.json holds."""
        return {
            "format": ARTIFACT_FORMAT,
            "whyrec_version": self.whyrec_version,
            "created": self.created,
            "config": self.config.model_dump(),
            "dataset": {
                "name": self.dataset_name,
                "store": self.store,
                "users": len(self.user_ids),
                "items": len(self.item_ids),
                "interactions": len(self.interactions),
            },
            "split": None if self.split is None else {p: len(getattr(self.split, p)) for p in ("train", "valid", "test")},
            "recommender": self.recommender.name,
            "reasoner": None if self.reasoner is None else self.reasoner.name,
            "metrics": self.metrics,
        }

    def save(self, path: str | Path) -> Path:
        """Write the whole folder atomically: into a sibling folder first, switched in place of any earlier artifact last."""
        out = Path(path).resolve()
        if out.exists() and not out.is_dir():
            raise ArtifactError(f"{out}: a file is in the way; an artifact is a folder")
        settle(out, tidy=True)
        ready = _staging(out, "next")
        ready.mkdir(parents=True)
        write_ids(ready / "users.txt", self.user_ids.raw, "user")
        write_ids(ready / "items.txt", self.item_ids.raw, "item")
        inter = self.interactions
        codes = inter["event"].map({e: i for i, e in enumerate(EVENT_TYPES)})
        if codes.isna().any():
            shutil.rmtree(ready)
            row = int(np.flatnonzero(codes.isna().to_numpy())[0])
            raise DataError(
                f"unknown event {inter['event'].iloc[row]!r} (expected one of {EVENT_TYPES})", row=row + 1, field="event"
            )
        np.savez(
            ready / "interactions.npz",
            user=inter["user"].to_numpy(np.int32),
            item=inter["item"].to_numpy(np.int32),
            timestamp=inter["timestamp"].to_numpy(np.int64),
            event=codes.to_numpy(np.int8),  # index into EVENT_TYPES
            rating=inter["rating"].to_numpy(np.float32),
        )
        self.recommender.save(ready / "recommender")
        if self.split is not None:
            self.split.save(ready / "split")
        if self.reasoner is not None:
            self.reasoner.save(ready / "reasoner")
        self.save_manifest(ready)  # last: a .next folder with a manifest is complete
        _fsync_tree(ready)
        _switch(ready, out)
        return Path(path)

    def save_manifest(self, path: str | Path) -> None:
        """Rewrite artifact.json only (e.g. after an evaluation added metrics), atomically."""
        text = json.dumps(self.manifest(), indent=2, ensure_ascii=False, default=_json_default) + "\n"
        target = Path(path) / _MANIFEST
        partial = target.with_name(f".{_MANIFEST}.partial")
        with partial.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)

    @classmethod
    def load(cls, path: str | Path) -> Artifact:
        """Read a folder `save` wrote; any damage or another format version is an ArtifactError naming the file."""
        given = Path(path)
        if given.exists() and not given.is_dir():
            raise ArtifactError(f"{given}: a file, not an artifact folder; give the folder `whyrec train --out` wrote")
        d = settle(given)
        meta = _read_manifest(d)
        data = meta["dataset"]
        n_users, n_items, n_rows = data["users"], data["items"], data["interactions"]
        try:
            user_ids, item_ids = IdMap(read_ids(d / "users.txt")), IdMap(read_ids(d / "items.txt"))
        except ValueError as exc:
            raise ArtifactError(f"{d}: an id file repeats an id ({exc})") from exc
        for ids, name, count in ((user_ids, "users.txt", n_users), (item_ids, "items.txt", n_items)):
            if len(ids) != count:
                raise ArtifactError(f"{d / name}: {len(ids)} ids, but {_MANIFEST} says {count}")
        interactions = _read_interactions(d / "interactions.npz", n_users, n_items, n_rows)
        try:
            config = RunConfig.parse(meta["config"], source=str(d / _MANIFEST))
        except ConfigError as exc:
            raise ArtifactError(str(exc)) from exc
        recommender = Recommender.load(d / "recommender", n_users=n_users, n_items=n_items)
        split = None
        if (d / "split").is_dir():
            try:
                split = Split.load(d / "split")
            except DataError as exc:
                raise ArtifactError(str(exc)) from exc
            sizes = meta.get("split") if isinstance(meta.get("split"), dict) else {}  # absent in older artifacts
            for part in ("train", "valid", "test"):
                rows, file = getattr(split, part), d / "split" / f"{part}.index"
                _ints(rows, file, part, 0, n_rows)
                if part in sizes and sizes[part] != len(rows):
                    raise ArtifactError(f"{file}: {len(rows)} rows, but {_MANIFEST} says {sizes[part]}")
        reasoner = None
        if meta.get("reasoner"):
            from whyrec.explain.registry import load_reasoner

            reasoner = load_reasoner(d / "reasoner")
            outside = [i for i in reasoner.item_aspects() if not 0 <= i < n_items]
            if outside:
                raise ArtifactError(f"{d / 'reasoner'}: aspects of item {outside[0]}, but the artifact has {n_items} items")
        return cls(
            config=config,
            recommender=recommender,
            user_ids=user_ids,
            item_ids=item_ids,
            interactions=interactions,
            split=split,
            reasoner=reasoner,
            dataset_name=str(data.get("name") or ""),
            store=data.get("store") if isinstance(data.get("store"), str) else None,
            metrics=meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {},
            created=str(meta.get("created", "")),
            whyrec_version=str(meta.get("whyrec_version", "")),
        )


def _read_manifest(d: Path) -> dict[str, Any]:
    """artifact.json, checked: the format version and the counts every other file is checked against."""
    path = d / _MANIFEST
    try:
        meta = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{d}: not a whyrec artifact ({_MANIFEST} missing); create one with `whyrec train`") from exc
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: not a JSON object")
    if meta.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(
            f"{d}: artifact format {meta.get('format')!r} (written by whyrec {meta.get('whyrec_version', '?')}) "
            f"cannot be read by whyrec {__version__}, which reads format {ARTIFACT_FORMAT}; retrain with `whyrec train`"
        )
    data = meta.get("dataset")
    if not isinstance(data, dict) or any(type(data.get(k)) is not int or data[k] < 0 for k in ("users", "items", "interactions")):
        raise ArtifactError(f"{path}: field 'dataset' must give the users, items and interactions counts")
    if not isinstance(meta.get("config"), dict):
        raise ArtifactError(f"{path}: field 'config' missing")
    return meta


def _read_interactions(path: Path, n_users: int, n_items: int, n_rows: int) -> pd.DataFrame:
    """interactions.npz as a frame, every column checked against the manifest's counts."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in INTERACTION_COLUMNS}
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: missing") from exc
    except _NPZ_ERRORS as exc:
        raise ArtifactError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    _ints(arrays["user"], path, "user", 0, n_users)
    _ints(arrays["item"], path, "item", 0, n_items)
    _ints(arrays["event"], path, "event", 0, len(EVENT_TYPES))
    _ints(arrays["timestamp"], path, "timestamp", np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    rating = arrays["rating"]
    if rating.ndim != 1 or rating.dtype.kind != "f":
        raise ArtifactError(f"{path}: 'rating' is {rating.dtype}{list(rating.shape)}, expected 1-D floats")
    if any(len(a) != n_rows for a in arrays.values()):
        raise ArtifactError(f"{path}: columns of {sorted({len(a) for a in arrays.values()})} rows, but {_MANIFEST} says {n_rows}")
    arrays["event"] = np.asarray(EVENT_TYPES, dtype=object)[arrays["event"]]
    return pd.DataFrame(arrays)[list(INTERACTION_COLUMNS)].astype(INTERACTION_COLUMNS)


def _json_default(value: Any) -> Any:
    """numpy scalars in metrics become plain numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
