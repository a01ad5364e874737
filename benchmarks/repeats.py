"""How often shown reasons repeat themselves: the LM's sentence naming one aspect twice ("The recipe is good and the
recipes are fun"), a word pair said twice ("Great recipes, great recipes"), and how many sentences are distinct.

Reads the top-10 of `--users` seeded random shoppers through the served path (`Pipeline.recommend`, the reason cache
emptied first so every reason is written by the checked-out code), on a trained artifact and its store; counts only
the sentence before an evidence link (" — just what you praised …"), which the reasoner writes from fixed wordings.
Also prints `shown.examples`' 20 seeded reasons, the ones RESULTS.md reads.

    .venv/bin/python benchmarks/repeats.py --artifact ART --store DB --out repeats.json

Not a test: it writes a thousand-odd reasons with the LM (2-3 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from whyrec.data.store import Store
from whyrec.explain.aspects import AspectLexicon, singular
from whyrec.serve.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shown import examples  # a sibling script, not a package


def sentence(reason: str) -> str:
    """The reasoner's own words: the reason up to its evidence link."""
    return reason.split(" — ")[0]


def aspect_twice(text: str, lexicon: AspectLexicon) -> bool:
    """`text` names some lexicon aspect more than once (either number: "recipe" … "recipes")."""
    return len(lexicon.occurrences(text)) > len(lexicon.mentions(text))


def pair_twice(text: str) -> bool:
    """`text` says some pair of words (singular) twice: "great recipes, great recipes"."""
    words = [singular(w) for w in re.findall(r"[a-z]+", text.lower())]
    return any(n > 1 for n in Counter(itertools.pairwise(words)).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, required=True)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with sqlite3.connect(args.store) as db:
        db.execute("DELETE FROM reason_cache")  # reasons cached by other code would be read back, not written
    started = time.perf_counter()
    with Store(args.store, create=False) as db:
        users = db.read_dataset(name="shop").user_ids.raw
    pipeline = Pipeline.open(args.artifact, args.store)
    try:
        lexicon = pipeline.artifact.reasoner.lexicon
        drawn = np.random.default_rng(args.seed).permutation(np.asarray(users, dtype=object))[: args.users]
        shown = [
            (str(u), e["item"], e["reason"], e["reasoner"])
            for u in drawn
            for e in pipeline.recommend(str(u), 10)["items"]
            if e["reason"]
        ]
    finally:
        pipeline.close()
    said = [sentence(reason) for _, _, reason, _ in shown]
    n = len(said)
    stats = {
        "n": n,
        "aspect_twice": sum(aspect_twice(s, lexicon) for s in said) / n,
        "pair_twice": sum(map(pair_twice, said)) / n,
        "distinct": len(set(said)) / n,
        "lm_share": sum(kind == "prompt_lm" for *_, kind in shown) / n,
        "seconds": round(time.perf_counter() - started, 1),
    }
    read = examples(args.artifact, args.store, 20, 42)
    args.out.write_text(json.dumps({"stats": stats, "reasons": shown, "examples": read}, indent=1, default=str))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}))
    for e in read:
        print(f"  {e['user']} -> {e['title'] or e['item']}: {e['reason']} ({e['reasoner']})")


if __name__ == "__main__":
    main()
