"""template: the shared contract, plus its own known answers on a small shop and on real reviews."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from whyrec.artifact import Artifact
from whyrec.cli import main
from whyrec.config import RunConfig
from whyrec.data.loaders import load
from whyrec.data.schema import Dataset, IdMap
from whyrec.data.split import ratio
from whyrec.explain.base import Reasoner, ReasonRequest
from whyrec.explain.targets import item_aspect_sets
from whyrec.explain.template import TemplateReasoner

from .contract import ReasonerContract, battery_shop


class TestTemplateContract(ReasonerContract):
    model = "template"

    def make(self) -> Reasoner:
        return TemplateReasoner()


@pytest.fixture(scope="module")
def fitted_shop() -> tuple[Dataset, TemplateReasoner]:
    shop = battery_shop()
    return shop, TemplateReasoner().fit(shop)


def test_personal_reason_cites_the_users_history(fitted_shop: tuple[Dataset, TemplateReasoner]) -> None:
    shop, model = fitted_shop
    [reason] = model.generate([ReasonRequest(0, 5)])  # user 0 reviewed items 0-4, all praising the battery
    assert reason.evidence["kind"] == "personal"
    assert reason.text.startswith(("You often praise", "You care about", "Reviewers rate"))
    mine = set(shop.reviews.loc[shop.reviews["user"] == 0, "item"])
    assert reason.evidence["history_items"] and set(reason.evidence["history_items"]) <= mine
    assert 0 < reason.score <= 1


def test_item_without_reviews_falls_back_to_category_then_brand() -> None:
    shop = battery_shop()
    unreviewed = shop.items.assign(item=shop.items["item"] + shop.n_items)  # six more power banks, no reviews
    catalog = pd.concat([shop.items, unreviewed])
    catalog.loc[catalog["item"] == 11, "category"] = None
    bigger = Dataset(
        shop.interactions, shop.user_ids, IdMap.from_raw([*shop.item_ids.raw, *(f"n{i}" for i in range(6))]),
        reviews=shop.reviews, items=catalog,
    )  # fmt: skip
    model = TemplateReasoner().fit(bigger)
    popular, unpopular, no_category = model.generate([ReasonRequest(0, 2), ReasonRequest(0, 8), ReasonRequest(0, 11)])
    assert popular.evidence["kind"] == "personal"
    assert unpopular.text == "From Voltix." and unpopular.aspects == []  # unreviewed: not "popular" in its category
    assert no_category.text == "From Voltix."


def test_fast_enough_for_serving(fitted_shop: tuple[Dataset, TemplateReasoner]) -> None:
    _, model = fitted_shop
    requests = [ReasonRequest(u % 8, u % 6) for u in range(5000)]
    started = time.perf_counter()
    model.generate(requests)
    assert 5000 / (time.perf_counter() - started) >= 1000


def test_real_reviews_give_grounded_personal_reasons(datasets_dir: Path) -> None:
    folder = datasets_dir / "amazon2018-magazine-subscriptions"
    shop = load(
        "amazon",
        [folder / "Magazine_Subscriptions_5.json.gz"],
        meta=[folder / "meta_Magazine_Subscriptions.json.gz"],
        on_error="skip",
    ).dataset
    split = ratio(shop, seed=1, table="reviews")
    model = TemplateReasoner().fit(shop, split)
    test = shop.reviews.iloc[split.test]
    reasons = model.generate([ReasonRequest(int(u), int(i)) for u, i in test[["user", "item"]].itertuples(index=False)])
    have = item_aspect_sets(shop, model.lexicon, rows=split.train)
    assert all(set(r.aspects) <= have[r.item] for r in reasons)  # grounded by construction
    kinds = Counter(r.evidence["kind"] for r in reasons)
    assert kinds["personal"] > 0 and kinds["item"] > kinds["personal"]
    assert len({r.text for r in reasons}) > 20


# ---- whyrec explain -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shop = battery_shop()
    artifact = Artifact.train(shop, RunConfig(recommender="pop"))
    artifact.reasoner = TemplateReasoner().fit(shop)
    return artifact.save(tmp_path_factory.mktemp("artifact"))


def _explain(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["whyrec", "explain", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_wording_names_no_aspect_but_the_chosen_one(datasets_dir: Path) -> None:
    """All Beauty's lexicon holds "care" (hair care, skin care): "You care about the scent" would name it."""
    shop = load("amazon", [datasets_dir / "amazon2018-all-beauty-5core" / "All_Beauty_5.json.gz"], on_error="skip").dataset
    split = ratio(shop, seed=1, table="reviews")
    model = TemplateReasoner().fit(shop, split)
    assert "care" in model.lexicon.features
    test = shop.reviews.iloc[split.test]
    reasons = model.generate([ReasonRequest(int(u), int(i)) for u, i in test[["user", "item"]].itertuples(index=False)])
    assert all(model.lexicon.mentions(r.text) == r.aspects for r in reasons if r.aspects), [r.text for r in reasons][:5]
    assert sum(r.evidence["kind"] == "personal" for r in reasons) > 10  # personal wordings remain, minus the clashing one


