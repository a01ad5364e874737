"""The running model: the artifact's recommender with held-out rows and live events folded in.

New shoppers get rows on their first event on a known item; forgotten ones keep their dense id
(ids are positions) but lose their raw id. Callers hold the pipeline's lock around every method.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from whyrec.artifact import Artifact
    from whyrec.data.schema import Dataset
    from whyrec.recommend.base import Recommender

# A forgotten user's line in the id list: the position must stay (dense ids are positions), the raw id
# must go. The control character keeps it from colliding with any id the API accepts.
TOMBSTONE = "\x1fforgotten:{}"


class LiveIds:
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


class LiveRanking:
    """The serving recommender and its id maps, kept current with events and forget requests."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        self.model: Recommender = artifact.serving_recommender()
        self.user_ids = LiveIds(artifact.user_ids.raw)
        self.item_ids = artifact.item_ids  # the model scores only the items it was trained with
        self.counters = {"users_added": 0, "events_observed": 0, "users_forgotten": 0}

    @property
    def trained_users(self) -> int:
        """Users the artifact was trained with (the reasoner knows only these)."""
        return len(self.artifact.user_ids)

    def known_users(self, limit: int) -> list[str]:
        """Up to `limit` raw ids of shoppers the model knows, in id order."""
        return [r for r in self.user_ids.raw if r in self.user_ids.index][:limit]

    def events_since_training(self, shop: Dataset) -> pd.DataFrame:
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

    def observe(self, events: pd.DataFrame) -> int:
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

    def forget(self, user: str) -> int:
        """Drop a shopper from the running model; their dense id, or -1 when the model did not know them."""
        uid = self.user_ids.forget(user)
        if uid >= 0:
            self.model.forget_users([uid])
            self.counters["users_forgotten"] += 1
        return uid
