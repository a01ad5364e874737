"""`whyrec ab simulate | report | replay` end to end on a small sample shop, in-process through cli.main."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli_helpers import Run, one_error_line, one_json
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    with Store(path) as store:
        store.write_dataset(generate_sample(seed=0, n_users=60, n_items=80))
    return path


def test_simulate_then_report_finds_the_effect(cli: Run, shop: Path) -> None:
    truth = one_json(cli("ab", "simulate", "--store", shop, "--users", "8000", "--uplift", "0.3", "--seed", "4", "--json"))
    assert truth["true_uplift"] == 0.3 and truth["exposures"] == 80_000
    rep = one_json(cli("ab", "report", "--store", shop, "--json"))
    ctr = rep["vs_control"]["prompt_lm"]["ctr"]
    assert ctr["significant"] and ctr["uplift_ci"][0] <= 0.3 <= ctr["uplift_ci"][1]
    human = cli("ab", "report", "--store", shop, "--experiment", "simulated")
    assert human.returncode == 0 and "prompt_lm vs template ctr: uplift +" in human.stdout and "(significant)" in human.stdout
    assert "already logged" in one_error_line(cli("ab", "simulate", "--store", shop))


def test_an_aa_simulation_is_not_flagged(cli: Run, shop: Path) -> None:
    one_json(cli("ab", "simulate", "--store", shop, "--users", "8000", "--uplift", "0", "--seed", "5", "--json"))
    rep = one_json(cli("ab", "report", "--store", shop, "--json"))
    assert not any(m["significant"] for m in rep["vs_control"]["prompt_lm"].values())


def test_replay_reads_the_arms_from_a_run_config(cli: Run, shop: Path, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        '[experiment]\nname = "recs"\nweights = {pop = 1, knn = 1}\n'
        '[experiment.arms.pop]\nrecommender = "pop"\n[experiment.arms.knn]\nrecommender = "itemknn"\n'
    )
    rep = one_json(cli("ab", "replay", "--store", shop, "--config", config, "-k", "5", "--json"))
    assert set(rep["arms"]) == {"pop", "knn"} and rep["arms"]["knn"]["recommender"] == "itemknn"
    assert rep["arms"]["pop"]["hit_rate"]["of"] == rep["targets"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ab", "report"), "no experiment has logged exposures"),
        (("ab", "replay"), "no experiment"),
        (("ab", "replay", "-k", "0"), "-k"),
    ],
)
def test_errors_are_one_line_and_exit_2(cli: Run, shop: Path, args: tuple[str, ...], message: str) -> None:
    assert message in one_error_line(cli(*args, "--store", shop))
