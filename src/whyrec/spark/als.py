"""MLlib's ALS (`pyspark.ml.recommendation.ALS`) fitting the factors of whyrec's `mf` recommender.

Same objective as `mf`'s implicit ALS (Hu, Koren, Volinsky 2008) on the same binary matrix, with two
translations, so the saved artifact folds in and serves with `mf`'s own code unchanged:
- confidence: implicit weighs an observed pair by `alpha`; MLlib by 1 + alpha', so alpha' = alpha - 1.
- regularisation: implicit adds `regularization` to every row's solve; MLlib adds regParam times the
  row's count of observed pairs (ALS-WR). regParam = regularization / (mean count per solved row) makes
  the penalty equal on average over all user and item solves (not per row: MLlib penalises heavy rows more).
MLlib solves each row exactly (Cholesky); implicit by default takes 3 conjugate-gradient steps per row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from whyrec.errors import ConfigError
from whyrec.recommend.base import TrainData
from whyrec.recommend.mf import MatrixFactorization, MFConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_reg_param(seen: sp.csr_matrix, regularization: float) -> float:
    """MLlib's regParam whose count-weighted penalty averages `regularization` over the rows it solves."""
    users = np.count_nonzero(np.diff(seen.indptr))
    items = np.count_nonzero(np.bincount(seen.indices, minlength=seen.shape[1]))
    if seen.nnz == 0:
        return regularization
    return regularization * (users + items) / (2 * seen.nnz)  # 2 nnz observed pairs over users + items solves


def als_factors(
    spark: SparkSession, seen: sp.csr_matrix, config: MFConfig, regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    """(n_users, F) and (n_items, F) float32 factors fitted by MLlib on the binary `seen` matrix; rows with no pairs are 0."""
    from pyspark.ml.recommendation import ALS

    coo = seen.tocoo()
    pairs = pd.DataFrame(
        {"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32), "rating": np.ones(coo.nnz, np.float32)}
    )
    frame = spark.createDataFrame(pairs)
    als = ALS(
        rank=config.factors,
        maxIter=config.iterations,
        regParam=spark_reg_param(seen, regularization),
        alpha=config.alpha - 1.0,
        implicitPrefs=True,
        seed=config.seed,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
    )
    model = als.fit(frame)
    return _dense(model.userFactors.toPandas(), seen.shape[0], config.factors), _dense(
        model.itemFactors.toPandas(), seen.shape[1], config.factors
    )


def _dense(factors: pd.DataFrame, n: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) rows as an (n, rank) float32 array."""
    out = np.zeros((n, rank), dtype=np.float32)
    if len(factors):
        out[factors["id"].to_numpy()] = np.stack(factors["features"].to_numpy()).astype(np.float32)
    return out


class SparkALS(MatrixFactorization):
    """The `mf` recommender (ALS) with its factors fitted by MLlib; it saves, loads, folds in and serves as `mf`."""

    def __init__(self, config: MFConfig, spark: SparkSession) -> None:
        if config.algorithm != "als":
            raise ConfigError(f"models.mf.algorithm: Spark fits ALS only, not {config.algorithm!r}")
        if config.alpha < 1.0:
            raise ConfigError(f"models.mf.alpha: MLlib's confidence is at least 1, so alpha must be >= 1, got {config.alpha}")
        super().__init__(config)
        self._spark: SparkSession | None = spark

    def _fit(self, data: TrainData) -> None:
        if self._spark is None:
            raise ConfigError("a SparkALS model fits once; make a new one with a Spark session")
        self.user_factors, self.item_factors = als_factors(self._spark, data.seen, self.config, self.regularization)
        self._item_gram = None
        self._spark = None  # the session is not part of the model: without it the fitted model copies like any `mf`
