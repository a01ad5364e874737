"""Attribution faithfulness: the deletion curve of each recommender's attributions. NOT a test.

    .venv/bin/python benchmarks/attribution.py --dataset beauty --models itemknn,mf,sasrec --users 300

For each sampled user, take the model's top recommended item and its score with the user's whole
history. Remove the k history items the attribution weighs highest (k = 1..5; every occurrence of
an item), re-score with the model's own `score_histories` (no retraining), and record the item's
score drop and its new rank among all items the user had not had. Do the same with k random
history items (averaged over several random orders). An attribution is faithful when its curve
falls faster than the random one. Users need more than 5 distinct history items.

Data: P5's Amazon Beauty (or ML-100k), items re-indexed at random, leave-last-out split as in
`benchmarks/ranking.py`; models are fitted on train (SASRec early-stops on valid, `--sasrec-epochs`
caps it), then observe the valid item, so the history is train + valid. Fitted models are cached
under `--cache` and reused. Also timed: `attribute()` for a user's top 10 items, as serving calls it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from whyrec.recommend.attribution import history_weights
from whyrec.recommend.base import Recommender

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ranking import DATASETS, DATASETS_DIR, REPO, reindex_items  # a sibling script, not a package

KS = (1, 2, 3, 4, 5)
TOP_N = 10  # "left the top 10": the share of users whose item would no longer be shown


def load_dataset(name: str, datasets_dir: Path, seed: int):  # (Dataset, Split)
    from whyrec.data.loaders import load
    from whyrec.data.split import leave_last_out

    fmt, paths = DATASETS[name]
    dataset = reindex_items(load(fmt, [datasets_dir / p for p in paths], name=name).dataset, np.random.default_rng(seed))
    return dataset, leave_last_out(dataset)


def fitted_model(name: str, dataset, split, args: argparse.Namespace) -> tuple[Recommender, dict]:
    """The model fitted on train with valid observed, from the cache when it is there."""
    from whyrec.recommend.registry import get_recommender_class

    folder = args.cache / f"{args.dataset}-{name}-seed{args.seed}"
    info_file = folder / "fit.json"
    if info_file.exists():
        return Recommender.load(folder), json.loads(info_file.read_text())
    options: dict = {"seed": args.seed}
    if name in ("mf", "lightgcn", "sasrec"):
        options["num_threads"] = 1
    if name == "sasrec":
        options.update(epochs=args.sasrec_epochs, eval_every=args.sasrec_eval_every)
    if name == "lightgcn":
        options.update(epochs=args.lightgcn_epochs, eval_every=args.sasrec_eval_every)
    model = get_recommender_class(name).from_options(options)
    model.on_epoch = lambda e, n, m: print(f"{time.strftime('%H:%M:%S')} {name} epoch {e}/{n} {m}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    model.fit(dataset, split)
    info: dict = {"fit_s": round(time.perf_counter() - started, 1)}
    log = getattr(model, "train_log", None)
    if log is not None:
        info.update(epochs_run=len(log.losses), best_epoch=log.best_epoch, best_val_ndcg10=max(log.valid.values(), default=None))
    model.on_epoch = None
    model.observe(dataset.interactions.iloc[np.sort(split.valid)])
    model.save(folder)
    info_file.write_text(json.dumps(info) + "\n")
    return model, info


def deletion_rows(
    model: Recommender, user: int, target: int, order: np.ndarray, ks: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(len(ks),) scores and ranks of `target` after removing the first k items of `order` from the user's history.

    Rank is among rankable items (not in the user's history, not cold); ties take their mean rank,
    because a deleted history can leave many items at one score (item-kNN: zero).
    """
    sequence = model.history(user)
    histories = [sequence[~np.isin(sequence, order[:k])] for k in ks]
    scores = model.score_histories(user, histories)  # (K, n_items)
    candidates = np.ones(model.n_items, dtype=bool)
    candidates[model.seen[user].indices] = False
    if not model.scores_cold_items:
        candidates &= model.popularity > 0
    target_scores = scores[:, target]
    pool = scores[:, candidates]
    above = (pool > target_scores[:, None]).sum(axis=1)
    tied = (pool == target_scores[:, None]).sum(axis=1) - 1  # other than the target itself
    ranks = 1 + above + tied / 2
    return target_scores, ranks


