"""Explanation benchmark: every reasoner side by side, on the same splits, scored by the same metric code.

Amazon 2018 sets with review text (Gift Cards, Magazine Subscriptions, All Beauty): targets built
by our aspect extractor as PETER/PEPLER build theirs with Sentires (the most opinionated sentence
of each review and its feature), a seeded 8:1:1 split of the reviews, results averaged over seeds.

XRec test records (amazon, google, yelp): ours train on a seeded two-thirds of `tst.jsonl` (a tenth
of it held out for early stopping) and are scored on the remaining third against the whole
GPT-written explanation; XRec's own published outputs (`tst_pred_ref.jsonl`) are scored on the same
third with the same code.

    .venv/bin/python benchmarks/explain.py --reasoners template,peter --datasets gift-cards,magazine --seeds 1
    .venv/bin/python benchmarks/explain.py --datasets xrec-amazon --reasoners template --seeds 1 --no-embed
    .venv/bin/python benchmarks/explain.py --option peter.epochs=20 --option peter.emsize=256 ...
    .venv/bin/python benchmarks/explain.py --reasoners prompt_lm,pepler --option prompt_lm.bf16=true --out lm.json
    .venv/bin/python benchmarks/explain.py --tables peter.json lm.json   # one table from runs made apart

Prints a Markdown table (and writes all numbers as JSON with --out, rewritten after every run so
an interrupted benchmark keeps what it finished). Not a test: it reads whole datasets and trains models.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = REPO.parent / "shared" / "datasets"

# name -> (loader format, data file, metadata file or None), paths under ../shared/datasets
DATASETS: dict[str, tuple[str, str, str | None]] = {
    "gift-cards": ("amazon", "amazon2018-gift-cards/Gift_Cards_5.json.gz", "amazon2018-gift-cards/meta_Gift_Cards.json.gz"),
    "magazine": (
        "amazon",
        "amazon2018-magazine-subscriptions/Magazine_Subscriptions_5.json.gz",
        "amazon2018-magazine-subscriptions/meta_Magazine_Subscriptions.json.gz",
    ),
    "all-beauty": ("amazon", "amazon2018-all-beauty-5core/All_Beauty_5.json.gz", None),
    "xrec-amazon": ("xrec", "xrec/amazon/tst.jsonl", None),
    "xrec-google": ("xrec", "xrec/google/tst.jsonl", None),
    "xrec-yelp": ("xrec", "xrec/yelp/tst.jsonl", None),
}

# Per-reasoner options for XRec's paragraph-long explanations (the whole text is the target).
_XREC_LM = {"max_explanation_words": 60, "max_new_tokens": 90}  # ~75 tokens of a 60-word paragraph
XREC_OPTIONS: dict[str, dict[str, Any]] = {
    "peter": {"target": "review", "max_words": 60},
    "peter+": {"target": "review", "max_words": 60},
    "prompt_lm": _XREC_LM,
    "prompt_lm-full": _XREC_LM,
    "prompt_lm-review": _XREC_LM,
    "pepler": _XREC_LM,
}

# prompt_lm as the research protocol trains and decodes it: PEPLER's raw review sentences, one greedy reply.
_REVIEW_TARGETS = {"targets": "review", "constrained": False, "candidates": 1}

# Named variants of a registered reasoner, run side by side like reasoners: name -> (registry name, options).
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "peter+": ("peter", {"use_feature": True}),  # PETER+: the feature as a hint token
    "prompt_lm-zero-shot": ("prompt_lm", {"mode": "zero_shot"}),  # profile prompt, no training
    "prompt_lm-full": ("prompt_lm", {"train_lm": "full", "lr_lm": 3e-5}),  # full fine-tuning instead of LoRA
    "prompt_lm-review": ("prompt_lm", _REVIEW_TARGETS),  # the shown default's model on the research protocol's targets
    "pepler": (  # PEPLER as published
        "prompt_lm",
        {"aspect_hint": False, "title_words": 0, "train_lm": "full", "lr_lm": 3e-5, **_REVIEW_TARGETS},
    ),
}

# Published figures, for context only: TripAdvisor (PETER/PEPLER repos' logged split-1 runs),
# a different dataset with Sentires targets; not comparable number for number.
PUBLISHED = (
    (
        "PETER+ (feature hint)",
        {
            "bleu4": 4.47,
            "usr": 0.1668,
            "fmr": 0.8861,
            "fcr": 0.3162,
            "div": 1.70,
            "rougeL_f": 22.89,
            "rmse": 0.8132,
            "mae": 0.6307,
        },
    ),
    ("PETER", {"bleu4": 1.12, "usr": 0.0607, "rougeL_f": 13.15, "rmse": 0.8106}),
    ("PEPLER (continuous prompt)", {"bleu4": 1.02, "usr": 0.2025, "rougeL_f": 12.83}),
)

COLUMNS = (
    ("bleu1", "BLEU-1", 2), ("bleu4", "BLEU-4", 2), ("rouge1_f", "R-1 F", 2), ("rouge2_f", "R-2 F", 2),
    ("rougeL_f", "R-L F", 2), ("usr", "USR", 4), ("fmr", "FMR", 4), ("fcr", "FCR", 4), ("div", "DIV", 2),
    ("distinct2", "dist-2", 4), ("embedding_sim", "emb-sim", 4), ("grounding", "grounded", 4),
    ("safety_flag_rate", "unsafe", 4), ("replaced", "replaced", 4), ("usr_all", "USR all pairs", 4), ("rmse", "RMSE", 4), ("mae", "MAE", 4), ("reasons_per_s", "reasons/s", 0),
    ("train_s", "train s", 1), ("n", "n", 0),
)  # fmt: skip


def load_dataset(name: str):
    """The named dataset, read with whyrec's own loaders (bad rows skipped, as a shop import would)."""
    from whyrec.data.loaders import load

    fmt, data, meta = DATASETS[name]
    result = load(fmt, [DATASETS_DIR / data], meta=[DATASETS_DIR / meta] if meta else None, on_error="skip", name=name)
    return result.dataset


