"""A critic for generated reasons: how much a text reads like a real, helpful review statement.

The adversarial (GAN) reading of reason generation: a discriminator learns to tell real positive
review statements about an aspect from the generator's own reasons, and its score then ranks the
generator's candidates (the text that fools it most reads most like what shoppers find helpful).
It is logistic regression on MiniLM sentence embeddings: small, fast on a CPU, and saved as plain
arrays. scikit-learn fits it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whyrec.errors import ArtifactError, DataError

Embedder = Callable[[Sequence[str]], np.ndarray]  # (texts) -> (n, d) unit vectors, e.g. whyrec.embeddings.embed_texts


@dataclass(frozen=True)
class Critic:
    """P(real review statement | text) = sigmoid(embedding . coef + intercept)."""

    coef: np.ndarray  # (d,)
    intercept: float
    auc: float  # on the held-out fifth of its training texts: how well it tells the two apart

    @classmethod
    def fit(cls, real: Sequence[str], generated: Sequence[str], embed: Embedder, seed: int = 0) -> Critic:
        """Fit on balanced classes; a fifth of each class is held out for `auc`."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score

        if len(real) < 10 or len(generated) < 10:
            raise DataError(
                f"the critic needs at least 10 texts of each kind, got {len(real)} real and {len(generated)} generated"
            )
        x = embed([*real, *generated])  # (n, d)
        y = np.r_[np.ones(len(real)), np.zeros(len(generated))]
        rng = np.random.default_rng(seed)
        held = np.zeros(len(y), dtype=bool)
        for label in (0, 1):
            rows = np.flatnonzero(y == label)
            held[rng.choice(rows, size=max(1, len(rows) // 5), replace=False)] = True
        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(x[~held], y[~held])
        auc = float(roc_auc_score(y[held], model.decision_function(x[held])))
        return cls(model.coef_[0].astype(np.float32), float(model.intercept_[0]), auc)

    def score(self, texts: Sequence[str], embed: Embedder) -> np.ndarray:
        """(n,) probabilities that each text is a real review statement."""
        if not len(texts):
            return np.zeros(0, dtype=np.float32)
        logits = embed(list(texts)) @ self.coef + self.intercept  # (n,)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        out = Path(path)
        np.savez(out, coef=self.coef, intercept=np.float32(self.intercept), auc=np.float32(self.auc))
        return out

    @classmethod
    def load(cls, path: str | Path) -> Critic:
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                coef, intercept, auc = z["coef"], float(z["intercept"]), float(z["auc"])
        except (FileNotFoundError, KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"{p}: critic missing or unreadable ({exc})") from exc
        if coef.ndim != 1 or not np.isfinite(coef).all() or not np.isfinite(intercept):
            raise ArtifactError(f"{p}: critic weights must be one finite vector, got shape {coef.shape}")
        return cls(coef.astype(np.float32), intercept, auc)