def run_model(model: Recommender, users: np.ndarray, methods: list[str], args: argparse.Namespace) -> dict:
    """Per method (and "random"): (users, K) score drops and ranks after deletion, plus the base ranks."""
    rng = np.random.default_rng(args.seed)
    out: dict[str, dict[str, list]] = {m: {"drop": [], "rank": []} for m in [*methods, "random"]}
    base_scores = []
    base_ranks, timings, lengths = [], [], []
    for user in users:
        [ranked] = model.recommend([user], k=TOP_N)
        target = int(ranked.items[0])
        base_score, base_rank = deletion_rows(model, user, target, np.empty(0, np.int64), (0,))
        base_ranks.append(float(base_rank[0]))
        base_scores.append(float(base_score[0]))
        history = np.unique(model.history(user))
        lengths.append(len(model.history(user)))
        for method in methods:
            started = time.perf_counter()
            _, items, weights = history_weights(model, user, ranked.items, method=method)  # all top-10 items, as serving would
            if method == methods[0]:
                timings.append(time.perf_counter() - started)
            order = items[np.lexsort((items, -weights[0]))]
            scores, ranks = deletion_rows(model, user, target, order, KS)
            out[method]["drop"].append(base_score[0] - scores)
            out[method]["rank"].append(ranks)
        drops, ranks = [], []
        for _ in range(args.random_repeats):
            scores, r = deletion_rows(model, user, target, rng.permutation(history), KS)
            drops.append(base_score[0] - scores)
            ranks.append(r)
        out["random"]["drop"].append(np.mean(drops, axis=0))
        out["random"]["rank"].append(np.mean(ranks, axis=0))
    curves = {}
    for method, rows in out.items():
        drop, rank = np.array(rows["drop"]), np.array(rows["rank"])  # (users, K)
        curves[method] = {
            "mean_score_drop": drop.mean(axis=0).tolist(),
            # Scores have no common scale across models: the drop as a share of the item's own score.
            "mean_relative_drop": (drop / np.abs(np.array(base_scores))[:, None]).mean(axis=0).tolist(),
            "mean_rank": rank.mean(axis=0).tolist(),
            "median_rank": np.median(rank, axis=0).tolist(),
            f"left_top{TOP_N}": (rank > TOP_N).mean(axis=0).tolist(),
        }
    return {
        "curves": curves,
        "base_rank_mean": float(np.mean(base_ranks)),
        "base_score_min": float(np.min(base_scores)),
        "history_mean": float(np.mean(lengths)),
        "attribute_ms_p50": 1000 * float(np.median(timings)),
        "attribute_ms_p95": 1000 * float(np.percentile(timings, 95)),
    }


def long_history_latency(model: Recommender, users: np.ndarray, method: str) -> dict:
    """attribute-style timing for the users with the longest histories the model reads (serving's worst case)."""
    lengths = np.array([len(model.history(u)) for u in users])
    longest = users[np.argsort(-lengths, kind="stable")[:20]]
    times = []
    for user in longest:
        [ranked] = model.recommend([user], k=TOP_N)
        started = time.perf_counter()
        history_weights(model, user, ranked.items, method=method)
        times.append(time.perf_counter() - started)
    return {
        "history_mean": float(np.mean([len(model.history(u)) for u in longest])),
        "ms_p50": 1000 * float(np.median(times)),
        "ms_max": 1000 * float(np.max(times)),
    }


