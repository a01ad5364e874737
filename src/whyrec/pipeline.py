"""The serving pipeline: one trained artifact and the live store, composed for the HTTP API.

It ranks with the artifact's recommender (held-out rows and every event stored since training
folded in), words reasons with its reasoner through the grounding and safety filters (checked
against the store's reviews and catalog), caches reasons in the store per (user, item, model
version), and keeps all of it current as events, feedback, catalog rows and forget requests
arrive. One lock guards the model state; each thread has its own SQLite connection (WAL: readers
beside one writer). `serve` translates this to HTTP; this module knows nothing of HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whyrec.artifact import Artifact
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.store import Store
from whyrec.errors import NotFoundError

if TYPE_CHECKING:
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.explain.base import Reason, Reasoner
    from whyrec.recommend.base import Ranked, Recommender

log = logging.getLogger("whyrec.pipeline")

# A forgotten user's line in the id list: the position must stay (dense ids are positions), the raw id
# must go. The control character keeps it from colliding with any id the API accepts.
TOMBSTONE = "\x1fforgotten:{}"
ATTRIBUTION_TOP = 3  # history items shown per recommendation ("because you bought ...")


class _LiveIds:
    """Raw id <-> dense id of the running model; grows as new shoppers arrive, forgets on request."""

    def __init__(self, raw: Sequence[str]) -> None:
        self.raw = list(raw)
        self.index = {r: i for i, r in enumerate(self.raw) if not r.startswith(TOMBSTONE.format(""))}

    def get(self, raw: str) -> int:
        return self.index.get(raw, -1)

    def add(self, raw: str) -> int:
        self.index[raw] = len(self.raw)
        self.raw.append(raw)
        return self.index[raw]

    def forget(self, raw: str) -> int:
        """Replace the raw id by a tombstone; its dense id, or -1 when unknown."""
        dense = self.index.pop(raw, -1)
        if dense >= 0:
            self.raw[dense] = TOMBSTONE.format(dense)
        return dense


def _net_sentiment(mentions: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per raw item, feature -> (positive - negative) / judgements, from aspect mentions."""
    out: dict[str, dict[str, float]] = {}
    if mentions.empty:
        return out
    grouped = mentions.groupby(["item", "feature"])["sentiment"].agg(["sum", "count"])
    for (item, feature), row in grouped.iterrows():
        out.setdefault(item, {})[feature] = float(row["sum"]) / float(row["count"])
    return out