def test_cli_explain_json(artifact_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _explain(["--artifact", str(artifact_dir), "--user", "u0", "--item", "i5", "--json"], monkeypatch, capsys)
    assert code == 0, err
    [line] = out.splitlines()
    payload = json.loads(line)
    assert {"user", "item", "reason", "aspects", "evidence", "flags", "score"} <= set(payload)
    assert (payload["user"], payload["item"]) == ("u0", "i5")
    assert "battery" in payload["reason"].lower() and payload["aspects"] == ["battery"]
    assert payload["flags"] == []
    assert payload["evidence"]["history_items"] and all(
        h["item"].startswith("i") for h in payload["evidence"]["history_items"]
    )  # raw ids


def test_cli_explain_unknown_user_and_item(
    artifact_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _explain(["--artifact", str(artifact_dir), "--user", "stranger", "--item", "i2"], monkeypatch, capsys)
    assert code == 0 and "battery" in out.lower() and "stranger -> i2" in out
    code, out, err = _explain(["--artifact", str(artifact_dir), "--user", "u0", "--item", "nope"], monkeypatch, capsys)
    assert code == 2 and out == "" and "nope" in err


def test_cli_train_fits_and_scores_the_reasoner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], english_words: Path
) -> None:
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store

    with Store(tmp_path / "shop.sqlite") as db:
        db.write_dataset(generate_sample(seed=0))
    argv = ["whyrec", "train", "--store", str(tmp_path / "shop.sqlite"), "--recommender", "pop", "--reasoner", "template"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path / "art"), "--json"])
    main()
    payload = json.loads(capsys.readouterr().out)
    assert payload["reasoner"] == "template"
    text = Artifact.load(tmp_path / "art").metrics["text"]
    assert text["grounding"] == 1.0 and text["n"] > 10 and 0 < text["rougeL_f"] < 100
    # `whyrec evaluate` reports them too: every DESIGN.md text key in --json, and a line of them for humans.
    monkeypatch.setattr(sys, "argv", ["whyrec", "evaluate", "--artifact", str(tmp_path / "art"), "--json"])
    main()
    shown = json.loads(capsys.readouterr().out)["text"]
    for key in ("bleu1", "bleu4", "rouge1_f", "rouge2_f", "rougeL_f", "usr", "fmr", "fcr", "div", "distinct2", "grounding"):
        assert shown[key] == text[key]
    monkeypatch.setattr(sys, "argv", ["whyrec", "evaluate", "--artifact", str(tmp_path / "art")])
    main()
    human = capsys.readouterr().out
    assert f"rougeL_f {text['rougeL_f']:.4f}" in human and "grounding 1.0000" in human and f"({text['n']} test reviews)" in human
