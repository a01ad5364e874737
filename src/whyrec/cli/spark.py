"""`whyrec spark train` and `whyrec spark reasons`: the batch stages on an Apache Spark cluster (or local[N])."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit, ranking_line

spark_app = typer.Typer(help="Training and reasons on Apache Spark; outputs are ordinary artifacts and reason-cache rows.")
app.add_typer(spark_app, name="spark")

Master = Annotated[str, typer.Option("--master", help="Spark master: local[N], spark://HOST:7077, yarn, k8s://https://HOST:443.")]
Conf = Annotated[list[str] | None, typer.Option("--conf", help="Spark setting KEY=VALUE, as spark-submit's (repeatable).")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="SQLite store with the shop's data.")]
ParquetOpt = Annotated[Path | None, typer.Option("--parquet", help="Folder from `whyrec export` (instead of --store).")]


def _source(store: Path | None, parquet: Path | None) -> tuple[Path | None, Path | None]:
    from whyrec.errors import ConfigError

    if (store is None) == (parquet is None):
        raise ConfigError("give exactly one of --store DB and --parquet DIR")
    return store, parquet


def _read_shop(store: Path | None, parquet: Path | None) -> Any:
    from whyrec.spark.reasons import ReasonJob, read_shop

    return read_shop(ReasonJob("", None if store is None else str(store), None if parquet is None else str(parquet), 1))


@spark_app.command("train")
def train(
    out: Annotated[Path, typer.Option("--out", help="Artifact folder to write (appears only when complete).")],
    store: StoreOpt = None,
    parquet: ParquetOpt = None,
    master: Master = "local[*]",
    config: Annotated[Path | None, typer.Option("--config", help="Run config TOML (models.mf, reasoner, split).")] = None,
    rank: Annotated[int | None, typer.Option("--rank", help="Latent factors (models.mf.factors).")] = None,
    iterations: Annotated[int | None, typer.Option("--iterations", help="ALS sweeps (models.mf.iterations).")] = None,
    regularization: Annotated[
        float | None, typer.Option("--regularization", help="L2 weight as `mf` reads it (models.mf.regularization).")
    ] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="Confidence of an observed pair (models.mf.alpha).")] = None,
    reasoner: Annotated[str | None, typer.Option("--reasoner", help="Reasoner name; overrides the config.")] = None,
    split_dir: Annotated[
        Path | None, typer.Option("--split", help="Split folder from `whyrec split` [default: the config's protocol].")
    ] = None,
    conf: Conf = None,
    as_json: JsonFlag = False,
) -> None:
    """Fit `mf` (ALS) with MLlib on the training split, the reasoner on the driver; evaluate and write an `mf` artifact."""
    import shutil
    import time

    from whyrec.cli.train import read_split, train_with_progress
    from whyrec.config import RunConfig
    from whyrec.spark.als import SparkALS, spark_reg_param
    from whyrec.spark.session import parse_conf, require_java, spark_session

    store, parquet = _source(store, parquet)
    settings = parse_conf(conf or [])
    run = (RunConfig.from_toml(config) if config else RunConfig()).overridden(recommender="mf", reasoner=reasoner)
    chosen = {"factors": rank, "iterations": iterations, "regularization": regularization, "alpha": alpha}
    mf = {**run.models.get("mf", {}), **{k: v for k, v in chosen.items() if v is not None}}
    run = run.overridden(models={**run.models, "mf": mf})
    require_java()  # before reading the data: a missing Java fails in a second, not after the load
    dataset = _read_shop(store, parquet)
    split = None if split_dir is None else read_split(split_dir, dataset)
    started = time.perf_counter()
    with spark_session(master, "whyrec spark train", settings) as spark:
        model = SparkALS(run.config_for("mf"), spark)
        artifact = train_with_progress(dataset, run, split, store or parquet, quiet=as_json, model=model)
    seconds = time.perf_counter() - started
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    artifact.save(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    payload = {
        "artifact": str(out),
        "engine": "spark",
        "master": master,
        "recommender": "mf",
        "reasoner": None if artifact.reasoner is None else artifact.reasoner.name,
        "split": artifact.split.protocol,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "train_rows": len(artifact.split.train),
        "config": artifact.recommender.config.model_dump(),
        "spark_reg_param": spark_reg_param(artifact.recommender.seen, artifact.recommender.regularization),
        "seconds": round(seconds, 3),
        "metrics": artifact.metrics,
    }
    human = (
        f"trained mf (MLlib ALS, {master}) on {len(artifact.split.train)} {artifact.split.protocol} training rows "
        f"({dataset.n_users} users, {dataset.n_items} items) in {seconds:.1f} s -> {out}\n"
        f"test: {ranking_line(artifact.metrics['ranking'])}"
    )
    emit(payload, as_json, human)


@spark_app.command("reasons")
def reasons(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder (with a reasoner), read by every executor.")],
    store: StoreOpt = None,
    parquet: ParquetOpt = None,
    k: Annotated[int, typer.Option("-k", help="Reasons per shopper: their top-k, as the server ranks them.")] = 10,
    master: Master = "local[*]",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the reason rows as Parquet here, for the shop's own serving [default: the store's cache]."
        ),
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option("--users", help="A file of raw shopper ids, one per line [default: every shopper the model knows]."),
    ] = None,
    partitions: Annotated[int, typer.Option("--partitions", help="Partitions of shoppers [default: 4 per core].")] = 0,
    conf: Conf = None,
    as_json: JsonFlag = False,
) -> None:
    """Every known shopper's top-k reasons, generated across executors through the served path and its filters.

    Into the store's reason cache (shoppers with k cached reasons of this model are skipped), or as Parquet with --out.
    """
    import tempfile
    import time

    import pyarrow.parquet as pq

    from whyrec.artifact import Artifact
    from whyrec.data.store import Store
    from whyrec.errors import ArtifactError, ConfigError
    from whyrec.serve.pipeline import model_version
    from whyrec.serve.precompute import chosen_users, read_users
    from whyrec.serve.shoppers import Feedback
    from whyrec.spark.reasons import ReasonJob, import_reason_rows, shoppers, write_reason_rows
    from whyrec.spark.session import parse_conf, require_java, spark_session

    store, parquet = _source(store, parquet)
    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    if store is None and out is None:
        raise ConfigError("--parquet has no reason cache to write: give --out DIR for the reason rows")
    settings = parse_conf(conf or [])
    listed = read_users(users) if users is not None else None
    require_java()
    started = time.perf_counter()
    model = Artifact.load(artifact)
    if model.reasoner is None:
        raise ArtifactError(f"{artifact}: trained without a reasoner; nothing to generate")
    version = model_version(model)
    shop = _read_shop(store, parquet)
    raw = shop.interactions.assign(
        user=[shop.user_ids.raw[u] for u in shop.interactions["user"]],
        item=[shop.item_ids.raw[i] for i in shop.interactions["item"]],
    )
    known = shoppers(model.user_ids.raw, model.item_ids.raw, raw)
    chosen = chosen_users(known, listed, users)
    dismissed: dict[str, set[str]] = {}
    cached = 0
    if store is not None:
        with Store(store, create=False) as db:
            feedback = Feedback()
            feedback.load(db)
            dismissed = {u: feedback.dismissed(u) for u in chosen if feedback.dismissed(u)}
            if out is None:
                counts = db.reason_counts(version)
                done = {u for u in chosen if counts.get(u, 0) >= k}
                cached, chosen = len(done), [u for u in chosen if u not in done]
    job = ReasonJob(
        str(artifact.resolve()),
        None if store is None else str(store.resolve()),
        None if parquet is None else str(parquet.resolve()),
        k,
    )
    (out or store).resolve().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".whyrec-reasons-", dir=(out or store).resolve().parent) as scratch:
        target = out if out is not None else Path(scratch) / "rows"
        written = {"users": 0, "reasons": 0}
        workers, replaced = 0, 0
        if chosen:
            with spark_session(master, "whyrec spark reasons", settings) as spark:
                parts = partitions or 4 * spark.sparkContext.defaultParallelism
                write_reason_rows(spark, job, chosen, dismissed, target, parts)
            rows = pq.read_table(target, columns=["user", "reasoner", "pid"]).to_pandas()
            workers = int(rows["pid"].nunique())
            replaced = int((rows["reasoner"] != model.reasoner.name).sum())
            written = {"users": int(rows["user"].nunique()), "reasons": len(rows)}
            if out is None:
                with Store(store, create=False) as db:
                    written = import_reason_rows(target, db)
    seconds = time.perf_counter() - started
    payload = {
        "users": written["users"],
        "reasons": written["reasons"],
        "cached_users": cached,
        "replaced": replaced,
        "workers": workers,
        "k": k,
        "model": version,
        "master": master,
        "out": str(out) if out is not None else str(store),
        "seconds": round(seconds, 3),
    }
    human = (
        f"{written['users']} shoppers: {written['reasons']} reasons written ({replaced} replaced or withheld by the filters), "
        f"{cached} shoppers already cached, by {workers} Python workers on {master} in {seconds:.1f} s -> {payload['out']}"
    )
    emit(payload, as_json, human)
