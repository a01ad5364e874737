"""`whyrec ingest`, `stats` and `split`: getting a shop's data into the store and dividing it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from whyrec.cli.common import JsonFlag, app, emit

STATS_REVIEW_SAMPLE = 2000  # reviews read for top aspects: enough for a stable top list, bounded so stats stay fast

STATS_TOP_ASPECTS = 10


@app.command()
def ingest(
    fmt: Annotated[str, typer.Option("--format", help="amazon|movielens|p5|xrec|peter|table|sample")],
    store: Annotated[Path, typer.Option("--store", help="SQLite store to add to; created if missing.")],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Input files or folders (none with --format sample).", show_default=False, metavar="[PATHS]..."),
    ] = None,
    meta: Annotated[list[Path] | None, typer.Option("--meta", help="Item metadata file (repeatable).")] = None,
    mapping: Annotated[Path | None, typer.Option("--mapping", help="Column mapping TOML for --format table.")] = None,
    on_error: Annotated[
        str, typer.Option("--on-error", help="raise: stop at the first bad row; skip: set it aside in the rejects file.")
    ] = "raise",
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Rejects file for --on-error skip [default: <store>.rejects.jsonl].")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated shop (--format sample only).")] = 0,
    pseudonymize: Annotated[
        bool,
        typer.Option(
            "--pseudonymize",
            help="Store keyed HMAC-SHA256 pseudonyms instead of user ids (key: $WHYREC_ID_KEY or --id-key-file; never stored).",
        ),
    ] = False,
    id_key_file: Annotated[
        Path | None, typer.Option("--id-key-file", help="File holding the pseudonymisation key (at least 16 bytes).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Load files (or the bundled sample shop) into the store; re-ingesting the same rows adds nothing.

    PATHS are the input files or folders (none with --format sample). A folder stands for the files in it;
    with --format amazon, files named meta_* there are read as item metadata (titles, categories, prices).
    """
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
    from whyrec.data.privacy import check_id_mode
    from whyrec.data.privacy import pseudonymize as pseudonymized

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

    sizes = {
        "users": len(dataset.user_ids),
        "items": len(dataset.item_ids),
        "interactions": len(dataset.interactions),
        "reviews": len(dataset.reviews),
        "queries": len(dataset.queries),
    }
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
        f"{counts['reviews']} reviews; new: "
        + ", ".join(f"{v} {k}" for k, v in added.items())
        + (
            "; already in the store (same key, not added twice): " + ", ".join(f"{v} {k}" for k, v in already.items())
            if already
            else ""
        )
    )
    emit(payload, as_json, human)


@app.command()
def stats(
    store: Annotated[Path, typer.Option("--store", help="SQLite store to describe.")],
    dp_epsilon: Annotated[
        float | None,
        typer.Option(
            "--dp-epsilon", help="Release only category popularity and event-type counts, epsilon-differentially private."
        ),
    ] = None,
    dp_clip: Annotated[int, typer.Option("--dp-clip", help="Most events one user adds to a category or event type.")] = 1,
    dp_max_categories: Annotated[int, typer.Option("--dp-max-categories", help="Most categories one user adds to.")] = 3,
    dp_seed: Annotated[
        int | None, typer.Option("--dp-seed", help="Seed of the noise, for reproducible tests; keep it secret [default: fresh].")
    ] = None,
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
    table: Annotated[
        str | None, typer.Option("--table", help="reviews|interactions, for ratio [default: reviews if any].")
    ] = None,
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


@app.command()
def export(
    store: Annotated[Path, typer.Option("--store", help="SQLite store to export.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the Parquet tables (replaced when complete).")],
    as_json: JsonFlag = False,
) -> None:
    """Write the store's interactions, reviews and catalog as Parquet (raw ids), the input of `whyrec spark`."""
    from whyrec.data.parquet import export_parquet
    from whyrec.data.store import Store

    with Store(store, create=False) as db:
        dataset = db.read_dataset(name=store.stem)
    rows = export_parquet(dataset, out)
    payload = {"out": str(out), **rows, "users": dataset.n_users, "items": dataset.n_items}
    human = f"{rows['interactions']} interactions, {rows['reviews']} reviews, {rows['catalog']} catalog rows -> {out}"
    emit(payload, as_json, human)
