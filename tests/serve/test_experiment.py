"""A/B assignment at serving time: a pure function of user, experiment and salt, balanced and sized by weight."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from whyrec.config import Arm, Experiment, RunConfig
from whyrec.errors import ConfigError
from whyrec.evaluate.ab import sample_ratio_p
from whyrec.serve.experiment import arm_of, assign, bucket

TWO = Experiment(name="reasons", arms={"template": Arm(reasoner="template"), "prompt_lm": Arm(reasoner="prompt_lm")})


@given(st.text(min_size=1, max_size=40), st.text(max_size=20), st.text(min_size=1, max_size=20))
def test_assignment_is_a_pure_function_of_user_experiment_and_salt(user: str, salt: str, name: str) -> None:
    arms = ["a", "b", "c"]
    first = assign(user, name, arms, salt, [1, 2, 3])
    assert first in arms
    assert all(assign(user, name, arms, salt, [1, 2, 3]) == first for _ in range(3))
    assert 0 <= bucket(user, name, salt) < 1


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30, unique=True))
def test_arms_are_consecutive_bucket_slices_sized_by_weight(users: list[str]) -> None:
    """Arms own consecutive slices of the user's bucket in [0, 1), in arm order, sized by weight."""
    before = {u: assign(u, "exp", ["a", "b"], "s", [1, 1]) for u in users}
    after = {u: assign(u, "exp", ["a", "b", "c"], "s", [1, 1, 0.5]) for u in users}
    for u in users:
        x = bucket(u, "exp", "s")
        assert before[u] == ("a" if x < 0.5 else "b")
        assert after[u] == ("a" if x < 0.4 else "b" if x < 0.8 else "c")


def test_assignment_on_10k_users_is_balanced_and_follows_weights() -> None:
    users = [f"user-{n}" for n in range(10_000)]
    even = pd.Series([arm_of(u, TWO) for u in users]).value_counts()
    # binomial sd at n=10k, p=0.5 is 50: 4 sd is 200
    assert abs(even["template"] - 5000) < 200
    weighted = Experiment(name="w", arms={"a": Arm(), "b": Arm(), "c": Arm()}, weights={"a": 0.5, "b": 0.3, "c": 0.2})
    counts = pd.Series([arm_of(u, weighted) for u in users]).value_counts()
    for arm, share in weighted.shares().items():
        sd = math.sqrt(10_000 * share * (1 - share))
        assert abs(counts[arm] - 10_000 * share) < 4 * sd
    assert sample_ratio_p([int(counts[a]) for a in weighted.arms], list(weighted.shares().values())) > 1e-3


def test_salt_and_experiment_name_reshuffle_users_independently() -> None:
    users = [f"u{n}" for n in range(4000)]
    a = np.array([arm_of(u, TWO) == "template" for u in users])
    b = np.array([arm_of(u, TWO.model_copy(update={"salt": "2027"})) == "template" for u in users])
    c = np.array([arm_of(u, TWO.model_copy(update={"name": "other"})) == "template" for u in users])
    for other in (b, c):  # independent halves agree on about half the users
        assert abs((a == other).mean() - 0.5) < 0.04


def test_bad_weights_and_arms_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        assign("u", "e", ["a", "b"], weights=[1, 0])
    with pytest.raises(ConfigError):
        assign("u", "e", [], weights=[])
    with pytest.raises(ConfigError):
        RunConfig.parse({"experiment": {"name": "e", "arms": {"a": {}, "b": {}}, "weights": {"a": 1, "b": -1}}})
