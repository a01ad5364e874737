"""`whyrec train / recommend / evaluate / demo`: the real console script once, the rest in-process.

In-process runs go through `whyrec.cli.main` (same argument parsing, error lines and exit codes)
without paying an interpreter start per command.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_helpers import Run, one_error_line, one_json, whyrec
from whyrec.artifact import Artifact
from whyrec.data.sample import generate_sample
from whyrec.data.split import Split
from whyrec.data.store import Store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "shop.sqlite"
    with Store(path) as db:
        db.write_dataset(generate_sample(seed=0))
    return path


@pytest.fixture(scope="module")
def trained(store: Path) -> tuple[Path, dict]:
    """Trained by the real console script: the one end-to-end run through a fresh interpreter."""
    out = store.parent / "knn"
    return out, one_json(
        whyrec(
            "train", "--store", store, "--recommender", "itemknn", "--reasoner", "template", "--out", out, "--json", timeout=300
        )
    )


def test_train_writes_an_artifact_and_reports_test_metrics(trained: tuple[Path, dict]) -> None:
    out, payload = trained
    assert payload["artifact"] == str(out) and payload["recommender"] == "itemknn"
    assert payload["split"] == "leave-last-out" and payload["users"] == 400
    ranking = payload["metrics"]["ranking"]
    assert 0 < ranking["ndcg@10"] <= ranking["hr@10"] <= 1
    loaded = Artifact.load(out)
    assert loaded.recommender.name == "itemknn" and loaded.metrics == payload["metrics"]
    assert len(loaded.split.train) == payload["train_rows"]


def test_config_file_and_split_folder_are_used(store: Path, tmp_path: Path, cli: Run) -> None:
    config = tmp_path / "run.toml"
    config.write_text(
        'recommender = "mf"\nreasoner = "template"\nseed = 7\n[models.mf]\nfactors = 8\niterations = 3\nnum_threads = 1\n'
    )
    split_dir = tmp_path / "split"
    assert cli("split", "--store", store, "--protocol", "temporal", "--out", split_dir).returncode == 0
    payload = one_json(
        cli("train", "--store", store, "--config", config, "--split", split_dir, "--out", tmp_path / "a", "--json")
    )
    assert payload["recommender"] == "mf" and payload["split"] == "temporal"
    loaded = Artifact.load(tmp_path / "a")
    assert loaded.recommender.config.factors == 8 and loaded.recommender.config.seed == 7
    np.testing.assert_array_equal(loaded.split.test, Split.load(split_dir).test)


def test_recommend_prints_one_json_object_with_raw_ids(trained: tuple[Path, dict], cli: Run) -> None:
    out, _ = trained
    known = one_json(cli("recommend", "--artifact", out, "--user", "U00007", "-k", "4", "--json"))
    assert known["user"] == "U00007" and known["fallback"] is False
    assert len(known["items"]) == 4 and all(e["item"].startswith("SKU") for e in known["items"])
    assert set(known["items"][0]) >= {"item", "score", "reason", "evidence"}
    # titles and categories come from the artifact's training store, in JSON and beside the ids for people
    assert all(e["title"] and e["category"] for e in known["items"]) and known["notes"] == []
    stranger = one_json(cli("recommend", "--artifact", out, "--user", "someone new", "--json"))
    assert stranger["fallback"] is True and len(stranger["items"]) == 10 and "unknown user" in stranger["notes"][0]
    human = cli("recommend", "--artifact", out, "--user", "U00007", "-k", "2")
    second = known["items"][1]
    assert human.returncode == 0 and human.stderr == ""
    assert f"2. {second['item']}  {second['title']}  {second['category']}" in human.stdout
    unknown = cli("recommend", "--artifact", out, "--user", "U0OO07", "-k", "100000")
    assert unknown.returncode == 0 and "whyrec: note: unknown user 'U0OO07'" in unknown.stderr
    assert "whyrec: note: k capped at 300" in unknown.stderr


def test_evaluate_reproduces_the_training_metrics_and_names_sampled_runs(
    trained: tuple[Path, dict], cli: Run, english_words: Path
) -> None:
    out, payload = trained
    full = one_json(cli("evaluate", "--artifact", out, "--json"))
    assert full["ranking"] == payload["metrics"]["ranking"] and full["protocol"] == "full ranking"
    sampled = one_json(cli("evaluate", "--artifact", out, "--negatives", "99", "--json"))
    assert sampled["ranking"]["hr@10"] > full["ranking"]["hr@10"]
    metrics = Artifact.load(out).metrics
    assert metrics["ranking"] == full["ranking"] and metrics["ranking[n_negatives=99]"] == sampled["ranking"]


def test_bad_input_is_one_error_line_and_exit_2(store: Path, trained: tuple[Path, dict], tmp_path: Path, cli: Run) -> None:
    out, _ = trained
    assert "unknown recommender 'nope'" in one_error_line(
        cli("train", "--store", store, "--recommender", "nope", "--out", tmp_path / "x")
    )
    assert "not a whyrec artifact" in one_error_line(cli("recommend", "--artifact", tmp_path, "--user", "U1"))
    assert "-k" in one_error_line(cli("recommend", "--artifact", out, "--user", "U1", "-k", "0"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[models.itemknn]\nk = -3\n")
    assert "field 'models.itemknn.k'" in one_error_line(
        cli("train", "--store", store, "--config", bad, "--recommender", "itemknn", "--out", tmp_path / "y")
    )
    # A split of a bigger store does not fit this one: named by file, not an IndexError.
    foreign = Split("leave-last-out", None, np.array([0, 10**7]), np.array([1]), np.array([2]))
    foreign.save(tmp_path / "foreign")
    assert "train.index" in one_error_line(
        cli("train", "--store", store, "--split", tmp_path / "foreign", "--out", tmp_path / "z")
    )


def test_demo_ingests_trains_shows_and_then_reuses(tmp_path: Path, cli: Run) -> None:
    # template, not the demo's prompt_lm, which trains an LM for minutes; the pipeline around it is the same
    fast = ("--recommender", "itemknn", "--reasoner", "template")
    first = one_json(cli("demo", "--dir", tmp_path / "demo", *fast, "--users", "2", "--precompute", "4", "--json"))
    assert first["reused_artifact"] is False and (first["recommender"], first["reasoner"]) == ("itemknn", "template")
    assert first["precomputed"]["users"] == 4 and first["precomputed"]["reasons"] == 40
    assert [r["user"] for r in first["recommendations"]] == ["U00000", "U00001"]
    assert all(len(r["items"]) == 5 for r in first["recommendations"])
    assert (tmp_path / "demo" / "store.sqlite").exists()
    again = one_json(cli("demo", "--dir", tmp_path / "demo", *fast, "--users", "2", "--precompute", "4", "--json"))
    assert again["reused_artifact"] is True and again["recommendations"] == first["recommendations"]
    assert again["precomputed"]["cached"] == 40 and again["precomputed"]["reasons"] == 0  # nothing written twice
    human = cli("demo", "--dir", tmp_path / "demo", *fast, "--users", "1")
    assert human.returncode == 0 and "U00000:" in human.stdout and "reused" in human.stdout
