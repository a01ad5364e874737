"""Ranking benchmark: every registered recommender on P5's sequential sets and MovieLens-100k. NOT a test.

    .venv/bin/python benchmarks/ranking.py --datasets beauty,ml-100k --models pop,itemknn,mf --out ranking.json
    .venv/bin/python benchmarks/ranking.py --datasets beauty --models sasrec --config run.toml --out ranking.json
    .venv/bin/python benchmarks/ranking.py --table-only --out ranking.json   # the table of every run so far
    .venv/bin/python benchmarks/ranking.py --max-users 500            # quick end-to-end run of everything

Runs merge into an existing --out file (a rerun of a (dataset, model) replaces it), so the
matrix can be filled by several invocations with different --config epoch caps.

Protocol (P5's, SASRec's): leave-last-out per user (test = last item, valid = the one before,
train = the rest); the model is fitted on train, then observes valid; the test item is ranked
against ALL items, the user's history (train + valid) excluded - no sampled negatives.
Test items the user already had (Yelp has repeats) stay candidates, as in SASRec's and P5's
evaluation code, so the figures are comparable with theirs; the count is printed.
Items are RE-INDEXED in a seeded random order first: P5 numbers items in order of first
appearance, which leaks sequence order into ids (Hua et al., SIGIR-AP 2023) and, here, into
tie-breaking by lower id.
Each (dataset, model) runs in its own subprocess, so "peak MiB" is that run's own peak RSS
(load + fit + evaluate). Published rows are quoted from the papers named beside them, under
the same full-ranking leave-one-out protocol on the same P5 files.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from whyrec.data.schema import Dataset, IdMap

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = REPO.parent / "shared" / "datasets"

# name -> (loader format, paths relative to the datasets folder)
DATASETS: dict[str, tuple[str, list[str]]] = {
    **{name: ("p5", [f"p5-sequential/{name}"]) for name in ("beauty", "sports", "toys", "yelp")},
    "ml-100k": ("movielens", ["movielens-100k"]),
}

_P5 = "P5 (Geng et al., RecSys 2022), Table 3"
_TIGER = "TIGER (Rajput et al., NeurIPS 2023), Table 1"
_INDEX = "Hua et al., How to Index Item IDs (SIGIR-AP 2023), Table 2"
# (dataset, model) -> (HR@5, NDCG@5, HR@10, NDCG@10, source). TIGER's Recall@k equals HR@k
# here (one held-out item). P5's own rows used P5's first-appearance item ids (see above);
# "P5, random ids" is P5 retrained by Hua et al. with randomly assigned ids, as this benchmark does.
# The SASRec, BERT4Rec and S3-Rec rows are the same figures in P5 Table 3, TIGER Table 1 and Hua
# et al. Table 2 (the latter two quote P5's baselines); they are the best published SASRec figures
# on these exact files found.
# No full-ranking leave-one-out figure on these exact ML-100k files could be verified: none listed.
PUBLISHED: dict[tuple[str, str], tuple[float, float, float, float, str]] = {
    ("sports", "BERT4Rec"): (0.0115, 0.0075, 0.0191, 0.0099, _P5),
    ("sports", "SASRec"): (0.0233, 0.0154, 0.0350, 0.0192, _P5),
    ("sports", "S3-Rec"): (0.0251, 0.0161, 0.0385, 0.0204, _P5),
    ("sports", "P5-B (prompt 2-3)"): (0.0364, 0.0296, 0.0431, 0.0318, _P5),
    ("sports", "TIGER"): (0.0264, 0.0181, 0.0400, 0.0225, _TIGER),
    ("sports", "P5, random ids"): (0.0208, 0.0122, 0.0288, 0.0153, _INDEX),
    ("beauty", "BERT4Rec"): (0.0203, 0.0124, 0.0347, 0.0170, _P5),
    ("beauty", "SASRec"): (0.0387, 0.0249, 0.0605, 0.0318, _P5),
    ("beauty", "S3-Rec"): (0.0387, 0.0244, 0.0647, 0.0327, _P5),
    ("beauty", "P5-B (prompt 2-3)"): (0.0508, 0.0379, 0.0664, 0.0429, _P5),
    ("beauty", "TIGER"): (0.0454, 0.0321, 0.0648, 0.0384, _TIGER),
    ("beauty", "P5, random ids"): (0.0213, 0.0178, 0.0479, 0.0277, _INDEX),
    ("toys", "BERT4Rec"): (0.0116, 0.0071, 0.0203, 0.0099, _P5),
    ("toys", "SASRec"): (0.0463, 0.0306, 0.0675, 0.0374, _P5),
    ("toys", "S3-Rec"): (0.0443, 0.0294, 0.0700, 0.0376, _P5),
    ("toys", "P5-B (prompt 2-3)"): (0.0608, 0.0507, 0.0688, 0.0534, _P5),
    ("toys", "TIGER"): (0.0521, 0.0371, 0.0712, 0.0432, _TIGER),
    ("yelp", "SASRec"): (0.0170, 0.0110, 0.0284, 0.0147, _INDEX),
    ("yelp", "S3-Rec"): (0.0201, 0.0123, 0.0341, 0.0168, _INDEX),
    ("yelp", "P5, random ids"): (0.0225, 0.0159, 0.0329, 0.0193, _INDEX),
}
NEEDS_TEXT = {"content"}  # models that rank by catalog text; P5's files carry none
COLUMNS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "mrr", "coverage@10")


def subsample_users(dataset: Dataset, n: int, rng: np.random.Generator) -> Dataset:
    """The interactions of `n` random users only, with dense ids rebuilt (a quick run's smaller shop)."""
    if n >= dataset.n_users:
        return dataset
    keep = np.sort(rng.choice(dataset.n_users, size=n, replace=False))
    inter = dataset.interactions[dataset.interactions["user"].isin(keep)].copy()
    items = np.unique(inter["item"].to_numpy())
    inter["user"] = np.searchsorted(keep, inter["user"].to_numpy())
    inter["item"] = np.searchsorted(items, inter["item"].to_numpy())
    return Dataset(
        inter,
        IdMap(tuple(dataset.user_ids.raw[u] for u in keep)),
        IdMap(tuple(dataset.item_ids.raw[i] for i in items)),
        name=dataset.name,
    )


def reindex_items(dataset: Dataset, rng: np.random.Generator) -> Dataset:
    """The same shop with item ids assigned in a random order (old item i becomes perm[i])."""
    perm = rng.permutation(dataset.n_items)
    raw = [""] * dataset.n_items
    for old, new in enumerate(perm):
        raw[new] = dataset.item_ids.raw[old]

    def remap(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(item=perm[frame["item"].to_numpy()]) if len(frame) else frame

    return Dataset(
        remap(dataset.interactions),
        dataset.user_ids,
        IdMap(tuple(raw)),
        reviews=remap(dataset.reviews),
        items=remap(dataset.items),
        name=dataset.name,
    )


def run_one(
    dataset_name: str, model_name: str, datasets_dir: Path, max_users: int | None, seed: int, config: Path | None
) -> dict:
    """Load, re-index, split, fit, evaluate one model on one dataset; the worker subprocess's job."""
    from whyrec.config import RunConfig
    from whyrec.data.loaders import load
    from whyrec.data.split import leave_last_out
    from whyrec.evaluate.protocol import evaluate_ranking
    from whyrec.recommend.content import item_texts
    from whyrec.recommend.registry import get_recommender_class
    from whyrec.recommend.training import TorchRecommender

    fmt, paths = DATASETS[dataset_name]
    started = time.perf_counter()
    dataset = load(fmt, [datasets_dir / p for p in paths], name=dataset_name).dataset
    rng = np.random.default_rng(seed)
    if max_users is not None:
        dataset = subsample_users(dataset, max_users, rng)
    dataset = reindex_items(dataset, rng)
    split = leave_last_out(dataset)
    load_s = time.perf_counter() - started
    if model_name in NEEDS_TEXT and not any(item_texts(dataset)):
        # Every item would score alike: ranking ties, reported as 0 - say so rather than spend the evaluation.
        return {"dataset": dataset_name, "model": model_name, "skipped": "no item text in this dataset"}
    run = (RunConfig.from_toml(config) if config else RunConfig()).overridden(seed=seed)
    model = get_recommender_class(model_name)(run.config_for(model_name))
    if isinstance(model, TorchRecommender):  # their loop validates anyway; MF would add probe scoring to its fit time
        model.on_epoch = _log_epoch(f"{dataset_name}/{model_name}")
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(dataset, split)
    fit_s = time.perf_counter() - started
    fit_cpu_s = time.process_time() - cpu_started  # all threads; on a busy machine wall time overstates the work
    log = getattr(model, "train_log", None)  # torch models: what the epoch loop did
    training = (
        {}
        if log is None
        else {
            "epochs_run": len(log.losses),
            "best_epoch": log.best_epoch,
            "best_val_ndcg@10": max(log.valid.values(), default=None),
            "s_per_epoch": round(log.seconds / max(len(log.losses), 1), 2),
        }
    )
    untouched = copy.deepcopy(model)  # evaluation observes the validation rows; a second one needs a fresh copy
    started = time.perf_counter()
    metrics = evaluate_ranking(model, dataset, split, ks=(5, 10), repeats="candidate")
    eval_s = time.perf_counter() - started
    # Where some test items are repeats, also the figures on the other users (what `whyrec evaluate` reports).
    new_only = {}
    if metrics["repeat_targets"]:
        new_only = {"metrics_new_items": evaluate_ranking(untouched, dataset, split, ks=(5, 10), repeats="drop")}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return {
        "dataset": dataset_name,
        "model": model_name,
        "config": model.config.model_dump(),
        "users": dataset.n_users,
        "items": dataset.n_items,
        "interactions": len(dataset.interactions),
        "catalog_items": int(dataset.items["item"].nunique()),  # items with a catalog row (text, metadata)
        "metrics": metrics,
        **training,
        "load_s": round(load_s, 2),
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "eval_s": round(eval_s, 2),
        "peak_mib": round(peak_mib, 1),
        **new_only,
    }


def _log_epoch(label: str) -> Callable[[int, int, dict[str, float]], None]:
    """An `on_epoch` hook writing one timestamped line per epoch to stderr, so long runs can be watched."""

    def hook(epoch: int, total: int, metrics: dict[str, float]) -> None:
        shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"{time.strftime('%H:%M:%S')} {label} epoch {epoch}/{total} {shown}", file=sys.stderr, flush=True)

    return hook


def run_isolated(dataset: str, model: str, args: argparse.Namespace) -> dict:
    """run_one in a fresh interpreter, so peak memory and imports belong to this run alone.

    The worker's stderr (per-epoch lines) is passed through as it comes; its last line names a failure.
    """
    cmd = [sys.executable, __file__, "--worker", "--datasets", dataset, "--models", model, "--seed", str(args.seed)]
    cmd += ["--datasets-dir", str(args.datasets_dir)]
    if args.max_users is not None:
        cmd += ["--max-users", str(args.max_users)]
    if args.config is not None:
        cmd += ["--config", str(args.config)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(args.timeout, proc.kill)
    timer.start()
    last = "(no output)"
    try:
        for line in proc.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            last = line.strip() or last
        out = proc.stdout.read()
        proc.wait()
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
    if proc.returncode != 0:
        error = f"timed out after {args.timeout} s" if timed_out else f"exit {proc.returncode}: {last}"
        return {"dataset": dataset, "model": model, "error": error}
    return json.loads(out.strip().splitlines()[-1])


def merge_runs(old: list[dict], new: list[dict]) -> list[dict]:
    """`old` runs with each (dataset, model) that `new` ran again replaced, new ones appended."""
    key = {(r["dataset"], r["model"]): r for r in old}
    key.update({(r["dataset"], r["model"]): r for r in new})
    return list(key.values())


def write_out(path: Path, seed: int, max_users: int | None, runs: list[dict]) -> None:
    """The runs so far and the published rows as JSON (rewritten after every run, so a stopped run keeps its results)."""
    published = [
        {"dataset": d, "model": m, **dict(zip(("hr@5", "ndcg@5", "hr@10", "ndcg@10"), v, strict=True)), "source": s}
        for (d, m), (*v, s) in PUBLISHED.items()
    ]
    payload = {"seed": seed, "max_users": max_users, "runs": runs, "published": published}
    path.write_text(json.dumps(payload, indent=2) + "\n")


def table(results: list[dict], datasets: list[str]) -> str:
    """One markdown table: our runs (and, where test items repeat, the new-item-only figures), then the published rows."""
    head = (
        "| dataset | model | HR@5 | NDCG@5 | HR@10 | NDCG@10 | MRR | Cov@10 | fit s | fit CPU s | epochs (best) "
        "| eval s | peak MiB | source |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    blank = " |" * 12
    for name in datasets:
        for r in (r for r in results if r["dataset"] == name):
            if "error" in r or "skipped" in r:
                why = f"failed: {r['error']}" if "error" in r else f"not run: {r['skipped']}"
                lines.append(f"| {name} | {r['model']} | {why} |" + blank[:-2])
                continue
            epochs = f"{r['epochs_run']} ({r['best_epoch']})" if "epochs_run" in r else ""
            cpu = f"{r['fit_cpu_s']:.1f}" if "fit_cpu_s" in r else ""
            lines.append(
                f"| {name} | {r['model']} | "
                + " | ".join(f"{r['metrics'][c]:.4f}" for c in COLUMNS)
                + f" | {r['fit_s']:.1f} | {cpu} | {epochs} | {r['eval_s']:.1f} | {r['peak_mib']:.0f} | this run ({r['users']} users) |"
            )
            if "metrics_new_items" in r:
                m = r["metrics_new_items"]
                lines.append(
                    f"| {name} | {r['model']}, new items only | "
                    + " | ".join(f"{m[c]:.4f}" for c in COLUMNS)
                    + f" | | | | | | this run ({m['users']} users; {r['metrics']['repeat_targets']} repeat targets dropped) |"
                )
        for (d, model), (*values, source) in PUBLISHED.items():
            if d == name:
                lines.append(f"| {name} | *{model}* | " + " | ".join(f"{v:.4f}" for v in values) + " |" * 8 + f" {source} |")
    return "\n".join(lines)


def main() -> None:
    from whyrec.recommend.registry import RECOMMENDERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument("--models", default=",".join(RECOMMENDERS), help="comma list of registered recommenders [all]")
    parser.add_argument("--max-users", type=int, default=None, help="keep this many random users per dataset (quick run)")
    parser.add_argument("--seed", type=int, default=0, help="seeds user sampling, item re-indexing and the models")
    parser.add_argument("--config", type=Path, default=None, help="run config TOML whose models.<name> override defaults")
    parser.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per (dataset, model) run")
    parser.add_argument("--out", type=Path, default=None, help="write all runs and the published rows as JSON")
    parser.add_argument("--table-only", action="store_true", help="print the table of the runs in --out; run nothing")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    models = args.models.split(",")
    unknown = [d for d in datasets if d not in DATASETS] + [m for m in models if m not in RECOMMENDERS]
    if unknown:
        parser.error(f"unknown dataset or model: {', '.join(unknown)}")

    if args.worker:  # one (dataset, model) pair, result as one JSON line on stdout
        print(json.dumps(run_one(datasets[0], models[0], args.datasets_dir, args.max_users, args.seed, args.config)))
        return

    # With --out, earlier runs in that file are kept (a run of the same (dataset, model) replaces its
    # old result), so the matrix can be filled in several invocations with different --config.
    earlier: list[dict] = []
    if args.out and args.out.exists():
        previous = json.loads(args.out.read_text())
        if (previous["seed"], previous["max_users"]) != (args.seed, args.max_users):
            parser.error(f"{args.out} holds runs with another --seed or --max-users; use another --out")
        earlier = previous["runs"]
    results: list[dict] = []
    if args.table_only:
        if not earlier:
            parser.error("--table-only needs an existing --out file")
        datasets, models = [], []
    for name in datasets:
        for model in models:
            result = run_isolated(name, model, args)
            results.append(result)
            done = (
                result.get("error")
                or result.get("skipped")
                or f"ndcg@10 {result['metrics']['ndcg@10']:.4f}, fit {result['fit_s']} s"
            )
            print(f"{name} / {model}: {done}", file=sys.stderr, flush=True)
            if args.out:
                write_out(args.out, args.seed, args.max_users, merge_runs(earlier, results))
    runs = merge_runs(earlier, results)
    shown = [d for d in DATASETS if any(r["dataset"] == d for r in runs)]
    print(
        f"Leave-last-out, full ranking over all items, history excluded, repeat targets kept as candidates; "
        f"items re-indexed at random (seed {args.seed}) because P5 numbers items in order of first appearance"
        + (f"; {args.max_users} random users per dataset" if args.max_users else "")
        + ".\n"
    )
    print(table(runs, shown))
    repeats = {r["dataset"]: r["metrics"]["repeat_targets"] for r in runs if "metrics" in r}
    print("\nrepeat test targets (already in the user's history): " + ", ".join(f"{d} {n}" for d, n in repeats.items()))


if __name__ == "__main__":
    main()
