"""Honest offline evaluation of any Recommender: full ranking over all items, history excluded.

Protocol (SASRec's and P5's leave-last-out): the model is fitted on `split.train`; the validation
rows are then observed, so a user's history at test time is train + valid and the valid item
can inform the test prediction. Each test item is ranked against every item the user has not
already had - never against a handful of sampled negatives unless asked (`n_negatives`).
A test item the user already had (a repeat: Yelp visits, or view -> cart -> purchase funnels)
can never be shown by `recommend`, which excludes seen items, so by default such test rows are
dropped (and counted); `repeats="candidate"` keeps them as candidates instead, as SASRec's and
P5's evaluation code do, for comparison with their numbers. Items with no training events are scored -inf unless the model can score cold items, exactly
as `Recommender.recommend` would show them, so the numbers describe what users would see.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from whyrec.data.schema import Dataset
from whyrec.data.split import Split
from whyrec.errors import ArtifactError, ConfigError
from whyrec.evaluate.ranking import ranking_metrics
from whyrec.recommend.base import Recommender
from whyrec.recommend.ranks import metrics_from_ranks
from whyrec.recommend.validation import DEFAULT_BATCH, full_ranks, masked_scores, top_outside

if TYPE_CHECKING:
    from whyrec.artifact import Artifact


def evaluate_artifact(artifact: Artifact, **options: Any) -> dict[str, float | int]:
    """Ranking metrics of an artifact's recommender on its split's test rows (`evaluate_ranking` with these options).

    Kept in `artifact.metrics["ranking"]`, or under a key naming the options when they are not the
    defaults (e.g. "ranking[n_negatives=99]"), so a sampled-negative run never passes for full ranking.
    Runs on a copy, because the protocol folds the validation rows into the model it is given:
    the stored recommender stays exactly as fitted on train, so evaluating twice gives the same numbers.
    """
    if artifact.split is None:
        raise ArtifactError("this artifact was trained without a split: nothing held out to evaluate on")
    model = copy.deepcopy(artifact.recommender)
    result = evaluate_ranking(model, artifact.dataset(), artifact.split, **options)
    named = ",".join(f"{k}={v}" for k, v in sorted(options.items()))
    artifact.metrics[f"ranking[{named}]" if named else "ranking"] = result
    return result


def evaluate_ranking(
    model: Recommender,
    dataset: Dataset,
    split: Split,
    ks: Sequence[int] = (5, 10),
    users: np.ndarray | Sequence[int] | None = None,
    batch: int = DEFAULT_BATCH,
    n_negatives: int | None = None,
    seed: int = 0,
    repeats: Literal["drop", "candidate"] = "drop",
) -> dict[str, float | int]:
    """Ranking metrics of `model` (already fitted on `split.train`) on the split's test rows.

    Observes the split's validation rows first, so the model is left holding train + valid.
    `users` restricts the evaluation to those dense user ids (e.g. a sample for a quick run).
    With one test item per user (leave-last-out) ranks are exact and ties count against the
    target; then HR/NDCG/MRR@k, full-list MRR and coverage@k are reported. With several test
    items per user, metrics come from the top-max(ks) lists (HR, NDCG, Recall, MRR, coverage).
    `n_negatives` switches to the "1 + n sampled negatives" protocol (seeded by `seed`) for
    comparison with papers that used it; it is off by default because it inflates every number.
    `repeats` says what to do with test items already in the user's history (module docstring).
    Besides the metrics: "users" evaluated, "repeat_targets" and "cold_targets" among the test rows.
    """
    if repeats not in ("drop", "candidate"):
        raise ConfigError(f"repeats must be 'drop' or 'candidate', not {repeats!r}")
    if split.table != "interactions":
        raise ConfigError(f"ranking evaluation needs an interactions split, not a {split.table} split")
    inter = dataset.interactions
    model.observe(inter.iloc[np.sort(split.valid)])
    test = inter.iloc[np.sort(split.test)][["user", "item"]]
    if users is not None:
        test = test[test["user"].isin(np.asarray(users))]
    if test.empty:
        raise ConfigError("no test rows to evaluate (empty test split or no selected user has one)")
    repeat = np.asarray(model.seen[test["user"].to_numpy(), test["item"].to_numpy()]).ravel() > 0
    stats: dict[str, float | int] = {
        "repeat_targets": int(repeat.sum()),
        "cold_targets": int((model.popularity[test["item"].to_numpy()] == 0).sum()),
    }
    if repeats == "drop":
        test = test[~repeat]
        if test.empty:
            raise ConfigError("every test item is one the user already had; nothing new to rank")
    stats.update(users=int(test["user"].nunique()), n_items=int(dataset.n_items))
    single = not test["user"].duplicated().any()
    if n_negatives is not None:
        if not single:
            raise ConfigError("sampled-negative evaluation needs one test item per user (leave-last-out)")
        ranks = _sampled_ranks(model, test, n_negatives, batch, np.random.default_rng(seed))
        return {**metrics_from_ranks(ranks, ks), "mrr": float(np.mean(1.0 / (ranks + 1.0))), **stats}
    if single:
        ranks, lists = full_ranks(model, test, max(ks), batch)
        metrics = metrics_from_ranks(ranks, ks)
        metrics["mrr"] = float(np.mean(1.0 / (ranks + 1.0)))
        for k in ks:
            top = lists[:, :k]
            metrics[f"coverage@{k}"] = np.unique(top[top >= 0]).size / dataset.n_items
        return {**metrics, **stats}
    grouped = test.groupby("user", sort=True)["item"].agg(list)
    lists = _top_lists(model, grouped.index.to_numpy(), grouped.to_list(), max(ks), batch)
    return {**ranking_metrics(lists, grouped.to_list(), ks, n_items=dataset.n_items), **stats}


def _top_lists(model: Recommender, users: np.ndarray, relevant: list[list[int]], k: int, batch: int) -> np.ndarray:
    """Top-k lists for users with several test items (all of them stay candidates)."""
    out = []
    for start in range(0, len(users), batch):
        keep = [np.asarray(r, dtype=np.int64) for r in relevant[start : start + batch]]
        scores, history = masked_scores(model, users[start : start + batch], keep)
        out.append(top_outside(scores, history, k))
    return np.concatenate(out)


def _sampled_ranks(model: Recommender, test: pd.DataFrame, n_negatives: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Rank of each target among `n_negatives` items drawn uniformly from those the user never had."""
    users, items = test["user"].to_numpy(), test["item"].to_numpy()
    if n_negatives < 1:
        raise ConfigError(f"n_negatives must be >= 1, got {n_negatives}")
    ranks = np.empty(len(users), dtype=np.int64)
    for start in range(0, len(users), batch):
        u, t = users[start : start + batch], items[start : start + batch]
        scores, history = masked_scores(model, u, [np.array([i]) for i in t])
        taken = history.toarray()
        taken[np.arange(len(u)), t] = True
        if (~taken).sum(axis=1).min() < n_negatives:
            raise ConfigError(f"a user has fewer than {n_negatives} items left to sample as negatives")
        neg = np.empty((len(u), n_negatives), dtype=np.int64)
        for row in range(len(u)):
            neg[row] = rng.choice(np.flatnonzero(~taken[row]), size=n_negatives, replace=False)
        own = scores[np.arange(len(u)), t][:, None]
        ranks[start : start + batch] = (scores[np.arange(len(u))[:, None], neg] >= own).sum(axis=1)
    return ranks
