"""Content-based recommendation from catalog text, embedded with all-MiniLM-L6-v2.

Each item's title, category, brand and description (as `Dataset.item_text` joins them) is
embedded once into a unit vector. A user is the recency-weighted mean of their latest items'
vectors (a weight halves every `half_life` items back), and an item's score is its cosine with
that mean. Scoring needs only text, so items with no interactions yet can be recommended
(`scores_cold_items`). Items with no text get the zero vector and the score NO_TEXT_SCORE,
below any cosine: they rank after every item with text, never above one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from whyrec.data.schema import Dataset
from whyrec.errors import ConfigError
from whyrec.recommend.base import ArraySpec, RecommenderConfig, TrainData
from whyrec.recommend.sasrec import PAD, LatestItemsState, latest_items, sequence_rows
from whyrec.recommend.training import torch_threads

NO_TEXT_SCORE = -2.0  # below the cosine range [-1, 1]


class ContentConfig(RecommenderConfig):
    """How item texts are embedded and how a user's history is weighed."""

    half_life: PositiveFloat = 3.0  # items back from the latest at which an item's weight has halved
    history: PositiveInt = 50  # latest items per user that make up their profile
    batch_size: PositiveInt = 64  # texts per MiniLM forward pass
    max_seq_length: PositiveInt = 128  # word pieces read per text; long descriptions are cut here
    num_threads: NonNegativeInt = 0  # torch CPU threads while embedding; 0 = all cores this process may use


def item_texts(dataset: Dataset) -> list[str]:
    """Every item's catalog text, index = dense item id: the vectorised form of `Dataset.item_text`."""
    catalog = dataset.items.drop_duplicates("item", keep="first").set_index("item")
    out = [""] * dataset.n_items
    fields = ["title", "category", "brand", "description"]
    for item, *parts in catalog[fields].itertuples(name=None):
        out[item] = ". ".join(str(p) for p in parts if isinstance(p, str) and p)
    return out


def recency_weights(n: int, half_life: float) -> np.ndarray:
    """(n,) weights of positions oldest..latest: 1 for the latest, halving every `half_life` positions back."""
    age = np.arange(n - 1, -1, -1, dtype=np.float64)
    return (0.5 ** (age / half_life)).astype(np.float32)


class ContentRecommender(LatestItemsState):
    """Cosine between an item's text embedding and the user's recency-weighted history embedding."""

    name = "content"
    config_class = ContentConfig
    config: ContentConfig
    state_arrays: ClassVar[dict[str, ArraySpec]] = {**LatestItemsState.state_arrays, "item_vectors": ArraySpec(("items", None))}
    scores_cold_items = True
    attribution_methods = ("occlusion", "lime")

    def _fit(self, data: TrainData) -> None:
        from whyrec.embeddings import embed_texts

        c = self.config
        texts = item_texts(data.dataset)
        if not any(texts):  # every item would tie: refuse rather than rank by nothing
            raise ConfigError(
                "the content recommender needs item text (catalog title, category, brand or description); "
                f"none of the {len(texts)} items of {data.dataset.name or 'this dataset'} has any: ingest a catalog (--meta) or pick another model"
            )
        with torch_threads(c.num_threads):
            # (I, 384), zero rows for items without text
            self.item_vectors = embed_texts(texts, batch_size=c.batch_size, max_seq_length=c.max_seq_length)
        self.latest = latest_items(data.train, self.n_users, self.config.history)

    def user_vectors(self, user_ids: np.ndarray) -> np.ndarray:
        """(B, 384) unit profile vectors (zero for users whose history has no text)."""
        return self._profiles(self.latest[np.asarray(user_ids)])

    def _profiles(self, latest: np.ndarray) -> np.ndarray:
        """(B, 384) unit recency-weighted mean vectors of (B, H) PAD-padded item rows."""
        weights = recency_weights(latest.shape[1], self.config.half_life)[None, :] * (latest != PAD)  # (B, H)
        vectors = self.item_vectors[np.where(latest == PAD, 0, latest)]  # (B, H, 384)
        profile = np.einsum("bh,bhd->bd", weights, vectors)  # (B, 384)
        norm = np.linalg.norm(profile, axis=1, keepdims=True)
        return np.divide(profile, norm, out=np.zeros_like(profile), where=norm > 0)

    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        return self._cosines(self.user_vectors(user_ids), item_ids)

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        return self._cosines(self._profiles(sequence_rows(histories, self.config.history)), item_ids)

    def _cosines(self, profiles: np.ndarray, item_ids: np.ndarray | None) -> np.ndarray:
        """(B, I) cosines of (B, 384) unit profiles with the items' vectors; items without text get NO_TEXT_SCORE."""
        items = self.item_vectors if item_ids is None else self.item_vectors[np.asarray(item_ids)]
        scores = profiles @ items.T  # (B, 384) @ (384, I) -> (B, I) cosines
        scores[:, ~items.any(axis=1)] = NO_TEXT_SCORE
        return scores.astype(np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"item_vectors": self.item_vectors, "latest": self.latest}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        self.item_vectors = state["item_vectors"].astype(np.float32)
        self.latest = state["latest"].astype(np.int64)
