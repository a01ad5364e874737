"""The `whyrec` command line: one thin function per stage (see DESIGN.md, "The CLI").

Heavy modules are imported inside commands so `whyrec --help` answers instantly.
Errors print one line on stderr: exit 2 for bad input, 1 for internal failure.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from whyrec.errors import WhyrecError

app = typer.Typer(help="whyrec: recommendations that say why.", no_args_is_help=True, add_completion=False)


def emit(payload: dict[str, Any], as_json: bool, human: str) -> None:
    """Exactly one JSON object on stdout with --json; a human summary otherwise."""
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
    else:
        typer.echo(human)


JsonFlag = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout (progress goes to stderr).")]
STATS_REVIEW_SAMPLE = 2000  # reviews read for top aspects: enough for a stable top list, bounded so stats stay fast
STATS_TOP_ASPECTS = 10


@app.command()
def ingest(
    fmt: Annotated[str, typer.Option("--format", help="amazon|movielens|p5|xrec|peter|table|sample")],
    store: Annotated[Path, typer.Option("--store", help="SQLite store to add to; created if missing.")],
    paths: Annotated[list[Path] | None, typer.Argument(help="Input files (none with --format sample).", show_default=False)] = None,
    meta: Annotated[list[Path] | None, typer.Option("--meta", help="Item metadata file (repeatable).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Column mapping TOML for --format table.")] = None,
    on_error: Annotated[str, typer.Option("--on-error", help="raise: stop at the first bad row; skip: set it aside in the rejects file.")] = "raise",
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Rejects file for --on-error skip [default: <store>.rejects.jsonl].")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated shop (--format sample only).")] = 0,
    pseudonymize: Annotated[bool, typer.Option("--pseudonymize", help="Store keyed HMAC-SHA256 pseudonyms instead of user ids (key: $WHYREC_ID_KEY or --id-key-file; never stored).")] = False,
    id_key_file: Annotated[Path | None, typer.Option("--id-key-file", help="File holding the pseudonymisation key (at least 16 bytes).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Load files (or the bundled sample shop) into the store; re-ingesting the same rows adds nothing."""
    from whyrec.data.store import Store
    from whyrec.errors import ConfigError, DataError
    from whyrec.progress import progress

    if fmt != "sample":
        from whyrec.data.loaders import FORMATS, load

        if fmt not in FORMATS:
            raise ConfigError(f"--format: unknown format {fmt!r} (expected one of {', '.join((*FORMATS, 'sample'))})")
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"--on-error: expected 'raise' or 'skip', not {on_error!r}")
    paths = list(paths or [])
    if fmt == "sample" and paths:
        raise ConfigError("--format sample generates its data and takes no PATH")
    if fmt != "sample" and not paths:
        raise ConfigError(f"--format {fmt} needs at least one PATH")
    for p in [*paths, *(meta or []), *([mapping] if mapping else [])]:
        if not p.exists():
            raise DataError("file not found", file=p)
    rejects_path = rejects or store.with_name(store.name + ".rejects.jsonl")
    if id_key_file is not None and not pseudonymize:
        raise ConfigError("--id-key-file: only used with --pseudonymize")
    id_key = None
    if pseudonymize:
        from whyrec.data.privacy import load_key

        id_key = load_key(id_key_file)
    from whyrec.data.privacy import check_id_mode, pseudonymize as pseudonymized

    if store.exists():  # before reading: a store of the other id mode fails fast (a new one is marked when written)
        with Store(store) as db:
            check_id_mode(db, id_key)

    with progress(quiet=as_json) as bar:
        task = bar.add_task("reading" if fmt != "sample" else "generating sample shop", total=None)
        if fmt == "sample":
            from whyrec.data.sample import generate_sample
            from whyrec.data.validate import IngestReport

            dataset = generate_sample(seed=seed)
            n = sum(len(f) for f in (dataset.interactions, dataset.reviews, dataset.items, dataset.queries))
            report = IngestReport(read=n, kept=n, rejected=0, rejects_file=None)
        else:
            result = load(
                fmt, paths, meta=meta or None, on_error=on_error, rejects_path=rejects_path, mapping=mapping, name=paths[0].stem
            )
            dataset, report = result.dataset, result.report
        bar.update(task, total=1, completed=1)
        task = bar.add_task(f"writing {store}", total=None)
        with Store(store) as db:
            check_id_mode(db, id_key)
            if id_key is not None:
                dataset = pseudonymized(dataset, id_key)
            added = db.write_dataset(dataset)
            counts = db.counts()
        bar.update(task, total=1, completed=1)

    sizes = {"users": len(dataset.user_ids), "items": len(dataset.item_ids), "interactions": len(dataset.interactions),
             "reviews": len(dataset.reviews), "queries": len(dataset.queries)}
    already = {k: sizes[k] - v for k, v in added.items() if k in sizes and sizes[k] - v > 0}
    payload = {
        **report.to_dict(),
        "users": counts["users"],  # totals in the store after this ingest
        "items": counts["items"],
        "reviews": counts["reviews"],
        "interactions": counts["interactions"],
        "added": added,  # rows new in this ingest, per table
        # Kept rows the store already held under the same key (e.g. user, item, time, event): a
        # re-ingest, or two rows of one file that differ only in fields outside the key. Counted, not hidden.
        "already_stored": already,
        "store": str(store),
    }
    human = (
        f"read {report.read} rows: kept {report.kept}, rejected {report.rejected}"
        + (f" (see {report.rejects_file})" if report.rejects_file else "")
        + f"\n{store}: {counts['users']} users, {counts['items']} items, {counts['interactions']} interactions, "
        f"{counts['reviews']} reviews; new: " + ", ".join(f"{v} {k}" for k, v in added.items())
        + ("; already in the store (same key, not added twice): " + ", ".join(f"{v} {k}" for k, v in already.items())
           if already else "")
    )
    emit(payload, as_json, human)


