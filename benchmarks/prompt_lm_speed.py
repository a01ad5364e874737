"""Speed and size of the `prompt_lm` reasoner on this machine's CPU: what the quality benchmark does not show.

Measures: GGUF -> fp32 conversion (with --convert, into a temporary cache), loading the converted
LM, seconds per training step for LoRA, full fine-tuning and prompt-only tuning at the default
batch size, what that means for a 10k-review shop in 20 minutes, latency of ten reasons for one
user after warm-up (batched greedy decoding, KV cache), reasons/s for larger batches, and the bytes
each training mode saves.

With --saved (a trained prompt_lm reasoner, or an artifact holding one) it compares the two decoding
loops on it, in one process, on the same ten requests (one shopper's first view, after warm-up):
transformers' generate (`torch_s`, at the shipped batch size and the lean loop's, the faster kept)
against the lean loop (`fast_s`), medians of --repeats; their `ratio`; how many of the ten reasons
read the same; where the lean loop's time goes (prompt prefill, per-step layers and LM head,
processors; the share of matmul kernels in a profile); and the lean loop's batch throughput
(`batch_reasons_per_s`, --batch-reasons reasons for known shoppers and items). Training modes are
then timed only when --modes names them.

    .venv/bin/python benchmarks/prompt_lm_speed.py --threads 2 --steps 12
    .venv/bin/python benchmarks/prompt_lm_speed.py --convert --modes lora
    .venv/bin/python benchmarks/prompt_lm_speed.py --saved ARTIFACT --threads 2 --bf16 --json

Not a test: it trains the 135M model. Prints a Markdown table, or with --json one JSON object;
--out writes the numbers as JSON too.
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
SHIPPED_TORCH_BATCH = 16  # generate_batch_size before the lean loop: generate is also timed at it
MATMUL_KERNELS = {"mkldnn::_linear_pointwise", "aten::mm", "aten::addmm"}  # the weight matmuls, bf16 and fp32


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
    parser.add_argument("--modes", default=None, help="train_lm values to time [default: lora,full,none; none with --saved]")
    parser.add_argument("--convert", action="store_true", help="also time a fresh GGUF conversion (~40 s)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for training and decoding")
    parser.add_argument(
        "--saved", type=Path, default=None, help="also time ten reasons of this saved (trained) prompt_lm reasoner"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of ten reasons per decoding loop (median)")
    parser.add_argument("--batch-reasons", type=int, default=200, help="reasons in the lean loop's throughput run")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    modes = args.modes if args.modes is not None else ("" if args.saved is not None else "lora,full,none")

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

    out["modes"] = {}
    fitted = None
    if modes:
        dataset = load("amazon", [DATASETS_DIR / DATA[0]], on_error="skip", name="all-beauty").dataset
        split = ratio(dataset, seed=1, table="reviews")
    for mode in [m for m in modes.split(",") if m]:
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
        reasoner = args.saved / "reasoner" if (args.saved / "reasoner" / "config.json").is_file() else args.saved
        out["saved"] = compare_decoders(PromptLM.load(reasoner), args, log)
    out["load_average_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(summary(out, args), default=float))
    else:
        table(out, args)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, default=float) + "\n")


def compare_decoders(model, args: argparse.Namespace, log) -> dict[str, Any]:
    """transformers' generate against the lean loop on one saved reasoner, same requests, same process."""
    from whyrec.explain.base import ReasonRequest
    from whyrec.explain.prompt_lm import PromptLMConfig

    user = max(model.user_aspects, key=lambda u: len(model.user_aspects[u]))  # the user with the most profile aspects
    ten = [ReasonRequest(user, i) for i in sorted(model.aspects_by_item)[:10]]
    shipped = PromptLMConfig().generate_batch_size  # today's default, whatever the saved config pinned
    batches = sorted({SHIPPED_TORCH_BATCH, shipped})

    def use(decoder: str, batch: int) -> None:
        model.config = model.config.model_copy(update={"decoder": decoder, "bf16": args.bf16, "generate_batch_size": batch})

    def ten_reasons() -> list[str]:
        return [r.text for r in model.generate(ten)]

    row: dict[str, Any] = {"user": user, "requests": len(ten), "repeats": args.repeats, "torch_s_by_batch": {}}
    texts: dict[str, list[str]] = {}
    for batch in batches:
        use("generate", batch)
        texts["generate"] = ten_reasons()  # warm-up
        row["torch_s_by_batch"][batch] = timed(ten_reasons, args.repeats)
        log(f"generate, batch {batch} rows: {row['torch_s_by_batch'][batch]:.2f} s")
    use("lean", shipped)
    texts["lean"] = ten_reasons()  # warm-up: builds the lean weights
    row["fast_s"] = timed(ten_reasons, args.repeats)
    row["torch_s"] = min(row["torch_s_by_batch"].values())
    row["ratio"] = row["torch_s"] / row["fast_s"]
    cpu = time.process_time()
    ten_reasons()
    row["fast_cpu_s"] = time.process_time() - cpu  # all threads
    row["same_reasons"] = sum(a == b for a, b in zip(texts["lean"], texts["generate"], strict=True))
    row["words_per_reason"] = statistics.fmean(len(t.split()) for t in texts["lean"])
    row["breakdown"] = lean_breakdown(model, ten_reasons)
    row["weights_step_s"] = weights_step(model._lean_decoder())
    # what the decoding steps alone cost if nothing but reading the weights took time (one row, no attention)
    row["floor_s"] = row["breakdown"]["steps"] * row["weights_step_s"]
    log(f"lean: {row['fast_s']:.2f} s, ratio {row['ratio']:.1f}, breakdown {row['breakdown']}")

    users = sorted(model.user_aspects, key=lambda u: (-len(model.user_aspects[u]), u))
    items = sorted(model.aspects_by_item)
    many = [ReasonRequest(u, i) for u in users for i in items[:10]][: args.batch_reasons]
    start = time.perf_counter()
    model.generate(many)
    row["batch_reasons"] = len(many)
    row["batch_reasons_per_s"] = len(many) / (time.perf_counter() - start)
    row["batch_rows"] = shipped
    log(f"lean batch: {row['batch_reasons_per_s']:.2f} reasons/s")
    row["sample_reasons"] = {"lean": texts["lean"][:5], "generate": texts["generate"][:5]}
    return row


