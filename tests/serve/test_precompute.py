"""`whyrec reasons precompute`: the server's cache keys, resumable after kill -9 with nothing lost or written twice."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import one_error_line, one_json
from whyrec.serve.pipeline import Pipeline

from .server import train_sample_shop

# `whyrec` in a child process whose template reasoner is slowed down, so a kill lands mid-run.
SLOW_WHYREC = """
import sys, time
from whyrec.explain.template import TemplateReasoner
generate = TemplateReasoner.generate
TemplateReasoner.generate = lambda self, requests: (time.sleep(0.02), generate(self, requests))[1]
from whyrec.cli import main
sys.argv = ["whyrec", *sys.argv[1:]]
main()
"""


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    return train_sample_shop(tmp_path)


def _rows(store: Path) -> set[tuple]:
    with sqlite3.connect(store) as db:
        return set(db.execute("SELECT user, item, model, payload, created FROM reason_cache"))


def test_precompute_fills_the_cache_the_server_reads(shop: tuple[Path, Path], cli, tmp_path: Path) -> None:
    artifact, store = shop
    listed = tmp_path / "users.txt"
    listed.write_text("U00001\n\nU00002\n")
    done = one_json(
        cli("reasons", "precompute", "--artifact", artifact, "--store", store, "-k", "5", "--users", listed, "--json")
    )
    assert (done["users"], done["reasons"], done["cached"]) == (2, 10, 0) and done["peak_rss_mib"] > 0
    pipeline = Pipeline.open(artifact, store)
    try:
        served = pipeline.recommend("U00001", 5)
        assert served["reasons_cached"] == 5 and all(e["reason"] and e["reasoner"] == "template" for e in served["items"])
        assert pipeline.recommend("U00003", 5)["reasons_cached"] == 0  # not listed, not precomputed
    finally:
        pipeline.close()
    listed.write_text("U00001\nnobody-we-know\n")
    line = one_error_line(cli("reasons", "precompute", "--artifact", artifact, "--store", store, "--users", listed))
    assert "nobody-we-know" in line and "row 2" in line


def test_a_killed_run_resumes_with_nothing_lost_or_written_twice(shop: tuple[Path, Path], cli) -> None:
    artifact, store = shop
    args = ["reasons", "precompute", "--artifact", str(artifact), "--store", str(store), "--json"]
    child = subprocess.Popen([sys.executable, "-c", SLOW_WHYREC, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_rows(store)) < 300 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, f"precompute ended before it could be killed: {child.stderr.read().decode()}"
    child.send_signal(signal.SIGKILL)
    child.wait()
    before = _rows(store)
    assert 300 <= len(before) < 4000 and len(before) % 10 == 0  # whole shoppers only
    done = one_json(cli(*args))
    assert done["users"] == 400 and done["cached"] == len(before) and done["reasons"] == 4000 - len(before)
    after = _rows(store)
    assert len(after) == 4000 and before <= after  # the first run's rows are kept as they were: none rewritten
    again = one_json(cli(*args))
    assert (again["reasons"], again["cached"]) == (0, 4000)
