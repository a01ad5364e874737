"""The API's "because you bought" is whyrec.recommend.attribution's answer for the serving model, weight for weight."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from whyrec.recommend.attribution import attribute
from whyrec.serve.app import ServeSettings, create_app

from .server import API_KEY


def test_api_attribution_is_the_models_occlusion(shop_files: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, store = shop_files
    copy = tmp_path / "shop.sqlite"  # the session's server shares `store`; this test's reason cache stays apart
    with sqlite3.connect(store) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    app = create_app(artifact, copy, ServeSettings(api_key=API_KEY))
    with TestClient(app) as c:
        body = c.get("/v1/users/U00030/recommendations", params={"k": 6}).json()
        pipeline = app.state.pipeline
        model, ids = pipeline.live.model, pipeline.live.item_ids
        uid = pipeline.live.user_ids.get("U00030")
        items = [ids.get(e["item"]) for e in body["items"]]
        expected = attribute(model, uid, items, top=3)
        for entry, found in zip(body["items"], expected, strict=True):
            assert entry["attribution"]["method"] == found.method == "occlusion"
            got = [(a["item"], a["weight"]) for a in entry["attribution"]["items"]]
            assert got == [(ids.raw[h], round(w, 6)) for h, w in found.history]
        # Faithful by construction: the weight is the score the item loses without that history item.
        first = body["items"][0]
        top = ids.get(first["attribution"]["items"][0]["item"])
        history = model.history(uid)
        full, without = model.score_histories(uid, [history, history[history != top]], [ids.get(first["item"])])[:, 0]
        np.testing.assert_allclose(full - without, first["attribution"]["items"][0]["weight"], atol=1e-5)
        # Shared aspects: each credited history item's weight goes to the aspects it shares with the item.
        aspects = pipeline.facts.item_aspects
        shared_any = False
        for entry in body["items"]:
            target = set(aspects.get(entry["item"], {}))
            expected_credit: dict[str, float] = {}
            for a in entry["attribution"]["items"]:
                for aspect in target & set(aspects.get(a["item"], {})):
                    expected_credit[aspect] = expected_credit.get(aspect, 0.0) + a["weight"]
            got_credit = {a["aspect"]: a["weight"] for a in entry["attribution"]["aspects"]}
            assert set(got_credit) <= set(expected_credit)
            for aspect, weight in got_credit.items():
                assert weight == pytest.approx(expected_credit[aspect], abs=1e-5)
            shared_any |= bool(got_credit)
            # One story: each credited item names only the shared aspects it has, and together they are the summary.
            for a in entry["attribution"]["items"]:
                assert set(a["aspects"]) <= target & set(aspects.get(a["item"], {}))
            assert {x for a in entry["attribution"]["items"] for x in a["aspects"]} == set(got_credit)
            for h in entry["evidence"].get("history_items", []):
                assert set(h["aspects"]) <= set(entry["aspects"]) & set(aspects.get(h["item"], {}))
        assert shared_any  # the sample shop's items share aspects (weight, battery, ...), so some credit must show
