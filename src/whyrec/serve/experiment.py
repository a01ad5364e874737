"""A/B experiments at serving time: which arm a user is in, which reasoner serves each arm, and exposure logging.

Assignment is a salted hash of the user id, so it needs no table and is the same in every process;
`whyrec ab report` analyses the logged exposures offline.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from whyrec.config import Experiment
from whyrec.errors import ConfigError

if TYPE_CHECKING:
    from whyrec.data.store import Store

_SCALE = 2.0**64


# ---- assignment ----------------------------------------------------------------------------------


def bucket(user: str, experiment: str, salt: str = "") -> float:
    """A user's position in [0, 1) for one experiment: SHA-256 of salt, experiment and user, so the
    same user lands in the same place in every process, and experiments with other salts are independent."""
    digest = hashlib.sha256(f"{salt or experiment}\x1f{experiment}\x1f{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def assign(user: str, experiment: str, arms: Sequence[str], salt: str = "", weights: Sequence[float] | None = None) -> str:
    """The arm a user sees: deterministic (no state, no randomness) and proportional to `weights`."""
    if len(arms) < 1:
        raise ConfigError(f"experiment {experiment!r}: no arms to assign to")
    weights = [1.0] * len(arms) if weights is None else list(weights)
    if len(weights) != len(arms) or any(not (w > 0 and math.isfinite(w)) for w in weights):
        raise ConfigError(f"experiment {experiment!r}: need one positive, finite weight per arm, got {weights}")
    point = bucket(user, experiment, salt) * sum(weights)
    edge = 0.0
    for arm, w in zip(arms, weights, strict=True):
        edge += w
        if point < edge:
            return arm
    return arms[-1]  # point == total only by float rounding


def arm_of(user: str, experiment: Experiment) -> str:
    """`assign` with an experiment's configured arms, salt and weights."""
    shares = experiment.shares()
    return assign(user, experiment.name, list(shares), experiment.salt, list(shares.values()))


def route_arms(experiment: Experiment, recommender: str, reasoners: dict[str, Any]) -> dict[str, Any]:
    """Arm -> the reasoner serving it, from the reasoners a server holds by name (its artifact's first).

    Serving routes reasons only: an arm naming another recommender needs its own artifact, and is
    refused here (compare recommenders offline with `replay`, or online by serving one artifact per arm).
    """
    routed = {}
    default = next(iter(reasoners.values()), None)
    for name, arm in experiment.arms.items():
        if arm.recommender not in (None, recommender):
            raise ConfigError(
                f"experiment {experiment.name!r}, arm {name!r}: serves recommender {arm.recommender!r}, but this "
                f"artifact holds {recommender!r}; one server routes reasoners only (use `whyrec ab replay` for recommenders)"
            )
        if arm.reasoner is not None and arm.reasoner not in reasoners:
            raise ConfigError(
                f"experiment {experiment.name!r}, arm {name!r}: reasoner {arm.reasoner!r} is not loaded "
                f"(available: {', '.join(reasoners) or 'none'}); train the artifact with it"
            )
        routed[name] = default if arm.reasoner is None else reasoners[arm.reasoner]
    return routed


# ---- exposure logging ----------------------------------------------------------------------------


def log_exposure(
    store: Store,
    experiment: Experiment,
    user: str,
    items: Sequence[str],
    *,
    arm: str | None = None,
    request: str | None = None,
    timestamp: int | None = None,
) -> str:
    """Record that `user` was shown `items` (best first) in one response; returns the request id.

    `arm` defaults to the user's assigned arm; the experiment's config is stored with its first exposure.
    """
    arm = arm_of(user, experiment) if arm is None else arm
    if arm not in experiment.arms:
        raise ConfigError(f"experiment {experiment.name!r} has no arm {arm!r} (arms: {', '.join(experiment.arms)})")
    request = request or uuid.uuid4().hex
    ts = int(time.time()) if timestamp is None else int(timestamp)
    rows = [(arm, user, item, pos, ts, request) for pos, item in enumerate(items)]
    store.add_exposures(experiment.name, experiment.model_dump_json(), rows)
    return request
