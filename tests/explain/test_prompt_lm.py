"""prompt_lm: the shared contract and the plumbing on a tiny random LM; the real SmolLM2 on real reviews.

The tiny LM (2 layers, hidden 64) uses SmolLM2's real tokenizer, so everything but the weights is
what production runs. The real 135M model is converted once into the user cache, then loaded from there.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from whyrec.data.schema import Dataset, IdMap
from whyrec.data.split import Split, ratio
from whyrec.embeddings import embed_texts
from whyrec.errors import ArtifactError, ConfigError
from whyrec.explain import lm, prompt_lm
from whyrec.explain.aspects import AspectLexicon
from whyrec.explain.base import Reasoner, ReasonRequest, TrainingReviews
from whyrec.explain.prompt_lm import PromptLM, PromptLMConfig
from whyrec.explain.registry import load_reasoner, make_reasoner
from whyrec.explain.targets import explanation_examples
from whyrec.explain.voice import count_words, shopper_examples, voice_faults

from .contract import BATTERY_LEXICON, BATTERY_REVIEWS, ReasonerContract, battery_shop


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> None:
    """One intra-op thread: on a shared 2-core machine, two OpenMP threads that wait on each other run 10x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lm_dir(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with SmolLM2's tokenizer, saved as a local model folder."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = lm.load_tokenizer(smollm2_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_config(base: Path, **changes) -> PromptLMConfig:
    """Full fine-tuning of the tiny LM for a few dozen steps: enough to learn the battery shop."""
    options = dict(
        base_model=str(base), train_lm="full", max_steps=60, epochs=100, prompt_only_steps=5,
        batch_size=8, lr_prompt=1e-2, lr_lm=3e-3, max_new_tokens=12, patience=0,
        bf16=False,  # the same numbers on every CPU (unset, decoding is bf16 where the CPU has AMX)
    )  # fmt: skip
    return PromptLMConfig(**{**options, **changes})


class TestPromptLMContract(ReasonerContract):
    model = "prompt_lm"

    @pytest.fixture(scope="class", autouse=True)
    def _base(self, tiny_lm_dir: Path) -> None:
        type(self).base = tiny_lm_dir

    def make(self) -> Reasoner:
        return PromptLM(tiny_config(self.base))


# ---- plumbing on the tiny LM ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop() -> Dataset:
    return battery_shop()


@pytest.fixture(scope="module")
def split(shop: Dataset) -> Split:
    return ratio(shop, seed=0, table="reviews")


@pytest.fixture(scope="module")
def tiny_lora_run(tiny_lm_dir: Path, shop: Dataset, split: Split) -> tuple[PromptLM, list]:
    """A LoRA fit of the tiny LM, with what its epoch hook reported."""
    model = PromptLM(tiny_config(tiny_lm_dir, train_lm="lora", max_steps=20, prompt_only_steps=10))
    epochs: list = []
    model.on_epoch = lambda epoch, total, metrics: epochs.append((epoch, total, metrics))
    return model.fit(shop, split), epochs


@pytest.fixture(scope="module")
def tiny_lora(tiny_lora_run: tuple[PromptLM, list]) -> PromptLM:
    return tiny_lora_run[0]


def test_lora_saves_only_the_adapter_and_reloads_identically(tiny_lora: PromptLM, tmp_path: Path) -> None:
    tiny_lora.save(tmp_path / "r")
    files = {p.relative_to(tmp_path / "r").as_posix() for p in (tmp_path / "r").rglob("*") if p.is_file()}
    assert {"config.json", "prompts.npz", "profiles.json", "lexicon.json", "adapter/adapter_model.safetensors"} <= files
    assert not [f for f in files if f.startswith("lm/")]
    base_bytes = (Path(tiny_lora.config.base_model) / "model.safetensors").stat().st_size
    assert (tmp_path / "r" / "adapter" / "adapter_model.safetensors").stat().st_size < base_bytes / 20
    with np.load(tmp_path / "r" / "prompts.npz", allow_pickle=False) as z:
        assert z["user"].shape == (tiny_lora.n_users, 64) and z["item"].shape == (tiny_lora.n_items, 64)
    loaded = load_reasoner(tmp_path / "r")
    asked = [ReasonRequest(u, i) for u in (0, 3, 7) for i in (1, 4)] + [ReasonRequest(-1, 0)]
    assert [(r.text, r.score) for r in loaded.generate(asked)] == [(r.text, r.score) for r in tiny_lora.generate(asked)]


def test_prompt_only_tuning_leaves_the_lm_untouched(tiny_lm_dir: Path, shop: Dataset, split: Split, tmp_path: Path) -> None:
    """PEPLER's stage 1 alone (train_lm="none"): only the soft prompts learn; nothing of the LM is saved."""
    model = PromptLM(tiny_config(tiny_lm_dir, train_lm="none", max_steps=5)).fit(shop, split)
    before = lm.load_causal_lm(tiny_lm_dir).state_dict()
    after = model.lm.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model.save(tmp_path / "r")
    assert not (tmp_path / "r" / "adapter").exists() and not (tmp_path / "r" / "lm").exists()
    assert model.fit_stats["prompt_only_steps"] == model.fit_stats["steps"] == 5


def test_full_fine_tuning_saves_the_lm(tiny_lm_dir: Path, shop: Dataset, split: Split, tmp_path: Path) -> None:
    model = PromptLM(tiny_config(tiny_lm_dir, max_steps=3, prompt_only_steps=1)).fit(shop, split)
    model.save(tmp_path / "r")
    assert (tmp_path / "r" / "lm" / "model.safetensors").is_file()
    loaded = PromptLM.load(tmp_path / "r")
    trained, base = loaded.lm.state_dict(), lm.load_causal_lm(tiny_lm_dir).state_dict()
    assert any(not torch.equal(trained[k], base[k]) for k in base)  # stage 2 moved the LM and the copy kept it


def test_zero_shot_trains_nothing_and_reloads(tiny_lm_dir: Path, shop: Dataset, split: Split, tmp_path: Path) -> None:
    model = PromptLM(tiny_config(tiny_lm_dir, mode="zero_shot")).fit(shop, split)
    assert model.user_prompts is None and model.fit_stats == {}
    model.save(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["config.json", "lexicon.json", "profiles.json"]
    asked = [ReasonRequest(0, 1), ReasonRequest(-1, 2, hint="battery")]
    assert [r.text for r in load_reasoner(tmp_path / "r").generate(asked)] == [r.text for r in model.generate(asked)]
    prompt = model.tokenizer.apply_chat_template(model._chat(0, 1, "battery"), tokenize=False)
    assert "Power bank 15000 mAh" in prompt and "mentioning its battery" in prompt


def test_unknown_user_is_the_mean_user(tiny_lora: PromptLM) -> None:
    """With every user vector equal, the mean user is that vector: an unknown user's LM sentence is user 0's, without
    the link to user 0's own reviews."""
    model = copy.copy(tiny_lora)
    model.user_prompts = tiny_lora.user_prompts[:1].repeat(tiny_lora.n_users, 1)
    known, unknown = model.generate([ReasonRequest(0, 2, hint="battery"), ReasonRequest(-1, 2, hint="battery")])
    assert known.text.startswith(unknown.text.rstrip(".!")) and known.text != unknown.text
    assert known.evidence["kind"] == "personal" and known.evidence["history_items"]
    assert unknown.evidence["history_items"] == [] and unknown.evidence["user_aspects"] == []
    assert unknown.evidence["kind"] == "item"


def test_batched_generation_matches_one_at_a_time(tiny_lora: PromptLM) -> None:
    """Left padding and the attention mask: hints of different lengths padded into one batch change nothing."""
    asked = [ReasonRequest(0, 1), ReasonRequest(1, 2, hint="battery life and charging speed"), ReasonRequest(-1, 3, hint="x")]
    together = tiny_lora.generate(asked)
    alone = [tiny_lora.generate([q])[0] for q in asked]
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.score for r in together] == pytest.approx([r.score for r in alone], abs=1e-4)
    assert [r.evidence["hint"] for r in together] == ["battery", "battery life and charging speed", "x"]


def test_fit_stats_and_epoch_hook(tiny_lora_run: tuple[PromptLM, list]) -> None:
    model, epochs = tiny_lora_run
    stats = model.fit_stats
    assert stats["steps"] == 20 and stats["prompt_only_steps"] == 10 and len(stats["loss"]) == 20
    assert stats["sec_per_step"] > 0 and stats["cpu_sec_per_step"] > 0 and np.isfinite(stats["valid_nll"])
    per_epoch = -(-stats["examples"] // 8)  # batches of 8
    assert [(e, n) for e, n, _ in epochs] == [(e, -(-20 // per_epoch)) for e in range(1, -(-20 // per_epoch) + 1)]
    assert epochs[-1][2]["step"] == 20
    assert epochs[0][2]["loss"] == pytest.approx(np.mean(stats["loss"][:per_epoch]), abs=1e-3)  # stats round to 4 places


def test_early_stop_keeps_the_epoch_with_the_lowest_validation_nll(tiny_lm_dir: Path, shop: Dataset, split: Split) -> None:
    """One calm epoch of prompt tuning, then a learning rate that wrecks the LM: training stops and the calm epoch comes back."""
    model = PromptLM(tiny_config(tiny_lm_dir, patience=1, max_steps=None, epochs=6, lr_lm=5.0))
    examples = shopper_examples(shop, AspectLexicon.build(shop.reviews["text"].iloc[split.train]), split.train)
    model.config.prompt_only_steps = -(-len(examples) // 8)  # exactly the first epoch
    model.fit(shop, split)
    stats = model.fit_stats
    per_epoch = stats["valid_nll_per_epoch"]
    assert stats["stopped_early"] and len(per_epoch) == 2 and per_epoch[1] > per_epoch[0]
    assert stats["best_epoch"] == 1 and stats["steps"] == 2 * model.config.prompt_only_steps
    valid = shopper_examples(shop, model.lexicon, split.valid)
    assert model.nll(valid) == pytest.approx(stats["valid_nll"], abs=1e-3) == pytest.approx(per_epoch[0], abs=1e-3)


def test_fitting_leaves_the_callers_torch_rng_alone(tiny_lm_dir: Path, shop: Dataset, split: Split) -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    PromptLM(tiny_config(tiny_lm_dir, train_lm="lora", max_steps=2, prompt_only_steps=1)).fit(
        shop, split
    )  # LoRA init and dropout draw
    assert torch.equal(torch.random.get_rng_state(), before)


def test_title_words_put_the_items_title_before_the_reply(tiny_lm_dir: Path, shop: Dataset, split: Split) -> None:
    titled = PromptLM(tiny_config(tiny_lm_dir, title_words=2, max_steps=1))
    titled.fit(shop, split)
    item, title = next((i, t) for i, t in titled.titles.items() if len(t.split()) > 2)
    prefix = titled.tokenizer.decode(titled._prefix_ids(item, "battery"))
    assert " ".join(title.split()[:2]) in prefix and " ".join(title.split()[:3]) not in prefix
    assert prefix.endswith("About the battery:")
    plain = PromptLM(tiny_config(tiny_lm_dir, title_words=0, max_steps=1)).fit(shop, split)
    assert title.split()[0] not in plain.tokenizer.decode(plain._prefix_ids(item, "battery"))


def test_bf16_autocast_learns_the_shop_like_fp32(tiny_lm_dir: Path, shop: Dataset, split: Split) -> None:
    """bf16 autocast trains to the same answer (reasons about the battery) with a loss close to fp32's; no validation when asked for none."""
    fp32 = PromptLM(tiny_config(tiny_lm_dir, valid_examples=0)).fit(shop, split)
    bf16 = PromptLM(tiny_config(tiny_lm_dir, valid_examples=0, bf16=True)).fit(shop, split)
    assert "valid_nll" not in bf16.fit_stats and "valid_nll" not in fp32.fit_stats
    losses = np.array(bf16.fit_stats["loss"])
    assert np.isfinite(losses).all() and losses[-10:].mean() < losses[:10].mean() - 1.0
    assert abs(losses[-10:].mean() - np.mean(fp32.fit_stats["loss"][-10:])) < 0.5
    reasons = bf16.generate([ReasonRequest(u, i) for u in (0, 1, -1) for i in (0, 1)])
    assert all("battery" in r.aspects and np.isfinite(r.score) for r in reasons), [r.text for r in reasons]


def test_constrained_decoding_never_writes_a_banned_word(tiny_lm_dir: Path) -> None:
    """Trained on first-person reviews (PEPLER's raw targets) the tiny LM writes "I"/"my"; constrained, no candidate does."""
    shop = battery_shop()
    voiced = ["The battery is great, I use it for my phone.", "I think the battery is excellent.", "I love the battery.",
              "Your battery is great."]  # fmt: skip
    shop.reviews["text"] = [voiced[k % len(voiced)] for k in range(len(shop.reviews))]
    model = PromptLM(tiny_config(tiny_lm_dir, targets="review", candidates=3, constrained=False, valid_examples=0))
    model.fit(shop)
    keys = [(u, i, "battery") for u in range(4) for i in range(3)]
    free = [t for c in model._decode(keys) for t, _ in c]
    assert any(voice_faults(t)[0] for t in free), free  # the check can fail
    model.config.constrained = True
    held = [t for c in model._decode(keys) for t, _ in c]
    assert held and not any(voice_faults(t)[0] for t in held), held
    assert any(t.startswith("Your") for t in free) and not any(t.lower().startswith("your") for t in held), (free, held)
    # a shown reason is a held candidate, trimmed of echoes, with the shopper's evidence after it
    for r in model.generate([ReasonRequest(u, i) for u, i, _ in keys]):
        written = r.text.split(" — ")[0].split(" You've reviewed")[0]  # the evidence links start so
        assert any((h[:1].upper() + h[1:]).startswith(written.rstrip(".!")) for h in held), (r.text, held)  # upper-cased


def decoded(model: PromptLM, keys: list, decoder: str, bf16: bool = False) -> list[tuple[list[int], torch.Tensor]]:
    """Per row of `keys` (key × candidate), its reply's tokens through EOS and their log-probs, decoded by `decoder`."""
    model = copy.copy(model)  # the fixture's config stays as it was
    model.config = model.config.model_copy(update={"decoder": decoder, "bf16": bf16})
    eos = model.tokenizer.eos_token_id
    out = []
    for tokens, logp in model._replies(*model._rows(keys)):
        end = tokens.index(eos) + 1 if eos in tokens else len(tokens)
        out.append((tokens[:end], logp[:end]))
    return out


@pytest.fixture(scope="module")
def tiny_full(tiny_lm_dir: Path, shop: Dataset, split: Split) -> PromptLM:
    """The tiny LM fully fine-tuned on the battery shop: it has learned to end its replies."""
    return PromptLM(tiny_config(tiny_lm_dir, valid_examples=0)).fit(shop, split)


def test_lean_decoder_writes_what_generate_writes(tiny_full: PromptLM, tiny_lora: PromptLM) -> None:
    """In fp32 the lean loop writes transformers' generate's tokens row for row (greedy, opened by "The <hint>", seeded
    nucleus samples) with the same log-probs, for prompts of different lengths decoded together, after its cache has
    been compacted to the rows still writing; on LoRA merged too."""
    keys = [(0, 1, "battery"), (1, 2, "battery life and charging speed"), (-1, 3, None), (2, 0, "price")]
    written = {}
    for name, model in [("full", tiny_full), ("lora", tiny_lora)]:
        reference = decoded(model, keys, "generate")
        lean = decoded(model, keys, "lean")
        assert [t for t, _ in lean] == [t for t, _ in reference]
        for (_, mine), (_, theirs) in zip(lean, reference, strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-4)
        written[name] = [t for t, _ in reference]
    # What the comparison covered: left padding, three forced openers, replies ending at different lengths (the fully
    # tuned model's), samples unlike the greedy reply (the LoRA model's, whose distributions are spread out).
    prefixes, openers, _ = tiny_full._rows(keys)
    assert len({len(p) for p in prefixes}) >= 3 and sum(map(bool, openers)) == 3
    ended = [len(t) for t in written["full"] if t[-1] == tiny_full.tokenizer.eos_token_id]
    assert ended and min(ended) < max(map(len, written["full"])), written["full"]
    # half the rows ended while others went on: the cache was compacted to the live rows and decoding went on in it
    lengths = sorted(map(len, written["full"]))
    assert lengths[len(lengths) // 2 - 1] < lengths[-1], lengths
    spread = written["lora"]
    assert all(spread[4 * k] not in (spread[4 * k + 2], spread[4 * k + 3]) for k in range(len(keys))), spread


def test_a_quorum_stops_decoding_once_enough_candidates_of_every_reason_have_ended(tiny_full: PromptLM) -> None:
    """With a quorum of two, decoding stops when two candidates of every reason have ended: those are the tokens the
    full run writes; the rest stop early, unended, and the reasons choose among the ended ones only. `generate`, the
    reference, stops at the same step."""
    keys = [(0, 1, "battery"), (1, 2, "battery life and charging speed"), (-1, 3, None), (2, 0, "price")]
    eos, n = tiny_full.tokenizer.eos_token_id, tiny_full.config.candidates
    every = copy.copy(tiny_full)
    every.config = tiny_full.config.model_copy(update={"quorum": None})
    full = [t for t, _ in decoded(every, keys, "lean")]
    quick = copy.copy(tiny_full)
    quick.config = tiny_full.config.model_copy(update={"quorum": 2})
    cut = [t for t, _ in decoded(quick, keys, "lean")]
    for k in range(len(keys)):
        rows = range(k * n, (k + 1) * n)
        ended = [r for r in rows if eos in cut[r]]
        assert len(ended) >= 2 and all(cut[r] == full[r] for r in ended)
        assert all(full[r][: len(cut[r])] == cut[r] for r in rows)
    assert [t for t, _ in decoded(quick, keys, "generate")] == cut  # the reference stops where the lean loop does
    stopped = [r for r, t in enumerate(cut) if eos not in t and len(t) < quick.config.max_new_tokens]
    assert stopped, (full, cut)  # the case covers rows cut short
    assert max(map(len, cut)) < max(map(len, full))
    texts = quick._decode(keys)
    assert all(1 <= len(c) <= n for c in texts) and sum(map(len, texts)) == len(cut) - len(stopped)


def test_the_quorum_waits_for_a_candidate_opened_by_the_hint(tiny_full: PromptLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """A candidate the hint opens ("The battery is durable …") surely names the hint and says what reviewers found: the
    quorum waits for it to end however long it runs, in both decoding loops. Here a quorum of one, waiting for a row
    that quorum otherwise cuts short; `_replies` marks the rows with an opener so."""
    keys = [(0, 1, "battery"), (1, 2, "battery life and charging speed"), (-1, 3, None), (2, 0, "price")]
    cfg, eos = tiny_full.config, tiny_full.tokenizer.eos_token_id
    n = cfg.candidates

    def run(quorum: int | None, required: list[bool], decoder: str = "lean") -> list[list[int]]:
        prefixes, openers, constraints = tiny_full._rows(keys)  # fresh seeded generators each run
        forced = [tiny_full.tokenizer(" " + o, add_special_tokens=False)["input_ids"] if o else [] for o in openers]
        if decoder == "generate":
            model = copy.copy(tiny_full)
            model.config = cfg.model_copy(update={"quorum": quorum})
            out = model._generate([prefixes[r // n] for r in range(len(forced))], forced, constraints, required)
        else:
            rows = [(r // n, f) for r, f in enumerate(forced)]
            options = {"max_new_tokens": cfg.max_new_tokens, "min_new_tokens": cfg.min_new_tokens}
            options |= {"repetition_penalty": cfg.repetition_penalty, "eos_token_id": eos}
            out = tiny_full._lean_decoder().decode(prefixes, rows, constraints, quorum=quorum, required=required, **options)
        return [t[: t.index(eos) + 1] if eos in t else t for t, _ in out]

    none = [False] * len(keys) * n
    full, cut = run(None, none), run(1, none)
    late = next(r for r, t in enumerate(cut) if t != full[r])
    waited = run(1, [r == late for r in range(len(none))])
    assert waited[late] == full[late] and cut[late] != full[late]
    assert run(1, [r == late for r in range(len(none))], "generate") == waited
    # what `_replies` asks the lean loop to wait for: the candidates opened by a hint
    decoder, seen = tiny_full._lean_decoder(), {}
    monkeypatch.setattr(decoder, "decode", lambda *a, original=decoder.decode, **k: seen.update(k) or original(*a, **k))
    tiny_full._replies(*tiny_full._rows(keys))
    assert seen["required"] == [k[2] is not None and j == 1 for k in keys for j in range(n)]


def test_lean_decoder_without_onednn_writes_the_same(tiny_full: PromptLM, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where torch has no oneDNN the lean loop multiplies with F.linear instead, to the same tokens."""
    keys = [(0, 1, "battery"), (-1, 3, None)]
    packed = decoded(tiny_full, keys, "lean")
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    plain = copy.copy(tiny_full)
    plain._lean = None
    assert plain._lean_decoder()._linear is torch.nn.functional.linear
    assert [t for t, _ in decoded(plain, keys, "lean")] == [t for t, _ in packed]


def test_lean_decoder_runs_llama_models_only(tiny_lm_dir: Path) -> None:
    """A model whose forward it does not reproduce (here attention with biases) is refused by name, not decoded wrongly."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from whyrec.explain.decoding import LeanDecoder

    config = LlamaConfig.from_pretrained(tiny_lm_dir)
    LeanDecoder(LlamaForCausalLM(config), torch.float32)
    config.attention_bias = True
    with pytest.raises(ConfigError, match="decoder = 'generate'"):
        LeanDecoder(LlamaForCausalLM(config), torch.float32)


@pytest.mark.parametrize(
    ("damaged", "named"),
    [
        ("prompts.npz", "prompts.npz"),
        ("adapter/adapter_model.safetensors", "adapter_model.safetensors"),
        ("adapter/adapter_config.json", "adapter_config.json"),
    ],
)
def test_a_damaged_saved_file_is_an_artifact_error_naming_it(
    tiny_lora: PromptLM, tmp_path: Path, damaged: str, named: str
) -> None:
    tiny_lora.save(tmp_path / "r")
    (tmp_path / "r" / damaged).write_bytes(b"\x00not what was saved")
    with pytest.raises(ArtifactError, match=named):
        PromptLM.load(tmp_path / "r")


def test_config_errors_name_the_field(tiny_lm_dir: Path, shop: Dataset) -> None:
    with pytest.raises(ConfigError, match="train_lm"):
        make_reasoner("prompt_lm", {"train_lm": "qlora"})
    with pytest.raises(ConfigError, match="reviews split"):
        PromptLM(tiny_config(tiny_lm_dir)).fit(shop, Split("ratio", 0, np.arange(3), np.arange(0), np.arange(0)))
    with pytest.raises(ConfigError, match="base_model"):
        PromptLM(PromptLMConfig(base_model="/nonexistent/model")).fit(shop)
    with pytest.raises(ArtifactError, match="not fitted"):
        PromptLM().generate([ReasonRequest(0, 0)])


# ---- the LM plumbing ------------------------------------------------------------------------------


def test_converted_model_answers_sensibly(smollm2_dir: Path) -> None:
    tokenizer, model = lm.load_tokenizer(smollm2_dir), lm.load_causal_lm(smollm2_dir)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer("hi")["input_ids"][0] != tokenizer.bos_token_id
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)


def test_conversion_cache_is_reused_and_checked(smollm2_dir: Path, tmp_path: Path) -> None:
    assert lm.ensure_converted(smollm2_dir.parent) == smollm2_dir  # already there: no reconversion
    partial = lm.converted_path(tmp_path)
    partial.mkdir(parents=True)
    (partial / "config.json").write_text("{}")
    with pytest.raises(ArtifactError, match="incomplete"):
        lm.ensure_converted(tmp_path)


# ---- the real SmolLM2 on real reviews ---------------------------------------------------------------


def gift_card_reviews(datasets_dir: Path, n: int) -> Dataset:
    """The first `n` Amazon 2018 Gift Cards reviews, with titles from the metadata, as a Dataset."""
    with gzip.open(datasets_dir / "amazon2018-gift-cards" / "Gift_Cards_5.json.gz", "rt") as f:
        raw = pd.DataFrame([json.loads(line) for _, line in zip(range(n), f, strict=False)])
    users, items = IdMap.from_raw(raw["reviewerID"]), IdMap.from_raw(raw["asin"])
    reviews = pd.DataFrame(
        {
            "user": users.indices(raw["reviewerID"]),
            "item": items.indices(raw["asin"]),
            "rating": raw["overall"],
            "text": raw["reviewText"].fillna(""),
            "timestamp": raw["unixReviewTime"],
        }
    )
    titles = {}
    with gzip.open(datasets_dir / "amazon2018-gift-cards" / "meta_Gift_Cards.json.gz", "rt") as f:
        for line in f:
            rec = json.loads(line)
            if rec["asin"] in items:
                titles[rec["asin"]] = rec.get("title", "")
    catalog = pd.DataFrame(
        {"item": range(len(items)), "title": [titles.get(a, "") for a in items.raw], "category": "Gift Cards",
         "brand": "", "price": np.nan, "description": ""}
    )  # fmt: skip
    return Dataset(reviews.assign(event="rating")[["user", "item", "timestamp", "event", "rating"]], users, items,
                   reviews=reviews, items=catalog, name="gift-cards")  # fmt: skip


@pytest.fixture(scope="module")
def gift_cards(datasets_dir: Path) -> Dataset:
    return gift_card_reviews(datasets_dir, 150)


@pytest.mark.lm  # the default base model, by name
def test_real_lm_lora_learns_on_real_reviews(gift_cards: Dataset) -> None:
    """A few LoRA steps on real reviews: the loss over the whole training set drops epoch on epoch; text comes out."""
    split = ratio(gift_cards, seed=0, table="reviews")
    config = PromptLMConfig(
        max_steps=8, epochs=4, prompt_only_steps=2, batch_size=8, lr_prompt=3e-3, lr_lm=1e-3, max_explanation_words=12,
        max_new_tokens=16, patience=0,
    )  # fmt: skip
    model = PromptLM(config).fit(gift_cards, split)
    losses = model.fit_stats["loss"]
    per_epoch = len(losses) // 4  # each epoch's steps see every training explanation once
    assert np.mean(losses[-per_epoch:]) < np.mean(losses[:per_epoch]) - 0.3, losses
    examples = explanation_examples(gift_cards, model.lexicon, np.sort(split.train))
    pairs = examples[["user", "item"]].drop_duplicates().head(3).to_numpy()
    asked = [ReasonRequest(int(u), int(i)) for u, i in pairs] + [ReasonRequest(-1, int(pairs[0][1]), hint="gift card")]
    reasons = model.generate(asked)
    assert all(len(r.text.split()) >= 3 and r.score < 0 for r in reasons), reasons
    assert "gift card" in reasons[-1].text.lower()


@pytest.mark.lm
def test_real_lm_zero_shot_uses_the_profiles(gift_cards: Dataset) -> None:
    model = PromptLM(PromptLMConfig(mode="zero_shot", max_new_tokens=24)).fit(gift_cards)
    item = max(model.aspects_by_item, key=lambda i: len(model.aspects_by_item[i]))
    reasons = model.generate([ReasonRequest(0, item), ReasonRequest(-1, item)])
    assert all(len(r.text.split()) >= 4 for r in reasons)
    named = {a for r in reasons for a in r.aspects}
    assert named & set(model.aspects_by_item[item]), [r.text for r in reasons]


@pytest.mark.lm
def test_real_lm_lean_decoder_writes_what_generate_writes(gift_cards: Dataset) -> None:
    """SmolLM2 on real zero-shot prompts of different lengths: in fp32 the lean loop writes generate's tokens. With bf16
    matmuls most greedy replies (plain and opened by the hint) still read the same; the seeded samples do not, as under
    generate's bf16 autocast: their noise goes to the nucleus by rank, and bf16 reorders nearly tied tokens."""
    model = PromptLM(PromptLMConfig(mode="zero_shot", max_new_tokens=16)).fit(gift_cards)
    users = (0, 5, -1, 9, 2, 3)
    items = sorted(model.aspects_by_item, key=lambda i: (-len(model.aspects_by_item[i]), i))[: len(users)]
    keys = [(u, i, (model.aspects_by_item[i][:1] or [None])[0]) for u, i in zip(users, items, strict=True)]
    assert len({len(p) for p in model._rows(keys)[0]}) > 1
    reference = [t for t, _ in decoded(model, keys, "generate")]
    assert [t for t, _ in decoded(model, keys, "lean")] == reference
    greedy = [r for r in range(len(reference)) if r % model.config.candidates < 2]
    fast = [t for t, _ in decoded(model, keys, "lean", bf16=True)]
    same = np.mean([model.tokenizer.decode(fast[r]) == model.tokenizer.decode(reference[r]) for r in greedy])
    assert same >= 0.6, same


@pytest.mark.lm
def test_real_lm_shown_reasons_speak_to_the_shopper_about_the_hint(gift_cards: Dataset) -> None:
    """A short fit on shopper-voice targets, through the served path (filters, template fallback): the reasons the LM
    writes have no first person or complaint, and name the aspect they were planned to be about."""
    from whyrec.artifact import Artifact
    from whyrec.config import RunConfig
    from whyrec.explain.template import TemplateReasoner
    from whyrec.recommendation import Reasons, RecordedFacts, recommend

    options = {"max_steps": 12, "prompt_only_steps": 4, "batch_size": 8, "lr_lm": 1e-3, "lr_prompt": 3e-3, "patience": 0}
    artifact = Artifact.train(gift_cards, RunConfig(recommender="itemknn", reasoner="prompt_lm", models={"prompt_lm": options}))
    model = artifact.reasoner
    facts = RecordedFacts.of(model, artifact.item_ids)
    reasons = Reasons(model, facts, TemplateReasoner().fit(gift_cards), known_users=model.n_users)
    shown = [
        rec
        for user in range(8)
        for rec in recommend(artifact.serving_recommender(), user, 5, facts, reasons=reasons, attribute=False).items
    ]
    written = [r for r in shown if r.reasoner == "prompt_lm"]
    assert len(written) >= 0.8 * len(shown), [(r.reasoner, r.reason) for r in shown]
    assert not any(any(voice_faults(r.reason)) for r in written), [r.reason for r in written]
    # no hint where the item's only aspects name its product type ("gift card"): those are never the planned aspect
    assert all(r.evidence["hint"] in (None, *model.lexicon.mentions(r.reason)) for r in written), [
        (r.evidence["hint"], r.reason) for r in written
    ]


def test_the_critic_learns_after_training_and_weighs_in_the_choice(tiny_lm_dir: Path, tmp_path: Path) -> None:
    """With critic_weight > 0 a critic is fitted on the targets vs the model's own reasons, saved, and tips the pick."""
    shop = battery_shop()
    model = PromptLM(tiny_config(tiny_lm_dir, critic_weight=1.0, critic_pairs=10, candidates=2, valid_examples=0))
    model.fit(shop)
    assert model.critic is not None and 0.0 <= model.fit_stats["critic_auc"] <= 1.0
    loaded = PromptLM.load(model.save(tmp_path / "plm"))
    texts = ["The battery lasts all day.", "battery battery"]
    np.testing.assert_allclose(loaded.critic.score(texts, embed_texts), model.critic.score(texts, embed_texts), rtol=1e-6)
    plain, liked = ("The battery is good here.", -0.1), ("The battery is great here.", -0.5)
    assert model._pick([plain, liked], 0, "battery", []) == plain  # by log-prob alone
    model.config.critic_weight = 10.0
    bonus = model._bonus({(0, 0, "battery"): [plain, liked]})[(0, 0, "battery")]
    realness = model.critic.score([plain[0], liked[0]], embed_texts)
    np.testing.assert_allclose(bonus, 10.0 * realness, rtol=1e-5)
    assert model._pick([plain, liked], 0, "battery", [], [1.0, 9.0]) == liked


def test_the_shopper_profile_picks_the_candidate_in_their_words_and_is_forgotten(tiny_lm_dir: Path, tmp_path: Path) -> None:
    """With profile_weight > 0 each shopper's training reviews give a unit vector, saved and reloaded; among sound
    candidates the one nearest it wins (never a faulty one), and forgetting the shopper drops it."""
    shop = battery_shop()
    model = PromptLM(tiny_config(tiny_lm_dir, profile_weight=5.0, candidates=2, valid_examples=0))
    model.fit(shop)
    assert set(model.user_profiles) == set(shop.reviews["user"].unique())
    user = 0
    assert model.user_profiles[user] == pytest.approx(prompt_lm._profiles(shop.reviews)[user], abs=1e-5)
    loaded = PromptLM.load(model.save(tmp_path / "plm"))
    np.testing.assert_allclose(loaded.user_profiles[user], model.user_profiles[user], atol=2e-3)  # stored as float16
    (tmp_path / "plm" / "profiles.npz").write_bytes(b"\x00not what was saved")
    with pytest.raises(ArtifactError, match=r"profiles\.npz"):
        PromptLM.load(tmp_path / "plm")
    # two sound candidates in the words of the item's reviews, the second a little less likely but in the words of a
    # shopper who writes of travel
    texts = shop.reviews.groupby("item")["text"].agg(set)
    item = next(i for i, t in texts.items() if {BATTERY_REVIEWS[5], BATTERY_REVIEWS[7]} <= t)  # its reviews say both
    solid, trips = ("The battery is solid.", -0.2), ("The battery works well on long trips.", -0.3)
    written = {(user, item, "battery"): [solid, trips]}
    model.user_profiles[user] = embed_texts(["Took it on a long trip across the country, travel essential."])[0]
    assert model._pick([solid, trips], item, "battery", []) == solid  # by log-prob alone
    assert model._pick([solid, trips], item, "battery", [], model._bonus(written)[(user, item, "battery")]) == trips
    # the shopper's words never buy back a fault: a reply in them that leaves the hint unsaid loses to a sound one
    unsaid = ("It works well on long trips.", -0.3)
    written = {(user, item, "battery"): [solid, unsaid]}
    model.config = model.config.model_copy(update={"profile_weight": 10.0})  # its words outweigh the missing hint's fault
    bonus = model._bonus(written)[(user, item, "battery")]
    assert bonus[1] > bonus[0] + 3 and model._pick([solid, unsaid], item, "battery", [], bonus) == solid
    assert model.forget_user(user) and user not in model.user_profiles
    assert model._bonus(written) == {}  # nothing of a forgotten shopper to weigh


def test_a_profile_is_what_sets_the_shoppers_latest_reviews_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile is the mean of a shopper's `PROFILE_REVIEWS` latest reviews less every shopper's mean; one with only
    blank texts has none, nor a shop of one shopper (nothing sets them apart)."""
    reviews = pd.DataFrame(
        {
            "user": [7, 2, 7, 9, 7],
            "text": ["The scent is lovely.", "Fast shipping.", "Cheap price.", "", "Great value for money."],
            "timestamp": [1, 2, 3, 4, 5],
        }
    )
    monkeypatch.setattr(prompt_lm, "PROFILE_REVIEWS", 2)
    profiles = prompt_lm._profiles(reviews)
    assert sorted(profiles) == [2, 7]
    latest = embed_texts(["Cheap price.", "Great value for money."], max_seq_length=128).sum(0)
    other = embed_texts(["Fast shipping."], max_seq_length=128)[0]
    apart = latest / np.linalg.norm(latest) - other / np.linalg.norm(other)  # twice each one's distance from the mean
    np.testing.assert_allclose(profiles[7], apart / np.linalg.norm(apart), atol=1e-5)
    np.testing.assert_allclose(profiles[2], -profiles[7], atol=1e-5)
    assert prompt_lm._profiles(reviews[reviews["user"] == 7]) == {}
    assert prompt_lm._profiles(reviews.iloc[:0]) == {}


def test_shown_text_is_trimmed_of_echoes_and_tied_to_the_shoppers_own_reviews(tiny_lora: PromptLM) -> None:
    """Later sentences that name nothing new go; the link says what the shopper's reviews praised, counted, or the brand
    of items they reviewed; crowd words and digits cannot be decoded at all."""
    model = tiny_lora
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    assert model._trim("The battery is great. Great battery.", item) == "The battery is great."
    assert model._trim("The battery lasts.", item) == "The battery lasts."
    assert model._trim("The battery is great too.", item) == "The battery is great."
    assert model._trim("The battery was great.", item) == "The battery is great."  # the item now, not a past finding
    assert model._trim("the battery lasts as well", item) == "The battery lasts"
    assert model._trim("The battery is great, and the case is sturdy too.", item).endswith("sturdy too.")
    # the chat's next turn or a title run on after a stop with no space: cut at the stop, unless the title writes it so
    assert model._trim("The battery is great.user You will need a charger.", item) == "The battery is great."
    assert model._trim("The battery is great.com Power Bank (Blue)", item) == "The battery is great."
    titled = copy.copy(model)
    titled.titles = {**model.titles, item: "Voltix.com Power Bank"}
    assert titled._trim("The battery of Voltix.com is great.", item) == "The battery of Voltix.com is great."
    # a first sentence naming only what the item is says nothing: "Gift card. A great treat."
    typed = copy.copy(model)
    typed.product_by_item = {**model.product_by_item, item: ["power bank"]}
    assert typed._trim("Power banks. The battery is great.", item) == "The battery is great."
    assert typed._trim("Power bank.", item) == "Power bank."  # nothing else to say: the pick faults it
    assert typed._trim("Great power bank. The battery is great.", item) == "Great power bank. The battery is great."
    user = next(u for u, h in model.user_history.items() if [i for i in h.get("battery", []) if i != item])
    praised = [i for i in model.user_history[user]["battery"] if i != item]
    text, history, kind = model._link(user, item, "battery")
    assert kind == "personal" and sorted(history) == sorted(praised)
    where = "an earlier review" if len(praised) == 1 else f"{count_words(len(praised))} of your reviews"
    assert text == f" — just what you praised in {where}."
    reviewed = [j for j in model.reviewed[user] if j != item]
    kin = [j for j in reviewed if "battery" in model.praised_by_item.get(j, [])]
    assert kin and model._kin(user, item)["battery"] == kin
    forgetful = copy.copy(model)
    forgetful.user_history = {}  # their own praise unknown: what their reviewed items are praised for speaks instead
    text, history, kind = forgetful._link(user, item, "battery")
    assert kind == "history" and history == kin[::-1] and text.startswith(" — the same was praised in ")
    text, history, kind = model._link(user, item, None)  # nothing praised for no aspect: the brand of reviewed items
    assert kind == "brand" and sorted(history) == sorted(reviewed) and text.endswith(" from Voltix.")
    assert model._link(user, item, "nonexistent aspect")[2] == "brand"
    # a reply that leaves the hint unsaid is not tied to the shopper's praise of it: the brand line instead
    unsaid = model._reason(ReasonRequest(user, item), "battery", "It's a good one.", 0.0, set(), Counter())
    assert unsaid.evidence["kind"] == "brand" and unsaid.text.endswith(" from Voltix.") and "praised" not in unsaid.text
    said = model._reason(ReasonRequest(user, item), "battery", "The battery is great.", 0.0, set(), Counter())
    assert said.evidence["kind"] == "personal" and said.text == f"The battery is great — just what you praised in {where}."
    others = [i for i in range(model.n_items) if i != item][:2]
    first, second = model.generate([ReasonRequest(user, i, hint="nonexistent aspect") for i in others])
    assert first.evidence["kind"] == "brand" and first.text.endswith(" from Voltix.")  # once per list, not per item
    # the second item of the brand: no brand line again, nor a co-view line (the shop's titles carry numbers)
    assert second.evidence["kind"] == "item" and "Voltix" not in second.text
    banned = set(model._banned(item).next_banned([]))
    for word in (" reviewers", " often", " 5", "5", " 2019"):
        ids = model.tokenizer(word, add_special_tokens=False)["input_ids"]
        assert ids[0] in banned or ids[-1] in set(model._banned(item).next_banned(ids[:-1])), word


def test_an_item_with_nothing_to_cite_gets_no_lm_reason(tiny_lora: PromptLM) -> None:
    """No aspect but the product type: the LM would write from nothing, so the request is declined undecoded and
    flagged; an aspect the served facts know (in the request, or the filters' retry) is written about instead, and
    where they know none either the fallback (here the template) writes the shown reason."""
    from whyrec.explain.filters import UNSUPPORTED, generate_grounded
    from whyrec.explain.template import TemplateReasoner

    model = copy.copy(tiny_lora)
    model.vocab = frozenset()  # the tiny LM writes non-words, which the unknown-word check would flag too
    model._item_bans = {}  # the copy's own: its items' aspects differ from the fixture's
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: []}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: []}
    bare, cited = model.generate([ReasonRequest(0, 1), ReasonRequest(0, 2)])
    assert bare.flags == [UNSUPPORTED] and bare.evidence["hint"] is None and bare.text == ""
    assert cited.flags == [] and "battery" in cited.aspects
    # the served facts' praise, carried by the request, is hinted on the first try
    [served] = model.generate([ReasonRequest(0, 1, praised=("battery",))])
    assert served.flags == [] and served.evidence["hint"] == "battery" and "battery" in served.aspects
    # a requested hint the model's profile of the item lacks (the filters take it from the served facts) can be written
    battery = model.tokenizer(" battery", add_special_tokens=False)["input_ids"]
    assert battery[0] in set(model._banned(1).next_banned([])) or battery[-1] in set(model._banned(1).next_banned(battery[:-1]))
    assert battery[0] not in set(model._banned(1, "battery").next_banned([]))
    assert battery[-1] not in set(model._banned(1, "battery").next_banned(battery[:-1]))
    fallback = TemplateReasoner().fit(battery_shop())
    asked = [ReasonRequest(0, 1), ReasonRequest(0, 2)]
    # the served facts know an aspect of the item: the filters' retry hints it and the LM writes about it
    retried = generate_grounded(model, fallback, asked, tiny_lora.item_aspects())
    assert [r.evidence["generated_by"] for r in retried] == ["prompt_lm", "prompt_lm"]
    assert retried[0].evidence["hint"] == "battery" and not retried[0].flags
    # they know none either: the fallback writes it
    replaced = generate_grounded(model, fallback, asked, {**tiny_lora.item_aspects(), 1: []})
    assert [r.evidence["generated_by"] for r in replaced] == ["template", "prompt_lm"]


def test_a_reason_whose_best_candidate_is_still_faulty_is_flagged_and_retried(
    tiny_lora: PromptLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where every candidate leaves the hint unsaid and praises only the item's brand ("You'll love Voltcraft.": two
    lesser faults), the reason is flagged, so the filters retry it about the item's first praised aspect and show
    a sound reply of the retry; `max_faults=None` flags nothing."""
    from whyrec.explain.filters import FAULTY, generate_grounded
    from whyrec.explain.template import TemplateReasoner

    model = copy.copy(tiny_lora)
    model.vocab = frozenset()
    model.brands = {**tiny_lora.brands, 1: "Voltcraft"}
    replies = iter([[("You'll love Voltcraft.", -0.1)], [("The battery lasts all day on long trips.", -0.9)]])
    monkeypatch.setattr(model, "_decode", lambda keys: [next(replies) for _ in keys])
    asked = ReasonRequest(0, 1)
    [flagged] = model.generate([asked])
    assert flagged.text.startswith("You'll love Voltcraft") and FAULTY in flagged.flags
    replies = iter([[("You'll love Voltcraft.", -0.1)], [("The battery lasts all day on long trips.", -0.9)]])
    [retried] = generate_grounded(model, TemplateReasoner().fit(battery_shop()), [asked], {1: ["battery"]},
                                  praised={1: ["battery"]})  # fmt: skip
    assert retried.text.startswith("The battery lasts all day") and not retried.flags
    assert retried.evidence["hint"] == "battery" and retried.evidence["generated_by"] == "prompt_lm"
    model.config = model.config.model_copy(update={"max_faults": None})
    replies = iter([[("You'll love Voltcraft.", -0.1)]])
    assert FAULTY not in model.generate([asked])[0].flags


def test_an_invented_word_is_never_hinted_and_flags_the_reason(tiny_lora: PromptLM) -> None:
    """A word in no English dictionary that no training target, title or brand uses ("movy" in a lexicon saved before
    plurals.tsv, a made-up "zorbly") is not hinted and flags the reason for the filters; brand and title words pass."""
    from whyrec.explain.filters import UNKNOWN_WORD

    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    assert model._unknown("The battery is zorbly, says Voltix.", item) == ["zorbly"]
    assert model._unknown(f"{model.titles[item]} — you'll love the battery.", item) == []
    model.aspects_by_item = {**tiny_lora.aspects_by_item, item: ["movy", *tiny_lora.aspects_by_item[item]]}
    model.praised_by_item = {**tiny_lora.praised_by_item, item: ["movy", *tiny_lora.praised_by_item.get(item, [])]}
    assert model._hints([ReasonRequest(0, item)]) != ["movy"]
    reason = model._reason(ReasonRequest(0, item), "battery", "The battery is zorbly.", 0.0, set(), Counter())
    assert reason.flags == [UNKNOWN_WORD + "zorbly"]
    assert not model._reason(ReasonRequest(0, item), "battery", "The battery is great.", 0.0, set(), Counter()).flags


def test_the_pick_passes_over_empty_praise_and_links_are_worded_in_turn(tiny_lora: PromptLM) -> None:
    """A candidate that praises "the product" or praises the hint as itself loses to a plainer one with lower log-prob;
    a shopper's list words its evidence links differently from one reason to the next."""
    model = tiny_lora
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    plain = ("The battery lasts all day on long trips.", -0.5)
    empties = ("The battery is a great battery.", "The battery is great and the product is great.", "You'll love this item.",
               "This is about the battery on long trips.", "It's a good one on long trips.",
               "The battery lasts all day and the batteries charge fast.", "Great batteries, great batteries.")  # fmt: skip
    for empty in empties:
        assert model._pick([(empty, -0.1), plain], item, "battery", []) == plain, empty
    # alone, praise of the hint as itself or of the product as such is said plainly; a reply starts upper-case
    assert model._pick([("the battery is a great battery.", -0.1)], item, "battery", []) == ("The battery is great.", -0.6)
    echo = ("The battery is great on long trips and great on your trips too.", -0.1)  # repeats itself: one fault
    assert model._pick([echo], item, "battery", []) == ("The battery is great on long trips.", -0.6)
    assert model._pick([("The battery is a great product.", -0.1)], item, "battery", [])[0] == "The battery is great."
    # the hint named again, in either number, is dropped with the conjunct that names it
    twice = ("The battery lasts all day and the batteries charge fast.", -0.1)
    assert model._pick([twice], item, "battery", []) == ("The battery lasts all day.", -0.6)
    assert model._pick([("Great batteries, great batteries.", -0.1)], item, "battery", []) == ("Great batteries.", -0.6)
    user = next(u for u, h in model.user_history.items() if [i for i in h.get("battery", []) if i != item])
    worded = {model._link(user, item, "battery", turn)[0] for turn in range(3)}
    assert len(worded) == 3 and all(w.startswith(" — ") for w in worded)
    assert model._link(user, item, "battery", 3)[0] == model._link(user, item, "battery", 0)[0]


def test_the_pick_passes_over_two_aspects_that_mean_one_thing(tiny_lora: PromptLM) -> None:
    """ "The battery is great and the cell is good." says one thing twice where the battery and the cell mean one
    (MiniLM's cosine ≥ SAME_MEANING): a candidate naming another aspect beats it, and alone it ends at the first."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    model.lexicon = AspectLexicon(tiny_lora.lexicon.features | {"cell", "case"})
    model.aspects_by_item = {**tiny_lora.aspects_by_item, item: [*tiny_lora.aspects_by_item[item], "cell", "case"]}
    model.item_words = {**tiny_lora.item_words, item: {*tiny_lora.item_words[item], "cell", "case"}}
    model.item_opinions = {**tiny_lora.item_opinions, item: {"case": ["good"]}}  # its reviews' word, as the cell's
    model.vocab = {*tiny_lora.vocab, "and"}  # the tiny fit's targets never join two clauses
    battery, apart = np.eye(2, 384, dtype=np.float32)  # unit vectors: one meaning, and another far from it
    model._aspect_vectors = {**model._aspect_vectors, "battery": battery, "cell": battery, "case": apart}
    twice = ("The battery is great and the cell is good.", -0.2)
    other = ("The battery is great and the case is good.", -0.4)
    assert model._alike({"battery", "cell", "case"}) == {frozenset({"battery", "cell"})}
    assert model._pick([twice, other], item, "battery", []) == other
    assert model._pick([twice], item, "battery", []) == ("The battery is great.", -0.7)
    model._aspect_vectors = {**model._aspect_vectors, "cell": apart}  # meaning apart: both said
    assert model._pick([twice, other], item, "battery", []) == twice


def test_the_pick_keeps_the_items_own_adjective_and_drops_praise_of_its_product_type(tiny_lora: PromptLM) -> None:
    """An adjective the item's reviews used of it is no invented word, though no training target uses it; a last
    conjunct praising the product type ("the battery pack is perfect" in a battery shop) is said plainly away."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    assert model.vocab and "sturdy" not in model.vocab
    model.item_words = {**tiny_lora.item_words, item: {*tiny_lora.item_words[item], "sturdy"}}  # its reviews say so
    opened = ("The battery is sturdy.", -0.9)
    vague = ("It works all day on the battery.", -1.1)
    model.item_opinions = {**tiny_lora.item_opinions, item: {}}
    assert model._pick([opened, vague], item, "battery", []) == vague  # "sturdy": no training target says it
    model.item_opinions = {**tiny_lora.item_opinions, item: {"battery": ["sturdy"]}}
    assert model._pick([opened, vague], item, "battery", []) == opened
    model.product_by_item = {**tiny_lora.product_by_item, item: ["battery pack"]}
    typed = ("The battery is sturdy and the battery pack is perfect.", -0.2)
    assert model._pick([typed], item, "battery", [])[0] == "The battery is sturdy."


def test_praise_of_a_product_the_items_category_names_is_praise_of_the_item_as_such(tiny_lora: PromptLM) -> None:
    """What the reviews call items by ("this flashlight": the lexicon's products, no aspect) is the item's product type
    where its category or title names it: "the flashlight is great" is said away there, and kept of another item."""
    model = copy.copy(tiny_lora)
    model.lexicon = dataclasses.replace(tiny_lora.lexicon, products=frozenset({"flashlight"}))
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    praised = ("The battery lasts all day and the flashlight is great.", -0.1)
    model.categories = {**tiny_lora.categories, item: "Outdoor > Camping > Flashlights"}
    assert model._products_named(item) == ["flashlight"]
    assert model._pick([praised], item, "battery", []) == ("The battery lasts all day.", -0.6)
    model.categories = {**tiny_lora.categories, item: "Outdoor > Camping > Lanterns"}
    model.titles = {**tiny_lora.titles, item: "Trail lantern"}
    assert model._products_named(item) == []
    assert model._pick([praised], item, "battery", []) == praised


def test_without_shared_aspects_the_hint_is_the_one_nearest_to_what_the_shopper_writes_about(tiny_lora: PromptLM) -> None:
    """A shopper who praises scent is told about an item's fragrance rather than its most-praised bottle; one who writes
    about nothing close gets the most-praised aspect."""
    model = copy.copy(tiny_lora)
    model._aspect_vectors = {}
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: ["bottle", "fragrance"]}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: ["bottle", "fragrance"]}
    model.user_aspects = {0: ["scent"], 1: ["price"]}
    model.reviewed = {}
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(1, 1)]) == ["fragrance", "bottle"]
    # the link says so where the shopper praised the near aspect in their reviews and the item has it too (the link
    # names it); nothing links a far one
    model.user_history = {0: {"scent": [5, 7]}, 1: {"price": [5]}}
    assert model._link(0, 1, "fragrance")[2] != "near"  # the item's reviews never mention scent
    model.aspects_by_item = {**model.aspects_by_item, 1: ["bottle", "fragrance", "scent"]}
    assert model._link(0, 1, "fragrance") == (" — much like the scent you praised in two of your reviews.", [7, 5], "near")
    assert model._link(0, 1, "fragrance", 1)[0] == " — you praised the scent in two of your reviews."
    assert model._link(1, 1, "bottle")[2] != "near"
    model.product_by_item = {**tiny_lora.product_by_item, 1: ["scent"]}  # the product type itself links nothing
    assert model._link(0, 1, "fragrance")[2] != "near"


def test_a_shopper_the_reviews_know_nothing_of_is_told_who_else_looked_at_the_item(tiny_lora: PromptLM, tmp_path: Path) -> None:
    """With no praised aspect, review or brand to link, the reason says who else looked at it, by the title of the
    shopper's item most tied to it that names no aspect and no number, else by when the shopper reviewed it; nothing
    where nobody links them or neither names their item. A repeated brand line gives way to it; an unfinished reply ends
    as a sentence first."""
    from whyrec.explain.template import histories, seen_by_items

    assert tiny_lora.seen_by == seen_by_items(battery_shop().interactions)  # fitted from every interaction, kept on load
    loaded = PromptLM.load(tiny_lora.save(tmp_path / "r"))
    assert loaded.seen_by == tiny_lora.seen_by and loaded.titled == tiny_lora.titled == set(range(6))
    model = copy.copy(tiny_lora)
    model.user_history, model.reviewed, model.user_aspects = {}, {}, {}
    # shopper 0 looked at items 1 and 3; shoppers 5 and 6 looked at item 2, and 5 (only) at item 1 too
    model.seen_by = {1: [0, 5], 2: [5, 6, 0], 3: [0, 6, 5], 4: [7]}
    model._history = histories(model.seen_by)
    model.titles = {**tiny_lora.titles, 1: "Trail Pack, Blue", 3: "The Summit Pack (2 pockets)"}
    model.categories = {}  # categories unknown: a title goes with "the" (below, one its category does not name goes bare)
    named = " Two shoppers who looked at the Summit Pack, as you did, also viewed this one."
    assert model._link(0, 2, "battery") == (named, [3], "co-viewed")  # item 3: two such shoppers, item 1: one
    assert model._link(0, 2, "battery", 1)[0] == " Also viewed by two shoppers who looked at the Summit Pack, as you did."
    # an item of the same catalog category comes first, then one of the same department, though fewer looked at both
    model.categories = {1: "Outdoor > Packs > Trail", 2: "Outdoor > Packs > Trail", 3: "Kitchen > Knives"}
    assert model._link(0, 2, "battery")[0] == " A shopper who looked at the Trail Pack, as you did, also viewed this one."
    model.categories = {1: "Outdoor > Packs > Day", 2: "Outdoor > Packs > Trail", 3: "Kitchen > Knives"}
    assert model._link(0, 2, "battery")[1] == [1]
    model.categories = {1: "Kitchen > Pans", 2: "Outdoor > Packs > Trail", 3: "Kitchen > Knives"}
    assert model._link(0, 2, "battery") == ("", [], "item")  # only items of another department: no line at all
    model.categories = {1: "Kitchen > Pans", 2: "Outdoor > Packs > Trail"}  # item 3's category unknown: it may be named
    assert model._link(0, 2, "battery")[1] == [3]
    model.categories = {2: "Gift Cards", 3: "Gift Cards"}  # a title its category does not name is a name: no "the"
    assert model._link(0, 2, "battery")[0] == " Two shoppers who looked at Summit Pack, as you did, also viewed this one."
    model.categories = {}
    assert loaded.categories == tiny_lora.categories
    model.titles = {**model.titles, 3: "Summit Pack 2"}  # a number in the title: the facts check would read it as a measure
    assert model._link(0, 2, "battery")[0] == " A shopper who looked at the Trail Pack, as you did, also viewed this one."
    model.titled = {3}  # item 1's entry is only its category, item 3's title has a number: no line of counts alone
    assert model._link(0, 2, "battery") == ("", [], "item")
    # no title can be said: the item most tied to this one, by when the shopper reviewed it
    model.reviewed_on = {0: {1: _at("2016-07-04"), 3: _at("2015-01-10")}}
    dated = " Two shoppers who looked at the item you reviewed in January 2015 also viewed this one."
    assert model._link(0, 2, "battery") == (dated, [3], "co-viewed")
    assert (
        model._link(0, 2, "battery", 1)[0] == " Also viewed by two shoppers who looked at the item you reviewed in January 2015."
    )
    # the catalog calls both power banks: so does the line, unless the reason names the product type already
    model.categories = {2: "Electronics > Power Banks", 3: "Electronics > Power Banks"}
    model.product_by_item = {**tiny_lora.product_by_item, 2: ["power bank"]}
    kind = " Two shoppers who looked at the power bank you reviewed in January 2015 also viewed this one."
    assert model._link(0, 2, "battery")[0] == kind
    assert model._link(0, 2, "battery", named={"power bank"})[0] == dated
    model.categories, model.product_by_item = {}, tiny_lora.product_by_item
    model.reviewed_on = {0: {1: _at("2016-07-04"), 3: _at("2016-07-04"), 5: _at("2016-07-04")}}  # none told apart
    assert model._link(0, 2, "battery") == ("", [], "item")
    model.reviewed_on = {0: {1: _at("2016-07-04")}}  # item 3 not reviewed: the less tied item 1, by its month
    assert model._link(0, 2, "battery") == (
        " A shopper who looked at the item you reviewed in July 2016 also viewed this one.",
        [1],
        "co-viewed",
    )
    # items 1 and 3 list the shopper's one review of item 5 (Amazon's variants): dated by that review
    model.reviewed_on, model.variants = {0: {5: _at("2016-07-04")}}, {0: {5: [1, 3]}}
    dated = " Two shoppers who looked at the item you reviewed in July 2016 also viewed this one."
    assert model._link(0, 2, "battery") == (dated, [3], "co-viewed")
    model.reviewed_on, model.variants = {}, {}
    model.titles = {**model.titles, 3: "Summit Pack"}
    assert model._link(0, 4, "battery") == ("", [], "item")  # nobody who looked at item 4 looked at shopper 0's items
    # a brand line already given in this call: the co-view line instead; "The battery is great" ends with a period
    model.brands = {1: "Voltix", 2: "Voltix", 3: "Voltix"}
    model.reviewed, model.praised_by_item = {0: [1]}, {2: ["battery"]}  # item 1's reviews praise nothing: no kin link
    reason = model._reason(ReasonRequest(0, 2), "battery", "The battery is great", 0.0, {(0, "Voltix")}, Counter())
    assert reason.text == "The battery is great. Two shoppers who looked at the Summit Pack, as you did, also viewed this one."
    assert reason.evidence["kind"] == "co-viewed" and reason.evidence["history_items"] == [3]
    model.titled, model.reviewed_on = set(), {0: {1: _at("2016-07-04"), 3: _at("2015-01-10")}}  # dated: the day kept
    reason = model._reason(ReasonRequest(0, 2), "battery", "The battery is great", 0.0, {(0, "Voltix")}, Counter())
    assert (
        reason.text
        == "The battery is great. Two shoppers who looked at the item you reviewed in January 2015 also viewed this one."
    )
    assert reason.evidence["reviewed_on"] == "2015-01-10"


def test_a_forgotten_shopper_leaves_no_profile_and_counts_in_no_co_view_line(tiny_lora: PromptLM) -> None:
    """forget_user drops the shopper's aspects, histories and interactions (another shopper's co-view line no longer
    counts them) and gives them the mean soft prompt of the others, as an unknown shopper gets."""
    from whyrec.explain.template import histories

    model = copy.copy(tiny_lora)
    model.user_prompts = tiny_lora.user_prompts.clone()
    model.seen_by = {1: [0, 5], 2: [5, 6, 0], 3: [0, 6, 5]}
    model._history = histories(model.seen_by)
    model.titled, model.titles = {1, 3}, {**tiny_lora.titles, 1: "Trail Pack", 3: "Summit Pack"}
    model.categories = {}  # a pack's title under the battery shop's power-bank path would be a name, said bare
    model.user_history, model.reviewed, model.user_aspects, model.user_opinions = {}, {}, {}, {}
    assert model._co_viewed(0, 2)[0].startswith(" Two shoppers who looked at the Summit Pack")
    assert model.forget_user(5)
    assert 5 not in model._history and all(5 not in users for users in model.seen_by.values())
    assert model._co_viewed(0, 2)[0].startswith(" A shopper who looked at the Summit Pack")  # shopper 6 alone now
    assert model.forget_user(6) and model._co_viewed(0, 2) == ("", [], "item")
    others = torch.cat([model.user_prompts[:6], model.user_prompts[7:]])  # the others, as forgetting 6 left them
    assert torch.allclose(model.user_prompts[6], others.mean(0))
    assert not torch.allclose(model.user_prompts[6], tiny_lora.user_prompts[6])  # it was their own
    profiled = next(u for u in tiny_lora.user_aspects)
    model = copy.copy(tiny_lora)
    model.user_prompts = tiny_lora.user_prompts.clone()
    for table in ("user_aspects", "user_history", "reviewed", "reviewed_on", "user_opinions", "seen_by"):
        setattr(model, table, {k: list(v) if isinstance(v, list) else v for k, v in getattr(tiny_lora, table).items()})
    model._history = histories(model.seen_by)
    model.forget_user(profiled)
    forgotten = ("user_aspects", "user_history", "reviewed", "reviewed_on", "user_opinions")
    assert profiled in tiny_lora.reviewed_on and all(profiled not in getattr(model, t) for t in forgotten)
    assert profiled in tiny_lora.user_aspects  # the copy's tables were its own


def test_the_product_type_is_hinted_only_where_its_reviews_said_what_they_found(tiny_lora: PromptLM) -> None:
    """An item whose reviews praise nothing but the product type is hinted it only with a telling adjective to open with
    ("The card is beautiful"); with plain praise alone ("a great gift card") the request is declined."""
    model = copy.copy(tiny_lora)
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: ["card"]}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: ["card"]}
    model.product_by_item = {**tiny_lora.product_by_item, 1: ["card"]}
    model.item_opinions = {1: {"card": ["great"]}}
    assert model._hints([ReasonRequest(0, 1)]) == [None]
    model.item_opinions = {1: {"card": ["great", "beautiful"]}}
    assert model._hints([ReasonRequest(0, 1)]) == ["card"]
    assert model._opener(0, 1, "card") == "The card is beautiful"


def test_a_telling_adjective_from_the_items_reviews_opens_the_hint_candidate(tiny_lora: PromptLM, tmp_path: Path) -> None:
    """Fit keeps the adjectives reviews praised each item's aspects with; the hint's candidate opens with a telling one
    (the shopper's own word first), never with plain praise, and the pick prefers a reason that says it."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    fitted = model.item_opinions[item]["battery"]
    assert fitted and set(fitted) <= {"great", "excellent", "amazing", "nice", "solid"}, fitted
    assert model._opener(0, item, "battery") == "The battery"  # plain praise only: nothing telling to open with
    model.item_opinions = {item: {"battery": ["great", "durable", "compact"]}}
    model.user_opinions = {0: {"battery": ["compact"]}}
    assert model._opener(0, item, "battery") == "The battery is compact"
    assert model._opener(1, item, "battery") == "The battery is durable"
    plain, telling = ("The battery is great here.", -0.1), ("The battery is durable here.", -0.9)
    assert model._pick([plain, telling], item, "battery", []) == telling
    loaded = PromptLM.load(model.save(tmp_path / "r"))
    assert loaded.item_opinions == model.item_opinions and loaded.user_opinions == model.user_opinions


def test_adjectives_of_reviews_written_since_fitting_word_the_hint_candidate(tiny_lora: PromptLM) -> None:
    """An item whose reviews came after fitting has no fitted adjectives: the served facts' ones (the request's
    `praised_with`) open the hint's candidate and are the item's own words to the pick; fitted ones come first."""
    model = copy.copy(tiny_lora)
    model._served_opinions = {}  # not the fixture's
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    model.item_opinions = {}
    assert model._opener(0, item, "battery") == "The battery"
    said = (("battery", ("great", "durable")),)
    model.generate([ReasonRequest(0, item, praised=("battery",), praised_with=said)])
    assert model._opener(0, item, "battery") == "The battery is durable"
    assert "durable" in model._opinion_words(item)
    model.item_opinions = {item: {"battery": ["compact"]}}
    assert model._opener(0, item, "battery") == "The battery is compact"
    model.item_opinions = {item: {"battery": ["pretty"]}}  # closed, or the LM goes on "pretty good"
    assert model._opener(0, item, "battery") == "The battery is pretty."


def test_unset_bf16_decodes_in_bf16_exactly_where_the_cpu_has_bf16_matmuls(
    tiny_lora: PromptLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default training is fp32 and decoding bf16 only on a CPU with AMX or AVX512-BF16 (where it is the faster one); set, it holds."""
    from whyrec.explain import prompt_lm

    assert PromptLMConfig().bf16 is None
    model = copy.copy(tiny_lora)
    for setting, fast, dtype in [(None, True, torch.bfloat16), (None, False, torch.float32), (False, True, torch.float32)]:
        monkeypatch.setattr(prompt_lm, "fast_bf16", lambda fast=fast: fast)
        model.config, model._lean = model.config.model_copy(update={"bf16": setting}), None
        assert model._lean_decoder().dtype == dtype, (setting, fast)
        assert model._autocast()._enabled is bool(setting)  # training (and generate) autocast only when set


def test_a_cut_off_reply_loses_to_a_whole_one_and_is_flagged_where_it_is_all_there_is(
    tiny_lora: PromptLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "The battery is the." is no sentence: a whole candidate beats it, though far less likely (and would lose without
    that fault); shown alone, it is flagged for the filters (retried, else replaced), and so is "fast and fast"."""
    from whyrec.explain.filters import UNFINISHED

    model = tiny_lora
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    cut, whole = ("The battery is the.", -0.1), ("The battery lasts all day.", -3.0)
    assert model._pick([cut, whole], item, "battery", [])[0] == whole[0]
    with monkeypatch.context() as patched:
        patched.setattr(prompt_lm, "unfinished", lambda text: False)
        assert model._pick([cut, whole], item, "battery", [])[0] == cut[0]
    assert model._pick([cut], item, "battery", [])[0] == cut[0]  # all there is: kept, and then flagged
    for text in ("The battery is the.", "The battery is long and long."):
        flagged = model._reason(ReasonRequest(-1, item), "battery", text, 0.0, set(), Counter())
        assert flagged.flags == [UNFINISHED], text
    assert model._reason(ReasonRequest(-1, item), "battery", "The battery lasts.", 0.0, set(), Counter()).flags == []


def test_a_reply_calling_the_item_its_aspect_loses_to_one_praising_the_aspect(
    tiny_lora: PromptLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "This is a great battery." of a power bank calls the item its battery: the reply praising the battery wins,
    though less likely, as it would lose without that fault."""
    model = copy.copy(tiny_lora)
    model.vocab, model.item_words = frozenset(), {}  # the tiny shop's targets never say "it's": no word fault either way
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    called, praised = ("This is a great battery.", -0.2), ("The battery lasts all day.", -1.5)
    assert model._pick([called, praised], item, "battery", [])[0] == praised[0]
    monkeypatch.setattr(prompt_lm, "calls_item_an_aspect", lambda text, lexicon: False)
    assert model._pick([called, praised], item, "battery", [])[0] == called[0]


def test_the_reply_gets_the_brands_own_spelling_and_a_bare_hint_its_article(tiny_lora: PromptLM) -> None:
    """The LM writes brands lower-case and drops an article ("You'll love battery."): both are repaired, not a brand that
    begins with the hint's word."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    assert model.brands[item] == "Voltix"
    assert model._trim("You'll love battery.", item, "battery") == "You'll love the battery."
    assert model._trim("You'll love batteries.", item, "battery") == "You'll love batteries."  # whole as it is
    assert model._trim("You'll love the battery.", item, "battery") == "You'll love the battery."
    assert model._trim("voltix makes the battery last.", item, "battery") == "Voltix makes the battery last."
    model.brands = {**tiny_lora.brands, item: "Battery Barn"}
    assert model._trim("You'll love battery barn.", item, "battery") == "You'll love Battery Barn."


def test_links_name_the_shoppers_item_by_its_title_where_one_can_be_said(tiny_lora: PromptLM) -> None:
    """ "— just what you praised in your review of the Trail Pack.": the newest of the linked items whose title can be
    said (short, no number), is not the item's own and names no aspect the item lacks, cited first in the evidence
    (whose titles the words check reads); the count alone where none can be, or where the evidence lists no item."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    user = next(u for u, h in model.user_history.items() if len([i for i in h.get("battery", []) if i != item]) >= 2)
    praised = [i for i in model.user_history[user]["battery"] if i != item]  # oldest first
    newest, older = praised[-1], praised[-2]
    assert model._link(user, item, "battery")[0] == f" — just what you praised in {count_words(len(praised))} of your reviews."
    model.titles = {**tiny_lora.titles, newest: "The Trail Pack - Blue", older: "Summit Pack"}
    model.categories = {}  # no path: a title is a product's ("the Trail Pack"); see the proper names below
    others = len(praised) - 1
    tail = f"and {count_words(others)} other {'item' if others == 1 else 'items'}"
    text, history, kind = model._link(user, item, "battery")
    assert kind == "personal" and history == praised[::-1]
    assert text == f" — just what you praised in your reviews of the Trail Pack {tail}."
    assert model._link(user, item, "battery", 1)[0] == f" — you praised the same in your reviews of the Trail Pack {tail}."
    # the newest cannot be named (a number, the item's own title, an aspect the item lacks, first person, a complaint,
    # the crowd, no title at all): the next
    lacking = "zipper"  # of the lexicon, not of the power bank
    model.lexicon = AspectLexicon(tiny_lora.lexicon.features | {lacking})
    unsaid = (("Trail Pack 2", "Power Bank"), ("Trail Pack", "The Trail Pack"), (f"Trail Pack {lacking}", ""),
              ("My Trail Pack", ""), ("No Fuss Trail Pack", ""), ("Everyone's Trail Pack", ""))  # fmt: skip
    for title, own in unsaid:
        model.titles = {**model.titles, newest: title, item: own}
        text, history, _ = model._link(user, item, "battery")
        assert "the Summit Pack" in text and history[0] == older and sorted(history) == sorted(praised), title
    model.titles = {**model.titles, newest: "Trail Pack", item: tiny_lora.titles[item]}
    model.lexicon = tiny_lora.lexicon
    model.titled = tiny_lora.titled - {newest}  # its entry is only a category
    assert model._link(user, item, "battery")[1][0] == older
    model.titled = tiny_lora.titled
    # one item: "your review of"; the history link names it too, with the catalog's kind noun for the rest
    model.user_history = {user: {"battery": [newest]}}
    assert model._link(user, item, "battery")[0] == " — just what you praised in your review of the Trail Pack."
    model.titles = {**model.titles, newest: "Trail Pack Configuration Asin"}  # Amazon's parent-listing marker: cut
    assert model._link(user, item, "battery")[0] == " — just what you praised in your review of the Trail Pack."
    # the article where the title ends in its category's countable noun; a name of its own goes bare
    model.categories = {newest: "Outdoor > Trail Packs"}
    assert model._link(user, item, "battery")[0] == " — just what you praised in your review of the Trail Pack."
    model.titles = {**model.titles, newest: "SmartMoney"}
    model.categories = {newest: "Magazine Subscriptions > Business & Investing > Finance"}
    assert model._link(user, item, "battery")[0] == " — just what you praised in your review of SmartMoney."
    model.titles = {**model.titles, newest: "Natural Health"}  # "Health" is no countable noun: a name
    model.categories = {newest: "Magazine Subscriptions > Health, Fitness & Wellness > Health"}
    assert model._link(user, item, "battery")[0] == " — just what you praised in your review of Natural Health."
    model.titles, model.categories = {**model.titles, newest: "Trail Pack"}, {}
    model.user_history = {}
    kin = model._kin(user, item)["battery"]
    text, history, kind = model._link(user, item, "battery")
    assert kind == "history" and history[0] == kin[-1]
    model.titles = {**model.titles, kin[-1]: "Trail Pack"}
    rest = len(kin) - 1
    rest_words = f" and {count_words(rest)} other {'item' if rest == 1 else 'items'}" if rest else ""
    assert model._link(user, item, "battery")[0] == f" — the same was praised in the Trail Pack{rest_words} you reviewed."
    assert model._link(user, item, "battery", 1)[0] == f" — the Trail Pack{rest_words} you reviewed got the same praise."
    model.titles = {**model.titles, kin[-1]: "Trail Boots"}  # a title's number is unknown: no verb agrees with it
    assert model._link(user, item, "battery", 1)[0] == f" — the Trail Boots{rest_words} you reviewed got the same praise."
    model.titles = {**model.titles, kin[-1]: "Trail Pack"}
    said = model._reason(ReasonRequest(user, item), "battery", "The battery is great.", 0.0, set(), Counter())
    assert said.evidence["history_items"][0] == kin[-1] and "Trail Pack" in said.text
    # down one list, a link names an item no earlier link named where one can be said; the newest again where none can
    assert len(kin) >= 2
    model.titles = {**model.titles, kin[-2]: "Summit Pack"}
    linked: set = set()
    turns: Counter = Counter()
    cited = [model._reason(ReasonRequest(user, item), "battery", "The battery is great.", 0.0, linked, turns) for _ in "abc"]
    assert [r.evidence["history_items"][0] for r in cited] == [kin[-1], kin[-2], kin[-1]]
    assert ["Trail Pack" in cited[0].text, "Summit Pack" in cited[1].text, "Trail Pack" in cited[2].text] == [True] * 3
    # named again, short where the words point at one item: the shopper reviewed no other item of its category
    model.categories = {j: "Outdoor > Packs" for j in model.reviewed[user]}
    again = lambda: model._reason(ReasonRequest(user, item), "battery", "The battery is great.", 0.0, linked, turns).text  # noqa: E731
    assert "the Trail Pack" in again()  # the Summit Pack is a pack too
    model.categories = {**model.categories, **{j: "Outdoor > Bags" for j in model.reviewed[user] if j != kin[-1]}}
    assert again().endswith(f" — the same was praised in the pack{rest_words} you reviewed.")
    model.categories = {}
    assert model._link(user, item, "battery", cited={kin[-1]})[1][0] == kin[-2]
    model.config = model.config.model_copy(update={"max_history": 0})  # no item in the evidence: none named
    assert "Trail Pack" not in model._link(user, item, "battery")[0]


def test_the_history_link_calls_items_what_the_catalog_calls_them(tiny_lora: PromptLM) -> None:
    """ "Two gift cards you reviewed" where the item and the linked ones share a category named, in the plural, by a
    product type of the item; "items" where the categories differ, the last part names no product type, or the
    sentence names the type already."""
    model = copy.copy(tiny_lora)
    item, other, third = 1, 2, 3
    model.product_by_item = {**tiny_lora.product_by_item, item: ["card", "gift card"]}
    model.categories = {**tiny_lora.categories, item: "Gift Cards", other: "Gift Cards", third: "Gift Cards > Accessories"}
    assert model._kind_nouns(item, [other]) == ("gift card", "gift cards")
    assert model._kind_nouns(item, [other, third]) == ("item", "items")
    assert model._kind_nouns(item, [other], named={"gift card"}) == ("item", "items")
    model.categories = {**model.categories, item: "Gift Cards > Accessories", other: "Gift Cards > Accessories"}
    assert model._kind_nouns(item, [other]) == ("item", "items")
    model.categories = {**model.categories, item: "Gift Card", other: "Gift Card"}  # no plural: the type, not a name
    assert model._kind_nouns(item, [other]) == ("item", "items")
    # the link writes it: a shopper whose reviewed items are praised for the battery, all power banks by the catalog
    shop = copy.copy(tiny_lora)
    shop.user_history = {}  # their own praise unknown: the history link speaks
    user, linked = next((u, i) for u in shop.reviewed for i in range(shop.n_items) if shop._kin(u, i).get("battery"))
    kin = shop._kin(user, linked)["battery"]
    shop.product_by_item = {**tiny_lora.product_by_item, linked: ["power bank"]}
    shop.categories = {**tiny_lora.categories, **dict.fromkeys([linked, *kin], "Electronics > Power Banks")}
    many = "one power bank" if len(kin) == 1 else f"{count_words(len(kin))} power banks"
    assert many in shop._link(user, linked, "battery")[0]
    assert "power bank" not in shop._link(user, linked, "battery", named={"power bank"})[0]


def test_a_shared_aspect_is_hinted_by_the_items_praise_not_the_shoppers_count(tiny_lora: PromptLM) -> None:
    """Of the aspects an item shares with items the shopper reviewed, the one the item is most praised for is hinted
    ("food" of a restaurant card), not the one most of their items share ("delivery" of every card they bought)."""
    model = copy.copy(tiny_lora)
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: ["food", "delivery"], 5: ["delivery"], 6: ["delivery", "food"]}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: ["food", "delivery"], 5: ["delivery"], 6: ["delivery", "food"]}
    model.reviewed, model.user_aspects = {0: [5, 6]}, {}
    assert model._kin(0, 1) == {"delivery": [5, 6], "food": [6]}
    assert model._hints([ReasonRequest(0, 1)]) == ["food"]


def test_a_vague_aspect_is_hinted_only_where_the_item_has_nothing_else(tiny_lora: PromptLM) -> None:
    """ "The condition is good." tells a shopper nothing: a vague noun goes after every other aspect the item has, even
    one the shopper praised ("condition" below) and one better praised; where it is all there is, it is still hinted."""
    model = copy.copy(tiny_lora)
    model.aspects_by_item = {
        **tiny_lora.aspects_by_item,
        1: ["condition", "battery"],
        2: ["condition"],
        3: ["time", "battery life"],
    }
    model.praised_by_item = {
        **tiny_lora.praised_by_item,
        1: ["condition", "battery"],
        2: ["condition"],
        3: ["time", "battery life"],
    }
    model.user_aspects = {0: ["condition", "time"]}
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(0, 2), ReasonRequest(0, 3)]) == [
        "battery",
        "condition",
        "battery life",
    ]


def test_a_list_prefers_an_unused_aspect_only_among_the_praised_ones(tiny_lora: PromptLM) -> None:
    """Within one shopper's list a praised aspect not yet used goes first; once every praised one is used, a praised
    one said again beats one only the catalog names ("The burger is great." of a card whose reviews praise the food)."""
    model = copy.copy(tiny_lora)
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: ["battery", "cable"], 2: ["battery", "case", "cable"]}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: ["battery"], 2: ["battery", "case"]}
    model.user_aspects = {0: ["battery"]}
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(0, 2)]) == ["battery", "case"]
    model.praised_by_item[2] = ["battery"]
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(0, 2)]) == ["battery", "battery"]
    # nothing praised: the catalog's aspects, one not yet used first
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: [], 2: []}
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(0, 2)]) == ["battery", "case"]