@app.command()
def stats(
    store: Annotated[Path, typer.Option("--store", help="SQLite store to describe.")],
    dp_epsilon: Annotated[float | None, typer.Option("--dp-epsilon", help="Release only category popularity and event-type counts, epsilon-differentially private.")] = None,
    dp_clip: Annotated[int, typer.Option("--dp-clip", help="Most events one user adds to a category or event type.")] = 1,
    dp_max_categories: Annotated[int, typer.Option("--dp-max-categories", help="Most categories one user adds to.")] = 3,
    dp_seed: Annotated[int | None, typer.Option("--dp-seed", help="Seed of the noise, for reproducible tests; keep it secret [default: fresh].")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Counts, sparsity, rating and event histograms, and the aspects reviews talk about most.

    With --dp-epsilon, only a differentially private release of aggregate counts (nothing else).
    """
    from collections import Counter

    from whyrec.data.store import Store
    from whyrec.progress import track

    if dp_epsilon is not None:
        from whyrec.data.privacy import dp_statistics

        with Store(store, create=False) as db:
            dataset = db.read_dataset(name=store.stem)
        release = dp_statistics(dataset, dp_epsilon, clip=dp_clip, max_categories=dp_max_categories, seed=dp_seed)
        lines = [release["statement"], "category popularity (noisy counts):"]
        lines += [f"  {r['name']}: {r['count']}" for r in release["category_popularity"]]
        lines.append("events (noisy counts):  " + "  ".join(f"{r['name']} {r['count']}" for r in release["event_types"]))
        emit(release, as_json, "\n".join(lines))
        return
    with Store(store, create=False) as db:
        counts = db.counts()
        sparsity = db.sparsity()
        ratings = db.rating_histogram()
        events = db.event_histogram()
        texts = db.review_texts(STATS_REVIEW_SAMPLE)
    from whyrec.explain.aspects import extract_aspects  # after the store opened: a bad --store fails before it loads

    mentions: Counter[str] = Counter()
    positive: Counter[str] = Counter()
    for text in track(texts, "extracting aspects", quiet=as_json):
        for aspect in extract_aspects(text):
            mentions[aspect.feature] += 1
            positive[aspect.feature] += aspect.sentiment > 0
    top = [
        {"aspect": f, "mentions": n, "positive": positive[f], "negative": n - positive[f]}
        for f, n in mentions.most_common(STATS_TOP_ASPECTS)
    ]
    payload = {
        **counts,
        "sparsity": sparsity,
        "ratings": ratings,
        "events": events,
        "top_aspects": top,
        "reviews_sampled": len(texts),
    }
    human = "\n".join(
        [
            f"{store}: {counts['users']} users, {counts['items']} items ({counts['catalog_items']} with catalog rows), "
            f"{counts['interactions']} interactions, {counts['reviews']} reviews, {counts['queries']} queries, "
            f"{counts['feedback']} feedback events",
            f"sparsity {sparsity:.4%}",
            "events:  " + "  ".join(f"{k} {v}" for k, v in events.items()),
            "ratings: " + ("  ".join(f"{k}: {v}" for k, v in ratings.items()) or "none"),
            f"top aspects (from {len(texts)} reviews): "
            + (", ".join(f"{a['aspect']} ({a['positive']}+/{a['negative']}-)" for a in top) or "none"),
        ]
    )
    emit(payload, as_json, human)


@app.command()
def split(
    store: Annotated[Path, typer.Option("--store", help="SQLite store to split.")],
    protocol: Annotated[str, typer.Option("--protocol", help="leave-last-out|temporal|ratio")],
    out: Annotated[Path, typer.Option("--out", help="Folder for train/valid/test.index and split.json.")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the ratio split (recorded, unused by the others).")] = 42,
    table: Annotated[str | None, typer.Option("--table", help="reviews|interactions, for ratio [default: reviews if any].")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a train/valid/test split of the store's rows (as read by Store.read_dataset) to a folder."""
    from whyrec.data.split import make_split
    from whyrec.data.store import Store

    with Store(store, create=False) as db:
        dataset = db.read_dataset(name=store.stem)
    result = make_split(dataset, protocol, seed, table=table)
    result.save(out)
    payload = {
        "protocol": result.protocol,
        "seed": result.seed,
        "table": result.table,
        "train": len(result.train),
        "valid": len(result.valid),
        "test": len(result.test),
        "out": str(out),
    }
    human = (
        f"{result.protocol} split of {result.table}: train {payload['train']}, valid {payload['valid']}, "
        f"test {payload['test']} -> {out}"
    )
    emit(payload, as_json, human)


def _train_with_progress(dataset: Any, run: Any, split: Any, store: Path | None, quiet: bool) -> Any:
    """Artifact.train with a progress bar on stderr (epochs, loss and validation metric for trainable models)."""
    from whyrec.artifact import Artifact
    from whyrec.progress import progress

    with progress(quiet=quiet) as bar:
        task = bar.add_task(f"training {run.recommender}", total=None)
        epochs_reported = False

        def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
            nonlocal epochs_reported
            epochs_reported = True
            shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            bar.update(task, completed=epoch, total=total, description=f"training {run.recommender}  {shown}")

        artifact = Artifact.train(
            dataset, run, split, store=None if store is None else str(store), on_epoch=on_epoch, evaluate=False
        )
        if not epochs_reported:  # a model fitted in one step (pop, itemknn): just mark it done
            bar.update(task, completed=1, total=1)
        task = bar.add_task("evaluating on the test split (full ranking)", total=None)
        artifact.evaluate()
        bar.update(task, completed=1, total=1)
        if run.reasoner and len(dataset.reviews):
            task = bar.add_task(f"training reasoner {run.reasoner}", total=None)
            artifact.reasoner, artifact.metrics["text"] = _fit_reasoner(dataset, run, lambda e, n: bar.update(task, completed=e, total=n))
            bar.update(task, completed=1, total=1)
    return artifact


def _fit_reasoner(dataset: Any, run: Any, on_epoch: Any) -> tuple[Any, dict[str, Any]]:
    """Fit the run's reasoner on a seeded 8:1:1 split of the reviews (PETER's protocol) and score it on the test part.

    Reviews are split on their own, not by the interactions split: explanations are scored as in
    the papers. The text metrics are {} when no test review judges an aspect (too little text).
    """
    from whyrec.data.split import ratio
    from whyrec.errors import DataError
    from whyrec.evaluate.explain_eval import evaluate_reasoner
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.explain.registry import get_reasoner_class

    split = ratio(dataset, run.seed, table="reviews")
    reasoner = get_reasoner_class(run.reasoner)(run.config_for(run.reasoner))
    if hasattr(reasoner, "on_epoch"):
        reasoner.on_epoch = lambda epoch, total, _metrics: on_epoch(epoch, total)
    reasoner.fit(dataset, split)
    if hasattr(reasoner, "on_epoch"):
        reasoner.on_epoch = None
    lexicon = AspectLexicon.build(dataset.reviews["text"].iloc[split.train])
    try:
        metrics = evaluate_reasoner(reasoner, dataset, split, lexicon)
    except DataError:
        metrics = {}
    return reasoner, {"split": "ratio 8:1:1 of reviews", "seed": run.seed, **metrics}


def _ranking_line(ranking: dict[str, Any]) -> str:
    keys = [k for k in ("hr@10", "ndcg@10", "mrr", "coverage@10") if k in ranking]
    return "  ".join(f"{k} {ranking[k]:.4f}" for k in keys) + f"  ({ranking['users']} test users)"


# The reasons' text metrics a human summary shows, in DESIGN.md's order.
_TEXT_KEYS = ("bleu1", "bleu4", "rouge1_f", "rouge2_f", "rougeL_f", "usr", "fmr", "fcr", "div", "distinct2", "grounding")


def _text_line(text: dict[str, Any]) -> str:
    """The training-time text metrics of the artifact's reasoner, one line (BLEU/ROUGE x100, the rest 0-1)."""
    shown = "  ".join(f"{k} {text[k]:.4f}" for k in _TEXT_KEYS if isinstance(text.get(k), float | int))
    where = f"reasons on the {text.get('split', 'test reviews')} (seed {text.get('seed', '-')})"
    return f"{where}: {shown}  ({text['n']} test reviews)" if shown else f"{where}: no test reviews to score"


@app.command()
def train(
    store: Annotated[Path, typer.Option("--store", help="SQLite store with the training data.")],
    out: Annotated[Path, typer.Option("--out", help="Artifact folder to write.")],
    config: Annotated[Path | None, typer.Option("--config", help="Run config TOML (recommender, reasoner, models.<name>).")] = None,
    recommender: Annotated[str | None, typer.Option("--recommender", help="Recommender name; overrides the config.")] = None,
    reasoner: Annotated[str | None, typer.Option("--reasoner", help="Reasoner name; overrides the config.")] = None,
    split_dir: Annotated[Path | None, typer.Option("--split", help="Split folder from `whyrec split` [default: the config's protocol].")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Fit a recommender on the store's training split, evaluate it on the test split, write an artifact."""
    import time

    from whyrec.config import RunConfig
    from whyrec.data.split import Split
    from whyrec.data.store import Store
    from whyrec.errors import DataError

    run = (RunConfig.from_toml(config) if config else RunConfig()).overridden(recommender=recommender, reasoner=reasoner)
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name=store.stem)
    split = None
    if split_dir is not None:
        split = Split.load(split_dir)
        n_rows = len(getattr(dataset, split.table))
        for part in ("train", "valid", "test"):
            rows = getattr(split, part)
            if len(rows) and rows.max() >= n_rows:
                raise DataError(
                    f"row {int(rows.max())} is past the end of the store's {n_rows} {split.table}; "
                    "was the split made from another store?", file=split_dir / f"{part}.index", field="index",
                )
    started = time.perf_counter()
    artifact = _train_with_progress(dataset, run, split, store, quiet=as_json)
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
        f"test: {_ranking_line(artifact.metrics['ranking'])}"
    )
    if artifact.reasoner is not None:
        text = artifact.metrics.get("text", {})
        human += f"\nreasoner {artifact.reasoner.name}: " + (
            "  ".join(f"{k} {text[k]:.4f}" for k in ("bleu4", "rougeL_f", "usr", "grounding") if k in text) or "no test reviews to score"
        )
    emit(payload, as_json, human)


@app.command()
def recommend(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    user: Annotated[str, typer.Option("--user", help="Raw user id; an unknown one gets popular items.")],
    k: Annotated[int, typer.Option("-k", help="How many items.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Top-k items for one user, with reasons when the artifact has a reasoner."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError

    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    payload = Artifact.load(artifact).recommend(user, k=k)
    lines = [f"{user}" + (" (unknown user: popular items)" if payload["fallback"] else "")]
    for rank, entry in enumerate(payload["items"], start=1):
        lines.append(f"{rank:>3}. {entry['item']}  {entry['score']:.4f}" + (f"  {entry['reason']}" if entry["reason"] else ""))
    emit(payload, as_json, "\n".join(lines))


@app.command()
def explain(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train` (with a reasoner).")],
    user: Annotated[str, typer.Option("--user", help="Raw user id; an unknown one gets an item-only reason.")],
    item: Annotated[str | None, typer.Option("--item", help="Raw item id (may be left out with --plot).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw USER's interest profile and the history x recommendations attribution heatmap here (.png or .svg).")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="With --plot: the store the profile is read from [default: the artifact's training store].")] = None,
    k: Annotated[int, typer.Option("-k", help="With --plot: recommendations in the heatmap.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """Why ITEM suits USER: the reason, the aspects it names, its evidence, and any grounding/safety flags.

    With --plot, also (or only, without --item) a picture of why USER gets their top-k items.
    """
    from whyrec.errors import ConfigError

    if item is None and plot is None:
        raise ConfigError("--item or --plot is needed: an item to explain, or a file to draw the user's explanation in")
    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    payload: dict[str, Any] = {"user": user}
    lines: list[str] = []
    if item is not None:
        payload, lines = _explain_item(artifact, user, item)
    if plot is not None:
        payload["plot"] = _plot_explanation(artifact, user, plot, store, k)
        drawn = payload["plot"]
        lines.append(f"plot: {drawn['path']} ({len(drawn['items'])} recommendations x {len(drawn['history'])} history items, {drawn['method']})")
    emit(payload, as_json, "\n".join(lines))


def _explain_item(artifact: Path, user: str, item: str) -> tuple[dict[str, Any], list[str]]:
    """`whyrec explain --item`'s payload and human lines."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ArtifactError, NotFoundError
    from whyrec.explain.base import ReasonRequest
    from whyrec.explain.filters import check_by_record

    loaded = Artifact.load(artifact)
    if loaded.reasoner is None:
        raise ArtifactError(f"{artifact}: trained without a reasoner; retrain with `whyrec train --reasoner template`")
    iid = loaded.item_ids.get(item)
    if iid < 0:
        raise NotFoundError(f"item {item!r} is not in the artifact's catalog")
    uid = loaded.user_ids.get(user)
    [reason] = loaded.reasoner.generate([ReasonRequest(uid, iid)])
    [reason] = check_by_record(loaded.reasoner, [reason])  # the artifact keeps no reviews or catalog
    evidence = dict(reason.evidence)
    if "history_items" in evidence:  # dense ids are internal: show the raw ones
        evidence["history_items"] = loaded.item_ids.to_raw(evidence["history_items"])
    payload = {
        "user": user,
        "item": item,
        "reason": reason.text,
        "aspects": reason.aspects,
        "evidence": evidence,
        "flags": reason.flags,
        "score": reason.score,
        "known_user": uid >= 0,
    }
    lines = [f"{user} -> {item}: {reason.text}"]
    lines.append("  aspects: " + (", ".join(reason.aspects) or "none"))
    lines += [f"  {k}: {v}" for k, v in evidence.items()]
    lines.append("  flags: " + (", ".join(reason.flags) or "none (grounded and safe)"))
    return payload, lines


def _plot_explanation(artifact: Path, user: str, path: Path, store: Path | None, k: int) -> dict[str, Any]:
    """Draw USER's profile and attribution heatmap as the web page sees them (through the serving pipeline)."""
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError, NotFoundError
    from whyrec.evaluate.plots import AttributionGrid, check_format, explanation_figure, save_figure, select_rows
    from whyrec.pipeline import Pipeline
    from whyrec.recommend.attribution import history_weights

    check_format(path)  # before minutes of loading
    if store is None:
        recorded = Artifact.load(artifact).store
        store = Path(recorded) if recorded and Path(recorded).exists() else None
        if store is None:
            raise ConfigError(f"--plot reads the shopper's profile from a store: pass --store (the artifact's training store {recorded!r} is not there)")
    pipeline = Pipeline.open(artifact, store)
    try:
        try:
            profile: dict[str, Any] = pipeline.profile(user)
        except NotFoundError:  # a shopper with no events or reviews yet: an empty profile beside popular picks
            profile = {}
        uid = pipeline.user_ids.get(user)
        [ranked] = pipeline.model.recommend([uid], k=k)
        items = [int(i) for i in ranked.items]
        method, history, weights = history_weights(pipeline.model, uid, items)  # weights: (items, history)
        rows = select_rows(weights.T)
        raw_items = [pipeline.item_ids.raw[i] for i in items]
        raw_history = [pipeline.item_ids.raw[int(h)] for h in history[rows]]

        def label(raw: str) -> str:
            return pipeline.catalog.get(raw, {}).get("title") or raw

        grid = AttributionGrid([label(r) for r in raw_history], [label(r) for r in raw_items], weights.T[rows], method)
        kind = "popular picks for a new shopper" if ranked.fallback else f"{pipeline.model.name}'s top {len(items)}"
        save_figure(explanation_figure(profile, grid, f"{user}: interest profile and why these items ({kind})"), path)
    finally:
        pipeline.close()
    return {
        "path": str(path),
        "method": method,
        "items": raw_items,
        "history": raw_history,
        "weights": [[round(float(w), 6) for w in row] for row in weights.T[rows]],  # history x items
    }


@app.command()
def evaluate(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    negatives: Annotated[int | None, typer.Option("--negatives", help="Rank against N sampled negatives instead of all items (papers' '1 + 99' protocol).")] = None,
    repeats: Annotated[str, typer.Option("--repeats", help="drop: skip test items the user already had; candidate: rank them too.")] = "drop",
    report: Annotated[Path | None, typer.Option("--report", help="Also write a self-contained HTML report with plots here.")] = None,
    results: Annotated[list[Path] | None, typer.Option("--results", help="Benchmark --out JSON (benchmarks/ranking.py, explain.py) to show in the report beside ours (repeatable).")] = None,
    samples: Annotated[int, typer.Option("--samples", help="How many users' recommendations and reasons the report shows.")] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Ranking metrics of the artifact's recommender on its test split; also stored in artifact.json.

    With --report, also times serving (top-k and reasons per user) and writes an HTML report.
    """
    from whyrec.artifact import Artifact
    from whyrec.errors import ConfigError
    from whyrec.progress import progress

    if results and report is None:
        raise ConfigError("--results: only used by the report; add --report out.html")
    if samples < 0:
        raise ConfigError(f"--samples: must be 0 or more, got {samples}")
    benchmarks = []
    if report is not None:
        from whyrec.evaluate.report import load_results

        benchmarks = [load_results(p) for p in results or []]  # a bad file fails before the evaluation runs
    loaded = Artifact.load(artifact)
    options: dict[str, Any] = {} if negatives is None else {"n_negatives": negatives}
    if repeats != "drop":
        options["repeats"] = repeats
    with progress(quiet=as_json) as bar:
        task = bar.add_task("evaluating (full ranking)" if negatives is None else f"evaluating (1 + {negatives})", total=None)
        ranking = loaded.evaluate(**options)
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
    human = f"{loaded.recommender.name} on {loaded.split.protocol} test: {_ranking_line(ranking)}"
    if payload.get("text"):
        human += "\n" + _text_line(payload["text"])
    if report is not None:
        from whyrec.evaluate.report import collect, latency_summary, write_report

        with progress(quiet=as_json) as bar:
            task = bar.add_task("timing recommendations and reasons", total=None)
            data = collect(loaded, artifact, ranking, payload["protocol"], benchmarks, samples=samples)
            bar.update(task, completed=1, total=1, description="drawing the report")
            write_report(report, data)
        payload["latency"] = latency_summary(data.served)
        payload["report"] = str(report)
        human += f"\nreport -> {report}"
    emit(payload, as_json, human)


# The demo's pipeline: ALS matrix factorisation with the template reasoner. On the sample shop it
# trains in seconds and scored test NDCG@10 0.126 (itemknn 0.078, pop 0.045), where SASRec, the
# run config's default, needs ~17 s per epoch on two busy cores and had 0.056 after 6 epochs.
DEMO_RECOMMENDER = "mf"
DEMO_MODELS = {"mf": {"factors": 32}}


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its store and artifact.")] = Path("runs/demo"),
    recommender: Annotated[str | None, typer.Option("--recommender", help=f"Recommender name [default: {DEMO_RECOMMENDER}].")] = None,
    users: Annotated[int, typer.Option("--users", help="How many users' recommendations to show.")] = 3,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Then serve the API and web page (until Ctrl-C).")] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to serve on (with --serve).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port to serve on (with --serve).")] = 8000,
    as_json: JsonFlag = False,
) -> None:
    """Ingest the bundled sample shop, train the demo pipeline, show a few users' recommendations, optionally serve.

    Re-running reuses the store and the artifact when they are already there. With --serve, writes
    need WHYREC_API_KEY, or the key generated and printed for this run.
    """
    from whyrec.artifact import Artifact
    from whyrec.config import RunConfig
    from whyrec.data.sample import generate_sample
    from whyrec.data.store import Store
    from whyrec.progress import progress

    run = RunConfig(recommender=DEMO_RECOMMENDER, models=DEMO_MODELS).overridden(recommender=recommender)
    store, artifact_dir = workdir / "store.sqlite", workdir / "artifact"
    if not store.exists():
        with progress(quiet=as_json) as bar:
            task = bar.add_task("generating and ingesting the sample shop", total=None)
            workdir.mkdir(parents=True, exist_ok=True)
            with Store(store) as db:
                db.write_dataset(generate_sample(seed=0))
            bar.update(task, completed=1, total=1)
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name=store.stem)
    artifact = Artifact.load(artifact_dir) if (artifact_dir / "artifact.json").exists() else None
    reused = artifact is not None and artifact.config.recommender == run.recommender
    if not reused:
        artifact = _train_with_progress(dataset, run, None, store, quiet=as_json)
        artifact.save(artifact_dir)
    titles = dict(zip(dataset.items["item"], dataset.items["title"], strict=True))
    shown = [artifact.recommend(raw, k=5) for raw in dataset.user_ids.raw[:users]]
    payload = {
        "store": str(store),
        "artifact": str(artifact_dir),
        "reused_artifact": reused,
        "recommender": artifact.recommender.name,
        "metrics": artifact.metrics,
        "recommendations": shown,
    }
    lines = [f"store {store}, artifact {artifact_dir} ({artifact.recommender.name}" + (", reused)" if reused else ")")]
    lines.append(f"test: {_ranking_line(artifact.metrics['ranking'])}")
    for rec in shown:
        lines.append(f"\n{rec['user']}:")
        for entry in rec["items"]:
            title = titles.get(dataset.item_ids.index(entry["item"]), "")
            lines.append(f"  {entry['item']}  {title}" + (f"  - {entry['reason']}" if entry["reason"] else ""))
    emit(payload, as_json, "\n".join(lines))
    if serve_after:
        import secrets

        settings = _serve_settings(None, None)
        if not settings.api_key:
            settings = settings.model_copy(update={"api_key": secrets.token_urlsafe(18)})
            typer.echo(f"whyrec: API key for writes, this run only: {settings.api_key}  (set WHYREC_API_KEY to choose one)", err=True)
        _run_server(artifact_dir, store, host, port, settings)



def _serve_settings(config: Path | None, keyed_reads: bool | None) -> Any:
    """ServeSettings from the config file's [serve] table, the key from WHYREC_API_KEY when set (it wins)."""
    import os
    import tomllib

    from pydantic import ValidationError

    from whyrec.errors import ConfigError
    from whyrec.serve.app import ServeSettings

    table: dict[str, Any] = {}
    if config is not None:
        try:
            table = tomllib.loads(config.read_text(encoding="utf-8")).get("serve", {})
        except FileNotFoundError as exc:
            raise ConfigError(f"{config}: config file not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config}: invalid TOML: {exc}") from exc
    if os.environ.get("WHYREC_API_KEY"):
        table["api_key"] = os.environ["WHYREC_API_KEY"]
    if keyed_reads is not None:
        table["keyed_reads"] = keyed_reads
    try:
        return ServeSettings.model_validate(table)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{config}: [serve] field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from exc


def _run_server(artifact: Path, store: Path, host: str, port: int, settings: Any) -> None:
    """Start uvicorn on the app; returns when the server stops (Ctrl-C)."""
    import uvicorn

    from whyrec.errors import ArtifactError
    from whyrec.serve.app import create_app

    if not (artifact / "artifact.json").exists():
        raise ArtifactError(f"{artifact}: not a whyrec artifact (artifact.json missing); create one with `whyrec train`")
    if not store.exists():
        raise ArtifactError(f"{store}: no store here (run `whyrec ingest ... --store {store}` first)")
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    typer.echo(f"whyrec: serving {artifact} over {store}", err=True)
    typer.echo(f"whyrec: web page http://{shown}:{port}/app   API docs http://{shown}:{port}/docs", err=True)
    if not settings.api_key:
        typer.echo("whyrec: no API key configured (WHYREC_API_KEY): every write is refused", err=True)
    # No access log: request paths carry user ids.
    uvicorn.run(create_app(artifact, store, settings), host=host, port=port, access_log=False, log_level="warning")


@app.command()
def serve(
    artifact: Annotated[Path, typer.Option("--artifact", help="Artifact folder from `whyrec train`.")],
    store: Annotated[Path, typer.Option("--store", help="SQLite store the artifact was trained from (events are added to it).")],
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file with a [serve] table (api_key, keyed_reads, max_body_bytes, max_k).")] = None,
    keyed_reads: Annotated[bool | None, typer.Option("--keyed-reads/--open-reads", help="Whether reads need the API key too [default: config, else open].")] = None,
) -> None:
    """Serve the HTTP API (/v1, docs at /docs) and the web page (/app). Writes need WHYREC_API_KEY as a Bearer token."""
    _run_server(artifact, store, host, port, _serve_settings(config, keyed_reads))


ab_app = typer.Typer(help="A/B experiments: report on logged exposures, replay logged data, simulate.", no_args_is_help=True)
app.add_typer(ab_app, name="ab")


def _ab_experiment(store_db: Any, name: str | None, config: Path | None) -> Any:
    """The experiment a command is about: the store's logged one by name, else the config's."""
    from whyrec.config import Experiment, RunConfig
    from whyrec.errors import ConfigError

    logged = store_db.experiments()
    if name is not None and name in logged:
        return Experiment.model_validate_json(logged[name])
    run = RunConfig.from_toml(config) if config else None
    if run is not None and run.experiment is not None and name in (None, run.experiment.name):
        return run.experiment
    if name is None and len(logged) == 1:
        return Experiment.model_validate_json(next(iter(logged.values())))
    raise ConfigError(
        f"no experiment {name or ''!r} in the store's logs ({', '.join(logged) or 'none'}) or in --config; "
        "name one with --experiment or give a run config with an [experiment] table"
    )


def _rate_line(r: dict[str, Any]) -> str:
    if r["rate"] is None:
        return "n/a"
    return f"{r['rate']:.4f} [{r['ci'][0]:.4f}, {r['ci'][1]:.4f}] ({r['count']}/{r['of']})"


@ab_app.command("report")
def ab_report(
    store: Annotated[Path, typer.Option("--store", help="SQLite store with logged exposures and events.")],
    experiment: Annotated[str | None, typer.Option("--experiment", help="Experiment name [default: the only one logged].")] = None,
    confidence: Annotated[float, typer.Option("--confidence", help="Confidence level of the intervals and the test.")] = 0.95,
    as_json: JsonFlag = False,
) -> None:
    """Click-through and conversion per arm (users as the unit) with intervals, the z-test and the uplift."""
    from whyrec.data.store import Store
    from whyrec.evaluate.ab import report

    with Store(store, create=False) as db:
        rep = report(db, experiment, confidence)
    lines = [f"experiment {rep['experiment']} (control {rep['control']}, window {rep['window_s']} s, {confidence:.0%} intervals)"]
    for arm, a in rep["arms"].items():
        imp = "n/a" if a["impression_ctr"] is None else f"{a['impression_ctr']:.4f}"
        lines.append(
            f"  {arm}: {a['users']} users, {a['impressions']} impressions (impression ctr {imp})\n"
            f"      ctr {_rate_line(a['ctr'])}   conversion {_rate_line(a['conversion'])}"
        )
    for arm, metrics in rep["vs_control"].items():
        for metric, c in metrics.items():
            uplift = "n/a" if c["uplift"] is None else f"{c['uplift']:+.1%}"
            ci = "" if c["uplift_ci"] is None else f" [{c['uplift_ci'][0]:+.1%}, {c['uplift_ci'][1]:+.1%}]"
            verdict = "significant" if c["significant"] else "not significant"
            lines.append(f"  {arm} vs {rep['control']} {metric}: uplift {uplift}{ci}, z {c['z']:.2f}, p {c['p_value']:.4f} ({verdict})")
    if rep["sample_ratio_p"] < 0.001:
        lines.append(f"  WARNING: users per arm do not match the configured shares (p {rep['sample_ratio_p']:.2g}); check the assignment")
    if rep["users_in_several_arms"]:
        lines.append(f"  {rep['users_in_several_arms']} users were logged in several arms and are left out")
    emit(rep, as_json, "\n".join(lines))


@ab_app.command("replay")
def ab_replay(
    store: Annotated[Path, typer.Option("--store", help="SQLite store with the logged events to replay.")],
    config: Annotated[Path | None, typer.Option("--config", help="Run config TOML with an [experiment] table (arms' models).")] = None,
    experiment: Annotated[str | None, typer.Option("--experiment", help="Experiment name (logged in the store or in --config).")] = None,
    k: Annotated[int, typer.Option("-k", help="How many items each arm shows.")] = 10,
    test_frac: Annotated[float, typer.Option("--test-frac", help="Latest share of events to replay; the rest fits the arms.")] = 0.2,
    max_targets: Annotated[int | None, typer.Option("--max-targets", help="Stop after this many replayed clicks/purchases.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Offline replay: each arm's top-k before every later click/purchase on a new item; a hit if it was there."""
    from whyrec.config import RunConfig
    from whyrec.data.store import Store
    from whyrec.errors import ConfigError
    from whyrec.evaluate.ab import replay
    from whyrec.progress import progress

    if k < 1:
        raise ConfigError(f"-k: must be at least 1, got {k}")
    run = RunConfig.from_toml(config) if config else RunConfig()
    with Store(store, create=False) as db:
        exp = _ab_experiment(db, experiment, config)
        dataset = db.read_dataset(name=store.stem)
    with progress(quiet=as_json) as bar:
        task = bar.add_task(f"replaying {exp.name} through {len(exp.arms)} arms", total=None)
        rep = replay(dataset, exp, run, k=k, test_frac=test_frac, max_targets=max_targets)
        bar.update(task, completed=1, total=1)
    lines = [f"replay of {exp.name}: {rep['targets']} clicks/purchases on new items, {rep['protocol']}, top-{k}"]
    for arm, a in rep["arms"].items():
        lines.append(f"  {arm} ({a['recommender']} + {a['reasoner']}): hit rate {_rate_line(a['hit_rate'])}")
    for arm, c in rep["vs_control"].items():
        verdict = "significant" if c["significant"] else "not significant"
        lines.append(f"  {arm} vs {rep['control']}: difference {c['difference']:+.4f}, p {c['p_value']:.4f} ({verdict})")
    lines.append(f"  assumes: {rep['assumptions']}")
    emit(rep, as_json, "\n".join(lines))


@ab_app.command("simulate")
def ab_simulate(
    store: Annotated[Path, typer.Option("--store", help="Store of a shop (a scratch copy: simulated users and events are added).")],
    config: Annotated[Path | None, typer.Option("--config", help="Run config TOML whose [experiment] is simulated [default: template vs prompt_lm].")] = None,
    users: Annotated[int, typer.Option("--users", help="Simulated shoppers, one response each.")] = 10_000,
    uplift: Annotated[float, typer.Option("--uplift", help="True relative uplift of every arm over the control (0 = an A/A test).")] = 0.2,
    base_ctr: Annotated[float, typer.Option("--base-ctr", help="Control arm's chance that a shopper clicks.")] = 0.1,
    purchase_rate: Annotated[float, typer.Option("--purchase-rate", help="Chance a click ends in a purchase.")] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Log a simulated experiment with a known uplift, so `whyrec ab report` can be checked against the truth."""
    from whyrec.config import RunConfig
    from whyrec.data.store import Store
    from whyrec.errors import ConfigError
    from whyrec.evaluate.ab import SIMULATED, simulate

    if users < 1:
        raise ConfigError(f"--users: must be at least 1, got {users}")
    exp = SIMULATED
    if config is not None:
        exp = RunConfig.from_toml(config).experiment
        if exp is None:
            raise ConfigError(f"{config}: no [experiment] table to simulate")
    with Store(store, create=False) as db:
        if exp.name in db.experiments():
            raise ConfigError(f"{store}: experiment {exp.name!r} is already logged here; simulate into a fresh copy of the shop")
        truth = simulate(db, experiment=exp, users=users, base_ctr=base_ctr, uplift=uplift, purchase_rate=purchase_rate, seed=seed)
    human = (
        f"simulated {exp.name}: {truth['users']} users, {truth['exposures']} exposures, {truth['events']} events; "
        f"true ctr {truth['true_ctr']}, true uplift {uplift:+.1%}\nnext: whyrec ab report --store {store} --experiment {exp.name}"
    )
    emit(truth, as_json, human)

def main() -> None:
    """Entry point: run the app, turning whyrec errors into one line and an exit code."""
    try:
        app(standalone_mode=False)
    except WhyrecError as exc:
        sys.stderr.write(f"whyrec: error: {exc}\n")
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's own usage errors come through here too
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        sys.stderr.write(f"whyrec: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