def amazon_split(dataset, seed: int, max_train: int | None, repeats: bool = False):
    """PETER's seeded 8:1:1 split of the reviews; with max_train, a seeded subset of the training part.

    Without `repeats` only each author's first copy of a text is split (`distinct_reviews`): Amazon
    files one review under every variant of an item, and a copy in training is the test answer.
    """
    from whyrec.data.split import Split, distinct_reviews, ratio

    split = ratio(dataset, seed, table="reviews", rows=None if repeats else distinct_reviews(dataset))
    if max_train is None or len(split.train) <= max_train:
        return split
    kept = np.sort(np.random.default_rng(seed).choice(split.train, max_train, replace=False))
    return Split(split.protocol, seed, kept, split.valid, split.test, table="reviews")


def xrec_split(dataset, seed: int, max_train: int | None):
    """A seeded two-thirds of the records to learn from (a tenth of it for validation), the last third to score."""
    from whyrec.data.split import Split

    order = np.random.default_rng(seed).permutation(len(dataset.reviews))
    learn, test = order[: 2 * len(order) // 3], order[2 * len(order) // 3 :]
    n_valid = len(learn) // 10
    train, valid = learn[n_valid:], learn[:n_valid]
    if max_train is not None:
        train = train[:max_train]
    return Split("xrec-two-thirds", seed, np.sort(train), np.sort(valid), np.sort(test), table="reviews")


def xrec_predictions(name: str, dataset, split):
    """XRec's published (reference, generated) pairs for the split's test records, as test-row records."""
    import pandas as pd

    from whyrec.data.loaders import load_xrec_predictions

    preds = load_xrec_predictions(DATASETS_DIR / Path(DATASETS[name][1]).parent / "tst_pred_ref.jsonl").dropna(
        subset=["uid", "iid"]
    )
    users = dataset.user_ids.indices(preds["uid"].astype(str))
    items = dataset.item_ids.indices(preds["iid"].astype(str))
    preds = preds.assign(user=users, item=items)
    test = dataset.reviews.iloc[split.test].assign(row=split.test)
    merged = test.merge(preds, on=["user", "item"], how="inner").drop_duplicates(["user", "item"])
    return pd.DataFrame(
        {
            "row": merged["row"],
            "user": merged["user"],
            "item": merged["item"],
            "rating": merged["rating"],
            "explanation": merged["reference"],
            "xrec_generated": merged["xrec_generated"].str.strip(),
        }
    ).reset_index(drop=True)


def at_most(records, n: int | None, seed: int):
    """A seeded sample of `n` of the records, in their order; all of them when n is None or not fewer."""
    if n is None or len(records) <= n:
        return records
    return records.iloc[np.sort(np.random.default_rng(seed).choice(len(records), n, replace=False))].reset_index(drop=True)


class Memo:
    """A reasoner whose repeated requests are answered from what it already wrote (decoding is deterministic)."""

    def __init__(self, reasoner) -> None:
        self.reasoner, self.name, self.seen = reasoner, reasoner.name, {}

    def generate(self, requests):
        keys = [(r.user, r.item, r.hint) for r in requests]
        new = [r for r, k in zip(requests, keys, strict=True) if k not in self.seen]
        self.seen.update({(r.user, r.item, r.hint): out for r, out in zip(new, self.reasoner.generate(new), strict=True)})
        return [self.seen[k] for k in keys]

    def __getattr__(self, name: str):
        return getattr(self.reasoner, name)  # predict_ratings and the like


def run_reasoner(
    name: str,
    options: dict[str, Any],
    dataset,
    split,
    lexicon,
    records,
    embed,
    log: Callable[[str], None],
    pairs: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fit one reasoner on the split and score it on `records`; for a generator, also its output after the filters.

    The filtered run is `generate_grounded` with `template` as the fallback (grounding against the
    training reviews and catalog, safety against the catalog); "replaced" is the share it replaced.
    Both also get the unique-sentence ratio over `pairs`, (user, item) rows of reviewed pairs
    ("usr_all"), which, unlike USR on a few dozen test records, shows a generic generator for what it is.
    """
    from whyrec.evaluate.explain_eval import evaluate_reasoner, score_generated
    from whyrec.evaluate.text import unique_sentence_ratio
    from whyrec.explain.base import ReasonRequest
    from whyrec.explain.filters import generate_grounded
    from whyrec.explain.registry import make_reasoner
    from whyrec.explain.targets import item_aspect_sets
    from whyrec.explain.template import TemplateReasoner
    from whyrec.explain.tokens import tokenize

    registered, preset = VARIANTS.get(name, (name, {}))
    reasoner = make_reasoner(registered, {**preset, **options})
    reasoner.on_epoch = lambda epoch, total, m: log(
        f"    {name} epoch {epoch}/{total}: " + "  ".join(f"{k} {v:.4g}" for k, v in m.items() if k != "epoch")
    )
    started = time.perf_counter()
    reasoner.fit(dataset, split)
    train_s = time.perf_counter() - started
    memo = Memo(reasoner)
    metrics = evaluate_reasoner(memo, dataset, split, lexicon, embed=embed, records=records)
    metrics["train_s"] = train_s
    keys = [(int(u), int(i), None) for u, i in records[["user", "item"]].itertuples(index=False)]
    metrics["records"] = per_record([memo.seen[k].text for k in keys], records, embed)
    history = getattr(reasoner, "history", None)
    if history:
        metrics["epochs"] = len(history)
    stats = getattr(reasoner, "fit_stats", None)  # an LM's optimiser steps and their pace
    if stats and "steps" in stats:
        metrics.update({k: stats[k] for k in ("steps", "sec_per_step", "cpu_sec_per_step") if k in stats})
    every = reasoner.generate([ReasonRequest(int(u), int(i)) for u, i in pairs])
    metrics["usr_all"] = unique_sentence_ratio([tokenize(r.text) for r in every])[0]
    if name == "template":
        return metrics, None
    fallback = TemplateReasoner().fit(dataset, split)
    have = item_aspect_sets(dataset, lexicon, rows=split.train)
    catalog = {int(row["item"]): row for row in dataset.items.drop_duplicates("item").to_dict("records")}
    requests = [ReasonRequest(int(u), int(i)) for u, i in records[["user", "item"]].itertuples(index=False)]
    # The filtered run starts from the reasons already scored above: only retries are decoded again.
    checked = generate_grounded(memo, fallback, requests, have, lexicon=lexicon, catalog=catalog)
    filtered = score_generated([r.text for r in checked], records, dataset, split, lexicon, embed)
    filtered["replaced"] = sum(r.evidence.get("generated_by") == "template" for r in checked) / len(checked)
    filtered["records"] = per_record([r.text for r in checked], records, embed)
    return metrics, filtered


def per_record(texts: Sequence[str], records, embed) -> dict[str, list]:
    """The records' rows, the texts and their per-record scores (`record_scores`), for paired tests between systems."""
    from whyrec.evaluate.explain_eval import record_scores

    scores = record_scores(texts, list(records["explanation"]), list(records["feature"]), embed)
    return {"row": [int(r) for r in records["row"]], "text": list(texts), **scores}


def benchmark(
    datasets: Sequence[str],
    reasoners: Sequence[str],
    seeds: int,
    max_train: int | None,
    options: dict[str, dict[str, Any]],
    embed: Callable | None,
    log: Callable[[str], None],
    usr_pairs: int | None = None,
    max_records: int | None = None,
    checkpoint: Callable[[list[dict[str, Any]]], None] | None = None,
    repeats: bool = False,
    first_seed: int = 1,
) -> list[dict[str, Any]]:
    """One result row per (dataset, system): metrics averaged over seeds, with per-seed values kept.

    "USR all pairs" is taken over every reviewed (user, item) pair, or over a seeded sample of
    `usr_pairs` of them (the same sample for every system, so the figures compare); `max_records`
    scores every system (XRec's outputs too) on the same seeded sample of the test records. `checkpoint`
    gets the rows so far after each system's run, so an interrupted run keeps what it finished.
    """
    from whyrec.data.split import distinct_reviews
    from whyrec.evaluate.explain_eval import reference_records, score_generated
    from whyrec.explain.aspects import AspectLexicon

    rows = []
    for name in datasets:
        dataset = load_dataset(name)
        xrec = DATASETS[name][0] == "xrec"
        log(f"{name}: {dataset.n_users} users, {dataset.n_items} items, {len(dataset.reviews)} reviews")
        if not xrec and not repeats:
            log(f"  split over {len(distinct_reviews(dataset))} reviews: the others repeat their author's earlier text")
        pairs = dataset.reviews[["user", "item"]].drop_duplicates().to_numpy()
        if usr_pairs is not None and usr_pairs < len(pairs):
            pairs = pairs[np.sort(np.random.default_rng(0).choice(len(pairs), usr_pairs, replace=False))]
        per_system: dict[str, list[dict[str, Any]]] = {}
        for seed in range(first_seed, first_seed + seeds):
            split = xrec_split(dataset, seed, max_train) if xrec else amazon_split(dataset, seed, max_train, repeats)
            lexicon = AspectLexicon.build(dataset.reviews["text"].iloc[split.train])
            if xrec:  # the test third's records that XRec also explained, its reference being the whole text
                records = at_most(xrec_predictions(name, dataset, split), max_records, seed)
                features = reference_records(dataset, split, lexicon, full_text=True).set_index("row")["feature"]
                records = records.assign(feature=records["row"].map(features))
                metrics = score_generated(list(records["xrec_generated"]), records, dataset, split, lexicon, embed)
                metrics["train_s"], metrics["seed"] = float("nan"), seed
                metrics["records"] = per_record(list(records["xrec_generated"]), records, embed)
                per_system.setdefault("xrec (published outputs)", []).append(metrics)
                log(
                    f"  seed {seed} xrec outputs: bleu4 {metrics['bleu4']:.2f} rougeL_f {metrics['rougeL_f']:.2f} ({len(records)} records)"
                )
            else:
                records = at_most(reference_records(dataset, split, lexicon), max_records, seed)
            for reasoner in reasoners:
                opts = {"seed": seed, **(XREC_OPTIONS.get(reasoner, {}) if xrec else {}), **options.get(reasoner, {})}
                metrics, filtered = run_reasoner(reasoner, opts, dataset, split, lexicon, records, embed, log, pairs)
                per_system.setdefault(reasoner, []).append({**metrics, "seed": seed})
                if filtered is not None:
                    per_system.setdefault(f"{reasoner} + filters", []).append({**filtered, "seed": seed})
                log(
                    f"  seed {seed} {reasoner}: bleu4 {metrics['bleu4']:.2f} rougeL_f {metrics['rougeL_f']:.2f} "
                    f"usr {metrics['usr']:.3f} grounded {metrics['grounding']:.3f} train {metrics['train_s']:.1f}s"
                    + (f" ({metrics['epochs']} epochs)" if "epochs" in metrics else "")
                    + (f" ({metrics['steps']} steps, {metrics['sec_per_step']:.2f} s/step)" if "steps" in metrics else "")
                )
                if checkpoint is not None:
                    checkpoint(rows + averaged(name, per_system))
        rows += averaged(name, per_system)
    return rows


def averaged(dataset: str, per_system: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per system: the mean of each metric over the runs that have it, and the runs themselves."""
    rows = []
    for system, runs in per_system.items():
        keys = sorted({k for run in runs for k, v in run.items() if isinstance(v, int | float)} - {"seed"})
        mean = {k: statistics.fmean(run[k] for run in runs if k in run) for k in keys}
        rows.append({"dataset": dataset, "system": system, "seeds": len(runs), "mean": mean, "runs": runs})
    return rows


def pooled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (dataset, system) from rows of several runs: seeds run apart are pooled and averaged
    again; a seed met twice (XRec's outputs are scored in every run on its set) counts once, the later
    file's. Runs without a seed are from files written before --first-seed: seeds 1..N in order."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        row = {**row, "runs": [{"seed": k, **run} for k, run in enumerate(row["runs"], start=1)]}
        key = (row["dataset"], row["system"])
        have = merged.get(key)
        if have is None:
            merged[key] = row
            continue
        runs = {run["seed"]: run for run in have["runs"] + row["runs"]}
        merged[key] = averaged(row["dataset"], {row["system"]: [runs[s] for s in sorted(runs)]})[0]
    return list(merged.values())


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results table, then the published TripAdvisor figures as context."""
    head = "| dataset | system | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in rows:
        cells = []
        for key, _, digits in COLUMNS:
            value = row["mean"].get(key)
            cells.append("–" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}")
        lines.append(f"| {row['dataset']} | {row['system']} | " + " | ".join(cells) + " |")
    lines += ["", "Published, **TripAdvisor (a different dataset, Sentires targets), for context only**:", ""]
    lines += ["| system | " + " | ".join(label for key, label, _ in COLUMNS if key in PUBLISHED[0][1]) + " |"]
    lines += ["|" + "---|" * (1 + sum(key in PUBLISHED[0][1] for key, _, _ in COLUMNS))]
    for system, values in PUBLISHED:
        cells = [f"{values[key]}" if key in values else "–" for key, _, _ in COLUMNS if key in PUBLISHED[0][1]]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SPREAD = (
    ("bleu4", "BLEU-4", 2),
    ("rougeL_f", "ROUGE-L", 2),
    ("usr", "USR", 3),
    ("fmr", "FMR", 3),
    ("embedding_sim", "emb-sim", 3),
)
PAIRED = (("rougeL_f", "ROUGE-L", 2), ("fmr", "FMR", 3), ("embedding_sim", "emb-sim", 3))


def spread(rows: list[dict[str, Any]]) -> str:
    """Mean ± sd over seeds (sample sd; none for one seed) of the protocol's headline metrics, per (dataset, system)."""
    lines = [
        "| dataset | system | seeds | " + " | ".join(label for _, label, _ in SPREAD) + " |",
        "|" + "---|" * (len(SPREAD) + 3),
    ]
    for row in rows:
        cells = []
        for key, _, digits in SPREAD:
            values = [run[key] for run in row["runs"] if isinstance(run.get(key), int | float) and not np.isnan(run[key])]
            sd = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
            cells.append(f"{statistics.fmean(values):.{digits}f}{sd}" if values else "–")
        lines.append(f"| {row['dataset']} | {row['system']} | {len(row['runs'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(rows: list[dict[str, Any]], system: str) -> str:
    """`system` against every other system of its dataset with per-record scores: the mean per-record difference
    (system − other) of ROUGE-L, FMR and embedding similarity over the test records both explained in the same seeds,
    with the paired permutation test's two-sided p (`paired_difference`)."""
    from whyrec.evaluate.explain_eval import paired_difference

    head = "| dataset | " + system + " against | seeds | pairs | " + " | ".join(f"Δ {label} (p)" for _, label, _ in PAIRED) + " |"
    lines = [head, "|" + "---|" * (len(PAIRED) + 4)]
    by_key = {(row["dataset"], row["system"]): row for row in rows}
    for (dataset, other), row in by_key.items():
        mine = by_key.get((dataset, system))
        if other == system or mine is None:
            continue
        theirs = {run["seed"]: run["records"] for run in row["runs"] if "records" in run}
        seeds = [run["seed"] for run in mine["runs"] if "records" in run and run["seed"] in theirs]
        if not seeds:
            continue
        a: dict[str, list[float]] = {key: [] for key, _, _ in PAIRED}
        b: dict[str, list[float]] = {key: [] for key, _, _ in PAIRED}
        for seed in seeds:
            here = next(run["records"] for run in mine["runs"] if run["seed"] == seed)
            there = {r: k for k, r in enumerate(theirs[seed]["row"])}
            for k, r in enumerate(here["row"]):
                if r in there:
                    for key, _, _ in PAIRED:
                        if key in here and key in theirs[seed]:
                            a[key].append(here[key][k])
                            b[key].append(theirs[seed][key][there[r]])
        cells, n = [], 0
        for key, _, digits in PAIRED:
            diff, p, pairs = paired_difference(a[key], b[key])
            n = max(n, pairs)
            cells.append("–" if not pairs else f"{diff:+.{digits}f} ({p:.3f})")
        lines.append(f"| {dataset} | {other} | {len(seeds)} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_options(pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """["peter.epochs=20", "peter.use_feature=true"] -> {"peter": {"epochs": 20, "use_feature": True}} (values as JSON)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        reasoner, dot, field = key.partition(".")
        if not (sep and dot and reasoner and field):
            raise SystemExit(f"--option: expected REASONER.FIELD=VALUE, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(reasoner, {})[field] = value
    return out


def write_json(path: Path, rows: list[dict[str, Any]], complete: bool) -> None:
    """Every number (per seed too) and the published context rows; `complete` is False while a run is under way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    published = [{"dataset": "tripadvisor", "system": system, **values} for system, values in PUBLISHED]
    payload = {"argv": sys.argv[1:], "complete": complete, "rows": rows, "published": published}
    path.write_text(json.dumps(payload, indent=1, default=float) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reasoners", default="template,peter", help="comma-separated registry names or VARIANTS")
    parser.add_argument(
        "--datasets", default="gift-cards,magazine,all-beauty", help=f"comma-separated, from {', '.join(DATASETS)}"
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="this many seeds from --first-seed, results averaged (PETER: 5 splits)"
    )
    parser.add_argument("--first-seed", type=int, default=1, help="start at this seed (to spread seeds over processes)")
    parser.add_argument("--max-train", type=int, default=None, help="at most this many training reviews per seed")
    parser.add_argument("--option", action="append", default=[], help="REASONER.FIELD=VALUE config override (repeatable)")
    parser.add_argument("--no-embed", action="store_true", help="skip the MiniLM embedding similarity")
    parser.add_argument("--usr-pairs", type=int, default=None, help="USR all pairs over a seeded sample of this many pairs")
    parser.add_argument("--max-records", type=int, default=None, help="score on a seeded sample of this many test records")
    parser.add_argument(
        "--keep-repeats",
        action="store_true",
        help="split every Amazon review, repeats of an author's text too (PETER's protocol as published)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write every number (per seed too) as JSON here, after each run")
    parser.add_argument(
        "--paired", default=None, help="also print mean ± sd over seeds and this system's paired tests against the others"
    )
    parser.add_argument(
        "--tables",
        type=Path,
        nargs="+",
        default=None,
        help="only print the table of these --out files, merged (--out: as one file)",
    )
    args = parser.parse_args(argv)
    if args.tables is not None:
        missing = [str(path) for path in args.tables if not path.is_file()]
        if missing:
            raise SystemExit(f"--tables: no such file {', '.join(missing)}")
        rows = pooled([row for path in args.tables for row in json.loads(path.read_text())["rows"]])
        order = {name: k for k, name in enumerate(DATASETS)}
        rows = sorted(rows, key=lambda row: order.get(row["dataset"], len(order)))
        print(markdown(rows))
        if args.paired:
            print("\n" + spread(rows) + "\n\n" + paired(rows, args.paired))
        if args.out is not None:  # the merged rows, for `whyrec evaluate --report --results`
            write_json(args.out, rows, complete=True)
        return
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise SystemExit(f"unknown datasets {unknown}; known: {', '.join(DATASETS)}")
    embed = None
    if not args.no_embed:
        from whyrec.embeddings import embed_texts

        embed = embed_texts
    started = time.perf_counter()
    rows = benchmark(
        datasets, [r for r in args.reasoners.split(",") if r], args.seeds, args.max_train, parse_options(args.option), embed,
        lambda line: print(line, file=sys.stderr, flush=True), args.usr_pairs, args.max_records,
        None if args.out is None else lambda partial: write_json(args.out, partial, complete=False), args.keep_repeats, args.first_seed,
    )  # fmt: skip
    print(markdown(rows))
    if args.paired:
        print("\n" + spread(rows) + "\n\n" + paired(rows, args.paired))
    print(f"\n({time.perf_counter() - started:.0f} s in all)")
    if args.out is not None:
        write_json(args.out, rows, complete=True)


if __name__ == "__main__":
    main()
