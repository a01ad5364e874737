"""Is `whyrec ab report` calibrated? Many simulated experiments on the sample shop, each through the store.

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/ab_calibration.py [--runs 100] [--users 4000] [--json]

Each run copies the sample shop's store, logs one simulated experiment (`whyrec.evaluate.ab.simulate`:
every shopper sees 10 popular items and clicks one with probability 0.10 in the control arm and
0.10 * (1 + uplift) in the other, buying the clicked item with probability 0.3), and reads it back
with `ab.report`. For A/A runs (uplift 0) it counts how often the z-test flags a difference (the
false-positive rate, nominally 5%); for runs with a true uplift, how often it is detected (power)
and how often the uplift interval contains the truth (coverage, nominally 95%). Binomial standard
errors are printed beside each rate so the figures can be judged.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.evaluate import ab


def _rate(hits: int, n: int) -> dict[str, float]:
    p = hits / n
    return {"rate": p, "se": math.sqrt(p * (1 - p) / n), "of": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="simulated experiments per setting")
    parser.add_argument("--users", type=int, default=4000, help="shoppers per experiment")
    parser.add_argument("--uplift", type=float, default=0.3, help="true relative uplift of the non-A/A runs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "shop.sqlite"
        with Store(base) as store:
            store.write_dataset(generate_sample(seed=0))
        results: dict[str, dict] = {}
        for name, uplift in (("aa", 0.0), ("ab", args.uplift)):
            flagged = covered_ctr = covered_conv = 0
            for run in range(args.runs):
                path = Path(tmp) / f"{name}{run}.sqlite"
                shutil.copy(base, path)
                with Store(path) as store:
                    ab.simulate(store, users=args.users, uplift=uplift, seed=1000 * (name == "ab") + run)
                    rep = ab.report(store)
                path.unlink()
                ctr, conv = rep["vs_control"]["prompt_lm"]["ctr"], rep["vs_control"]["prompt_lm"]["conversion"]
                flagged += ctr["significant"]
                covered_ctr += ctr["uplift_ci"][0] <= uplift <= ctr["uplift_ci"][1]
                covered_conv += conv["uplift_ci"][0] <= uplift <= conv["uplift_ci"][1]
                print(f"{name} run {run + 1}/{args.runs}", file=sys.stderr, end="\r")
            results[name] = {
                "true_uplift": uplift,
                "flagged_ctr": _rate(flagged, args.runs),
                "uplift_ci_covers_ctr": _rate(covered_ctr, args.runs),
                "uplift_ci_covers_conversion": _rate(covered_conv, args.runs),
            }
    out = {"runs": args.runs, "users": args.users, "base_ctr": 0.1, "seconds": round(time.perf_counter() - started, 1), **results}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.runs} simulated experiments per setting, {args.users} shoppers each, control ctr 0.10 ({out['seconds']} s)")
    for name, label in (("aa", "A/A (no effect)"), ("ab", f"true uplift {args.uplift:+.0%}")):
        r = results[name]
        what = "false positives" if name == "aa" else "power"
        print(
            f"  {label}: {what} {r['flagged_ctr']['rate']:.3f} ± {r['flagged_ctr']['se']:.3f}; "
            f"95% uplift interval covers the truth: ctr {r['uplift_ci_covers_ctr']['rate']:.3f} ± {r['uplift_ci_covers_ctr']['se']:.3f}, "
            f"conversion {r['uplift_ci_covers_conversion']['rate']:.3f} ± {r['uplift_ci_covers_conversion']['se']:.3f}"
        )


if __name__ == "__main__":
    main()
