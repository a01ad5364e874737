"""No raw user id or review text reaches the logs of an ingest, a training run or a live server."""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path

import pytest

from .server import API_KEY, start_server, stop


def _run_cli(*args: str | Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from whyrec.cli import main

    monkeypatch.setattr(sys, "argv", ["whyrec", *map(str, args)])
    try:
        main()
    except SystemExit as exc:
        assert not exc.code, f"whyrec {args[0]} exited {exc.code}"


def test_ingest_train_and_serve_log_no_raw_ids_or_review_text(
    datasets_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = datasets_dir / "amazon2018-gift-cards" / "Gift_Cards_5.json.gz"
    with gzip.open(source, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    raw_ids = sorted({r["reviewerID"] for r in records})
    texts = [r["reviewText"] for r in records if len(r.get("reviewText", "")) >= 40]
    store, artifact = tmp_path / "shop.sqlite", tmp_path / "artifact"

    caplog.set_level(logging.DEBUG)  # every record of every logger, whatever its configured level
    _run_cli("ingest", source, "--format", "amazon", "--store", store, monkeypatch=monkeypatch)
    _run_cli(
        "train", "--store", store, "--recommender", "pop", "--reasoner", "template", "--out", artifact, monkeypatch=monkeypatch
    )
    logs = caplog.text + capsys.readouterr().err  # stdout is the command's answer; logs and progress go to stderr

    server = start_server(artifact, store, tmp_path / "server.log", API_KEY)
    asked = raw_ids[:3]
    try:
        with server.client() as c:
            for user in asked:
                c.get(f"/v1/users/{user}/recommendations", params={"k": 5}).raise_for_status()
                c.get(f"/v1/users/{user}/profile").raise_for_status()
            c.post(
                "/v1/events", json={"events": [{"user": asked[0], "item": records[0]["asin"], "event": "click"}]}
            ).raise_for_status()
            assert c.get(f"/v1/users/{asked[1]}/recommendations", params={"k": "many"}).status_code == 422
            c.delete(f"/v1/users/{asked[2]}").raise_for_status()
    finally:
        stop(server)
    logs += server.log.read_text(encoding="utf-8", errors="replace")

    assert "serving" in logs  # the logs were captured: the server announced itself
    assert [u for u in raw_ids if u in logs] == []
    assert [t[:40] for t in texts if t[:40] in logs] == []