def test_an_aspect_the_reviews_fault_is_never_the_hint(tiny_lora: PromptLM) -> None:
    """Fit keeps the aspects reviews fault more than praise; such an aspect is never hinted (the LM would praise it),
    while one only the catalog names still may be, after the praised ones."""
    model = copy.copy(tiny_lora)
    assert model.faulted_by_item == {}  # the battery shop's reviews fault nothing
    shop = battery_shop()
    shop.reviews["text"] = ["The battery is terrible.", "The battery is awful.", "The battery is great."] * (
        len(shop.reviews) // 3
    ) + ["The battery is awful."] * (len(shop.reviews) % 3)
    model._fit_reviews(TrainingReviews(shop, None, np.arange(len(shop.reviews)), BATTERY_LEXICON))
    assert model.faulted_by_item and all(a == ["battery"] for a in model.faulted_by_item.values())
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: ["battery"], 2: ["battery"]}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: [], 2: []}
    model.faulted_by_item = {1: ["battery"], 3: ["battery"]}
    model.user_aspects = {0: ["battery"]}
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(0, 2)]) == [None, "battery"]
    # praised by some reviews, faulted by more: still never the hint, whether the fitted record or the store says so
    model.aspects_by_item[3], model.praised_by_item[3] = ["battery"], ["battery"]
    assert model._hints([ReasonRequest(0, 3), ReasonRequest(1, 1, praised=("battery",))]) == [None, None]