class Pipeline:
    """Recommend, explain, profile, record and forget over one artifact folder and one store file."""

    def __init__(self, artifact_dir: Path, store_path: Path, artifact: Artifact, store: Store) -> None:
        self.artifact_dir = artifact_dir
        self.store_path = store_path
        self.artifact = artifact
        self.model: Recommender = artifact.serving_recommender()
        self.reasoner: Reasoner | None = artifact.reasoner
        self.version = hashlib.sha256(
            f"{artifact.created}|{artifact.recommender.name}|{self.reasoner.name if self.reasoner else ''}".encode()
        ).hexdigest()[:12]
        self._lock = threading.RLock()
        self._local = threading.local()
        self._stores: list[Store] = []
        self._local.store = store
        self._stores.append(store)
        self.user_ids = _LiveIds(artifact.user_ids.raw)
        self.item_ids = artifact.item_ids  # the model scores only the items it was trained with
        self.counters = {"users_added": 0, "events_observed": 0, "users_forgotten": 0}
        self.catalog: dict[str, dict[str, Any]] = {}
        self.item_aspects: dict[str, dict[str, float]] = {}  # raw item -> feature -> net sentiment
        self.lexicon: AspectLexicon | None = None
        self.fallback: Reasoner | None = None
        self._feedback: dict[str, dict[str, str]] = {}  # raw user -> raw item -> last kind
        self._anonymous: dict[str, dict[str, dict[str, Any]]] = {}  # reasons for unknown users: item -> model version -> reason
        self.experiment = artifact.config.experiment  # an A/B test: users' arms pick the reasoner
        self.arm_reasoners: dict[str, Reasoner | None] = {}

    # ---- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, artifact_dir: str | Path, store_path: str | Path) -> Pipeline:
        """Load the artifact, read the store, fold in events stored since training; ready to serve."""
        artifact_dir, store_path = Path(artifact_dir), Path(store_path)
        artifact = Artifact.load(artifact_dir)
        store = Store(store_path, create=False)
        try:
            pipeline = cls(artifact_dir, store_path, artifact, store)
            pipeline._load(store.read_dataset(name=store_path.stem))
        except BaseException:
            store.close()
            raise
        return pipeline

    def _load(self, shop: Dataset) -> None:
        from whyrec.explain.aspects import AspectLexicon
        from whyrec.explain.targets import aspect_mentions

        raw_items = np.asarray(shop.item_ids.raw, dtype=object)
        self.catalog = {
            raw_items[row["item"]]: {k: row[k] for k in ("title", "category", "brand", "price", "description")}
            for row in shop.items.to_dict("records")
        }
        for row in self.catalog.values():
            if isinstance(row["price"], float) and np.isnan(row["price"]):
                row["price"] = None
        self.lexicon = (self.reasoner.lexicon if self.reasoner else None) or AspectLexicon.build(shop.reviews["text"])
        mentions = aspect_mentions(shop, self.lexicon).assign(item=lambda m: raw_items[m["item"].to_numpy()])
        self.item_aspects = _net_sentiment(mentions)
        for item in self.catalog:
            self._add_catalog_aspects(item)
        if self.reasoner is not None:
            self.fallback = self.reasoner if self.reasoner.name == "template" else self._fit_fallback(shop)
        if self.experiment is not None:
            from whyrec.serve.experiment import route_arms

            held = {r.name: r for r in (self.reasoner, self.fallback) if r is not None}
            self.arm_reasoners = route_arms(self.experiment, self.artifact.recommender.name, held)
        for entry in self._store().feedback():
            self._feedback.setdefault(entry["user"], {})[entry["item"]] = entry["event"]
        self._observe(self._events_since_training(shop))
        log.info("pipeline ready: model %s, %d users, %d items", self.version, len(self.user_ids.raw), len(self.item_ids))

    def _events_since_training(self, shop: Dataset) -> pd.DataFrame:
        """Store interactions the artifact was not trained on (by raw user, raw item, timestamp, event)."""
        keys = ["user", "item", "timestamp", "event"]
        inter = shop.interactions
        stored = pd.DataFrame(
            {
                "user": np.asarray(shop.user_ids.raw, dtype=object)[inter["user"].to_numpy()],
                "item": np.asarray(shop.item_ids.raw, dtype=object)[inter["item"].to_numpy()],
                "timestamp": inter["timestamp"].to_numpy(),
                "event": inter["event"].to_numpy(),
                "rating": inter["rating"].to_numpy(),
            }
        )
        trained = self.artifact.interactions
        known = pd.DataFrame(
            {
                "user": np.asarray(self.artifact.user_ids.raw, dtype=object)[trained["user"].to_numpy()],
                "item": np.asarray(self.artifact.item_ids.raw, dtype=object)[trained["item"].to_numpy()],
                "timestamp": trained["timestamp"].to_numpy(),
                "event": trained["event"].to_numpy(),
            }
        ).drop_duplicates()
        merged = stored.merge(known, on=keys, how="left", indicator=True)
        return merged.loc[merged["_merge"] == "left_only", [*keys, "rating"]].reset_index(drop=True)

    def _fit_fallback(self, shop: Dataset) -> Reasoner:
        """A template reasoner over the store's reviews in the artifact's dense ids, for reasons the main one fails."""
        from whyrec.explain.template import TemplateReasoner

        users = self.artifact.user_ids.indices(np.asarray(shop.user_ids.raw, dtype=object)[shop.reviews["user"].to_numpy()])
        items = self.item_ids.indices(np.asarray(shop.item_ids.raw, dtype=object)[shop.reviews["item"].to_numpy()])
        reviews = shop.reviews.assign(user=users, item=items)[(users >= 0) & (items >= 0)]
        catalog = shop.items.assign(item=self.item_ids.indices(np.asarray(shop.item_ids.raw, dtype=object)[shop.items["item"].to_numpy()]))
        data = Dataset(self.artifact.interactions, self.artifact.user_ids, self.item_ids, reviews=reviews, items=catalog[catalog["item"] >= 0])
        return TemplateReasoner().fit(data)

    def _add_catalog_aspects(self, item: str) -> None:
        """Aspects the item's catalog text names count as the item's (neutral when no review judges them)."""
        row = self.catalog.get(item, {})
        text = ". ".join(str(row[k]) for k in ("title", "category", "brand", "description") if isinstance(row.get(k), str) and row[k])
        if self.lexicon is not None and text:
            aspects = self.item_aspects.setdefault(item, {})
            for feature in self.lexicon.mentions(text):
                aspects.setdefault(feature, 0.0)

    def _store(self) -> Store:
        """This thread's store connection (sqlite3 connections are per thread)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.store_path, create=False)
            with self._lock:
                self._stores.append(store)
        return store

    def close(self) -> None:
        with self._lock:
            for store in self._stores:
                store.close()
            self._stores.clear()

    # ---- reading ---------------------------------------------------------------------------------
    def users(self, limit: int) -> list[str]:
        """Up to `limit` raw ids of shoppers the model knows, in id order."""
        with self._lock:
            return [r for r in self.user_ids.raw if r in self.user_ids.index][:limit]

    def model_info(self) -> dict[str, Any]:
        manifest = self.artifact.manifest()
        return {
            "version": self.version,
            "created": manifest["created"],
            "whyrec_version": manifest["whyrec_version"],
            "recommender": manifest["recommender"],
            "reasoner": manifest["reasoner"],
            "dataset": manifest["dataset"],
            "metrics": manifest["metrics"],
            "live": dict(self.counters),
        }

    def recommend(self, user: str, k: int) -> dict[str, Any]:
        """Top-k for a raw user id with reasons, evidence and attribution; unknown users get popular items, flagged."""
        with self._lock:
            uid = self.user_ids.get(user)
            hidden = {i for i, kind in self._feedback.get(user, {}).items() if kind == "dismiss"}
            [ranked] = self.model.recommend([uid], k=k + len(hidden))
            keep = [j for j, i in enumerate(ranked.items) if self.item_ids.raw[int(i)] not in hidden][:k]
            items = [int(ranked.items[j]) for j in keep]
            scores = [float(ranked.scores[j]) for j in keep]
            arm = None
            if self.experiment is not None:
                from whyrec.serve.experiment import arm_of

                arm = arm_of(user, self.experiment)
            explained, cached = self._explain(user, uid, items, arm)
            return self._respond(user, uid, ranked, items, scores, explained, cached, arm)

    def _respond(
        self,
        user: str,
        uid: int,
        ranked: Ranked,
        items: list[int],
        scores: list[float],
        explained: list[dict],
        cached: int,
        arm: str | None = None,
    ) -> dict[str, Any]:
        """The one place a recommendation response is built (exposure logging hooks in here)."""
        feedback = self._feedback.get(user, {})
        entries = []
        for item, score, payload in zip(items, scores, explained, strict=True):
            raw = self.item_ids.raw[item]
            row = self.catalog.get(raw, {})
            reason = payload["reason"]
            entries.append(
                {
                    "item": raw,
                    "title": row.get("title"),
                    "category": row.get("category"),
                    "brand": row.get("brand"),
                    "price": row.get("price"),
                    "score": score,
                    "reason": None if reason is None or reason["flags"] else reason["text"],
                    "aspects": [] if reason is None else reason["aspects"],
                    "evidence": {} if reason is None else reason["evidence"],
                    "flags": [] if reason is None else reason["flags"],
                    "attribution": payload["attribution"],
                    "feedback": feedback.get(raw),
                }
            )
        response = {
            "user": user,
            "known": uid >= 0,
            "fallback": bool(ranked.fallback),
            "model": self.version,
            "reasons_cached": cached,
            "items": entries,
        }
        if arm is not None:
            response["experiment"] = {"name": self.experiment.name, "arm": arm}
            # Only shoppers the model knows are logged, so open reads cannot add users to the store.
            if uid >= 0 and entries:
                from whyrec.serve.experiment import log_exposure

                response["experiment"]["request"] = log_exposure(self._store(), self.experiment, user, [e["item"] for e in entries], arm=arm)
        return response

    def _explain(self, user: str, uid: int, items: list[int], arm: str | None = None) -> tuple[list[dict], int]:
        """{"reason", "attribution"} per item, cached per user, item and model version (and A/B arm); and how many were cached."""
        if not items:
            return [], 0
        raw = [self.item_ids.raw[i] for i in items]
        known = uid >= 0
        reasoner = self.reasoner if arm is None else self.arm_reasoners[arm]
        version = self.version if arm is None else f"{self.version}:{arm}"
        anonymous = {r: self._anonymous[r][version] for r in raw if version in self._anonymous.get(r, {})}
        cache = self._store().cached_reasons(user, raw, version) if known else anonymous
        missing = [i for i, r in zip(items, raw, strict=True) if r not in cache]
        if missing:
            reasons = self._generate(uid, missing, reasoner) if reasoner is not None else [None] * len(missing)
            attributions = self._attribute(uid, missing)
            fresh = {
                self.item_ids.raw[i]: {"reason": None if r is None else self._reason_payload(r), "attribution": a}
                for i, r, a in zip(missing, reasons, attributions, strict=True)
            }
            if known:
                self._store().put_reasons(user, version, fresh)
            else:
                for r, payload in fresh.items():
                    self._anonymous.setdefault(r, {})[version] = payload
            cache = {**cache, **fresh}
        return [cache[r] for r in raw], len(items) - len(missing)

    def _generate(self, uid: int, items: list[int], reasoner: Reasoner) -> list[Reason]:
        """Grounded, screened reasons from `reasoner` (users it never saw are asked about as unknown, -1)."""
        from whyrec.explain.base import ReasonRequest
        from whyrec.explain.filters import generate_grounded

        asked = uid if 0 <= uid < len(self.artifact.user_ids) else -1
        aspects = {i: sorted(self.item_aspects.get(self.item_ids.raw[i], {})) for i in items}
        catalog = {i: self.catalog.get(self.item_ids.raw[i], {}) for i in items}
        requests = [ReasonRequest(asked, i) for i in items]
        return generate_grounded(reasoner, self.fallback, requests, aspects, self.lexicon, catalog)

    def _attribute(self, uid: int, items: list[int]) -> list[dict[str, Any]]:
        """"Because you bought ...": the history items the recommender itself credits (whyrec.recommend.attribution)."""
        from whyrec.recommend.attribution import aspect_credit, attribute

        if uid < 0:
            return [{"method": "none", "items": [], "aspects": []} for _ in items]
        out = []
        for item, found in zip(items, attribute(self.model, uid, items, top=ATTRIBUTION_TOP), strict=True):
            raw = [(self.item_ids.raw[h], w) for h, w in found.history]
            shared = aspect_credit(raw, self.item_aspects, self.item_aspects.get(self.item_ids.raw[item], {}))
            out.append({
                "method": found.method,
                "items": [{**self._titled(h), "weight": round(w, 6)} for h, w in found.history],
                "aspects": [{"aspect": a, "weight": round(w, 6)} for a, w in shared],
            })
        return out

    def _titled(self, item: int) -> dict[str, Any]:
        raw = self.item_ids.raw[int(item)]
        return {"item": raw, "title": self.catalog.get(raw, {}).get("title")}

    def _reason_payload(self, reason: Reason) -> dict[str, Any]:
        """A reason as cached and served: raw ids and titles, never dense ids."""
        evidence = dict(reason.evidence)
        if "history_items" in evidence:
            evidence["history_items"] = [self._titled(i) for i in evidence["history_items"]]
        return {"text": reason.text, "aspects": list(reason.aspects), "evidence": evidence, "flags": list(reason.flags)}

    def profile(self, user: str) -> dict[str, Any]:
        """The user's interest profile (`whyrec.explain.profile.build_profile`) from their stored events and reviews.

        NotFoundError for a user with neither (never seen, or forgotten).
        """
        from whyrec.explain.profile import build_profile

        store = self._store()
        events, reviews = store.user_events(user), store.user_reviews(user)
        if not events and not reviews:
            raise NotFoundError(f"no events or reviews of user {user!r}")
        with self._lock:
            profile = build_profile(events, [r["text"] for r in reviews], self.catalog, self.item_aspects, self.lexicon)
        return {"user": user, **profile}

    # ---- writing ---------------------------------------------------------------------------------
    def record_events(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Store events (exactly once: repeats are ignored) and fold them into the model; their users' reasons go stale."""
        now = int(time.time())
        rows = [(e["user"], e["item"], now if e.get("timestamp") is None else int(e["timestamp"]), e["event"], e.get("rating")) for e in events]
        frame = pd.DataFrame(rows, columns=["user", "item", "timestamp", "event", "rating"]).astype({"rating": "float64"})
        with self._lock:
            stored = self._store().add_events(rows)
            added_before = self.counters["users_added"]
            observed = self._observe(frame)
            self._store().drop_reasons(users=frame["user"].unique().tolist())
        unknown = sorted(set(frame["item"]) - set(self.item_ids.raw))
        return {
            "received": len(rows),
            "stored": stored,
            "observed": observed,
            "new_users": self.counters["users_added"] - added_before,
            "items_not_in_model": unknown[:20],  # stored, but scored only after retraining
        }

    def _observe(self, events: pd.DataFrame) -> int:
        """Fold raw-id events into the model: new users get rows, events on items it never saw are skipped."""
        if events.empty:
            return 0
        items = self.item_ids.indices(events["item"])
        usable = events[items >= 0].assign(item=items[items >= 0])
        fresh = [u for u in dict.fromkeys(usable["user"]) if self.user_ids.get(u) < 0]
        if fresh:
            self.model.add_users(len(fresh))
            for u in fresh:
                self.user_ids.add(u)
            self.counters["users_added"] += len(fresh)
        if usable.empty:
            return 0
        dense = usable.assign(user=[self.user_ids.get(u) for u in usable["user"]])
        self.model.observe(dense.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True))
        self.counters["events_observed"] += len(dense)
        return len(dense)

    def record_feedback(self, user: str, item: str, kind: str) -> dict[str, Any]:
        """Store a like / dismiss on an item; a dismissed item is not recommended to that user again."""
        with self._lock:
            if item not in self.catalog and self.item_ids.get(item) < 0:
                raise NotFoundError(f"item {item!r} is not in the catalog")
            feedback_id = self._store().add_feedback(user, item, kind)
            self._feedback.setdefault(user, {})[item] = kind
        return {"id": feedback_id, "user": user, "item": item, "kind": kind}

    def upsert_item(self, item: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a catalog row; reasons about the item go stale, grounding sees its new text."""
        with self._lock:
            created = item not in self.catalog
            self._store().upsert_item(item, **fields)
            self.catalog[item] = {k: fields.get(k) for k in ("title", "category", "brand", "price", "description")}
            self._add_catalog_aspects(item)
            self._store().drop_reasons(items=[item])
            self._anonymous.pop(item, None)
        return {"item": item, "created": created, "in_model": self.item_ids.get(item) >= 0}

    def forget(self, user: str) -> dict[str, Any]:
        """Remove a user from the store, the running model and the artifact folder; say what must be retrained.

        Per-user state is erased (history, factors, sequence, reasoner profile, cached reasons, feedback);
        weights shared by all users were learned with their events and only retraining removes that trace.
        """
        with self._lock:
            removed = self._store().forget_user(user)
            uid = self.user_ids.forget(user)
            if uid < 0 and not any(removed.values()):
                raise NotFoundError(f"user {user!r} is not known")
            self._feedback.pop(user, None)
            rewritten: list[str] = []
            if uid >= 0:
                self.model.forget_users([uid])
                self.counters["users_forgotten"] += 1
                if uid < len(self.artifact.user_ids):
                    rewritten = self._forget_in_artifact(uid)
        retrain = [f"recommender '{self.artifact.recommender.name}': weights shared by all users were learned with this user's events"]
        if self.reasoner is not None:
            retrain.append(f"reasoner '{self.reasoner.name}': aspect counts and weights were learned with this user's reviews")
        return {
            "user": user,
            "removed": {"store": removed, "live_model": uid >= 0, "artifact_files": rewritten},
            "retrain_to_forget_fully": retrain,
        }

    def _forget_in_artifact(self, uid: int) -> list[str]:
        """Tombstone the user's id, drop their interaction rows (re-indexing the split), blank their model state; save."""
        art = self.artifact
        art.user_ids = IdMap(tuple(TOMBSTONE.format(i) if i == uid else r for i, r in enumerate(art.user_ids.raw)))
        keep = (art.interactions["user"] != uid).to_numpy()
        if art.split is not None:
            new_row = np.cumsum(keep) - 1  # old row -> new row, for rows kept
            parts = {part: getattr(art.split, part) for part in ("train", "valid", "test")}
            art.split = dataclasses.replace(art.split, **{p: new_row[rows[keep[rows]]] for p, rows in parts.items()})
        art.interactions = art.interactions[keep].reset_index(drop=True)
        art.recommender.forget_users([uid])
        if self.reasoner is not None:
            self.reasoner.forget_user(uid)
        art.save(self.artifact_dir)
        return sorted(str(p.relative_to(self.artifact_dir)) for p in self.artifact_dir.rglob("*") if p.is_file())
