"""Rating-prediction errors. PETER and PEPLER clip predictions to the dataset's rating scale
before scoring; here that is an explicit choice of the caller (min_rating / max_rating).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from whyrec.errors import DataError

Ratings = Sequence[float] | np.ndarray


def rmse(pred: Ratings, true: Ratings, *, min_rating: float | None = None, max_rating: float | None = None) -> float:
    """Root mean squared error, after clipping predictions to [min_rating, max_rating] where given."""
    err = _errors(pred, true, min_rating, max_rating)
    return float(np.sqrt(np.mean(err**2)))


def mae(pred: Ratings, true: Ratings, *, min_rating: float | None = None, max_rating: float | None = None) -> float:
    """Mean absolute error, after clipping predictions to [min_rating, max_rating] where given."""
    err = _errors(pred, true, min_rating, max_rating)
    return float(np.mean(np.abs(err)))


def _errors(pred: Ratings, true: Ratings, min_rating: float | None, max_rating: float | None) -> np.ndarray:
    """Checked (clipped prediction - truth), as float64."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.ndim != 1 or p.size == 0:
        raise DataError(f"must be a non-empty 1-D array, got shape {p.shape}", field="pred")
    if t.shape != p.shape:
        raise DataError(f"shape {t.shape} != pred shape {p.shape}", field="true")
    for name, arr in (("pred", p), ("true", t)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise DataError(f"non-finite value {arr[bad[0]]} at position {bad[0]} (0-based)", field=name)
    if min_rating is not None and max_rating is not None and min_rating > max_rating:
        raise DataError(f"min_rating {min_rating} > max_rating {max_rating}", field="min_rating")
    if min_rating is not None:
        p = np.maximum(p, min_rating)
    if max_rating is not None:
        p = np.minimum(p, max_rating)
    return p - t
