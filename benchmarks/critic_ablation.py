"""Critic ablation for `prompt_lm`: the same trained LM with and without the critic choosing among candidates.

The critic (`whyrec.explain.critic`: logistic regression on MiniLM embeddings, real shopper-voice
targets vs the model's own reasons) is fitted onto a copy of a trained prompt_lm artifact exactly as
`fit` does with `critic_weight > 0`; then `whyrec evaluate` scores the shown reasons of both copies.
Same LM, same soft prompts, same candidates: only the choice differs.

    .venv/bin/python benchmarks/critic_ablation.py --artifact runs/gc/gift-cards-prompt_lm \\
        --store runs/gc/gift-cards.sqlite --weight 1.0

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


def with_critic(artifact: Path, store: Path, weight: float, out: Path) -> dict:
    """A copy of `artifact` whose prompt_lm reasoner has a critic fitted and weighs it by `weight`; the critic's stats."""
    import numpy as np

    from whyrec.artifact import Artifact, reasons_split
    from whyrec.data.store import Store
    from whyrec.explain.voice import shopper_examples

    loaded = Artifact.load(artifact)
    model = loaded.reasoner
    if model.name != "prompt_lm":
        raise SystemExit(f"{artifact}: reasoner is {model.name}, not prompt_lm")
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name="shop")
    split = reasons_split(dataset, loaded.config.seed)
    examples = shopper_examples(dataset, model.lexicon, np.sort(split.train))
    model.config = model.config.model_copy(update={"critic_weight": weight})
    model._fit_critic(examples)
    shutil.rmtree(out, ignore_errors=True)
    loaded.save(out)
    return {"critic_auc": model.fit_stats.get("critic_auc"), "examples": len(examples)}


def shown(artifact: Path, store: Path) -> dict:
    return whyrec_json("evaluate", "--artifact", str(artifact), "--store", str(store))["shown"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, required=True, help="a trained artifact whose reasoner is prompt_lm")
    parser.add_argument("--store", type=Path, required=True, help="its store")
    parser.add_argument("--weight", type=float, default=1.0, help="critic_weight of the copy")
    parser.add_argument("--base", type=Path, help="JSON of the artifact's own shown block (skips evaluating it again)")
    parser.add_argument("--out", type=Path, help="write both runs as JSON")
    args = parser.parse_args()
    copy = args.artifact.with_name(args.artifact.name + f"-critic{args.weight:g}")
    critic = with_critic(args.artifact, args.store, args.weight, copy)
    base = json.loads(args.base.read_text()) if args.base else shown(args.artifact, args.store)
    rows = {"without critic": base, f"critic_weight {args.weight:g}": shown(copy, args.store)}
    print(f"critic: {json.dumps(critic)}\n")
    print("| run | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for name, block in rows.items():
        print(f"| {name} | " + " | ".join(str(round(block[k], 3)) if k in block else "-" for k in KEYS) + " |")
    if args.out:
        args.out.write_text(json.dumps({"critic": critic, "runs": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
