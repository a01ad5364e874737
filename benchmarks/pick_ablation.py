"""How `prompt_lm` picks among its candidates: the same trained LM with and without the critic and/or shopper profile.

The critic (`whyrec.explain.critic`: logistic regression on MiniLM embeddings, real shopper-voice targets vs the
model's own reasons) and the profiles (`prompt_lm._profiles`: what sets each shopper's review words apart) are fitted onto a
copy of a trained prompt_lm artifact exactly as `fit` does with `critic_weight > 0` / `profile_weight > 0`; then
`whyrec evaluate` scores the shown reasons of both copies. Same LM, same soft prompts, same candidates: only the choice
differs.

    .venv/bin/python benchmarks/pick_ablation.py --artifact runs/gc/gift-cards-prompt_lm \\
        --store runs/gc/gift-cards.sqlite --critic-weight 1.0

Not a test: it decodes thousands of reasons. Prints a Markdown table; --out writes both runs as JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shown import KEYS, whyrec_json  # a sibling script, not a package


def refitted(artifact: Path, store: Path, critic_weight: float, profile_weight: float, out: Path) -> dict:
    """A copy of `artifact` whose prompt_lm reasoner has the critic and/or profiles fitted and weighed as asked; what was fitted."""
    import numpy as np

    from whyrec.artifact import Artifact, reasons_split
    from whyrec.data.store import Store
    from whyrec.explain import prompt_lm
    from whyrec.explain.voice import shopper_examples

    loaded = Artifact.load(artifact)
    model = loaded.reasoner
    if model.name != "prompt_lm":
        raise SystemExit(f"{artifact}: reasoner is {model.name}, not prompt_lm")
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name="shop")
    split = reasons_split(dataset, loaded.config.seed)
    rows = np.sort(split.train)
    model.config = model.config.model_copy(update={"critic_weight": critic_weight, "profile_weight": profile_weight})
    stats: dict = {}
    model.critic = None
    if profile_weight > 0:
        trained = dataset.reviews.iloc[rows].sort_values("timestamp", kind="stable")
        model.user_profiles = prompt_lm._profiles(trained)
        stats["profiles"] = len(model.user_profiles)
    if critic_weight > 0:
        examples = shopper_examples(dataset, model.lexicon, rows)
        model._fit_critic(examples)
        stats |= {"critic_auc": model.fit_stats.get("critic_auc"), "examples": len(examples)}
    shutil.rmtree(out, ignore_errors=True)
    loaded.save(out)
    return stats


def shown(artifact: Path, store: Path) -> dict:
    return whyrec_json("evaluate", "--artifact", str(artifact), "--store", str(store))["shown"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, required=True, help="a trained artifact whose reasoner is prompt_lm")
    parser.add_argument("--store", type=Path, required=True, help="its store")
    parser.add_argument("--critic-weight", type=float, default=0.0, help="critic_weight of the copy")
    parser.add_argument("--profile-weight", type=float, default=0.0, help="profile_weight of the copy")
    parser.add_argument("--base", type=Path, help="JSON of the artifact's own shown block (skips evaluating it again)")
    parser.add_argument("--out", type=Path, help="write both runs as JSON")
    args = parser.parse_args()
    name = f"critic{args.critic_weight:g}-profile{args.profile_weight:g}"
    copy = args.artifact.with_name(f"{args.artifact.name}-{name}")
    fitted = refitted(args.artifact, args.store, args.critic_weight, args.profile_weight, copy)
    base = json.loads(args.base.read_text()) if args.base else shown(args.artifact, args.store)
    rows = {"as trained": base, name: shown(copy, args.store)}
    print(f"fitted: {json.dumps(fitted)}\n")
    print("| run | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for run, block in rows.items():
        print(f"| {run} | " + " | ".join(str(round(block[k], 3)) if k in block else "-" for k in KEYS) + " |")
    if args.out:
        args.out.write_text(json.dumps({"fitted": fitted, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