def _at(day: str) -> int:
    """The unix time of an ISO day or time, read as UTC."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def test_an_untitled_item_is_named_by_when_the_shopper_reviewed_it(tiny_lora: PromptLM, tmp_path: Path) -> None:
    """Where no title can be said, "one item you reviewed" reads the same to every shopper: the link names the item by
    the month of the shopper's review where no other review of theirs is from that month, by the day where none is from
    that day, and by a count where another is; a title is said before a date. The evidence keeps the day (the facts
    check reads it), and a list's next link dates another item where it can."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    user = next(u for u, h in model.user_history.items() if len([i for i in h.get("battery", []) if i != item]) >= 2)
    praised = [i for i in model.user_history[user]["battery"] if i != item]  # oldest first
    newest, older = praised[-1], praised[-2]
    rest = f"and {count_words(len(praised) - 1)} more"
    model.titled = set()

    model.reviewed_on = {user: {j: _at(f"201{k}-03-02T10:00") for k, j in enumerate(model.reviewed[user])}}
    model.reviewed_on[user][newest] = _at("2016-07-04T09:00")
    assert model._link(user, item, "battery")[0] == f" — just what you praised in your review from July 2016 {rest}."
    model.reviewed_on[user][older] = _at("2016-07-20T23:00")  # the same month: the day
    text, history, _ = model._link(user, item, "battery", 1)
    assert text == f" — you praised the same in your review from 4 July 2016 {rest}." and history[0] == newest
    model.reviewed_on[user][older] = _at("2016-07-04T18:00")  # the same day: the next told apart by its date
    text, history, _ = model._link(user, item, "battery")
    assert "July" not in text and history[0] not in (newest, older)
    model.reviewed_on[user] = dict.fromkeys(model.reviewed[user], _at("2016-07-04T18:00"))  # none is: counted
    text, history, _ = model._link(user, item, "battery")
    assert text == f" — just what you praised in {count_words(len(praised))} of your reviews." and history[0] == newest
    model.reviewed_on[user][older] = _at("2016-08-01T00:00")
    model.titled, model.titles = {older}, {**tiny_lora.titles, older: "Summit Pack"}  # a title is said first
    assert "Summit Pack and" in model._link(user, item, "battery")[0] and "2016" not in model._link(user, item, "battery")[0]
    model.titled = set()

    # the items the shopper reviewed that its reviewers praised, dated the same way
    model.user_history = {}
    kin = model._kin(user, item)["battery"]
    newest = kin[-1]
    times = {j: _at(f"201{k}-03-02T10:00") for k, j in enumerate(model.reviewed[user])}
    model.reviewed_on = {user: {**times, newest: _at("2016-07-04T09:00")}}
    more = f" and {count_words(len(kin) - 1)} more" if len(kin) > 1 else ""
    text, history, kind = model._link(user, item, "battery")
    assert kind == "history" and history[0] == newest
    assert text == f" — the same was praised in the item you reviewed in July 2016{more}."
    was = "were" if more else "was"
    assert model._link(user, item, "battery", 1)[0] == f" — the item you reviewed in July 2016{more} {was} praised for it too."
    reason = model._reason(ReasonRequest(user, item), "battery", "The battery is great.", 0.0, linked := set(), Counter())
    assert reason.text == f"The battery is great — the same was praised in the item you reviewed in July 2016{more}."
    assert reason.evidence["reviewed_on"] == "2016-07-04" and (user, newest) in linked
    if len(kin) > 1:  # the list's next link dates another of them
        again = model._reason(ReasonRequest(user, item), "battery", "The battery is great.", 0.0, linked, Counter())
        assert again.evidence["history_items"][0] != newest and "2016" not in again.text
    # kept with the artifact; one saved before times were kept counts, as it did
    loaded = PromptLM.load(model.save(tmp_path / "r"))
    assert loaded.reviewed_on == model.reviewed_on
    assert loaded._link(user, item, "battery")[0] == text
    profiles = tmp_path / "r" / "profiles.json"
    parts = json.loads(profiles.read_text())
    del parts["reviewed_on"]
    profiles.write_text(json.dumps(parts))
    counted = PromptLM.load(tmp_path / "r")._link(user, item, "battery")[0]
    assert counted == f" — the same was praised in {count_words(len(kin))} item{'s' if more else ''} you reviewed."


