"""Speed and size of the `prompt_lm` reasoner on this machine's CPU: what the quality benchmark does not show.

Measures: GGUF -> fp32 conversion (with --convert, into a temporary cache), loading the converted
LM, seconds per training step for LoRA, full fine-tuning and prompt-only tuning at the default
batch size, what that means for a 10k-review shop in 20 minutes, latency of ten reasons for one
user after warm-up (batched greedy decoding, KV cache), reasons/s for larger batches, and the bytes
each training mode saves.

    .venv/bin/python benchmarks/prompt_lm_speed.py --threads 2 --steps 12
    .venv/bin/python benchmarks/prompt_lm_speed.py --convert --modes lora

Not a test: it trains the 135M model. Prints a Markdown table; --out writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATASETS_DIR = REPO.parent / "shared" / "datasets"
DATA = ("amazon2018-all-beauty-5core/All_Beauty_5.json.gz", None)
BUDGET_S = 20 * 60  # the training budget a 10k-review shop gets
SHOP_REVIEWS = 10_000


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(fn, repeat: int) -> float:
    """Median wall seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=12, help="training steps timed per mode (after the LM is loaded)")
    parser.add_argument("--modes", default="lora,full,none", help="train_lm values to time")
    parser.add_argument("--convert", action="store_true", help="also time a fresh GGUF conversion (~40 s)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for training and decoding")
    parser.add_argument(
        "--saved", type=Path, default=None, help="also time ten reasons of this saved (trained) prompt_lm reasoner"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from whyrec.data.loaders import load
    from whyrec.data.split import ratio
    from whyrec.explain.base import ReasonRequest
    from whyrec.explain.lm import ensure_converted, load_causal_lm, load_tokenizer
    from whyrec.explain.prompt_lm import PromptLM, PromptLMConfig

    torch.set_num_threads(args.threads)
    log = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    out: dict[str, Any] = {"threads": args.threads, "bf16": args.bf16, "load_average": os.getloadavg()[0]}

    start = time.perf_counter()
    import transformers  # noqa: F401  (timed apart: a process pays it once, whatever it loads)

    out["import_s"] = time.perf_counter() - start
    if args.convert:
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            ensure_converted(cache)
            out["convert_s"] = time.perf_counter() - start
    folder = ensure_converted()
    start = time.perf_counter()
    load_tokenizer(folder), load_causal_lm(folder)
    out["load_s"] = time.perf_counter() - start

    dataset = load("amazon", [DATASETS_DIR / DATA[0]], on_error="skip", name="all-beauty").dataset
    split = ratio(dataset, seed=1, table="reviews")
    out["modes"] = {}
    fitted = None
    for mode in [m for m in args.modes.split(",") if m]:
        config = PromptLMConfig(train_lm=mode, max_steps=args.steps, prompt_only_steps=0, valid_examples=0, bf16=args.bf16)
        model = PromptLM(config).fit(dataset, split)
        stats = model.fit_stats
        per_epoch = stats["examples"] / config.batch_size
        # Examples per review measured here carry over to a shop of SHOP_REVIEWS reviews (80% train).
        shop_steps_per_epoch = SHOP_REVIEWS * 0.8 * stats["examples"] / len(split.train) / config.batch_size
        with tempfile.TemporaryDirectory() as saved:
            model.save(saved)
            size = folder_bytes(Path(saved))
        row = {
            "sec_per_step": stats["sec_per_step"],
            "cpu_sec_per_step": stats["cpu_sec_per_step"],
            "saved_bytes": size,
            "examples": stats["examples"],
            "steps_per_epoch": per_epoch,
            "steps_in_20_min": BUDGET_S / stats["sec_per_step"],
            "shop_epochs_in_20_min": BUDGET_S / stats["sec_per_step"] / shop_steps_per_epoch,
        }
        out["modes"][mode] = row
        log(f"{mode}: {row}")
        if mode == "lora":
            fitted = model
    out["base_model_bytes"] = folder_bytes(folder)

    if fitted is not None:
        user = int(dataset.reviews["user"].value_counts().index[0])
        ten = [ReasonRequest(user, i) for i in range(10)]
        fitted.generate(ten)  # warm-up
        out["ten_reasons_s"] = timed(lambda: fitted.generate(ten), 3)
        cpu = time.process_time()
        fitted.generate(ten)
        out["ten_reasons_cpu_s"] = time.process_time() - cpu  # all threads: what the latency would be on one free core
        many = [ReasonRequest(int(u), int(i)) for u, i in dataset.reviews[["user", "item"]].head(64).itertuples(index=False)]
        for size in (16, 32):
            fitted.config = fitted.config.model_copy(update={"generate_batch_size": size})
            out[f"reasons_per_s_batch{size}"] = len(many) / timed(lambda: fitted.generate(many), 1)
        out["sample_reasons"] = [r.text for r in fitted.generate(ten[:5])]
    if args.saved is not None:  # a trained model writes reasons of its real length, not a 12-step model's
        trained = PromptLM.load(args.saved)
        trained.config = trained.config.model_copy(update={"bf16": args.bf16})
        user = max(trained.user_aspects, key=lambda u: len(trained.user_aspects[u]))  # the user with the most profile aspects
        asked = [ReasonRequest(user, i) for i in sorted(trained.aspects_by_item)[:10]]
        trained.generate(asked)  # warm-up
        out["saved_ten_reasons_s"] = timed(lambda: trained.generate(asked), 5)
        out["saved_ten_reasons_words"] = statistics.fmean(len(r.text.split()) for r in trained.generate(asked))

    print("| measure | value |\n|---|---|")
    print(f"| threads / bf16 / load average at start | {args.threads} / {args.bf16} / {out['load_average']:.1f} |")
    if "convert_s" in out:
        print(f"| GGUF -> fp32 conversion | {out['convert_s']:.1f} s |")
    print(f"| import transformers / load converted LM + tokenizer | {out['import_s']:.1f} s / {out['load_s']:.2f} s |")
    for mode, row in out["modes"].items():
        print(
            f"| train_lm={mode}: s/step (batch 16) | {row['sec_per_step']:.2f} s; {row['steps_in_20_min']:.0f} steps "
            f"= {row['shop_epochs_in_20_min']:.2f} epochs of a 10k-review shop in 20 min |"
        )
        print(
            f"| train_lm={mode}: CPU s/step (all threads) | {row['cpu_sec_per_step']:.2f} s; default 150 steps = {150 * row['cpu_sec_per_step'] / 60:.1f} CPU-min |"
        )
        print(f"| train_lm={mode}: saved reasoner | {row['saved_bytes'] / 1e6:.2f} MB |")
    print(f"| base LM (not saved with LoRA) | {out['base_model_bytes'] / 1e6:.1f} MB |")
    if "ten_reasons_s" in out:
        print(
            f"| ten reasons for one user (batched greedy, warm) | {out['ten_reasons_s']:.2f} s wall, {out['ten_reasons_cpu_s']:.2f} CPU-s |"
        )
        for size in (16, 32):
            print(f"| reasons/s, batch {size} | {out[f'reasons_per_s_batch{size}']:.1f} |")
    if "saved_ten_reasons_s" in out:
        print(
            f"| ten reasons for one user, trained {args.saved.name} (warm, median of 5) | {out['saved_ten_reasons_s']:.2f} s wall, {out['saved_ten_reasons_words']:.1f} words each |"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
