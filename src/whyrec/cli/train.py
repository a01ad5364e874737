"""`whyrec train`: fit the run config's models on a store and write an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit, ranking_line
from whyrec.explain.registry import DEFAULT_REASONER, REASONERS
from whyrec.recommend.registry import DEFAULT_RECOMMENDER, RECOMMENDERS

RECOMMENDER_HELP = (
    f"Recommender: {', '.join(RECOMMENDERS)} [default: the config's, else {DEFAULT_RECOMMENDER}]. "
    "pop, itemknn and mf train in seconds; sasrec and lightgcn train neural networks for minutes on a few cores; content embeds the catalog with MiniLM."
)
REASONER_HELP = (
    f"Reasoner: {', '.join(REASONERS)}, or '' for none [default: the config's, else {DEFAULT_REASONER}]. "
    "template fits in seconds; peter and prompt_lm train networks for minutes."
)


def train_with_progress(dataset: Any, run: Any, split: Any, store: Path | None, quiet: bool, model: Any = None) -> Any:
    """Artifact.train (of `model` when given) and its evaluation, with progress bars on stderr (epochs, loss and validation metric)."""
    from whyrec.artifact import Artifact
    from whyrec.evaluate.explain_eval import evaluate_artifact_reasons
    from whyrec.evaluate.protocol import evaluate_artifact
    from whyrec.progress import progress

    with progress(quiet=quiet) as bar:
        tasks: dict[str, Any] = {}

        def hook(name: str) -> Any:
            def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
                shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                if name not in tasks:
                    tasks[name] = bar.add_task(f"training {name}", total=None)
                bar.update(tasks[name], completed=epoch, total=total, description=f"training {name}  {shown}")

            return on_epoch

        task = bar.add_task(f"training {run.recommender}" + (f" and {run.reasoner}" if run.reasoner else ""), total=None)
        artifact = Artifact.train(
            dataset,
            run,
            split,
            store=None if store is None else str(Path(store).resolve()),  # absolute: commands run from other folders
            on_epoch=hook(run.recommender),
            on_reasoner_epoch=hook(f"reasoner {run.reasoner}"),
            model=model,
        )
        bar.update(task, completed=1, total=1)
        task = bar.add_task("evaluating on the test split (full ranking)", total=None)
        evaluate_artifact(artifact)
        bar.update(task, completed=1, total=1)
        if artifact.reasoner is not None:
            task = bar.add_task(f"scoring reasoner {artifact.reasoner.name} on the test reviews", total=None)
            evaluate_artifact_reasons(artifact, dataset)
            bar.update(task, completed=1, total=1)
    return artifact


def read_split(split_dir: Path, dataset: Any) -> Any:
    """A `whyrec split` folder, refused when its rows run past the dataset's table (a split of another store)."""
    from whyrec.data.split import Split
    from whyrec.errors import DataError

    split = Split.load(split_dir)
    n_rows = len(getattr(dataset, split.table))
    for part in ("train", "valid", "test"):
        rows = getattr(split, part)
        if len(rows) and rows.max() >= n_rows:
            raise DataError(
                f"row {int(rows.max())} is past the end of the store's {n_rows} {split.table}; "
                "was the split made from another store?",
                file=split_dir / f"{part}.index",
                field="index",
            )
    return split


@app.command()
def train(
    store: Annotated[Path, typer.Option("--store", help="SQLite store with the training data.")],
    out: Annotated[Path, typer.Option("--out", help="Artifact folder to write.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Run config TOML (recommender, reasoner, models.<name>).")
    ] = None,
    recommender: Annotated[str | None, typer.Option("--recommender", help=RECOMMENDER_HELP, show_default=False)] = None,
    reasoner: Annotated[str | None, typer.Option("--reasoner", help=REASONER_HELP, show_default=False)] = None,
    split_dir: Annotated[
        Path | None,
        typer.Option(
            "--split", help="Split folder from `whyrec split` [default: a fresh split by the config's protocol, leave-last-out]."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Fit the run config's recommender (on the training split) and reasoner, evaluate both on held-out data, write an artifact."""
    import time

    from whyrec.config import RunConfig
    from whyrec.data.store import Store

    run = (RunConfig.from_toml(config) if config else RunConfig()).overridden(recommender=recommender, reasoner=reasoner)
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name=store.stem)
    split = None if split_dir is None else read_split(split_dir, dataset)
    started = time.perf_counter()
    artifact = train_with_progress(dataset, run, split, store, quiet=as_json)
    seconds = time.perf_counter() - started
    artifact.save(out)
    payload = {
        "artifact": str(out),
        "recommender": run.recommender,
        "reasoner": None if artifact.reasoner is None else artifact.reasoner.name,
        "split": artifact.split.protocol,
        "users": dataset.n_users,
        "items": dataset.n_items,
        "train_rows": len(artifact.split.train),
        "seconds": round(seconds, 3),
        "metrics": artifact.metrics,
    }
    human = (
        f"trained {run.recommender} on {len(artifact.split.train)} {artifact.split.protocol} training rows "
        f"({dataset.n_users} users, {dataset.n_items} items) in {seconds:.1f} s -> {out}\n"
        f"test: {ranking_line(artifact.metrics['ranking'])}"
    )
    if artifact.reasoner is not None:
        text = artifact.metrics.get("text", {})
        human += f"\nreasoner {artifact.reasoner.name}: " + (
            "  ".join(f"{k} {text[k]:.4f}" for k in ("bleu4", "rougeL_f", "usr", "grounding") if k in text)
            or "no test reviews to score"
        )
    emit(payload, as_json, human)
