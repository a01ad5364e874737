"""A/B experiments offline: the online report, a simulation with a known truth, and the offline replay.

Serving assigns users to arms and logs their exposures (`whyrec.serve.experiment`); the report reads
those logs. The unit of randomisation is the user, so the online report's tests count users (did an exposed
user click / buy an item shown to them within the experiment's window), which are independent
draws; per-impression click-through is reported as a plain rate beside them, without an interval,
because one user's impressions are not independent. Statistics are pure functions (stdlib
NormalDist), so they can be checked against values worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whyrec.config import Arm, Experiment, RunConfig
from whyrec.errors import ConfigError, NotFoundError
from whyrec.serve.experiment import arm_of

if TYPE_CHECKING:
    from whyrec.data.schema import Dataset
    from whyrec.data.store import Store

REPLAY_EVENTS = ("click", "purchase")  # logged events a replayed arm must predict


# ---- statistics (pure) ---------------------------------------------------------------------------


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")
    z = _z(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # at 0 or all successes the bound is exactly 0 or 1; floating point would leave ~1e-17 behind
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == trials else min(1.0, centre + half)
    return lo, hi


def two_proportion_z(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of p2 == p1: (z, two-sided p-value); (0, 1) when undefined."""
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (s2 / n2 - s1 / n1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one binary metric."""

    difference: float  # p_t - p_c
    difference_ci: tuple[float, float]  # Newcombe's hybrid score interval (from the two Wilson intervals)
    uplift: float | None  # p_t / p_c - 1; None when the control rate is 0
    uplift_ci: tuple[float, float] | None  # Katz log-ratio interval; None when a rate is 0
    z: float
    p_value: float
    significant: bool  # p_value < 1 - confidence


def compare(s_c: int, n_c: int, s_t: int, n_t: int, confidence: float = 0.95) -> Comparison:
    """Difference, relative uplift with intervals, and the z-test, treatment (t) against control (c)."""
    p_c = s_c / n_c if n_c else 0.0
    p_t = s_t / n_t if n_t else 0.0
    lc, uc = wilson_interval(s_c, n_c, confidence)
    lt, ut = wilson_interval(s_t, n_t, confidence)
    d = p_t - p_c
    diff_ci = (d - math.sqrt((p_t - lt) ** 2 + (uc - p_c) ** 2), d + math.sqrt((ut - p_t) ** 2 + (p_c - lc) ** 2))
    uplift = uplift_ci = None
    if p_c > 0:
        uplift = p_t / p_c - 1
    if 0 < s_c and 0 < s_t:
        se = math.sqrt(1 / s_t - 1 / n_t + 1 / s_c - 1 / n_c)
        z = _z(confidence)
        log_ratio = math.log(p_t / p_c)
        uplift_ci = (math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1)
    z_stat, p_value = two_proportion_z(s_c, n_c, s_t, n_t)
    return Comparison(d, diff_ci, uplift, uplift_ci, z_stat, p_value, p_value < 1 - confidence)


def sample_ratio_p(observed: Sequence[int], shares: Sequence[float]) -> float:
    """Chi-square goodness-of-fit p-value of users per arm against the configured shares (sample ratio mismatch)."""
    total = sum(observed)
    if total == 0 or len(observed) < 2:
        return 1.0
    from scipy.stats import chi2

    stat = sum((o - total * s) ** 2 / (total * s) for o, s in zip(observed, shares, strict=True))
    return float(chi2.sf(stat, len(observed) - 1))


# ---- the online report ---------------------------------------------------------------------------


def _experiment(store: Store, name: str | None) -> Experiment:
    logged = store.experiments()
    if not logged:
        raise NotFoundError(f"{store.path}: no experiment has logged exposures yet")
    if name is None:
        if len(logged) > 1:
            raise ConfigError(f"{store.path} holds several experiments ({', '.join(logged)}); pick one with --experiment")
        name = next(iter(logged))
    if name not in logged:
        raise NotFoundError(f"{store.path}: no exposures logged for experiment {name!r} (logged: {', '.join(logged)})")
    return Experiment.model_validate_json(logged[name])


def _rate(successes: int, trials: int, confidence: float) -> dict[str, Any]:
    lo, hi = wilson_interval(successes, trials, confidence)
    return {"count": successes, "of": trials, "rate": successes / trials if trials else None, "ci": [lo, hi]}


def summarize(outcomes: pd.DataFrame, experiment: Experiment, confidence: float = 0.95) -> dict[str, Any]:
    """The report over exposure outcomes (columns arm, user, clicked, purchased): per arm, and each arm vs control.

    Users logged in more than one arm (the config changed mid-test) are left out and counted.
    """
    per_user = outcomes.groupby(["user", "arm"], sort=False).agg(
        impressions=("clicked", "size"), clicks=("clicked", "sum"), clicked=("clicked", "max"), converted=("purchased", "max")
    )
    per_user = per_user.reset_index()
    arms_seen = per_user.groupby("user")["arm"].transform("nunique")
    mixed = int(per_user.loc[arms_seen > 1, "user"].nunique())
    per_user = per_user[arms_seen == 1]
    unknown = sorted(set(per_user["arm"]) - set(experiment.arms))
    if unknown:
        raise ConfigError(f"experiment {experiment.name!r}: exposures logged for arms {unknown} not in its config")
    arms: dict[str, dict[str, Any]] = {}
    for arm in experiment.arms:
        rows = per_user[per_user["arm"] == arm]
        users, impressions = len(rows), int(rows["impressions"].sum())
        arms[arm] = {
            "users": users,
            "impressions": impressions,
            "impression_ctr": int(rows["clicks"].sum()) / impressions if impressions else None,
            "ctr": _rate(int(rows["clicked"].sum()), users, confidence),
            "conversion": _rate(int(rows["converted"].sum()), users, confidence),
        }
    control = experiment.control
    comparisons = {}
    for arm in list(experiment.arms)[1:]:
        comparisons[arm] = {}
        for metric in ("ctr", "conversion"):
            c, t = arms[control][metric], arms[arm][metric]
            res = compare(c["count"], c["of"], t["count"], t["of"], confidence)
            comparisons[arm][metric] = {
                "difference": res.difference,
                "difference_ci": list(res.difference_ci),
                "uplift": res.uplift,
                "uplift_ci": None if res.uplift_ci is None else list(res.uplift_ci),
                "z": res.z,
                "p_value": res.p_value,
                "significant": res.significant,
            }
    shares = experiment.shares()
    return {
        "experiment": experiment.name,
        "control": control,
        "confidence": confidence,
        "window_s": experiment.window_s,
        "unit": "user: ctr = share of exposed users who clicked an item shown to them within window_s, "
        "conversion = share who purchased one; impression_ctr = clicked impressions / impressions (no interval)",
        "arms": arms,
        "vs_control": comparisons,
        "users_in_several_arms": mixed,
        "sample_ratio_p": sample_ratio_p([arms[a]["users"] for a in experiment.arms], list(shares.values())),
        "test": "two-sided pooled two-proportion z-test; intervals: Wilson (rates), Newcombe (difference), Katz (uplift)",
    }


def report(store: Store, experiment: str | None = None, confidence: float = 0.95) -> dict[str, Any]:
    """`whyrec ab report`: click-through and conversion per arm from the store's exposures and events."""
    exp = _experiment(store, experiment)
    return summarize(store.exposure_outcomes(exp.name, exp.window_s), exp, confidence)


# ---- simulation ----------------------------------------------------------------------------------

SIMULATED = Experiment(name="simulated", arms={"template": Arm(reasoner="template"), "prompt_lm": Arm(reasoner="prompt_lm")})


def simulate(
    store: Store,
    *,
    experiment: Experiment = SIMULATED,
    users: int = 10_000,
    k: int = 10,
    base_ctr: float = 0.10,
    uplift: float = 0.20,
    purchase_rate: float = 0.30,
    seed: int = 0,
    start: int = 1_735_689_600,  # 2025-01-01 UTC
) -> dict[str, Any]:
    """A simulated experiment with a known truth, written to `store` (use a scratch copy of a shop).

    Each simulated shopper gets one response of `k` of the shop's most popular items (order shuffled),
    clicks one of them with probability base_ctr in the control arm and base_ctr * (1 + uplift) in the
    others (position-biased: rank r is picked with weight 1 / (r + 1)), and buys the clicked item with
    probability purchase_rate. So the true user-level ctr and conversion uplifts are both `uplift`.
    """
    if not (0 < base_ctr and base_ctr * (1 + max(uplift, 0)) <= 1 and 0 <= purchase_rate <= 1 and uplift > -1):
        raise ConfigError("simulate: need 0 < base_ctr * (1 + uplift) <= 1, uplift > -1 and 0 <= purchase_rate <= 1")
    popular = store.popular_items(max(k, 50))
    if len(popular) < k:
        raise ConfigError(f"{store.path}: needs at least {k} items with interactions to simulate on (ingest a shop first)")
    rng = np.random.default_rng(seed)
    control = experiment.control
    truth_ctr = {a: base_ctr * (1.0 if a == control else 1 + uplift) for a in experiment.arms}
    position_w = 1 / np.arange(1, k + 1)
    position_w /= position_w.sum()
    events: list[tuple[str, str, int, str, float | None]] = []
    exposures: list[tuple[str, str, str, int, int, str]] = []
    for n in range(users):
        user = f"sim{seed}-{n:06d}"
        arm = arm_of(user, experiment)
        ts = start + 60 * n
        shown = rng.choice(popular, size=k, replace=False)
        request = f"sim{seed}-{n:06d}"
        exposures += [(arm, user, str(item), pos, ts, request) for pos, item in enumerate(shown)]
        if rng.random() < truth_ctr[arm]:
            item = str(shown[rng.choice(k, p=position_w)])
            events.append((user, item, ts + 30, "click", None))
            if rng.random() < purchase_rate:
                events.append((user, item, ts + 600, "purchase", None))
    store.add_exposures(experiment.name, experiment.model_dump_json(), exposures)
    store.add_events(events)
    return {
        "experiment": experiment.name,
        "users": users,
        "exposures": len(exposures),
        "events": len(events),
        "true_ctr": truth_ctr,
        "true_conversion": {a: p * purchase_rate for a, p in truth_ctr.items()},
        "true_uplift": uplift,
        "seed": seed,
    }


# ---- offline replay ------------------------------------------------------------------------------


def arm_models(experiment: Experiment, run: RunConfig) -> dict[str, Arm]:
    """Each arm's recommender and reasoner, with the run's own filling what an arm leaves unset."""
    return {
        name: Arm(recommender=arm.recommender or run.recommender, reasoner=arm.reasoner or run.reasoner)
        for name, arm in experiment.arms.items()
    }


def replay(
    dataset: Dataset,
    experiment: Experiment,
    run: RunConfig,
    *,
    k: int = 10,
    test_frac: float = 0.2,
    confidence: float = 0.95,
    max_targets: int | None = None,
) -> dict[str, Any]:
    """Replay the latest `test_frac` of logged events through every arm's recommender (the replay estimator).

    Each arm's recommender is fitted on the events before a global time cut. Then the later events are
    replayed in time order: before each click/purchase on an item new to the user, the arm ranks its
    top-k for that user from everything seen so far; a hit is the logged item in that top-k. Every arm
    sees every replayed event (a paired comparison, tested with McNemar's exact test on the events where
    the arms disagree). Assumptions: what users did would have happened whatever they were shown (the
    logged behaviour does not depend on the logging policy), so it estimates how well an arm anticipates
    organic behaviour, not the causal uplift an online test measures; and arms that differ only in their
    reasoner rank identically, so replay cannot tell them apart.
    """
    from scipy.stats import binomtest

    from whyrec.data.split import Split
    from whyrec.recommend.registry import get_recommender_class

    inter = dataset.interactions
    order = np.argsort(inter["timestamp"].to_numpy(), kind="stable")
    cut = int(len(order) * (1 - test_frac))
    if not 0 < cut < len(order):
        raise ConfigError(f"replay: test_frac {test_frac} leaves no events to fit on or to replay")
    train = np.sort(order[:cut])
    split = Split("temporal", None, train, np.array([], np.int64), np.array([], np.int64))
    later = order[cut:]
    users_a, items_a, events_a = inter["user"].to_numpy(), inter["item"].to_numpy(), inter["event"].to_numpy()
    seen = set(zip(users_a[train].tolist(), items_a[train].tolist(), strict=True))  # (user, item) pairs touched so far
    targets: list[int] = []  # positions in `later`
    for pos, row in enumerate(later):
        pair = (int(users_a[row]), int(items_a[row]))
        if pair not in seen and events_a[row] in REPLAY_EVENTS:
            targets.append(pos)
        seen.add(pair)
    if max_targets is not None and len(targets) > max_targets:
        targets = targets[:max_targets]
        later = later[: targets[-1] + 1]
    if not targets:
        raise ConfigError("replay: no click/purchase on a new item after the time cut; nothing to replay")
    models = arm_models(experiment, run)
    by_recommender: dict[str, np.ndarray] = {}
    for arm in models.values():
        name = arm.recommender
        if name in by_recommender:
            continue
        model = get_recommender_class(name)(run.config_for(name))
        model.fit(dataset, split)
        hits = np.zeros(len(targets), dtype=bool)
        done = 0  # rows of `later` already observed
        for j, pos in enumerate(targets):
            if pos > done:
                model.observe(inter.iloc[later[done:pos]])
                done = pos
            row = later[pos]
            [ranked] = model.recommend([int(users_a[row])], k=k)
            hits[j] = int(items_a[row]) in set(ranked.items.tolist())
        by_recommender[name] = hits
    arms: dict[str, dict[str, Any]] = {}
    for arm, m in models.items():
        h = by_recommender[m.recommender]
        arms[arm] = {"recommender": m.recommender, "reasoner": m.reasoner, "hit_rate": _rate(int(h.sum()), len(h), confidence)}
    control = experiment.control
    comparisons = {}
    for arm in list(models)[1:]:
        hc, ht = by_recommender[models[control].recommender], by_recommender[models[arm].recommender]
        only_t, only_c = int((ht & ~hc).sum()), int((hc & ~ht).sum())
        p = 1.0 if only_t + only_c == 0 else binomtest(only_t, only_t + only_c, 0.5).pvalue
        rate_c = hc.mean()
        comparisons[arm] = {
            "difference": float(ht.mean() - rate_c),
            "uplift": float(ht.mean() / rate_c - 1) if rate_c > 0 else None,
            "discordant": {"only_" + arm: only_t, "only_" + control: only_c},
            "p_value": float(p),
            "significant": bool(p < 1 - confidence),
        }
    return {
        "experiment": experiment.name,
        "control": control,
        "k": k,
        "protocol": f"fit on the earliest {1 - test_frac:.0%} of events, replay the rest in time order",
        "targets": len(targets),
        "target_events": list(REPLAY_EVENTS),
        "arms": arms,
        "vs_control": comparisons,
        "test": "McNemar's exact test on the replayed events where the arms disagree",
        "assumptions": "logged behaviour does not depend on what was shown; measures anticipation of organic "
        "clicks/purchases, not causal uplift; arms differing only in reasoner rank identically",
    }
