"""Kill -9 at every step of forgetting a shopper and of writing an artifact, then restart: nothing is lost or half-done.

The kill points come from tests/crash_points.py (a clean helper process that forks one child per
point); a few real `kill -9`s of `whyrec serve` during a DELETE check the same through the server.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from whyrec.artifact import Artifact
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.explain.registry import make_reasoner
from whyrec.serve.pipeline import Pipeline

from .server import API_KEY, start_server, stop

HELPER = Path(__file__).parent.parent / "crash_points.py"
USER = "U00007"
NAMED = re.compile(rb"(?<![A-Za-z0-9])" + USER.encode() + rb"(?![A-Za-z0-9])")  # not inside SKU00007
DEFAULT_POINTS = 16  # kill points per kind in the default suite (evenly spread); the slow run takes every one


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small shop's store, an MF + template artifact (the one served), and a Popularity artifact to save over it."""
    folder = tmp_path_factory.mktemp("crash_shop")
    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=3, n_users=80, n_items=60))
        dataset = db.read_dataset(name="shop")
    served = Artifact.train(
        dataset,
        RunConfig(recommender="mf", reasoner="template", models={"mf": {"factors": 8, "iterations": 4, "num_threads": 1}}),
    )
    served.reasoner = make_reasoner("template").fit(dataset)
    served.save(folder / "served")
    Artifact.train(dataset, RunConfig(recommender="pop", reasoner="template")).save(folder / "replacement")
    return folder / "served", store, folder / "replacement"


def run_points(job: dict, work: Path, slow: bool) -> dict:
    """Run the helper over the job's kill points; every point when `slow`, else DEFAULT_POINTS spread evenly."""
    work.mkdir(parents=True, exist_ok=True)
    job = {**job, "work": str(work), "points": None}
    if not slow:
        probe = {**job, "points": []}
        (work / "job.json").write_text(json.dumps(probe))
        ops = _helper(work)["ops"]
        job["points"] = sorted({int(p) for p in np.linspace(1, ops, DEFAULT_POINTS)})
    (work / "job.json").write_text(json.dumps(job))
    result = _helper(work)
    assert result["full"] == "completed" and result["ops"] > 10, result
    assert all(outcome in ("killed", "completed") for outcome in result["points"].values()), result
    return result


def _helper(work: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(HELPER), str(work / "job.json")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=HELPER.parent.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_forget_survived(folder: Path, pristine: Artifact) -> str:
    """Restart on a folder a forget was killed in: it starts, and the shopper is wholly kept or wholly forgotten."""
    uid = pristine.user_ids.index(USER)
    with Store(folder / "shop.sqlite", create=False) as db:
        in_store = bool(db.user_events(USER))
    pipeline = Pipeline.open(folder / "artifact", folder / "shop.sqlite")  # the restart; finishes an interrupted forget
    try:
        known = pipeline.live.user_ids.get(USER) >= 0
        assert pipeline.recommend("U00008", 3)["known"]
    finally:
        pipeline.close()
    after = Artifact.load(folder / "artifact")
    assert len(after.user_ids) == len(pristine.user_ids)
    others = pristine.interactions[pristine.interactions["user"] != uid]
    assert len(after.interactions[after.interactions["user"] != uid]) == len(others), "other shoppers' rows were lost"
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".artifact.")]
    if in_store:  # killed before the store's delete committed: the DELETE never answered, and nothing changed
        assert known and USER in after.user_ids and len(after.interactions) == len(pristine.interactions)
        return "kept"
    assert not known and USER not in after.user_ids and not (after.interactions["user"] == uid).any()
    assert after.recommender.seen[uid].nnz == 0 and uid not in after.reasoner.users
    assert not leftovers, leftovers
    for path in folder.rglob("*"):  # the restart also scrubbed the store's files
        if path.is_file():
            assert not NAMED.search(path.read_bytes()), f"{path.relative_to(folder)} still names the forgotten shopper"
    return "forgotten"