def test_a_review_filed_under_variants_counts_once_in_the_links(tiny_lora: PromptLM) -> None:
    """Amazon files one review under every variant of a product: where power banks 0-4 are variants (their pages show
    the same reviews), a shopper whose one review shows on all five praised the battery in "an earlier review", not
    "five of your reviews", and reviewed one item; each listing keeps its copy for its own praise counts. One text pasted
    under items whose other reviews differ (gift cards bought together) stays a review of each."""
    shop = battery_shop()
    mine = shop.reviews.index[shop.reviews["user"] == 0]
    items = shop.reviews.loc[mine, "item"].tolist()
    target = next(i for i in range(shop.n_items) if i not in items)
    five = f" — just what you praised in {count_words(len(items))} of your reviews."
    model = copy.copy(tiny_lora)
    model._fit_reviews(TrainingReviews(shop, None, np.arange(len(shop.reviews)), BATTERY_LEXICON))
    assert model._link(0, target, "battery")[0] == five
    pasted = battery_shop()
    pasted.reviews.loc[mine, ["text", "timestamp"]] = pasted.reviews.loc[mine[0], ["text", "timestamp"]].tolist()
    model._fit_reviews(TrainingReviews(pasted, None, np.arange(len(pasted.reviews)), BATTERY_LEXICON))
    assert model._link(0, target, "battery")[0] == five and model.variants == {}
    variant = shop.reviews["item"].isin(items)
    first = shop.reviews[variant].groupby("user")[["text", "timestamp"]].transform("first")
    shop.reviews.loc[variant, ["text", "timestamp"]] = first.to_numpy()
    model._fit_reviews(TrainingReviews(shop, None, np.arange(len(shop.reviews)), BATTERY_LEXICON))
    assert model.user_history[0] == {"battery": [items[0]]} and model.reviewed[0] == [items[0]]
    # one review, so nothing else of theirs is from its month: it is named by that
    month = datetime.fromtimestamp(int(first["timestamp"].iloc[0]), UTC).strftime("%B %Y")
    assert model._link(0, target, "battery")[0] == f" — just what you praised in your review from {month}."
    assert all(model.praised_by_item[i] == ["battery"] for i in items)
    # the reviewed product's praise is that of every variant its review is filed under
    assert model.variants[0] == {items[0]: items[1:]}
    model.user_history = {}
    model.praised_by_item = {**model.praised_by_item, items[0]: []}
    assert model._kin(0, target) == {"battery": [items[0]]}
    assert model._link(0, target, "battery")[0] == f" — the same was praised in the item you reviewed in {month}."
    assert model._kin(0, items[1]) == {}  # a variant of the shopper's own review is no other item of theirs


