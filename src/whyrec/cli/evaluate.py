"""`whyrec evaluate`: full-ranking and text metrics of an artifact, and the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.cli.common import JsonFlag, app, emit, output_file, ranking_line, text_line


@app.command()
def evaluate(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    negatives: Annotated[
        int | None,
        typer.Option("--negatives", help="Rank against N sampled negatives instead of all items (papers' '1 + 99' protocol)."),
    ] = None,
    repeats: Annotated[
        str, typer.Option("--repeats", help="drop: skip test items the user already had; candidate: rank them too.")
    ] = "drop",
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write a self-contained HTML report with plots here.")
    ] = None,
    results: Annotated[
        list[Path] | None,
        typer.Option(
            "--results",
            help="Benchmark --out JSON (benchmarks/ranking.py, explain.py) to show in the report beside ours (repeatable).",
        ),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="How many users' recommendations and reasons the report shows.")] = 3,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="The store the artifact serves, for the shown-reason checks [default: its training store]."),
    ] = None,
    shown_users: Annotated[
        int,
        typer.Option("--shown-users", help="Shoppers with held-out reviews whose top-10 shown reasons are checked; 0 = skip."),
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Ranking metrics of the artifact's recommender on its test split; also stored in artifact.json.

    With a reasoner and its store, also checks the reasons shoppers are shown ("shown": voice, truth,
    support, repetition, relevance). With --report, also times serving and writes an HTML report.
    """
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError
    from whyrec.evaluate.protocol import evaluate_artifact
    from whyrec.progress import progress

    if results and report is None:
        raise ConfigError("--results: only used by the report; add --report out.html")
    if samples < 0:
        raise ConfigError(f"--samples: must be 0 or more, got {samples}")
    if shown_users < 0:
        raise ConfigError(f"--shown-users: must be 0 or more, got {shown_users}")
    benchmarks = []
    if report is not None:
        from whyrec.evaluate.report import load_results

        output_file(report, "--report")
        benchmarks = [load_results(p) for p in results or []]  # a bad file fails before the evaluation runs
    loaded = Artifact.load(artifact)
    shop_path = _shop(loaded, store) if loaded.reasoner is not None and shown_users else None
    if shop_path is None and report is not None:  # the report's titles and served answers, when the store is there
        shop_path = store if store is not None else Path(loaded.store) if loaded.store else None
    shop = _read_shop(shop_path)
    options: dict[str, Any] = {} if negatives is None else {"n_negatives": negatives}
    if repeats != "drop":
        options["repeats"] = repeats
    with progress(quiet=as_json) as bar:
        task = bar.add_task("evaluating (full ranking)" if negatives is None else f"evaluating (1 + {negatives})", total=None)
        ranking = evaluate_artifact(loaded, **options)
        bar.update(task, completed=1, total=1)
    loaded.save_manifest(artifact)
    payload = {
        "ranking": ranking,
        "protocol": "full ranking" if negatives is None else f"1 + {negatives} sampled negatives",
        "repeats": repeats,
        "recommender": loaded.recommender.name,
        "split": loaded.split.protocol,
    }
    if "text" in loaded.metrics:  # scored at training time: the artifact keeps no reviews to score again
        payload["text"] = loaded.metrics["text"]
    human = f"{loaded.recommender.name} on {loaded.split.protocol} test: {ranking_line(ranking)}"
    if payload.get("text"):
        human += "\n" + text_line(payload["text"])
    if shop is not None and loaded.reasoner is not None and shown_users:
        payload["shown"] = _shown(loaded, shop, shown_users, quiet=as_json)
        human += "\n" + _shown_line(payload["shown"])
    if report is not None:
        from whyrec.evaluate.report import collect, latency_summary, write_report

        with progress(quiet=as_json) as bar:
            task = bar.add_task("timing recommendations and reasons", total=None)
            data = collect(loaded, artifact, ranking, payload["protocol"], benchmarks, samples=samples, shop=shop)
            data.shown = payload.get("shown", {})
            bar.update(task, completed=1, total=1, description="drawing the report")
            write_report(report, data)
        payload["latency"] = latency_summary(data.served)
        payload["report"] = str(report)
        human += f"\nreport -> {report}"
    emit(payload, as_json, human)


def _read_shop(store: Path | None) -> Any:
    """The store's data for the shown-reason checks and the report (titles, served answers); None without a store."""
    from whyrec.data.store import Store

    if store is None or not store.is_file():
        return None
    with Store(store, create=False) as db:
        return db.read_dataset(name=store.stem)


def _shop(loaded: Any, store: Path | None) -> Path | None:
    """The store the shown-reason checks read: --store, else the artifact's training store; checked before any work."""
    from whyrec.errors import ConfigError

    if store is not None:
        if not store.is_file():
            raise ConfigError(f"--store: no store at {store}")
        return store
    if not loaded.store:
        return None
    recorded = Path(loaded.store)
    if not recorded.is_absolute() or not recorded.is_file():
        raise ConfigError(
            f"the artifact's training store {loaded.store} has moved or is gone; pass --store, or --shown-users 0 to skip the shown-reason checks"
        )
    return recorded


def _shown(loaded: Any, shop: Any, users: int, quiet: bool) -> dict[str, Any]:
    """The shown-reason checks of the artifact served over the store's data (whyrec.evaluate.shown.collect_shown)."""
    from whyrec.embeddings import embed_texts
    from whyrec.evaluate.shown import collect_shown
    from whyrec.progress import progress

    with progress(quiet=quiet) as bar:
        task = bar.add_task(f"checking the reasons shown to {users} shoppers", total=None)
        shown = collect_shown(loaded, shop, users=users, embed=embed_texts)
        bar.update(task, completed=1, total=1)
    return shown


def _shown_line(shown: dict[str, Any]) -> str:
    """The shown-reason checks, one line."""
    if not shown.get("n"):
        return "shown reasons: none to check"
    keys = [k for k in shown if k != "n"]
    return f"shown reasons ({shown['n']}): " + "  ".join(f"{k} {shown[k]:.3f}" for k in keys)