def weights_step(decoder, repeats: int = 20) -> float:
    """Median seconds of the weight matmuls of one decoding step for one row: every layer's weights and the LM head read
    once. At one row the work is the memory traffic, so this is the floor of a step however the rest is written."""
    import torch

    d = decoder.norm.shape[0]
    x, inner = torch.randn(1, d, dtype=decoder.dtype), torch.randn(1, decoder.intermediate, dtype=decoder.dtype)
    attn = torch.randn(1, decoder.heads * decoder.head_dim, dtype=decoder.dtype)

    def step() -> None:
        for layer in decoder.layers:
            decoder._linear(x, layer.qkv), decoder._linear(attn, layer.o)
            decoder._linear(x, layer.gate_up), decoder._linear(inner, layer.down)
        decoder._linear(x, decoder.head)

    with torch.inference_mode():
        step()
        return timed(step, repeats)


def lean_breakdown(model, run) -> dict[str, float]:
    """Where one ten-reason call of the lean loop spends its time: the prompts (prefill of each prefix, forced openers,
    first logits), the steps' layers and LM head, and the rest (processors, bookkeeping); then, from a profile of a
    second call, the share of CPU time in matmul kernels."""
    from torch.profiler import ProfilerActivity, profile

    decoder = model._lean_decoder()
    spent = {"total_s": 0.0, "prompts_s": 0.0, "step_layers_s": 0.0, "step_head_s": 0.0, "steps": 0}
    inside = [False]

    def clocked(name: str, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            spent["steps"] += name == "step_layers_s" and not inside[0]
            if name == "prompts_s":
                inside[0] = True
            try:
                return fn(*a, **k)
            finally:
                if name == "prompts_s" or not inside[0]:
                    spent[name] += time.perf_counter() - start
                if name == "prompts_s":
                    inside[0] = False

        return wrapper

    decoder._prompts = clocked("prompts_s", decoder._prompts)
    decoder._forward = clocked("step_layers_s", decoder._forward)
    decoder._logits = clocked("step_head_s", decoder._logits)
    start = time.perf_counter()
    try:
        run()
    finally:
        for name in ("_prompts", "_forward", "_logits"):
            del decoder.__dict__[name]
    spent["total_s"] = time.perf_counter() - start
    spent["other_s"] = spent["total_s"] - spent["prompts_s"] - spent["step_layers_s"] - spent["step_head_s"]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key in MATMUL_KERNELS)
    spent["matmul_share"] = matmul / total
    spent["attention_share"] = sum(e.self_cpu_time_total for e in events if e.key == "aten::bmm") / total
    return {k: round(v, 4) for k, v in spent.items()}


def summary(out: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The one JSON object of --json: the decoder comparison's figures at the top, everything measured beside them."""
    saved = out.get("saved", {})
    keys = ("torch_s", "fast_s", "ratio", "floor_s", "batch_reasons_per_s", "same_reasons", "fast_cpu_s", "torch_s_by_batch")
    top = {k: saved[k] for k in keys if k in saved}
    return {**top, "threads": args.threads, "bf16": args.bf16, "load_average": out["load_average"],
            "load_average_end": out["load_average_end"], **{k: v for k, v in out.items() if k not in top}}  # fmt: skip


def table(out: dict[str, Any], args: argparse.Namespace) -> None:
    """The Markdown table."""
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
    if "saved" in out:
        row, name = out["saved"], args.saved.name
        by_batch = ", ".join(f"{s:.2f} s at {b} rows" for b, s in row["torch_s_by_batch"].items())
        print(
            f"| ten reasons for one user, trained {name}, transformers generate (warm, median of {args.repeats}) | {by_batch} |"
        )
        print(
            f"| ten reasons for one user, trained {name}, lean loop (warm, median of {args.repeats}) | {row['fast_s']:.2f} s "
            f"wall, {row['fast_cpu_s']:.2f} CPU-s, {row['words_per_reason']:.1f} words each; {row['ratio']:.1f}x faster |"
        )
        print(f"| reasons the two loops write alike, of ten | {row['same_reasons']} |")
        b = row["breakdown"]
        print(
            f"| lean loop's time | prompts {b['prompts_s']:.2f} s, step layers {b['step_layers_s']:.2f} s, step LM head "
            f"{b['step_head_s']:.2f} s, other {b['other_s']:.2f} s; matmul kernels {b['matmul_share']:.0%} of CPU, "
            f"attention {b['attention_share']:.0%} |"
        )
        print(
            f"| floor: {b['steps']} decoding steps × {row['weights_step_s'] * 1000:.1f} ms to read the weights once | "
            f"{row['floor_s']:.2f} s, before any prompt is read |"
        )
        print(f"| lean loop's reasons/s, {row['batch_reasons']} reasons | {row['batch_reasons_per_s']:.2f} |")
    print(f"| load average at end | {out['load_average_end']:.1f} |")


if __name__ == "__main__":
    main()