def _forget_points(shop: tuple[Path, Path, Path], tmp_path: Path, slow: bool) -> None:
    served, store, _ = shop
    result = run_points({"mode": "forget", "artifact": str(served), "store": str(store), "user": USER}, tmp_path, slow)
    pristine = Artifact.load(served)
    outcomes = {p: check_forget_survived(tmp_path / p, pristine) for p in result["points"]}
    assert "forgotten" in outcomes.values() and "kept" in outcomes.values()
    assert check_forget_survived(tmp_path / "full", pristine) == "forgotten"


def test_a_forget_killed_at_any_step_is_finished_or_not_begun_after_restart(
    shop: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _forget_points(shop, tmp_path, slow=False)


@pytest.mark.slow
def test_a_forget_killed_at_every_step_is_finished_or_not_begun_after_restart(
    shop: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _forget_points(shop, tmp_path, slow=True)


def _save_points(shop: tuple[Path, Path, Path], tmp_path: Path, slow: bool) -> None:
    served, _, replacement = shop
    result = run_points({"mode": "save", "artifact": str(served), "new": str(replacement)}, tmp_path, slow)
    seen = set()
    for point in [*result["points"], "full"]:
        loaded = Artifact.load(tmp_path / point / "artifact")  # whole: the old one or the new one
        assert loaded.recommender.name in ("mf", "pop")
        assert len(loaded.interactions) == int(Artifact.load(served).manifest()["dataset"]["interactions"])
        seen.add(loaded.recommender.name)
        if point == "full":
            assert loaded.recommender.name == "pop"
    assert seen == {"mf", "pop"}


def test_an_artifact_save_killed_at_any_step_leaves_the_old_or_the_new_artifact(
    shop: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _save_points(shop, tmp_path, slow=False)


@pytest.mark.slow
def test_an_artifact_save_killed_at_every_step_leaves_the_old_or_the_new_artifact(
    shop: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _save_points(shop, tmp_path, slow=True)


def _kill_server_during_delete(shop: tuple[Path, Path, Path], tmp_path: Path, delay: float) -> str:
    """Start `whyrec serve`, send DELETE, SIGKILL the server `delay` s later, restart it: the shopper is never half-forgotten."""
    served, store, _ = shop
    shutil.copytree(served, tmp_path / "artifact")
    shutil.copy(store, tmp_path / "shop.sqlite")
    artifact, db = tmp_path / "artifact", tmp_path / "shop.sqlite"
    server = start_server(artifact, db, tmp_path / "first.log", API_KEY)
    try:
        client = server.client()
        pending = threading.Thread(target=lambda: _quietly(lambda: client.delete(f"/v1/users/{USER}")))
        pending.start()
        time.sleep(delay)
        server.process.kill()
        server.process.wait(timeout=20)
        pending.join(timeout=20)
    finally:
        if server.process.poll() is None:
            server.process.kill()
    restarted = start_server(artifact, db, tmp_path / "second.log", API_KEY)
    try:
        with restarted.client() as c:
            known = USER in c.get("/v1/users", params={"limit": 1000}).json()["users"]
            if known:  # the kill came first: the client retries, and the forget completes
                assert c.delete(f"/v1/users/{USER}").status_code == 200
            assert USER not in c.get("/v1/users", params={"limit": 1000}).json()["users"]
    finally:
        stop(restarted)
    assert USER not in Artifact.load(artifact).user_ids
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE raw = ?", (USER,)).fetchone()[0] == 0
    return "retried" if known else "forgotten"


def _quietly(call) -> None:  # type: ignore[no-untyped-def]
    try:
        call()
    except httpx.TransportError:
        pass  # the server was killed mid-request


@pytest.mark.parametrize("delay", [0.0, 0.15])
def test_kill_9_of_the_server_during_a_delete_then_restart(shop: tuple[Path, Path, Path], tmp_path: Path, delay: float) -> None:
    _kill_server_during_delete(shop, tmp_path, delay)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.01, 0.03, 0.05, 0.08, 0.1, 0.2, 0.3, 0.5])
def test_kill_9_of_the_server_at_more_moments_of_a_delete(shop: tuple[Path, Path, Path], tmp_path: Path, delay: float) -> None:
    _kill_server_during_delete(shop, tmp_path, delay)
