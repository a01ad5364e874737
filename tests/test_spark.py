"""`whyrec export` and `whyrec spark`: Parquet round trip, MLlib ALS into an `mf` artifact, reasons across executors.

The Spark tests (marker `spark`) start a JVM each on one local core; they stay few and small.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from cli_helpers import Run, one_json
from recommend.contract import checkerboard
from whyrec.artifact import Artifact
from whyrec.data.parquet import read_parquet
from whyrec.data.store import Store
from whyrec.recommend.mf import MatrixFactorization, MFConfig
from whyrec.spark.session import first_error_line


def test_export_round_trips_a_store_through_parquet(cli: Run, tmp_path: Path) -> None:
    store, out = tmp_path / "shop.db", tmp_path / "parquet"
    assert cli("ingest", "--format", "sample", "--store", store).returncode == 0
    got = one_json(cli("export", "--store", store, "--out", out, "--json"))
    with Store(store) as db:
        before = db.read_dataset()
    after = read_parquet(out)
    assert (got["interactions"], got["reviews"], got["catalog"]) == (
        len(before.interactions),
        len(before.reviews),
        len(before.items),
    )
    assert after.user_ids == before.user_ids and after.item_ids == before.item_ids
    for table in ("interactions", "reviews", "items"):
        pd.testing.assert_frame_equal(getattr(after, table), getattr(before, table))
    with Store(tmp_path / "imported.db") as db:  # what an engine writes in these columns imports with the store's own code
        db.write_dataset(after)
        assert db.counts()["interactions"] == len(before.interactions)


def test_no_java_is_one_line_and_exit_2(cli: Run, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    done = cli("spark", "train", "--store", tmp_path / "shop.db", "--out", tmp_path / "art")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Spark needs Java 17 or newer; no Java found" in done.stderr, done.stderr
    assert not (tmp_path / "art").exists()


def test_an_executor_failure_is_reported_by_its_error_line() -> None:
    message = (
        "An exception was thrown from the Python worker. Please see the stack trace below.\n"
        "Traceback (most recent call last):\n"
        '  File "/w/reasons.py", line 9, in run\n'
        "    raise ValueError('bad row')\n"
        "ValueError: bad row\n\n"
        "\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:1)\n"
    )
    assert first_error_line(message) == "ValueError: bad row"
    assert first_error_line("Job aborted.\njava.lang.OutOfMemoryError: Java heap space\n\tat x") == (
        "java.lang.OutOfMemoryError: Java heap space"
    )


def test_spark_and_implicit_agree_on_the_checkerboard(spark_master: str) -> None:
    """Both fit `mf` on the checkerboard with the diagonal withheld; both rank the withheld item first for every user."""
    from whyrec.spark.als import SparkALS
    from whyrec.spark.session import spark_session

    board = checkerboard()
    config = MFConfig(algorithm="als", factors=3, regularization=0.1, iterations=10, alpha=5.0, num_threads=1)
    local = MatrixFactorization(config).fit(board)
    with spark_session(spark_master, "test", {"spark.driver.memory": "512m"}) as spark:
        spread = SparkALS(config, spark).fit(board)
    users = np.arange(board.n_users)
    for model in (local, spread):
        assert [int(r.items[0]) for r in model.recommend(users, k=1)] == users.tolist()


def test_spark_train_and_reasons_end_to_end(cli: Run, spark_master: str, tmp_path: Path) -> None:
    """Store -> Parquet -> MLlib ALS -> an `mf` artifact whyrec loads, recommends and folds in with; reasons into the cache."""
    store, parquet, art = tmp_path / "shop.db", tmp_path / "parquet", tmp_path / "art"
    assert cli("ingest", "--format", "sample", "--store", store).returncode == 0
    assert cli("export", "--store", store, "--out", parquet).returncode == 0
    conf = ("--master", spark_master, "--conf", "spark.driver.memory=512m")
    trained = one_json(
        cli(
            "spark",
            "train",
            "--parquet",
            parquet,
            "--out",
            art,
            "--rank",
            "8",
            "--iterations",
            "3",
            "--reasoner",
            "template",
            *conf,
            "--json",
        )
    )
    assert trained["split"] == "leave-last-out" and trained["config"]["factors"] == 8
    assert trained["metrics"]["ranking"]["hr@10"] > 0.05  # popularity alone reaches about this on the sample shop
    assert not list(tmp_path.glob(".art.partial"))

    artifact = Artifact.load(art)
    assert type(artifact.recommender) is MatrixFactorization and artifact.recommender.user_factors.shape[1] == 8
    user = artifact.user_ids.raw[0]
    shown = one_json(cli("recommend", "--artifact", art, "--user", user, "-k", "3", "--json"))
    assert len(shown["items"]) == 3 and all(i["reason"] for i in shown["items"])
    model = artifact.serving_recommender()  # fold-in of live events: mf's own ALS re-solve over Spark's factors
    before = model.score(np.array([0])).copy()
    item = artifact.item_ids.index(shown["items"][0]["item"])
    model.observe(pd.DataFrame({"user": [0], "item": [item], "timestamp": [2_000_000_000]}))
    assert not np.allclose(model.score(np.array([0])), before)

    done = one_json(cli("spark", "reasons", "--artifact", art, "--store", store, "-k", "3", *conf, "--json"))
    assert done["users"] == len(artifact.user_ids) and done["reasons"] == 3 * done["users"] and done["workers"] == 1
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM reason_cache WHERE model = ?", (done["model"],)).fetchone()[0] == done["reasons"]
    again = one_json(cli("reasons", "precompute", "--artifact", art, "--store", store, "-k", "3", "--json"))
    assert again["reasons"] == 0 and again["cached"] == done["reasons"]  # the server's own path finds every reason cached
