"""Relevance of two artifacts' served reasons, paired record by record on the same held-out reviews, with tests.

`whyrec evaluate`'s shown block gives each artifact's fmr and embedding similarity over up to 300 held-out
(shopper, item) reviews; two such means differ by a few records, so this pairs them: for each review both
artifacts explain, whether each reason names the aspect the review is about (a hit), and each reason's MiniLM
cosine to the review. Discordant hits get an exact two-sided sign test, the similarities a Wilcoxon signed-rank
test. Both artifacts must be trained on the store's shop with the same seed (the same review split).

    .venv/bin/python benchmarks/relevance_pairs.py --store runs/gc/gift-cards.sqlite \
        runs/gc/gift-cards-template runs/gc/gift-cards-prompt_lm [--records 300] [--json]

Prints a Markdown table, then the records only one artifact hits (or, with --json, one JSON object).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest, wilcoxon

from whyrec.artifact import Artifact
from whyrec.data.store import Store
from whyrec.embeddings import embed_texts
from whyrec.evaluate.shown import held_out_reasons


def paired(store: Path, artifacts: list[Path], records: int) -> dict[str, Any]:
    """Per artifact its hits and similarities on the records both explain; the paired tests; the discordant records."""
    with Store(store, create=False) as db:
        shop = db.read_dataset(name="shop")
    rows = []
    for path in artifacts:
        lexicon, held = held_out_reasons(Artifact.load(path), shop, records=records)  # the same lexicon for both
        rows.append({(r.user, r.item, r.feature): r for r in held})
    common = [key for key in rows[0] if key in rows[1]]
    hits = [np.array([key[2] in lexicon.mentions(side[key].reason) for key in common]) for side in rows]
    references = embed_texts([rows[0][key].reference for key in common])
    sims = [np.sum(embed_texts([side[key].reason for key in common]) * references, axis=1) for side in rows]
    only = [int(np.sum(hits[0] & ~hits[1])), int(np.sum(hits[1] & ~hits[0]))]
    differ = sims[0] != sims[1]
    return {
        "records": len(common),
        "artifacts": [str(p) for p in artifacts],
        "fmr": [float(h.mean()) for h in hits],
        "embedding_sim": [float(s.mean()) for s in sims],
        "hits_only": only,
        "sign_p": binomtest(only[0], sum(only)).pvalue if sum(only) else 1.0,
        "wilcoxon_p": float(wilcoxon(sims[0][differ], sims[1][differ]).pvalue) if differ.sum() >= 10 else None,
        "discordant": [
            {"feature": key[2], "review": rows[0][key].reference, "hit_by": 0 if hits[0][k] else 1}
            | {f"reason_{n}": side[key].reason for n, side in enumerate(rows)}
            for k, key in enumerate(common)
            if hits[0][k] != hits[1][k]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="the store both artifacts were trained on")
    parser.add_argument("artifacts", type=Path, nargs=2, help="two artifact folders")
    parser.add_argument("--records", type=int, default=300, help="held-out reviews to explain (as `whyrec evaluate`)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    out = paired(args.store, args.artifacts, args.records)
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"{out['records']} held-out reviews explained by both\n")
    print("| artifact | fmr | embedding sim | hits only it has |")
    print("|---|---|---|---|")
    for n, path in enumerate(out["artifacts"]):
        print(f"| {path} | {out['fmr'][n]:.3f} | {out['embedding_sim'][n]:.3f} | {out['hits_only'][n]} |")
    wilcox = "n/a" if out["wilcoxon_p"] is None else f"{out['wilcoxon_p']:.3g}"
    print(f"\nsign test on discordant hits p = {out['sign_p']:.3g}; Wilcoxon on similarities p = {wilcox}\n")
    for row in out["discordant"]:
        print(f"- [{row['feature']}] hit by {row['hit_by']}: {row['reason_0']!r} / {row['reason_1']!r}")


if __name__ == "__main__":
    main()
