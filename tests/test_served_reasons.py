"""The served-reason contract: a reason that fails grounding or safety is never shown, through any entry point.

A registered reasoner that only lies (tests/liars.py) is served through `whyrec recommend`, `whyrec
explain`, the HTTP API and the evaluation report; none of them may show one of its sentences, and with
the store beside them all replace it by the same template line.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cli_helpers import one_json
from liars import UNGROUNDED, UNSAFE, Liar
from whyrec.artifact import Artifact
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.explain import registry
from whyrec.serve.app import ServeSettings, create_app

LIES = (UNGROUNDED, UNSAFE)


@pytest.fixture(autouse=True)
def liar_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.REASONERS, "liar", "liars:Liar")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("liar")
    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=0))
        dataset = db.read_dataset(name="shop")
    artifact = Artifact.train(dataset, RunConfig(recommender="pop", reasoner="template"), store=str(store))
    artifact.reasoner = Liar().fit(dataset)
    artifact.save(folder / "artifact")
    return folder / "artifact", store


def _assert_no_lies(items: list[dict]) -> None:
    assert items
    for entry in items:
        assert entry["reason"] not in LIES
        assert entry["reason"] is None or entry["reasoner"] == "template"  # only the fallback's reasons are shown


def _api_items(artifact: Path, store: Path, tmp_path: Path, user: str, k: int) -> list[dict]:
    copy = tmp_path / "shop.sqlite"  # the reason cache written here stays with this test
    with sqlite3.connect(store) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with TestClient(create_app(artifact, copy, ServeSettings(api_key="k"))) as client:
        return client.get(f"/v1/users/{user}/recommendations", params={"k": k}).json()["items"]


def test_whyrec_recommend_replaces_every_lie_as_the_server_does(shop: tuple[Path, Path], cli, tmp_path: Path) -> None:
    artifact, store = shop
    payload = one_json(cli("recommend", "--artifact", artifact, "--user", "U00003", "-k", "6", "--json"))
    _assert_no_lies(payload["items"])
    assert all(e["reason"] and e["reasoner"] == "template" for e in payload["items"])
    served = _api_items(artifact, store, tmp_path, "U00003", 6)
    assert [(e["item"], e["reason"]) for e in payload["items"]] == [(e["item"], e["reason"]) for e in served]
    human = cli("recommend", "--artifact", artifact, "--user", "U00003", "-k", "6")
    assert human.returncode == 0 and not any(lie in human.stdout for lie in LIES)
    assert all(e["reason"] in human.stdout for e in payload["items"])


def test_without_its_store_an_artifact_withholds_every_lie(shop: tuple[Path, Path], cli, tmp_path: Path) -> None:
    moved = Artifact.load(shop[0])
    moved.store = str(tmp_path / "gone.sqlite")  # trained from a store that has since gone: no catalog, no fallback
    moved.save(tmp_path / "artifact")
    result = cli("recommend", "--artifact", tmp_path / "artifact", "--user", "U00003", "-k", "6", "--json")
    payload = one_json(result)
    _assert_no_lies(payload["items"])
    assert all(e["reason"] is None and e["flags"] for e in payload["items"])
    assert {f.split(":")[0] for e in payload["items"] for f in e["flags"]} == {"ungrounded", "unsafe"}
    assert any("withheld, not replaced" in n for n in payload["notes"])


def test_whyrec_explain_replaces_the_lie(shop: tuple[Path, Path], cli) -> None:
    artifact, _ = shop
    for item in ("SKU00002", "SKU00003"):
        payload = one_json(cli("explain", "--artifact", artifact, "--user", "U00003", "--item", item, "--json"))
        assert payload["reason"] and payload["reasoner"] == "template"
        human = cli("explain", "--artifact", artifact, "--user", "U00003", "--item", item)
        assert payload["reason"] in human.stdout and not any(lie in human.stdout for lie in LIES)


def test_the_api_shows_the_fallback_instead(shop: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, store = shop
    copy = tmp_path / "shop.sqlite"
    with sqlite3.connect(store) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    with TestClient(create_app(artifact, copy, ServeSettings(api_key="k"))) as client:
        for user in ("U00003", "U00010", "someone-new"):
            for _ in range(2):  # fresh, then from the reason cache
                body = client.get(f"/v1/users/{user}/recommendations", params={"k": 8}).json()
                _assert_no_lies(body["items"])
                assert all(e["reason"] and e["reasoner"] == "template" for e in body["items"])
            assert body["reasons_cached"] == 8


def test_the_report_shows_no_lie(shop: tuple[Path, Path], cli, tmp_path: Path, english_words: Path) -> None:
    artifact, _ = shop
    report = tmp_path / "report.html"
    payload = one_json(cli("evaluate", "--artifact", artifact, "--report", report, "--samples", "2", "--json"))
    assert payload["latency"]["served_ms"]["n"] > 0
    shown = payload["shown"]  # every lie replaced by the template fallback: none of the shown reasons is the liar's
    assert shown["n"] > 0 and shown["lm_share"] == 0.0 and shown["grounded"] == 1.0
    text = report.read_text(encoding="utf-8")  # the report's samples are served answers too: the template's lines
    assert not any(lie in text for lie in LIES) and "(withheld)" not in text
