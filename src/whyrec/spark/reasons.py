"""Every shopper's top-k reasons across Spark executors, through the one served path.

Shoppers are spread over partitions; `mapInPandas` runs `reason_rows` on each, where a Python worker
loads the artifact, the shop's facts and the reasoners once (`_worker`, cached per process) and answers
each shopper with `ServedReasons.answer` - the server's own ranking, reasons, grounding and safety
filters and fallback - collecting the payloads the server would cache, under the same model version.
Spark writes the rows as Parquet into a temporary folder, renamed when the job is complete; only then
are they put into the store's reason cache, one transaction per shopper.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from whyrec.data.schema import Dataset
    from whyrec.data.store import Store

# One row per (shopper, recommended item): what the server would cache, and who wrote it.
ROW_SCHEMA = "user string, item string, rank int, model string, payload string, reasoner string, pid int"


@dataclass(frozen=True)
class ReasonJob:
    """What every worker needs to answer shoppers: paths all executors can read, and k."""

    artifact: str  # artifact folder from `whyrec train` or `whyrec spark train`
    store: str | None  # the shop as a store file, or
    parquet: str | None  # as a `whyrec export` folder
    k: int


def read_shop(job: ReasonJob) -> Dataset:
    """The shop's interactions, reviews and catalog, from the store or the exported Parquet."""
    if job.parquet is not None:
        from whyrec.data.parquet import read_parquet

        return read_parquet(job.parquet, name=Path(job.parquet).name)
    from whyrec.data.store import Store

    with Store(job.store, create=False) as db:
        return db.read_dataset(name=Path(job.store).stem)


class _Collected:
    """Stands in for the store behind the served path's reason cache: nothing cached yet, puts collected."""

    def __init__(self) -> None:
        self.put: dict[str, dict[str, dict[str, Any]]] = {}  # model version -> raw item -> payload

    def cached_reasons(self, user: str, items: Sequence[str], model: str) -> dict[str, dict[str, Any]]:
        return {}

    def put_reasons(self, user: str, model: str, reasons: dict[str, dict[str, Any]]) -> None:
        self.put.setdefault(model, {}).update(reasons)


class ReasonWorker:
    """What one Python worker loads once: the artifact (its reasoner), the shop's facts and the served reasoners."""

    def __init__(self, job: ReasonJob) -> None:
        from whyrec.artifact import Artifact
        from whyrec.serve.live import LiveRanking
        from whyrec.serve.pipeline import model_version
        from whyrec.serve.reasons import ServedReasons, ShopFacts

        artifact = Artifact.load(job.artifact)
        shop = read_shop(job)
        self.k = job.k
        self.live = LiveRanking(artifact)
        self.live.observe(self.live.events_since_training(shop))  # as the server folds in events stored since training
        facts = ShopFacts.read(shop, artifact.item_ids, artifact.reasoner.lexicon if artifact.reasoner else None)
        self.version = model_version(artifact)
        self.reasons = ServedReasons(artifact, facts, self.version)
        self.reasons.prepare(shop, artifact.config.experiment)
        self.experiment = artifact.config.experiment

    def answer(self, user: str, dismissed: Sequence[str]) -> list[tuple[str, str, int, str, str, str | None, int]]:
        """The shopper's top-k as ROW_SCHEMA rows, exactly as the server would write them into its cache."""
        hidden = {self.live.item_ids.get(raw) for raw in dismissed} - {-1}
        arm = None
        if self.experiment is not None:
            from whyrec.serve.experiment import arm_of

            arm = arm_of(user, self.experiment)
        sink = _Collected()
        answer = self.reasons.answer(self.live, lambda: sink, user, self.k, hidden, arm)
        [(model, payloads)] = sink.put.items() if sink.put else [(self.version, {})]
        pid = os.getpid()
        return [
            (user, r.item, rank, model, json.dumps(payloads[r.item], ensure_ascii=False), r.reasoner, pid)
            for rank, r in enumerate(answer.items)
        ]


@functools.cache
def _worker(job: ReasonJob) -> ReasonWorker:
    """One ReasonWorker per Python worker process and job (Spark reuses its Python workers across tasks)."""
    return ReasonWorker(job)


def reason_rows(job: ReasonJob) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The `mapInPandas` function: (user, dismissed) batches in, ROW_SCHEMA batches out."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        worker = _worker(job)
        for batch in batches:
            rows = [
                row
                for user, dismissed in zip(batch["user"], batch["dismissed"], strict=True)
                for row in worker.answer(user, list(dismissed))
            ]
            yield pd.DataFrame(rows, columns=["user", "item", "rank", "model", "payload", "reasoner", "pid"])

    return run


def shoppers(artifact_users: Sequence[str], artifact_items: Sequence[str], shop: pd.DataFrame) -> list[str]:
    """The shoppers the served model knows: the artifact's, then those whose stored events touch its items.

    `shop` holds raw `user` and `item` columns of the stored interactions; order as `LiveRanking` adds them.
    """
    known = dict.fromkeys(artifact_users)
    fresh = shop.loc[shop["item"].isin(set(artifact_items)), "user"]
    return [*known, *(u for u in dict.fromkeys(fresh) if u not in known)]


def write_reason_rows(
    spark: SparkSession, job: ReasonJob, users: Sequence[str], dismissed: Mapping[str, Sequence[str]], out: Path, partitions: int
) -> Path:
    """Run the job over `users` and write its rows as Parquet at `out`, which appears only when the job completes."""
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    frame = pd.DataFrame({"user": list(users), "dismissed": [sorted(dismissed.get(u, ())) for u in users]})
    try:
        (
            spark.createDataFrame(frame, schema="user string, dismissed array<string>")
            .repartition(max(1, partitions))
            .mapInPandas(reason_rows(job), schema=ROW_SCHEMA)
            .write.parquet(str(partial))
        )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def import_reason_rows(rows: Path, store: Store) -> dict[str, int]:
    """Put Parquet reason rows into the store's reason cache, one transaction per shopper; counts of what was put."""
    import pyarrow.parquet as pq

    done = {"users": 0, "reasons": 0}
    for path in sorted(rows.glob("*.parquet")):
        frame = pq.read_table(path).to_pandas()
        for (user, model), part in frame.groupby(["user", "model"], sort=False):
            store.put_reasons(user, model, {item: json.loads(p) for item, p in zip(part["item"], part["payload"], strict=True)})
            done["users"] += 1
            done["reasons"] += len(part)
    return done
