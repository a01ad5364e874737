"""A trained pipeline as one folder: what `train` writes and `recommend`, `evaluate`, `serve` read.

ARTIFACT/
  artifact.json       format version, whyrec version, run config, created time, dataset, metrics
  users.txt items.txt raw ids, one per line, line n = dense index n
  interactions.npz    the interactions the split indexes (so evaluation needs no store, which may
                      have grown since training)
  recommender/        Recommender.save
  split/              Split.save (absent when trained on everything)
  reasoner/           Reasoner.save (absent without a reasoner)
"""

from __future__ import annotations

import copy
import json
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
    from whyrec.recommendation import Answer

ARTIFACT_FORMAT = 1
_MANIFEST = "artifact.json"


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
    def recommend(self, user: str, k: int = 10, items: list[str] | None = None) -> Answer:
        """Top-k for a raw user id (or, with `items`, those raw items) through the one served path.

        Unknown users get popular items. Reasons are checked against the reasoner's own record of each
        item (the artifact keeps no reviews or catalog, so no stated price is backed); a reason that
        fails is withheld with its flags, since an artifact on its own has no fallback reasoner.
        """
        from whyrec.recommendation import Reasons, RecordedFacts, recommend

        facts = RecordedFacts.of(self.reasoner, self.item_ids)
        reasons = None if self.reasoner is None else Reasons(self.reasoner, facts, known_users=len(self.user_ids))
        dense = None if items is None else [self.item_ids.get(i) for i in items]
        return recommend(self.serving_recommender(), self.user_ids.get(user), k, facts, reasons=reasons, items=dense)

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
            "recommender": self.recommender.name,
            "reasoner": None if self.reasoner is None else self.reasoner.name,
            "metrics": self.metrics,
        }

    def save(self, path: str | Path) -> Path:
        """Write the whole folder (overwriting the files of an earlier artifact there)."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        write_ids(out / "users.txt", self.user_ids.raw, "user")
        write_ids(out / "items.txt", self.item_ids.raw, "item")
        inter = self.interactions
        codes = inter["event"].map({e: i for i, e in enumerate(EVENT_TYPES)})
        if codes.isna().any():
            row = int(np.flatnonzero(codes.isna().to_numpy())[0])
            raise DataError(
                f"unknown event {inter['event'].iloc[row]!r} (expected one of {EVENT_TYPES})", row=row + 1, field="event"
            )
        np.savez(
            out / "interactions.npz",
            user=inter["user"].to_numpy(np.int32),
            item=inter["item"].to_numpy(np.int32),
            timestamp=inter["timestamp"].to_numpy(np.int64),
            event=codes.to_numpy(np.int8),  # index into EVENT_TYPES
            rating=inter["rating"].to_numpy(np.float32),
        )
        self.recommender.save(out / "recommender")
        if self.split is not None:
            self.split.save(out / "split")
        if self.reasoner is not None:
            self.reasoner.save(out / "reasoner")
        self.save_manifest(out)
        return out

    def save_manifest(self, path: str | Path) -> None:
        """Rewrite artifact.json only (e.g. after an evaluation added metrics)."""
        text = json.dumps(self.manifest(), indent=2, ensure_ascii=False, default=_json_default) + "\n"
        (Path(path) / _MANIFEST).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Artifact:
        """Read a folder `save` wrote; refuses other format versions with a clear ArtifactError."""
        d = Path(path)
        try:
            meta = json.loads((d / _MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ArtifactError(f"{d}: not a whyrec artifact ({_MANIFEST} missing); create one with `whyrec train`") from exc
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{d / _MANIFEST}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if meta.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(
                f"{d}: artifact format {meta.get('format')!r} (written by whyrec {meta.get('whyrec_version', '?')}) "
                f"cannot be read by whyrec {__version__}, which reads format {ARTIFACT_FORMAT}; retrain with `whyrec train`"
            )
        data = meta["dataset"]
        user_ids, item_ids = IdMap(read_ids(d / "users.txt")), IdMap(read_ids(d / "items.txt"))
        for ids, name, count in ((user_ids, "users.txt", data["users"]), (item_ids, "items.txt", data["items"])):
            if len(ids) != count:
                raise ArtifactError(f"{d / name}: {len(ids)} ids, but {_MANIFEST} says {count}")
        try:
            with np.load(d / "interactions.npz", allow_pickle=False) as z:
                columns = {k: z[k] for k in INTERACTION_COLUMNS if k != "event"}
                columns["event"] = np.asarray(EVENT_TYPES, dtype=object)[z["event"]]
            interactions = pd.DataFrame(columns)[list(INTERACTION_COLUMNS)].astype(INTERACTION_COLUMNS)
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise ArtifactError(f"{d / 'interactions.npz'}: missing or unreadable ({exc})") from exc
        reasoner = None
        if meta.get("reasoner"):
            from whyrec.explain.registry import load_reasoner

            reasoner = load_reasoner(d / "reasoner")
        return cls(
            config=RunConfig.parse(meta["config"], source=str(d / _MANIFEST)),
            recommender=Recommender.load(d / "recommender"),
            user_ids=user_ids,
            item_ids=item_ids,
            interactions=interactions,
            split=Split.load(d / "split") if (d / "split").is_dir() else None,
            reasoner=reasoner,
            dataset_name=data.get("name", ""),
            store=data.get("store"),
            metrics=meta.get("metrics", {}),
            created=meta.get("created", ""),
            whyrec_version=meta.get("whyrec_version", ""),
        )


def _json_default(value: Any) -> Any:
    """numpy scalars in metrics become plain numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