def table(results: dict) -> str:
    """One markdown row per (model, method, k)."""
    head = (
        f"| model | attribution | k | mean score drop | relative drop | mean rank after | median rank after | left top {TOP_N} |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for model, r in results.items():
        for method, c in r["curves"].items():
            for j, k in enumerate(KS):
                lines.append(
                    f"| {model} | {method} | {k} | {c['mean_score_drop'][j]:.4f} | {c['mean_relative_drop'][j]:.3f} | {c['mean_rank'][j]:.1f} | "
                    f"{c['median_rank'][j]:.1f} | {c[f'left_top{TOP_N}'][j]:.2f} |"
                )
    return "\n".join(lines)


def plot(results: dict, path: Path, title: str) -> None:
    """Relative score drop, mean rank (log) and share of users whose item left the top 10, against k."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig = Figure(figsize=(15, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    colours = ("#1f6fb2", "#e9a23b", "#2a9d8f", "#d1495b", "#8e5ea2")
    styles = ("-", "-.", ":")
    panels = (
        ("mean_relative_drop", "score drop / the item's score"),
        ("mean_rank", "mean rank of the item (log)"),
        (f"left_top{TOP_N}", f"share of users: item left the top {TOP_N}"),
    )
    for colour, (model, r) in zip(colours, results.items(), strict=False):
        methods = [m for m in r["curves"] if m != "random"]
        for method, c in r["curves"].items():
            style = "--" if method == "random" else styles[methods.index(method) % len(styles)]
            marker = "x" if method == "random" else "o"
            for ax, (key, _) in zip(axes, panels, strict=True):
                ax.plot(KS, c[key], style, marker=marker, color=colour, label=f"{model}: {method}")
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set(xlabel="history items removed (k): attributed first, or at random (dashed)", ylabel=label, xticks=KS)
        ax.xaxis.label.set_fontsize(8)
    axes[1].set_yscale("log")
    axes[1].yaxis.set_major_formatter(ScalarFormatter())
    axes[1].yaxis.set_minor_formatter(NullFormatter())
    axes[2].set_ylim(0, 1)
    axes[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110)


def report(results: dict, fits: dict, dataset: str, path: Path) -> None:
    """Print the table and the per-model summary lines; draw the curves."""
    print(table(results))
    print()
    for name, r in results.items():
        lat = r["latency_long"]
        print(
            f"{name}: fit {fits[name]}; {r['users']} users, mean history {r['history_mean']:.1f}, top item's base rank {r['base_rank_mean']:.2f}; "
            f"attribute (10 items) p50 {r['attribute_ms_p50']:.1f} ms, p95 {r['attribute_ms_p95']:.1f} ms; "
            f"20 longest histories (mean {lat['history_mean']:.0f} items): p50 {lat['ms_p50']:.1f} ms, max {lat['ms_max']:.1f} ms"
        )
    sizes = ", ".join(f"{m}: {r['users']} users" for m, r in results.items())
    plot(results, path, f"Deletion curves on {dataset} ({sizes})")
    print(f"plot: {path}")


def main() -> None:
    from whyrec.recommend.registry import get_recommender_class

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="beauty", choices=sorted(DATASETS))
    parser.add_argument("--models", default="itemknn,mf,sasrec", help="comma list of registered recommenders")
    parser.add_argument("--users", type=int, default=300, help="users sampled among those with > 5 distinct history items")
    parser.add_argument("--random-repeats", type=int, default=5, help="random deletion orders averaged per user")
    parser.add_argument("--sasrec-epochs", type=int, default=12, help="SASRec training cap (it early-stops on valid)")
    parser.add_argument("--lightgcn-epochs", type=int, default=30)
    parser.add_argument("--sasrec-eval-every", type=int, default=3, help="validate torch models every this many epochs")
    parser.add_argument("--all-methods", action="store_true", help="also the non-default methods (lime, attention)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets-dir", type=Path, default=DATASETS_DIR)
    parser.add_argument("--cache", type=Path, default=REPO / "runs" / "attribution", help="fitted models are kept here")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "attribution_deletion.png")
    parser.add_argument("--out", type=Path, default=None, help="write the curves as JSON")
    parser.add_argument(
        "--from", dest="saved", type=Path, default=None, help="print and plot an --out JSON again, running nothing"
    )
    args = parser.parse_args()

    if args.saved is not None:
        saved = json.loads(args.saved.read_text())
        report(saved["results"], saved["fits"], saved["dataset"], args.plot)
        return
    dataset, split = load_dataset(args.dataset, args.datasets_dir, args.seed)
    results, fits = {}, {}
    for name in args.models.split(","):
        methods = list(get_recommender_class(name).attribution_methods)
        model, fits[name] = fitted_model(name, dataset, split, args)
        eligible = np.array([u for u in range(model.n_users) if len(np.unique(model.history(u))) > max(KS)])
        users = np.sort(np.random.default_rng(args.seed).choice(eligible, size=min(args.users, len(eligible)), replace=False))
        started = time.perf_counter()
        results[name] = run_model(model, users, methods if args.all_methods else methods[:1], args)
        results[name]["latency_long"] = long_history_latency(model, eligible, methods[0])
        results[name]["users"] = len(users)
        print(
            f"{time.strftime('%H:%M:%S')} {name}: {len(users)} users in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    report(results, fits, args.dataset, args.plot)
    if args.out is not None:
        args.out.write_text(
            json.dumps({"dataset": args.dataset, "seed": args.seed, "fits": fits, "results": results}, indent=2) + "\n"
        )


if __name__ == "__main__":
    main()
