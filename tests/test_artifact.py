"""The artifact folder: a trained pipeline saves, loads, serves and evaluates the same, and refuses what it can't read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from whyrec.artifact import ARTIFACT_FORMAT, Artifact, read_ids, reasons_split, write_ids
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.schema import Dataset
from whyrec.errors import ArtifactError, DataError
from whyrec.evaluate.protocol import evaluate_artifact
from whyrec.explain.base import ReasonRequest
from whyrec.explain.template import TemplateReasoner


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return generate_sample(seed=3, n_users=80, n_items=60)


@pytest.fixture(scope="module")
def trained(shop: Dataset) -> Artifact:
    config = RunConfig(recommender="mf", reasoner="", models={"mf": {"factors": 8, "iterations": 5, "num_threads": 1}})
    artifact = Artifact.train(shop, config, store="shop.sqlite")
    evaluate_artifact(artifact)
    return artifact


def test_train_fits_the_reasoner_the_run_config_names_on_the_review_split(shop: Dataset, tmp_path: Path) -> None:
    artifact = Artifact.train(shop, RunConfig(recommender="pop", reasoner="template", seed=5))
    assert artifact.reasoner is not None and artifact.reasoner.name == "template"
    # Fitted on the training part of the seeded review split, as a reasoner fitted by hand on it is.
    by_hand = TemplateReasoner().fit(shop, reasons_split(shop, 5))
    whole = TemplateReasoner().fit(shop)
    requests = [ReasonRequest(int(u), int(i)) for u, i in shop.reviews[["user", "item"]].itertuples(index=False)]
    texts = [r.text for r in artifact.reasoner.generate(requests)]
    assert texts == [r.text for r in by_hand.generate(requests)] != [r.text for r in whole.generate(requests)]
    assert "reasoner" in {p.name for p in artifact.save(tmp_path / "a").iterdir()}
    assert Artifact.train(shop, RunConfig(recommender="pop", reasoner="")).reasoner is None


def test_train_fits_the_configured_model_on_the_split_and_the_test_rows_score_it(trained: Artifact, shop: Dataset) -> None:
    assert trained.recommender.name == "mf"
    assert trained.recommender.config.factors == 8 and trained.recommender.config.seed == 42
    assert trained.split is not None and trained.split.protocol == "leave-last-out"
    # Fitted on train only: no test row is in the stored model's history.
    test = shop.interactions.iloc[trained.split.test]
    train_pairs = set(zip(*[shop.interactions.iloc[trained.split.train][c] for c in ("user", "item")], strict=True))
    new_test = [(u, i) for u, i in zip(test["user"], test["item"], strict=True) if (u, i) not in train_pairs]
    assert new_test and not any(trained.recommender.seen[u, i] for u, i in new_test)
    ranking = trained.metrics["ranking"]
    assert {"hr@10", "ndcg@10", "mrr", "coverage@10", "users"} <= ranking.keys()
    assert 0 <= ranking["ndcg@10"] <= ranking["hr@10"] <= 1


def test_save_load_round_trip_serves_and_evaluates_identically(trained: Artifact, tmp_path: Path) -> None:
    folder = trained.save(tmp_path / "artifact")
    assert {p.name for p in folder.iterdir()} == {
        "artifact.json",
        "users.txt",
        "items.txt",
        "interactions.npz",
        "recommender",
        "split",
    }
    loaded = Artifact.load(folder)
    assert loaded.user_ids == trained.user_ids and loaded.item_ids == trained.item_ids
    assert loaded.config == trained.config and loaded.metrics == trained.metrics
    assert loaded.created == trained.created and loaded.store == "shop.sqlite"
    np.testing.assert_array_equal(loaded.split.test, trained.split.test)
    assert loaded.interactions.equals(trained.interactions)
    for user in (trained.user_ids.raw[0], trained.user_ids.raw[17], "a-new-visitor"):
        assert loaded.recommend(user, k=5) == trained.recommend(user, k=5)
    # Evaluation is repeatable: it never folds the validation rows into the stored model.
    assert evaluate_artifact(loaded) == trained.metrics["ranking"]
    assert evaluate_artifact(loaded) == trained.metrics["ranking"]


def test_recommend_payload_uses_raw_ids_and_full_history(trained: Artifact, shop: Dataset) -> None:
    user = shop.user_ids.raw[5]
    out = trained.recommend(user, k=4)
    assert out.user == 5 and out.fallback is False
    assert len(out.items) == 4
    assert all(e.reason is None and e.reasoner is None and e.evidence == {} for e in out.items)
    scores = [e.score for e in out.items]
    assert scores == sorted(scores, reverse=True)
    # Served lists exclude everything the user ever had, held-out rows included.
    had = {shop.item_ids.raw[i] for i in shop.interactions.loc[shop.interactions["user"] == 5, "item"]}
    assert not had & {e.item for e in out.items}
    stranger = trained.recommend("nobody-we-know", k=3)
    assert stranger.fallback is True and len(stranger.items) == 3


def test_manifest_records_versions_dataset_and_config(trained: Artifact, tmp_path: Path, shop: Dataset) -> None:
    meta = json.loads((trained.save(tmp_path / "a") / "artifact.json").read_text())
    assert meta["format"] == ARTIFACT_FORMAT and meta["whyrec_version"]
    assert meta["dataset"] == {
        "name": shop.name,
        "store": "shop.sqlite",
        "users": shop.n_users,
        "items": shop.n_items,
        "interactions": len(shop.interactions),
    }
    assert meta["recommender"] == "mf" and meta["reasoner"] is None
    assert meta["config"]["models"]["mf"]["factors"] == 8


def test_other_format_versions_and_broken_folders_are_refused(trained: Artifact, tmp_path: Path) -> None:
    folder = trained.save(tmp_path / "a")
    meta = json.loads((folder / "artifact.json").read_text())
    (folder / "artifact.json").write_text(json.dumps({**meta, "format": ARTIFACT_FORMAT + 1}))
    with pytest.raises(ArtifactError, match=r"format 2 .* retrain"):
        Artifact.load(folder)
    with pytest.raises(ArtifactError, match="not a whyrec artifact"):
        Artifact.load(tmp_path / "nothing-here")
    (folder / "artifact.json").write_text(json.dumps(meta))
    (folder / "users.txt").write_bytes(b"only-one\n")
    with pytest.raises(ArtifactError, match=r"users\.txt: 1 ids"):
        Artifact.load(folder)


# Any text without "\n" is a valid raw id: "\r", U+2028, tabs, emoji and "" included.
_IDS = st.lists(st.text(alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))), unique=True)


@given(ids=_IDS)
def test_id_files_round_trip_any_one_line_ids(ids: list[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("ids") / "ids.txt"
    write_ids(path, tuple(ids), "item")
    assert read_ids(path) == tuple(ids)


def test_an_id_with_a_newline_is_refused_with_its_row(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"row 2, field 'user'.*newline"):
        write_ids(tmp_path / "users.txt", ("ok", "two\nlines"), "user")


def test_a_truncated_id_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "items.txt").write_bytes(b"a\nb")
    with pytest.raises(ArtifactError, match="truncated"):
        read_ids(tmp_path / "items.txt")


def test_reasons_ride_along_with_raw_history_ids(trained: Artifact, shop: Dataset, tmp_path: Path) -> None:
    from whyrec.data.split import ratio
    from whyrec.explain.registry import make_reasoner

    trained.reasoner = make_reasoner("template").fit(shop, ratio(shop, 0, table="reviews"))
    try:
        loaded = Artifact.load(trained.save(tmp_path / "with-reasons"))
    finally:
        trained.reasoner = None
    assert loaded.reasoner is not None and loaded.reasoner.name == "template"
    entries = [e.to_json() for user in shop.user_ids.raw[:40] for e in loaded.recommend(user, k=3).items]
    assert all(isinstance(e["flags"], list) for e in entries)
    assert sum(bool(e["reason"]) for e in entries) > len(entries) / 2
    assert all(e["reasoner"] == "template" for e in entries if e["reason"])
    history = [h["item"] for e in entries for h in e["evidence"].get("history_items", [])]
    assert history and all(isinstance(h, str) and h in shop.item_ids for h in history)  # raw ids, not indices
