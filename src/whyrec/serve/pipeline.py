"""The serving pipeline: one trained artifact and the live store, composed for the HTTP API.

Three parts, one per concern: the running model (`serve.live`), reasons and their cache
(`serve.reasons`, answering through `whyrec.recommendation.recommend`), and shopper data and
privacy (`serve.shoppers`). One lock guards the model state and is never held while waiting on
the disk or on a reasoner: a second lock lets one request at a time write reasons (an LM takes about a second a
shopper), while profile reads, feedback and events go on under the first. Each thread has its own SQLite connection
(WAL: readers beside one writer). `serve.app` translates this to HTTP; this module knows nothing of HTTP.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from whyrec import recommendation
from whyrec.artifact import Artifact
from whyrec.data.store import Store
from whyrec.errors import NotFoundError
from whyrec.recommendation import Answer, Draft, ReasonCache
from whyrec.serve import shoppers
from whyrec.serve.live import LiveRanking
from whyrec.serve.reasons import ServedReasons, ShopFacts

log = logging.getLogger("whyrec.pipeline")


def model_version(artifact: Artifact) -> str:
    """The key of an artifact's reasons in the store's reason cache (batch writers use it too)."""
    reasoner = artifact.reasoner
    return hashlib.sha256(
        f"{artifact.created}|{artifact.recommender.name}|{reasoner.name if reasoner else ''}".encode()
    ).hexdigest()[:12]


class Pipeline:
    """Recommend, explain, profile, record and forget over one artifact folder and one store file."""

    def __init__(self, artifact_dir: Path, store_path: Path, artifact: Artifact, store: Store) -> None:
        self.artifact_dir = artifact_dir
        self.store_path = store_path
        self.artifact = artifact
        reasoner = artifact.reasoner
        self.version = model_version(artifact)
        self._lock = threading.RLock()
        # Writing reasons, and changing what they are written from (the catalog, a forgotten shopper's profile); taken
        # before `_lock` where both are held. `_changes` counts per shopper what makes their cached reasons stale (their
        # forgetting) and, under None, catalog changes: reasons written across such a change are shown but not cached.
        # `_moved` counts a shopper's events, which make only the recommender's attributions stale (no reasoner reads
        # live events): reasons written across them are cached without the attribution, which the next request redoes.
        self._reasoning = threading.Lock()
        self._changes: Counter[str | None] = Counter()
        self._moved: Counter[str] = Counter()
        self._forgetting = threading.Lock()  # one forget at a time: each rewrites the artifact the last one left
        self._local = threading.local()
        self._local.store = store
        self._stores: list[Store] = [store]
        self.live = LiveRanking(artifact)
        self.facts = ShopFacts(artifact.item_ids, reasoner.lexicon if reasoner else None)
        self.reasons = ServedReasons(artifact, self.facts, self.version)
        self.feedback = shoppers.Feedback()
        self.scrubber = shoppers.Scrubber(store_path)
        self.experiment = artifact.config.experiment  # an A/B test: users' arms pick the reasoner

    # ---- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, artifact_dir: str | Path, store_path: str | Path) -> Pipeline:
        """Load the artifact, finish forgets a crash interrupted, read the store, fold in events stored since training."""
        artifact_dir, store_path = Path(artifact_dir), Path(store_path)
        artifact = Artifact.load(artifact_dir)
        store = Store(store_path, create=False)
        try:
            finish_forgets(artifact, artifact_dir, store)
            pipeline = cls(artifact_dir, store_path, artifact, store)
            pipeline.load(store.read_dataset(name=store_path.stem))
            pipeline.scrubber.request(store)  # rows a crash left in the WAL
        except BaseException:
            store.close()
            raise
        return pipeline

    def load(self, shop: Any) -> None:
        """Read the shop's catalog and aspects, prepare the reasoners, fold in events stored since training."""
        self.facts = ShopFacts.read(shop, self.artifact.item_ids, self.facts.lexicon)
        self.reasons.facts = self.facts
        self.reasons.prepare(shop, self.experiment)
        self.feedback.load(self._store())
        self.live.observe(self.live.events_since_training(shop))
        log.info(
            "pipeline ready: model %s, %d users, %d items", self.version, len(self.live.user_ids.raw), len(self.live.item_ids)
        )

    def _store(self) -> Store:
        """This thread's store connection (sqlite3 connections are per thread)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.store_path, create=False)
            with self._lock:
                self._stores.append(store)
        return store

    def close(self) -> None:
        self.scrubber.close()
        with self._lock:
            for store in self._stores:
                store.close()
            self._stores.clear()

    # ---- reading ---------------------------------------------------------------------------------
    def users(self, limit: int) -> list[str]:
        """Up to `limit` raw ids of shoppers the model knows, in id order."""
        with self._lock:
            return self.live.known_users(limit)

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
            "live": dict(self.live.counters),
            "scrub": self.scrubber.status,
        }

    def recommend(self, user: str, k: int) -> dict[str, Any]:
        """Top-k for a raw user id with checked reasons, evidence and attribution; unknown users get popular items, flagged."""
        answer, arm = self._answer(user, k)
        with self._lock:
            feedback = self.feedback.of(user)
            entries = [{**r.to_json(), "feedback": feedback.get(r.item)} for r in answer.items]
            response = {
                "user": user,
                "known": self.live.user_ids.get(user) >= 0,
                "fallback": answer.fallback,
                "model": self.version,
                "reasons_cached": answer.cached,
                "items": entries,
            }
            if arm is not None:
                response["experiment"] = {"name": self.experiment.name, "arm": arm}
                # Only shoppers the model knows are logged, so open reads cannot add users to the store.
                if response["known"] and entries:
                    from whyrec.serve.experiment import log_exposure

                    items = [e["item"] for e in entries]
                    response["experiment"]["request"] = log_exposure(self._store(), self.experiment, user, items, arm=arm)
            return response

    def warm(self, user: str, k: int) -> Answer:
        """Write the user's top-k reasons into the reason cache exactly as `recommend` would serve them (no exposure logged)."""
        return self._answer(user, k)[0]

    def _answer(self, user: str, k: int) -> tuple[Answer, str | None]:
        """The served answer (through the reason cache) and the user's A/B arm, if an experiment runs: ranked under the
        model lock, its missing reasons written under the reasoning lock alone, cached only if nothing made them stale
        in between."""
        with self._lock:
            hidden = {self.live.item_ids.get(raw) for raw in self.feedback.dismissed(user)} - {-1}
            arm = None
            if self.experiment is not None:
                from whyrec.serve.experiment import arm_of

                arm = arm_of(user, self.experiment)
            pending = self.reasons.draft(self.live, self._store, user, k, hidden, arm)
            seen = self._seen(user)
        if not pending.drafted.missing:
            with self._lock:
                self._keep(user, seen, pending.cache, pending.drafted, {})
                return recommendation.answer(pending.drafted, self.facts, {}), arm
        with self._reasoning:  # cached before it is let go: a request for the same shopper waiting on it reads them
            drafted, fresh = self.reasons.write(pending)
            with self._lock:
                self._keep(user, seen, pending.cache, drafted, fresh)
                return recommendation.answer(drafted, self.facts, fresh), arm

    def _seen(self, user: str) -> tuple[int, int, int]:
        """What has changed so far that makes a shopper's reasons stale, and their attributions (call under `_lock`)."""
        return self._changes[user], self._changes[None], self._moved[user]

    def _keep(self, user: str, seen: tuple[int, int, int], cache: ReasonCache, drafted: Draft, fresh: dict[int, Any]) -> None:
        """Cache the fresh reasons and refreshed attributions of an answer drafted when `_seen` was `seen` (under
        `_lock`): nothing after a catalog change or the shopper's forgetting, only the reasons after their events."""
        now = self._seen(user)
        if now[:2] != seen[:2]:
            return
        if now[2] == seen[2]:
            if fresh or drafted.refreshed:
                cache.put({**drafted.refreshed_payloads(), **fresh})
        elif fresh:
            cache.put({i: {k: v for k, v in p.items() if k != "attribution"} for i, p in fresh.items()})

    def profile(self, user: str) -> dict[str, Any]:
        """The user's interest profile; NotFoundError for a user with no events or reviews."""
        store = self._store()
        with self._lock:
            return shoppers.profile(store, user, self.facts)

    # ---- writing ---------------------------------------------------------------------------------
    def record_events(self, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Store events (exactly once: repeats are ignored) and fold them into the model; their users' cached
        attributions go stale (their reasons do not: they are kept and served with the attributions computed again)."""
        now = int(time.time())
        rows = [
            (e["user"], e["item"], now if e.get("timestamp") is None else int(e["timestamp"]), e["event"], e.get("rating"))
            for e in events
        ]
        frame = pd.DataFrame(rows, columns=["user", "item", "timestamp", "event", "rating"]).astype({"rating": "float64"})
        with self._lock:
            new = self._store().add_events(rows)
            added_before = self.live.counters["users_added"]
            observed = self.live.observe(frame.iloc[new])  # exactly the rows the store kept, as a restart replays them
            self._store().stale_attributions(frame["user"].unique().tolist())
            self._moved.update(frame["user"].unique().tolist())
        unknown = sorted(set(frame["item"]) - set(self.live.item_ids.raw))
        return {
            "received": len(rows),
            "stored": len(new),
            "observed": observed,
            "new_users": self.live.counters["users_added"] - added_before,
            "items_not_in_model": unknown[:20],  # stored, but scored only after retraining
        }

    def record_feedback(self, user: str, item: str, kind: str) -> dict[str, Any]:
        """Store a like / dismiss on an item (or "clear" to withdraw it); a dismissed item is not recommended to that user again."""
        with self._lock:
            if item not in self.facts.rows and self.live.item_ids.get(item) < 0:
                raise NotFoundError(f"item {item!r} is not in the catalog")
            feedback_id = self.feedback.record(self._store(), user, item, kind)
        return {"id": feedback_id, "user": user, "item": item, "kind": kind}

    def upsert_item(self, item: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace a catalog row; reasons about the item go stale, grounding sees its new text."""
        with self._reasoning, self._lock:
            self._store().upsert_item(item, **fields)
            created = self.facts.upsert(item, fields)
            self._store().drop_reasons([item])
            self.reasons.forget_item(item)
            self._changes[None] += 1
        return {"item": item, "created": created, "in_model": self.live.item_ids.get(item) >= 0}

    def forget(self, user: str) -> dict[str, Any]:
        """Remove a user from the store, the running model and the artifact folder; say what must be retrained.

        The store deletes first, recording in the same transaction that the artifact still holds the user;
        the model forgets at once; the artifact is rewritten (atomically) and the store's files scrubbed
        afterwards, neither under the model lock, so other requests go on meanwhile.
        """
        store = self._store()
        with self._forgetting:
            # No reason is written meanwhile, and none drafted before the model forgets is cached after the store has
            # deleted the shopper's (hence a change counted at both ends).
            with self._reasoning:
                with self._lock:
                    uid = self.live.user_ids.get(user)
                    self._changes[user] += 1
                trained = 0 <= uid < self.live.trained_users
                key = (str(self.artifact_dir.resolve()), self.artifact.created)
                removed = store.forget_user(user, pending=(*key, uid) if trained else None)
                with self._lock:  # the reasoner forgets the shopper too
                    answer = shoppers.forget(self.live, self.feedback, user, removed)
                    self._changes[user] += 1
            if trained:
                self.artifact.save(self.artifact_dir)
                store.clear_forgets(*key, positions=[uid])
                folder = self.artifact_dir
                answer["removed"]["artifact_files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
            answer["scrub"] = self.scrubber.request(store)
        return answer


def finish_forgets(artifact: Artifact, artifact_dir: Path, store: Store) -> None:
    """Apply to the artifact (and save it) every forget the store recorded whose rewrite may not have finished."""
    key = str(artifact_dir.resolve())
    pending = store.pending_forgets(key, artifact.created)
    if pending:
        log.info("finishing %d interrupted forget(s) in %s", len(pending), artifact_dir)
        for uid in pending:
            shoppers.forget_in_artifact(artifact, uid)
        artifact.save(artifact_dir)
        store.clear_forgets(key, artifact.created, pending)
    store.clear_forgets(key, artifact.created)  # those of artifacts trained before this one was
