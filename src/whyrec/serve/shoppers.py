"""What the server keeps about shoppers beside the model: feedback, interest profiles, and forgetting them.

Forgetting erases per-user state everywhere it is kept (store rows, the running model, the artifact
folder, the reasoner's profile, cached reasons, feedback); weights shared by all users were learned
with the shopper's events and only retraining removes that trace, which the answer says.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from whyrec.data.schema import IdMap
from whyrec.errors import NotFoundError
from whyrec.serve.live import TOMBSTONE

if TYPE_CHECKING:
    from whyrec.artifact import Artifact
    from whyrec.data.store import Store
    from whyrec.serve.live import LiveRanking
    from whyrec.serve.reasons import ShopFacts


class Feedback:
    """Each shopper's last like / dismiss per item (a dismissed item is not recommended to them again).

    "clear" withdraws it (the page's undo); the store keeps every event, so the history stays auditable.
    """

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, str]] = {}  # raw user -> raw item -> last kind

    def load(self, store: Store) -> None:
        for entry in store.feedback():
            self._set(entry["user"], entry["item"], entry["event"])

    def record(self, store: Store, user: str, item: str, kind: str) -> int:
        feedback_id = store.add_feedback(user, item, kind)
        self._set(user, item, kind)
        return feedback_id

    def _set(self, user: str, item: str, kind: str) -> None:
        if kind == "clear":
            self.kinds.get(user, {}).pop(item, None)
        else:
            self.kinds.setdefault(user, {})[item] = kind

    def of(self, user: str) -> dict[str, str]:
        return self.kinds.get(user, {})

    def dismissed(self, user: str) -> set[str]:
        return {i for i, kind in self.of(user).items() if kind == "dismiss"}


def profile(store: Store, user: str, facts: ShopFacts) -> dict[str, Any]:
    """The user's interest profile (`whyrec.explain.profile.build_profile`) from their stored events and reviews.

    NotFoundError for a user with neither (never seen, or forgotten).
    """
    from whyrec.explain.profile import build_profile

    events, reviews = store.user_events(user), store.user_reviews(user)
    if not events and not reviews:
        raise NotFoundError(f"no events or reviews of user {user!r}")
    return {"user": user, **build_profile(events, [r["text"] for r in reviews], facts.rows, facts.item_aspects, facts.lexicon)}


def forget(store: Store, live: LiveRanking, feedback: Feedback, artifact_dir: Path, user: str) -> dict[str, Any]:
    """Remove a shopper from the store, the running model and the artifact folder; say what must be retrained."""
    removed = store.forget_user(user)
    uid = live.forget(user)
    if uid < 0 and not any(removed.values()):
        raise NotFoundError(f"user {user!r} is not known")
    feedback.kinds.pop(user, None)
    rewritten: list[str] = []
    if 0 <= uid < live.trained_users:
        rewritten = _forget_in_artifact(live.artifact, artifact_dir, uid)
    artifact = live.artifact
    retrain = [f"recommender '{artifact.recommender.name}': weights shared by all users were learned with this user's events"]
    if artifact.reasoner is not None:
        retrain.append(f"reasoner '{artifact.reasoner.name}': aspect counts and weights were learned with this user's reviews")
    return {
        "user": user,
        "removed": {"store": removed, "live_model": uid >= 0, "artifact_files": rewritten},
        "retrain_to_forget_fully": retrain,
    }


def _forget_in_artifact(art: Artifact, artifact_dir: Path, uid: int) -> list[str]:
    """Tombstone the user's id, drop their interaction rows (re-indexing the split), blank their model state; save."""
    art.user_ids = IdMap(tuple(TOMBSTONE.format(i) if i == uid else r for i, r in enumerate(art.user_ids.raw)))
    keep = (art.interactions["user"] != uid).to_numpy()
    if art.split is not None:
        new_row = np.cumsum(keep) - 1  # old row -> new row, for rows kept
        parts = {part: getattr(art.split, part) for part in ("train", "valid", "test")}
        art.split = dataclasses.replace(art.split, **{p: new_row[rows[keep[rows]]] for p, rows in parts.items()})
    art.interactions = art.interactions[keep].reset_index(drop=True)
    art.recommender.forget_users([uid])
    if art.reasoner is not None:
        art.reasoner.forget_user(uid)
    art.save(artifact_dir)
    return sorted(str(p.relative_to(artifact_dir)) for p in artifact_dir.rglob("*") if p.is_file())
