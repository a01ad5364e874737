"""Same text from the fast decoding runtime: a trained prompt_lm decoded by the reference path and by the runtime.

The reference is fp32 decoding (the lean loop in fp32 writes exactly the tokens of transformers' `generate`, as
tests/explain/test_prompt_lm.py asserts, so it stands in for it here at a third of the time); the runtime is the lean loop
in bf16, the one `benchmarks/prompt_lm_speed.py` times. Both are copies of one trained artifact that differ only
in `bf16`; `whyrec evaluate` scores each (research-protocol text metrics and the shown-reason checks), and the
same requests are decoded by both to count identical reasons and show some that differ.

    .venv/bin/python benchmarks/runtime_quality.py --artifact runs/gc/gift-cards-prompt_lm \\
        --store runs/gc/gift-cards.sqlite --out gc_runtime.json

Not a test: it decodes thousands of reasons. Prints a Markdown table and the differing reasons.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shown import whyrec_json  # a sibling script, not a package

TEXT = ("bleu4", "rougeL_f", "usr", "fmr", "grounding")
SHOWN = ("fmr", "embedding_sim", "grounded", "raw_grounded", "voice", "positive", "specific", "personal", "lm_share")


def variant(artifact: Path, store: Path, bf16: bool, out: Path) -> Path:
    """A copy of `artifact` whose prompt_lm decodes with the lean loop, in bf16 or fp32, its research-protocol text
    metrics scored again with that decoding (those `whyrec train` kept were decoded as the training machine decodes)."""
    from whyrec.artifact import Artifact
    from whyrec.data.store import Store
    from whyrec.evaluate.explain_eval import evaluate_artifact_reasons

    loaded = Artifact.load(artifact)
    if loaded.reasoner is None or loaded.reasoner.name != "prompt_lm":
        raise SystemExit(f"{artifact}: reasoner is not prompt_lm")
    loaded.reasoner.config = loaded.reasoner.config.model_copy(update={"bf16": bf16, "decoder": "lean"})
    with Store(store, create=False) as db:
        evaluate_artifact_reasons(loaded, db.read_dataset(name="shop"))
    shutil.rmtree(out, ignore_errors=True)
    loaded.save(out)
    return out


def differing(reference: Path, runtime: Path, store: Path, n: int) -> dict[str, Any]:
    """Both copies' reasons for the first `n` held-out (shopper, item) review pairs: how many are identical, and examples."""
    import numpy as np

    from whyrec.artifact import Artifact, reasons_split
    from whyrec.data.store import Store
    from whyrec.explain.base import ReasonRequest

    a, b = Artifact.load(reference), Artifact.load(runtime)
    with Store(store, create=False) as db:
        dataset = db.read_dataset(name="shop")
    test = dataset.reviews.iloc[np.sort(reasons_split(dataset, a.config.seed).test)[:n]]
    requests = [ReasonRequest(int(u), int(i)) for u, i in zip(test["user"], test["item"], strict=True)]
    left, right = a.reasoner.generate(requests), b.reasoner.generate(requests)
    pairs = [(x.text, y.text) for x, y in zip(left, right, strict=True)]
    changed = [{"fp32": x, "bf16": y} for x, y in pairs if x != y]
    return {"requests": len(pairs), "identical": len(pairs) - len(changed), "examples": changed[:8]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, required=True, help="a trained artifact whose reasoner is prompt_lm")
    parser.add_argument("--store", type=Path, required=True, help="its store")
    parser.add_argument("--pairs", type=int, default=200, help="held-out review pairs decoded by both for the diff")
    parser.add_argument(
        "--base", type=Path,
        help="`benchmarks/shown.py --out` JSON of this artifact (fp32): its shown block stands for the reference's, "
        "which is then not evaluated again (its text metrics are)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="write both runs and the diff as JSON")
    args = parser.parse_args()
    copies = {
        "reference (fp32)": variant(args.artifact, args.store, False, args.artifact.with_name(args.artifact.name + "-fp32")),
        "runtime (lean bf16)": variant(args.artifact, args.store, True, args.artifact.with_name(args.artifact.name + "-bf16")),
    }
    runs = {
        name: whyrec_json("evaluate", "--artifact", str(path), "--store", str(args.store))
        for name, path in copies.items()
        if not (args.base and "fp32" in name)
    }
    if args.base:
        from whyrec.artifact import Artifact

        shown = next(r["shown"] for r in json.loads(args.base.read_text()) if r["reasoner"] == "prompt_lm")
        text = Artifact.load(copies["reference (fp32)"]).metrics["text"]
        runs = {"reference (fp32)": {"text": text, "shown": shown}, **runs}
    diff = differing(*copies.values(), args.store, args.pairs)
    head = [f"text {k}" for k in TEXT] + [f"shown {k}" for k in SHOWN]
    print("| decoding | " + " | ".join(head) + " |\n|---|" + "---|" * len(head))
    for name, run in runs.items():
        cells = [run["text"].get(k) for k in TEXT] + [run["shown"].get(k) for k in SHOWN]
        print(f"| {name} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    print(f"\n{diff['identical']} of {diff['requests']} held-out reasons identical; some that differ:")
    for e in diff["examples"]:
        print(f"- fp32: {e['fp32']}\n  bf16: {e['bf16']}")
    if args.out:
        keep = {name: {"text": r["text"], "shown": r["shown"]} for name, r in runs.items()}
        args.out.write_text(json.dumps({"runs": keep, "diff": diff}, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
