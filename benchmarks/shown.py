"""Shown-reason benchmark: the reasons shoppers would see, read as a shopper would, on every Amazon set and the sample shop.

For each set: ingest into a fresh store, `whyrec train` (a recommender and a reasoner), then the shown
checks of `whyrec evaluate` (`whyrec.evaluate.shown.collect_shown`: the top-10 of up to 100 shoppers
with held-out reviews, through the served path) and 20 seeded random shown reasons with their evidence.

    .venv/bin/python benchmarks/shown.py --reasoners template --out shown.json
    .venv/bin/python benchmarks/shown.py --reasoners prompt_lm --option prompt_lm.max_steps=100 --sets gift-cards

Not a test: it trains models on whole datasets. Prints one Markdown table, then the examples.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from whyrec.evaluate.shown import SHOWN_KEYS

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = REPO.parent / "shared" / "datasets"
WHYREC = [str(Path(sys.executable).parent / "whyrec")]  # the console script installed beside this interpreter
SETS = {  # name -> ingest arguments
    "gift-cards": ["--format", "amazon", str(DATASETS_DIR / "amazon2018-gift-cards")],
    "magazine": ["--format", "amazon", str(DATASETS_DIR / "amazon2018-magazine-subscriptions")],
    "all-beauty": ["--format", "amazon", str(DATASETS_DIR / "amazon2018-all-beauty-5core")],
    "sample": ["--format", "sample"],
}
KEYS = SHOWN_KEYS  # the shown checks, in the order `whyrec evaluate` prints them


def whyrec_json(*args: str) -> dict[str, Any]:
    """The one JSON object `whyrec ARGS --json` prints; its stderr as the exit message when it fails."""
    out = subprocess.run([*WHYREC, *args, "--json"], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"whyrec {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def examples(artifact: Path, store: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` seeded random (shopper, shown reason) pairs from shoppers' top-10, with title and evidence."""
    from whyrec.data.store import Store
    from whyrec.serve.pipeline import Pipeline

    with Store(store, create=False) as db:
        users = db.read_dataset(name="shop").user_ids.raw
    rng = np.random.default_rng(seed)
    pipeline = Pipeline.open(artifact, store)
    try:
        out = []
        for user in rng.permutation(np.asarray(users, dtype=object))[: n * 3]:
            items = [e for e in pipeline.recommend(str(user), 10)["items"] if e["reason"]]
            if items:
                e = items[int(rng.integers(len(items)))]
                out.append({"user": user, "item": e["item"], "title": e["title"], "reason": e["reason"], "reasoner": e["reasoner"],
                            "evidence": e["evidence"]})  # fmt: skip
            if len(out) == n:
                break
        return out
    finally:
        pipeline.close()


def run(name: str, reasoner: str, recommender: str, options: list[str], workdir: Path, seed: int) -> dict[str, Any]:
    store, artifact = workdir / f"{name}.sqlite", workdir / f"{name}-{reasoner}"
    if not store.exists():
        whyrec_json("ingest", *SETS[name], "--store", str(store), "--on-error", "skip")
    config = workdir / f"{reasoner}.toml"
    lines = [f'recommender = "{recommender}"', f'reasoner = "{reasoner}"', f"seed = {seed}"]
    sections: dict[str, list[str]] = {}
    for option in options:
        key, value = option.split("=", 1)
        model, field = key.split(".", 1)
        sections.setdefault(model, []).append(f"{field} = {value}")
    lines += [f"[models.{m}]\n" + "\n".join(fields) for m, fields in sections.items()]
    config.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    whyrec_json("train", "--store", str(store), "--config", str(config), "--out", str(artifact))
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    shown = whyrec_json("evaluate", "--artifact", str(artifact), "--store", str(store))["shown"]
    return {"set": name, "reasoner": reasoner, "recommender": recommender, "options": options, "train_s": round(train_s, 1),
            "evaluate_s": round(time.perf_counter() - started, 1), "shown": shown,
            "examples": examples(artifact, store, 20, seed)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma list of " + ", ".join(SETS))
    parser.add_argument("--reasoners", default="template", help="comma list of registered reasoners")
    parser.add_argument("--recommender", default="itemknn", help="the recommender whose top-10 is explained")
    parser.add_argument("--option", action="append", default=[], help="MODEL.FIELD=TOML_VALUE, e.g. prompt_lm.max_steps=100")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=None, help="keep stores and artifacts here [a temporary folder]")
    parser.add_argument("--out", type=Path, default=None, help="write every run as JSON")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="whyrec-shown-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    for name in args.sets.split(","):
        for reasoner in args.reasoners.split(","):
            options = [o for o in args.option if o.startswith(f"{reasoner}.")]
            runs.append(run(name, reasoner, args.recommender, options, workdir, args.seed))
            print(f"{name} / {reasoner}: {json.dumps(runs[-1]['shown'])}", file=sys.stderr)
            if args.out:
                args.out.write_text(json.dumps(runs, indent=1, ensure_ascii=False, default=str) + "\n")
    print("| set | reasoner | " + " | ".join(KEYS) + " | train s |")
    print("|---|---|" + "---|" * (len(KEYS) + 1))
    for r in runs:
        cells = [f"{r['shown'].get(k, float('nan')):.3f}" if k != "n" else str(r["shown"].get("n", 0)) for k in KEYS]
        print(f"| {r['set']} | {r['reasoner']} | " + " | ".join(cells) + f" | {r['train_s']} |")
    for r in runs:
        print(f"\n### {r['set']} / {r['reasoner']}: 20 shown reasons (seed {args.seed})\n")
        for e in r["examples"]:
            print(f'- {e["user"]} → {e["title"] or e["item"]}: "{e["reason"]}" ({e["reasoner"]}; {json.dumps(e["evidence"])})')


if __name__ == "__main__":
    main()
