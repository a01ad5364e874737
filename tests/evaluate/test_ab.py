"""A/B analysis: statistics checked by hand and by simulation, the report on a simulated shop, replay."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.config import Arm, Experiment, RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.errors import ConfigError, NotFoundError
from whyrec.evaluate import ab
from whyrec.serve.experiment import log_exposure

TWO = Experiment(name="reasons", arms={"template": Arm(reasoner="template"), "prompt_lm": Arm(reasoner="prompt_lm")})


# ---- statistics --------------------------------------------------------------------------------------


def test_wilson_and_z_test_match_hand_computed_values() -> None:
    # Wilson 95% for 8/10: centre (0.8 + 1.92/10) / 1.384 = 0.7168, half 1.96 * sqrt(0.016 + 0.0096) / 1.384 = 0.2266
    lo, hi = ab.wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
    assert ab.wilson_interval(0, 10)[0] == 0.0 and ab.wilson_interval(10, 10)[1] == 1.0
    # 50/100 vs 65/100: pooled 0.575, se = sqrt(0.575 * 0.425 * 0.02) = 0.069911, z = 2.1456
    z, p = ab.two_proportion_z(50, 100, 65, 100)
    assert z == pytest.approx(2.1456, abs=1e-4) and p == pytest.approx(0.0319, abs=1e-4)


@settings(max_examples=200)
@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.floats(0.5, 0.999))
def test_wilson_contains_the_estimate_and_widens_with_confidence(sn: tuple[int, int], conf: float) -> None:
    s, n = sn
    lo, hi = ab.wilson_interval(s, n, conf)
    assert 0 <= lo <= hi <= 1
    if n:
        assert lo - 1e-12 <= s / n <= hi + 1e-12
        wider = ab.wilson_interval(s, n, min(0.9999, conf + 0.0005))
        assert wider[0] <= lo + 1e-12 and hi <= wider[1] + 1e-12


@pytest.mark.parametrize(("p", "n"), [(0.03, 500), (0.3, 100), (0.5, 40)])
def test_wilson_95_covers_the_true_rate_about_95_percent_of_the_time(p: float, n: int) -> None:
    draws = np.random.default_rng(7).binomial(n, p, size=4000)
    covered = np.mean([lo <= p <= hi for lo, hi in (ab.wilson_interval(int(s), n) for s in draws)])
    assert 0.925 <= covered <= 0.975  # Wilson is close to nominal; 4000 draws have sd ~0.0035


def test_z_test_false_positive_rate_is_near_alpha_and_power_is_high() -> None:
    rng = np.random.default_rng(11)
    n = 5000
    a, b = rng.binomial(n, 0.1, size=(2, 2000))
    aa = np.mean([ab.two_proportion_z(int(x), n, int(y), n)[1] < 0.05 for x, y in zip(a, b, strict=True)])
    assert 0.03 <= aa <= 0.07
    c = rng.binomial(n, 0.125, size=2000)
    power = np.mean([ab.two_proportion_z(int(x), n, int(y), n)[1] < 0.05 for x, y in zip(a, c, strict=True)])
    assert power > 0.95  # 0.10 -> 0.125 at 5000 a side: expected z ~ 3.96, power ~ 0.98


def test_compare_intervals_cover_the_truth_in_simulation() -> None:
    """Newcombe (difference) and Katz (uplift) 95% intervals contain the true values ~95% of the time."""
    rng = np.random.default_rng(3)
    n, pc, pt = 3000, 0.08, 0.1
    hits_d = hits_u = 0
    reps = 1500
    for sc, st_ in zip(rng.binomial(n, pc, reps), rng.binomial(n, pt, reps), strict=True):
        res = ab.compare(int(sc), n, int(st_), n)
        hits_d += res.difference_ci[0] <= pt - pc <= res.difference_ci[1]
        hits_u += res.uplift_ci[0] <= pt / pc - 1 <= res.uplift_ci[1]
    assert 0.93 <= hits_d / reps <= 0.97
    assert 0.93 <= hits_u / reps <= 0.97


# ---- the report on a simulated shop -------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ab") / "shop.sqlite"
    with Store(path) as store:
        store.write_dataset(generate_sample(seed=0, n_users=60, n_items=80))
    return path


def _copy(shop: Path, to: Path) -> Path:
    to.write_bytes(shop.read_bytes())
    return to


def test_report_recovers_a_known_uplift(shop: Path, tmp_path: Path) -> None:
    with Store(_copy(shop, tmp_path / "s.sqlite")) as store:
        truth = ab.simulate(store, users=12_000, base_ctr=0.1, uplift=0.25, purchase_rate=0.3, seed=1)
        rep = ab.report(store)
    assert truth["true_ctr"] == {"template": 0.1, "prompt_lm": 0.125}
    arms = rep["arms"]
    assert arms["template"]["users"] + arms["prompt_lm"]["users"] == 12_000
    assert arms["template"]["impressions"] == 10 * arms["template"]["users"]
    for arm, p in truth["true_ctr"].items():  # estimates within 4 sd of the truth (interval coverage is tested above)
        n = arms[arm]["users"]
        assert abs(arms[arm]["ctr"]["rate"] - p) < 4 * math.sqrt(p * (1 - p) / n)
        assert abs(arms[arm]["conversion"]["rate"] - 0.3 * p) < 4 * math.sqrt(0.3 * p * (1 - 0.3 * p) / n)
    ctr = rep["vs_control"]["prompt_lm"]["ctr"]
    assert ctr["significant"] and ctr["p_value"] < 0.01
    assert ctr["uplift_ci"][0] <= 0.25 <= ctr["uplift_ci"][1]
    assert ctr["uplift_ci"][0] > 0
    conv = rep["vs_control"]["prompt_lm"]["conversion"]
    assert conv["uplift"] > 0 and conv["uplift_ci"][0] <= 0.25 <= conv["uplift_ci"][1]
    assert rep["sample_ratio_p"] > 1e-3 and rep["users_in_several_arms"] == 0


def test_report_does_not_flag_an_aa_test(shop: Path, tmp_path: Path) -> None:
    with Store(_copy(shop, tmp_path / "s.sqlite")) as store:
        ab.simulate(store, users=12_000, base_ctr=0.1, uplift=0.0, seed=2)
        rep = ab.report(store, "simulated")
    for metric in ("ctr", "conversion"):
        res = rep["vs_control"]["prompt_lm"][metric]
        assert not res["significant"]
        assert res["difference_ci"][0] <= 0 <= res["difference_ci"][1]


def test_clicks_count_only_on_shown_items_inside_the_window(tmp_path: Path) -> None:
    exp = TWO.model_copy(update={"window_s": 100})
    with Store(tmp_path / "s.sqlite") as store:
        log_exposure(store, exp, "alice", ["i1", "i2"], arm="template", timestamp=1000)
        log_exposure(store, exp, "bob", ["i1"], arm="prompt_lm", timestamp=1000)
        log_exposure(store, exp, "carol", ["i3"], arm="prompt_lm", timestamp=1000)
        store.add_events(
            [
                ("alice", "i2", 1050, "click", None),  # shown, in the window: counts
                ("bob", "i9", 1010, "click", None),  # not shown: does not count
                ("bob", "i1", 990, "purchase", None),  # before the exposure: does not count
                ("carol", "i3", 1200, "click", None),  # after the window: does not count
            ]
        )
        rep = ab.report(store)
    assert rep["arms"]["template"]["ctr"]["count"] == 1 and rep["arms"]["template"]["impression_ctr"] == 0.5
    assert rep["arms"]["prompt_lm"]["ctr"]["count"] == 0
    assert rep["arms"]["prompt_lm"]["conversion"]["count"] == 0


def test_report_errors_name_the_problem(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(NotFoundError, match="no experiment"):
            ab.report(store)
        log_exposure(store, TWO, "u", ["i"])
        log_exposure(store, TWO.model_copy(update={"name": "other"}), "u", ["i"])
        with pytest.raises(ConfigError, match="several experiments"):
            ab.report(store)
        with pytest.raises(NotFoundError, match="nope"):
            ab.report(store, "nope")
        with pytest.raises(ConfigError, match="no arm"):
            log_exposure(store, TWO, "u", ["i"], arm="missing")


def test_users_logged_in_two_arms_are_set_aside(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        log_exposure(store, TWO, "u1", ["i"], arm="template")
        log_exposure(store, TWO, "u1", ["i"], arm="prompt_lm")
        log_exposure(store, TWO, "u2", ["i"], arm="template")
        rep = ab.report(store)
    assert rep["users_in_several_arms"] == 1
    assert rep["arms"]["template"]["users"] == 1 and rep["arms"]["prompt_lm"]["users"] == 0


# ---- offline replay ------------------------------------------------------------------------------------


def test_replay_ranks_itemknn_above_popularity_and_reasoner_arms_alike() -> None:
    dataset = generate_sample(seed=0)
    exp = Experiment(
        name="rec",
        arms={
            "pop": Arm(recommender="pop"),
            "knn": Arm(recommender="itemknn"),
            "knn_lm": Arm(recommender="itemknn", reasoner="prompt_lm"),
        },
    )
    rep = ab.replay(dataset, exp, RunConfig(), k=10)
    assert rep["targets"] > 150
    knn, pop = rep["arms"]["knn"]["hit_rate"], rep["arms"]["pop"]["hit_rate"]
    assert knn["of"] == pop["of"] == rep["targets"]
    # the sample shop has complementary next purchases (a pan, then its lid): neighbours see them, popularity does not
    assert knn["rate"] > pop["rate"]
    assert rep["arms"]["knn_lm"]["hit_rate"] == knn  # reasons do not change a ranking
    assert rep["vs_control"]["knn_lm"]["discordant"]["only_knn_lm"] == rep["vs_control"]["knn"]["discordant"]["only_knn"]


def test_replay_targets_are_items_new_to_the_user_so_a_full_catalog_always_hits() -> None:
    dataset = generate_sample(seed=0, n_users=60, n_items=80)
    exp = Experiment(name="p", arms={"a": Arm(recommender="pop"), "b": Arm(recommender="itemknn")})
    full = ab.replay(dataset, exp, RunConfig(), k=dataset.n_items)
    assert full["targets"] > 10
    for arm in ("a", "b"):
        assert full["arms"][arm]["hit_rate"]["count"] == full["targets"]
    few = ab.replay(dataset, exp, RunConfig(), k=3, max_targets=5)
    assert few["targets"] == 5 and few["arms"]["a"]["hit_rate"]["count"] <= 5


def test_experiment_round_trips_through_toml_and_the_artifact_manifest(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        'recommender = "pop"\n[experiment]\nname = "reasons"\nsalt = "s1"\nweights = {b = 3, a = 1}\n'
        '[experiment.arms.a]\nreasoner = "template"\n[experiment.arms.b]\nreasoner = "prompt_lm"\n'
    )
    run = RunConfig.from_toml(toml).overridden(reasoner="prompt_lm")
    exp = run.experiment
    assert list(exp.arms) == ["a", "b"] and exp.control == "a" and exp.shares() == {"a": 0.25, "b": 0.75}
    assert RunConfig.parse(run.model_dump()) == run  # what artifact.json stores and Artifact.load reads
    assert ab.arm_models(exp, run)["a"] == Arm(recommender="pop", reasoner="template")