def test_the_items_brand_praised_as_an_aspect_is_never_the_hint(tiny_lora: PromptLM) -> None:
    """Reviews praising the brand ("I love IHOP") make it a praised aspect of the item; the hint is another of its
    aspects ("The IHOP is great place to buy things." says nothing of it), and the same word of another brand's item
    may still be."""
    model = copy.copy(tiny_lora)
    model.aspects_by_item = {**tiny_lora.aspects_by_item, 1: ["voltix", "battery"], 2: ["voltix"]}
    model.praised_by_item = {**tiny_lora.praised_by_item, 1: ["voltix", "battery"], 2: ["voltix"]}
    model.user_aspects = {0: ["voltix"]}
    model.brands = {**tiny_lora.brands, 1: "Voltix", 2: "Ampere"}
    model.titles = {**tiny_lora.titles, 2: "Ampere case for the Voltix bank"}  # "voltix" is no invented word there
    assert model._hints([ReasonRequest(0, 1), ReasonRequest(0, 2)]) == ["battery", "voltix"]


def test_the_pick_passes_over_words_the_items_reviews_never_use(tiny_lora: PromptLM, tmp_path: Path) -> None:
    """Fit keeps each item's review words and the shop's common ones; a candidate adding a word of its own ("perfect for
    cooking and dining" of a card whose reviews never say either) loses to one that says only what is there, while
    plain praise and the shopper's "you" are anyone's to use. Saved and loaded with the profiles."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    assert "battery" in model.item_words[item] and model.common_words >= {"great", "you'll", "the"}
    assert model._unsupported("You'll love the battery, it is great.", item) == []
    invented = ("The battery is perfect for cooking and dining.", -0.1)
    plain = ("The battery is great.", -1.5)
    assert model._unsupported(invented[0], item) == ["cooking", "dining"]
    assert model._pick([invented, plain], item, "battery", []) == plain
    assert model._unsupported(invented[0], max(model.item_words) + 1) == []  # no reviews at fitting: nothing to go by
    loaded = PromptLM.load(model.save(tmp_path / "r"))
    assert loaded.item_words == model.item_words and loaded.common_words == model.common_words


def test_a_possessive_name_and_the_hints_own_words_are_not_the_lms_inventions(tiny_lora: PromptLM) -> None:
    """ "Voltix's" is the brand's name, and the hint's words are what the item has, though no training review of it
    used them: neither is a word of the LM's own, so such a reply beats a likelier one that leaves the hint unsaid."""
    model = copy.copy(tiny_lora)
    item = next(i for i, a in model.aspects_by_item.items() if "battery" in a)
    brand = model.brands[item]
    assert brand.lower() in model.item_words[item]
    unsaid = ("You'll love this one.", -0.2)
    owned = (f"You'll love {brand}'s battery.", -0.9)
    assert model._unsupported(owned[0], item) == [] and model._unknown(owned[0], item) == []
    named_so = copy.copy(model)  # a brand that is a possessive itself ("Applebee's") is its own word as written
    named_so.brands = {**model.brands, item: "Zorb's"}
    assert named_so._unknown("The battery of Zorb's is great.", item) == []
    assert model._pick([unsaid, owned], item, "battery", [])[0] == owned[0]
    hint = "zipper pull"  # one the served facts give: the fitted record knows nothing of it
    assert not {"zipper", "pull"} & (model.item_words[item] | model.vocab)
    named = ("The zipper pull is great.", -0.9)
    model.lexicon = AspectLexicon(model.lexicon.features | {hint})
    assert model._unsupported(named[0], item, hint) == []
    assert model._pick([unsaid, named], item, hint, [])[0] == named[0]
    # where the item's reviews wrote the word in another form, theirs reads better ("The pictures are …", not "The
    # picture is …"): a lesser fault, below leaving the hint unsaid
    model.item_words = {**model.item_words, item: model.item_words[item] | {"pulls"}}
    one, many = ("Great zipper pull.", -0.9), ("Great zipper pulls.", -1.5)
    assert model._pick([one, many], item, hint, [])[0] == many[0]
    assert model._pick([unsaid, named], item, hint, [])[0] == named[0]
    # and a reply opening on the hint and its verb is tried in the reviews' form
    model.vocab, model.common_words = model.vocab | {"are"}, model.common_words | {"are"}
    assert model._pick([("The zipper pull is great.", -0.9)], item, hint, [])[0] == "The zipper pulls are great."
    assert prompt_lm._as_written("The ad is clear and has great pictures.", "ad", "ads") == (
        "The ads are clear and have great pictures."
    )
    assert (
        prompt_lm._as_written("The ad is clear and the photo is sharp.", "ad", "ads")
        == "The ads are clear and the photo is sharp."
    )
    assert prompt_lm._as_written("Great ads.", "ad", "ads") is None
