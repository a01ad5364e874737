"""The `prompt_lm` reasoner: a pretrained LM (SmolLM2-135M-Instruct) writes the reason.

Two modes:
- `zero_shot`: a discrete chat prompt built from the user's profile (the aspects their training
  reviews mention most) and the item's (title, aspects its reviews or catalog name); no training.
- `soft_prompt`: PEPLER's continuous prompt learning (Li, Zhang, Chen, TOIS 2023). A user and an
  item id map to learned vectors (nn.Embedding(n_users, d), nn.Embedding(n_items, d)) that are
  prepended to the explanation tokens as two soft tokens; training minimises next-token NLL of
  the explanation only. PEPLER's sequential tuning: stage 1 trains the prompts with the LM
  frozen, stage 2 trains prompts and LM together — here through LoRA on the attention
  projections (`train_lm="lora"`) or all weights (`"full"`); `"none"` keeps stage 1 throughout.
  PEPLER as published is soft_prompt + `aspect_hint=False` + `title_words=0` + `train_lm="full"`.
  With `title_words`, the item's catalog title is written as a user turn after the soft tokens, so
  the reply can name what the item is (PEPLER's discrete-prompt variant feeds item words the same way).
  Training keeps the epoch with the lowest validation NLL (PEPLER's early stop, `patience`).
  With `aspect_hint`, a feature word is written before the explanation as PETER+ does: the
  ground-truth feature when training, the request's hint or the best user∩item profile aspect
  when generating, so the reason can be steered (the grounding filter's retry uses this).

What is shown to shoppers differs from PEPLER in three ways, each a config field. The evidence comes
first: each reason's hint is planned before any text (an aspect the shopper's reviews mention that
the item's reviews praise, else the item's most-praised one, varied within one shopper's list).
`targets="shopper"` trains on positive review sentences rewritten to the shopper (`explain.voice`)
instead of the raw ones (`"review"`, the research protocol). `constrained` decoding cannot write
first-person, complaint or lacking-aspect words, and of `candidates` replies the one that best passes
the shown-reason checks is kept.

An unknown user (id -1) has no learned vector: the mean user vector stands in for it, the
"average user", so the reason rests on the item alone. Saved: config, soft prompts (npz),
profiles (JSON), the aspect lexicon, and the LoRA adapter (peft's safetensors) or, for full
fine-tuning, the whole LM (safetensors); never the unchanged base LM, which is reloaded.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from whyrec.errors import ArtifactError, ConfigError, DataError
from whyrec.explain.aspects import normalize_feature, plural_parts, product_type_aspects, singular, split_sentences
from whyrec.explain.base import (
    Reason,
    Reasoner,
    ReasonerConfig,
    ReasonRequest,
    TrainingReviews,
    first_listing,
    with_catalog,
)
from whyrec.explain.decoding import Banned, Constraints, LeanDecoder, fast_bf16
from whyrec.explain.filters import FAULTY, UNFINISHED, UNKNOWN_WORD, UNSUPPORTED
from whyrec.explain.lm import SMOLLM2, load_causal_lm, load_tokenizer, resolve_base_model
from whyrec.explain.targets import explanation_examples
from whyrec.explain.template import co_viewers, histories, seen_by_items, ties
from whyrec.explain.voice import (
    COMPLAINT,
    CROWD,
    FIRST_PERSON,
    PLAIN_PRAISE,
    at_words,
    calls_item_an_aspect,
    count_words,
    empty_praise,
    in_present,
    is_english,
    load_dictionary,
    most_used_first,
    praise_words,
    review_day,
    said_plainly,
    shopper_examples,
    unfinished,
    voice_faults,
    when_reviewed,
)
from whyrec.training import EpochLoop, Stopping

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from whyrec.explain.critic import Critic

# Opens an assistant turn in SmolLM2's chat format: the explanation reads as the model's reply.
# A hint follows as "About the <feature>:", after which the untrained LM already writes a
# sentence about the feature ("The scent of ..."); a bare "<feature>:" often makes it write a date.
_LEAD = "<|im_start|>assistant\n"
# MiniLM cosine from which an item aspect counts as close to one the shopper writes about (`_nearest`): word pairs
# scent/fragrance 0.84, hair/shampoo 0.66, color/shade 0.58, price/value 0.56; scent/bottle 0.49, lather/soap 0.48,
# packaging/bottle 0.38, price/quality 0.36.
NEAR = 0.55
# MiniLM cosine from which two aspects one reason names are one thing said twice ("The fragrance is beautiful and the
# scent is great."): fragrance/scent 0.84, scent/smell 0.83, food/meal 0.80, flavor/taste 0.79, price/cost 0.74,
# package/packaging 0.72, fragrance/smell 0.71; not delivery/shipping 0.69, photography/photo 0.67, price/value 0.56.
SAME_MEANING = 0.7
# Latest reviews per shopper in their profile (`_profiles`): the words they write in now, and a bound on the fit's
# MiniLM pass on a big shop (the most prolific shopper of All Beauty has 11 reviews, of Magazine 30).
PROFILE_REVIEWS = 50
# Share of reviewed items whose training reviews use a word for it to be the shop's common language ("great", "arrived",
# "gift"), which any reason may use; a rarer word a candidate writes must be in the item's own reviews, title or brand
# (`_unsupported`: "perfect for cooking and dining" of a Subway card whose reviews never say either).
COMMON_SHARE = 0.05
# Aspect nouns reviews praise that tell a shopper almost nothing on their own ("The time was just the right time",
# "The condition is good.", "The change is great."): hinted only where an item has nothing else to say. Whole aspects,
# not heads: "delivery time" and "skin condition" say something. Not "idea": a magazine's ideas are what it is read for.
VAGUE = frozenset({"time", "condition", "experience", "use", "thing", "change"})
_SYSTEM = "You explain product recommendations to shoppers in one short, friendly sentence."
# Adjectives that also grade other adjectives: "pretty" bottles, but "pretty good" (`_opener`).
_ALSO_ADVERBS = frozenset({"pretty", "super", "real"})
# The hint's prompt ("About the <aspect>:") echoed back as the reason: "This is about the gift idea."
_ABOUT = re.compile(r"^(?:this|it)(?: is|'s) (?:all )?about\b", re.IGNORECASE)
# "too"/"as well" closing a reply of one clause, which points at something no other clause said ("The tin is cute too.")
_DANGLING_TOO = re.compile(r"^([^,;]+?)(?:,? too|,? as well)([.!]?)$", re.IGNORECASE)
# A stop with a word glued to each side: "cute.user You will …" (the chat's next turn), "pretty.com Gift Card in a …"
# (a title copied on); "Amazon.com" where the item's title writes it so
_GLUED = re.compile(r"(\w{2,})[.!?]([A-Za-z]\w+)")  # two letters a side: not "e.g."
_USER_WORD, _ITEM_WORD = " customer", " product"  # what the soft prompts are initialised as


class _Quorum:
    """`generate`'s stopping criterion for `PromptLMConfig.quorum`: every row stops once `quorum` of each reason's
    `candidates` rows (consecutive) and every `required` row have written EOS, as the lean loop stops."""

    def __init__(self, quorum: int, candidates: int, eos: int, constraints: Constraints, required: Sequence[bool]) -> None:
        import torch

        self.need, self.candidates, self.eos, self.constraints = min(quorum, candidates), candidates, eos, constraints
        self.required = torch.tensor(list(required), dtype=torch.bool)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        import torch

        ended = (input_ids[:, self.constraints.start :] == self.eos).any(1)  # (B,); the reply starts where it says
        enough = bool((ended.view(-1, self.candidates).sum(1) >= self.need).all()) and bool(ended[self.required].all())
        return torch.full((input_ids.shape[0],), enough, dtype=torch.bool)


class PromptLMConfig(ReasonerConfig):
    """The LM, the mode, how it trains and how it decodes."""

    base_model: str = SMOLLM2  # SMOLLM2 (bundled GGUF, converted once) or a local save_pretrained causal-LM folder
    mode: Literal["zero_shot", "soft_prompt"] = "soft_prompt"  # discrete profile prompt | PEPLER's learned vectors
    train_lm: Literal["none", "lora", "full"] = "lora"  # how the LM adapts in stage 2 (soft_prompt mode)
    aspect_hint: bool = True  # feature word before the explanation (PETER+); False = PEPLER as published
    lora_r: int = Field(8, ge=1)  # LoRA rank
    lora_alpha: int = Field(16, ge=1)  # LoRA scale numerator (scale = alpha / r)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")  # module names LoRA adapts
    epochs: int = Field(10, ge=1)  # passes over the training explanations; on most shops max_steps ends training first
    # optimiser steps in all, bounding training time on a CPU (None: every epoch in full)
    max_steps: int | None = Field(150, ge=1)
    prompt_only_steps: int = Field(30, ge=0)  # PEPLER stage 1: steps training only the prompts, LM frozen
    batch_size: int = Field(16, ge=1)
    # validation explanations: NLL after each epoch (early stop) or, with patience 0, after training; 0 = none
    valid_examples: int = Field(512, ge=0)
    # epochs without a lower validation NLL before training stops, keeping the best epoch; 0 = never early
    patience: int = Field(1, ge=0)
    lr_prompt: float = Field(1e-3, gt=0)  # soft prompts (both stages)
    lr_lm: float = Field(3e-4, gt=0)  # LM weights in stage 2; LoRA likes ~3e-4, full fine-tuning ~3e-5
    max_grad_norm: float = Field(1.0, gt=0)
    max_explanation_words: int = Field(20, ge=1)  # PEPLER cuts explanations to 20 words
    # soft_prompt mode: the item's catalog title (first words) written before the reply; 0 = none (PEPLER)
    title_words: int = Field(12, ge=0)
    min_aspect_count: int = Field(2, ge=1)  # reviewers whose reviews must judge a feature for the lexicon built in fit
    profile_size: int = Field(5, ge=1)  # aspects of the user and of the item a zero-shot prompt names
    max_history: int = Field(3, ge=0)  # history items cited as evidence per reason
    max_new_tokens: int = Field(25, ge=1)
    min_new_tokens: int = Field(4, ge=0)  # without a floor greedy decoding stops after two words ("Great box")
    repetition_penalty: float = Field(1.1, ge=1.0)  # 1.0 = none
    targets: Literal["shopper", "review"] = "shopper"  # positive review sentences rewritten to the shopper | PEPLER's raw ones
    constrained: bool = True  # decoding cannot write first-person, complaint, or aspect words the item lacks
    # weight of the critic (explain.critic: real review statements vs this model's reasons) in choosing among candidates;
    # 0 = no critic. Fitted after training on the shopper targets and the model's own reasons for training pairs.
    critic_weight: float = Field(0.0, ge=0)
    critic_pairs: int = Field(200, ge=10)  # training (shopper, item) pairs whose generated reasons teach the critic
    # weight of a candidate's MiniLM cosine to the shopper's profile (`_profiles`: what sets their reviews' words apart)
    # in choosing among the candidates with the fewest faults: the one nearest the shopper's own words. 0 = none. Not in
    # choosing the hint: ordering it by the profile hinted odd nouns ("The improvement is very good."). Off by default:
    # at 10 every shown check moved a little the right way on four sets but the reasons read no better (benchmarks/RESULTS.md).
    profile_weight: float = Field(0.0, ge=0)
    # a reason whose best candidate still has more weighted faults in what it says than this (`_fault_counter`: 4 is one
    # grave fault, or two lesser ones such as the hint unsaid and the item praised as such: "You'll love Texas
    # Roadhouse.") is flagged `FAULTY`, so the filters retry it about the item's first praised aspect or replace it.
    # None: never flagged.
    max_faults: int | None = Field(3, ge=0)
    candidates: int = Field(4, ge=1)  # replies per reason: the greedy one plus nucleus samples, the best kept by `_pick`
    # decoding stops once this many candidates of every reason have ended, the rest dropped: each step reads every
    # weight however few rows still run (3 of 4: shown checks alike, 15% faster; benchmarks/RESULTS.md). None: all end.
    quorum: int | None = Field(3, ge=1)
    top_p: float = Field(0.9, gt=0, le=1)  # nucleus of the sampled candidates
    temperature: float = Field(1.0, gt=0)
    # rows (reason × candidate) decoded together; each step reads all weights once, so the lean loop gains from many
    generate_batch_size: int = Field(64, ge=1)
    # bf16 matmuls. None: decoding in bf16 where the CPU has AMX or AVX512-BF16 (faster there, same quality: benchmarks/
    # RESULTS.md; four times slower without them), training in fp32. True: training and decoding. False: neither (fp32
    # decoding writes exactly the tokens of transformers' generate).
    bf16: bool | None = None
    # "lean": explain.decoding's own loop over the Llama weights (fp32: the same tokens as "generate", several times
    # faster); "generate": transformers' generate, the reference, and the one for LMs that are not Llama
    decoder: Literal["lean", "generate"] = "lean"


class PromptLM(Reasoner):
    """Reasons written by a pretrained LM from a discrete or learned (soft) prompt; see the module docstring."""

    name = "prompt_lm"
    config_class = PromptLMConfig
    config: PromptLMConfig
    format_version = 3
    json_parts = ("profiles.json",)
    seeds_torch = True  # init of the prompts and LoRA, and dropout

    def __init__(self, config: PromptLMConfig | None = None) -> None:
        super().__init__(config)
        self.n_users = 0
        self.n_items = 0
        self.user_aspects: dict[int, list[str]] = {}  # aspects the user's reviews judge, most-mentioned first
        self.aspects_by_item: dict[int, list[str]] = {}  # most-mentioned in reviews first, then catalog ones
        self.praised_by_item: dict[int, list[str]] = {}  # aspects the item's reviews praise, most-praised first
        self.faulted_by_item: dict[int, list[str]] = {}  # aspects the item's reviews fault more than praise
        self.user_history: dict[int, dict[str, list[int]]] = {}  # user -> feature -> items whose review praised it, oldest first
        self.reviewed: dict[int, list[int]] = {}  # user -> items their training reviews are of, oldest first
        self.reviewed_on: dict[int, dict[int, int]] = {}  # user -> reviewed item -> unix time of their review of it
        # user -> reviewed item -> the other variants Amazon files the same review under (where there are any)
        self.variants: dict[int, dict[int, list[int]]] = {}
        self.product_by_item: dict[int, list[str]] = {}  # aspects that only name the item's product type ("gift card")
        self.brands: dict[int, str] = {}
        self.categories: dict[int, str] = {}  # item -> catalog category path ("Outdoor > Jackets > Rain")
        self.vocab: frozenset[str] = frozenset()  # words of the training targets and titles; empty = not checked
        self.item_words: dict[int, frozenset[str]] = {}  # item -> words of its training reviews, title and brand
        self.common_words: frozenset[str] = frozenset()  # words the reviews of `COMMON_SHARE` of the items use
        self.titles: dict[int, str] = {}  # item -> title (or category) for zero-shot prompts and `title_words`
        self.titled: set[int] = set()  # items whose `titles` entry is a catalog title, not a category
        self.seen_by: dict[int, list[int]] = {}  # item -> users with an event on it (the shop's interactions)
        self._history: dict[int, list[int]] = {}  # user -> items they had an event on (derived from seen_by)
        self.fit_stats: dict = {}  # what the last fit did: steps, seconds, per-step losses, validation NLL
        self.critic: Critic | None = None  # explain.critic, fitted when critic_weight > 0
        self.user_profiles: dict[int, np.ndarray] = {}  # user -> what sets their reviews' words apart (`_profiles`)
        self.tokenizer = None
        self.lm = None  # the causal LM; a peft PeftModel when train_lm == "lora"
        self.user_prompts: torch.Tensor | None = None  # (n_users, d)
        self.item_prompts: torch.Tensor | None = None  # (n_items, d)
        self._global_bans: Banned | None = None  # first-person and complaint words as token sequences
        self._item_bans: dict[tuple[int, str | None], Banned] = {}  # (item, hint it lacks) -> plus aspects it lacks
        self._lean: LeanDecoder | None = None  # built from self.lm on first use with decoder = "lean"
        # item / user -> feature -> adjectives its reviews praised it with ("sturdy"), most used first
        self.item_opinions: dict[int, dict[str, list[str]]] = {}
        self.user_opinions: dict[int, dict[str, list[str]]] = {}
        self._aspect_vectors: dict[str, np.ndarray] = {}  # aspect -> MiniLM unit vector, embedded on first use
        self._served_opinions: dict[int, dict[str, tuple[str, ...]]] = {}  # item -> feature -> adjectives, as last asked

    # ---- fitting ---------------------------------------------------------------------------
    def _fit_reviews(self, reviews: TrainingReviews) -> None:
        """Per user and item, the aspects their training reviews judge (and the catalog names), by count; item titles."""
        dataset = reviews.dataset
        self.n_users, self.n_items = dataset.n_users, dataset.n_items
        self._item_bans = {}
        users: dict[int, Counter[str]] = defaultdict(Counter)
        items: dict[int, Counter[str]] = defaultdict(Counter)
        praised: dict[int, Counter[str]] = defaultdict(Counter)
        history: dict[int, dict[str, list[int]]] = defaultdict(dict)
        ordered = reviews.mentions.join(dataset.reviews["timestamp"], on="row").sort_values(["timestamp", "row"], kind="stable")
        # the shopper's side counts a review once, under its first listing ("four of your reviews" of one shampoo Amazon
        # files under four variants would be false); each listing's side keeps its copy, which its page shows
        once = reviews.once
        columns = ["row", "user", "item", "feature", "sentiment"]
        for row, user, item, feature, sentiment in ordered[columns].itertuples(index=False):
            user, item = int(user), int(item)  # plain ints: these go to JSON
            items[item][feature] += 1
            if sentiment > 0:
                praised[item][feature] += 1
            if row not in once:
                continue
            users[user][feature] += 1
            if sentiment > 0:
                seen = history[user].setdefault(feature, [])
                if item not in seen:
                    seen.append(item)
        self.user_aspects = {u: most_used_first(c) for u, c in users.items()}
        self.aspects_by_item = with_catalog({i: most_used_first(c) for i, c in items.items()}, reviews.catalog)
        self.praised_by_item = {i: most_used_first(c) for i, c in praised.items()}
        # aspects the item's reviews fault more than they praise: never a hint (the LM would praise them)
        faulted = {i: sorted(f for f, n in c.items() if n > 2 * praised[i][f]) for i, c in items.items()}
        self.faulted_by_item = {i: f for i, f in faulted.items() if f}
        self.user_history = dict(history)
        self.item_opinions = praise_words(reviews.mentions, self.lexicon, "item")
        self.user_opinions = praise_words(reviews.mentions[reviews.mentions["row"].isin(once)], self.lexicon, "user")
        trained = dataset.reviews.iloc[np.sort(reviews.rows)].sort_values("timestamp", kind="stable")
        self.reviewed_on = reviews.reviewed_on
        self.reviewed = {u: list(times) for u, times in self.reviewed_on.items()}
        self.variants = reviews.variants
        self.seen_by = seen_by_items(dataset.interactions)
        self._history = histories(self.seen_by)
        self.titles, self.brands, paths, self.titled = {}, {}, {}, set()
        for item, title, category, brand in dataset.items[["item", "title", "category", "brand"]].itertuples(index=False):
            name = title if isinstance(title, str) and title.strip() else category
            if isinstance(name, str) and name.strip():
                self.titles[int(item)] = name.strip()
            if isinstance(title, str) and title.strip():
                self.titled.add(int(item))
            if isinstance(brand, str) and brand.strip():
                self.brands[int(item)] = brand.strip()
            if isinstance(category, str) and category.strip():
                paths[int(item)] = category.strip()
        self.product_by_item = product_type_aspects(paths, self.aspects_by_item)
        self.categories = paths
        self.vocab = frozenset()
        self.item_words, self.common_words = _item_words(trained, self.titles, self.brands)
        self.user_profiles = _profiles(trained) if self.config.profile_weight > 0 else {}

    def _fit_weights(self, reviews: TrainingReviews) -> None:
        """The base LM; in soft_prompt mode also learn prompts (and the LM) from the training targets, in review order.

        `targets="shopper"` learns from positive review sentences rewritten to the shopper (`voice.shopper_examples`);
        `"review"` from PEPLER's raw review sentences (the research protocol).
        """
        self._load_lm()
        if self.config.mode != "soft_prompt":
            return
        dataset, split = reviews.dataset, reviews.split
        targets = shopper_examples if self.config.targets == "shopper" else explanation_examples
        examples = targets(dataset, self.lexicon, np.sort(reviews.rows))
        self.vocab = frozenset(w for text in [*examples["explanation"], *self.titles.values()] for w in _words(text))
        if examples.empty:
            raise DataError(
                f"no training review gives a {self.config.targets} target for an aspect of the lexicon; nothing to learn from",
                field="text",
            )
        valid = None
        if split is not None and len(split.valid) and self.config.valid_examples:
            valid = targets(dataset, self.lexicon, np.sort(split.valid)).head(self.config.valid_examples)
        self._train(examples, valid)
        if self.config.critic_weight > 0:
            self._fit_critic(examples)

    def _fit_critic(self, examples: pd.DataFrame) -> None:
        """The critic, from the training targets (real) and this model's reasons for a seeded sample of their pairs."""
        from whyrec.embeddings import embed_texts
        from whyrec.explain.critic import Critic

        self.critic = None  # generate without a critic while writing its negatives
        rng = np.random.default_rng(self.config.seed)
        pairs = examples.iloc[rng.permutation(len(examples))[: self.config.critic_pairs]]
        generated = self.generate([ReasonRequest(int(u), int(i)) for u, i in pairs[["user", "item"]].itertuples(index=False)])
        self.critic = Critic.fit(list(pairs["explanation"]), [r.text for r in generated], embed_texts, seed=self.config.seed)
        self.fit_stats["critic_auc"] = self.critic.auc

    def _load_lm(self, lm_folder: Path | None = None) -> None:
        """The tokenizer and LM: the base model, or a fully fine-tuned one saved in `lm_folder`."""
        base = resolve_base_model(self.config.base_model)
        self.tokenizer = load_tokenizer(base)
        self.lm = load_causal_lm(lm_folder if lm_folder is not None else base)
        self.lm.requires_grad_(False)  # training unfreezes what it trains
        self._lean = None  # one built on the previous LM holds that LM's weights

    def _train(self, examples: pd.DataFrame, valid: pd.DataFrame | None) -> None:
        """PEPLER's two stages over shuffled explanation batches; fills `self.fit_stats`."""
        import torch

        cfg = self.config
        # Prompts start as the embeddings of the words they stand for, not at random: prompt tuning
        # learns faster from a vocabulary initialisation (Lester et al., EMNLP 2021), and the frozen
        # LM of stage 1 starts from inputs it can read.
        self.user_prompts = torch.nn.Parameter(self._word_vector(_USER_WORD).repeat(self.n_users, 1))  # (n_users, d)
        self.item_prompts = torch.nn.Parameter(self._word_vector(_ITEM_WORD).repeat(self.n_items, 1))  # (n_items, d)
        lm_params = self._trainable_lm_params()
        prompts = [self.user_prompts, self.item_prompts]

        batches_per_epoch = math.ceil(len(examples) / cfg.batch_size)
        total = batches_per_epoch * cfg.epochs if cfg.max_steps is None else min(cfg.max_steps, batches_per_epoch * cfg.epochs)
        stage1 = total if not lm_params else min(cfg.prompt_only_steps, total)
        encoded = self._encode_examples(examples)
        rng = np.random.default_rng(cfg.seed)
        losses: list[float] = []
        optimizer = torch.optim.AdamW([{"params": prompts, "lr": cfg.lr_prompt}], weight_decay=0.0)
        self.lm.train()
        epochs = math.ceil(total / batches_per_epoch)  # the last one may stop part-way, at max_steps
        step = 0
        trained = [*prompts, *lm_params]
        # The bar counts optimiser steps: max_steps usually ends training inside the first epochs.
        loop = EpochLoop(
            self.name,
            epochs,
            Stopping("valid_nll", higher_is_better=False, patience=cfg.patience or None),
            self.on_epoch,
            steps=total,
        )

        def train_epoch(epoch: int) -> dict[str, float]:
            nonlocal step
            for batch in np.array_split(rng.permutation(len(examples)), batches_per_epoch)[: total - step]:
                if step == stage1:  # stage 2: the LM joins, with its own learning rate
                    for p in lm_params:
                        p.requires_grad_(True)
                    optimizer.add_param_group({"params": lm_params, "lr": cfg.lr_lm})
                loss = self._batch_loss([encoded[j] for j in batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([*prompts, *lm_params], cfg.max_grad_norm)
                optimizer.step()
                losses.append(float(loss.detach()))
                step += 1
                loop.tick()
            done = len(losses) - (epoch - 1) * batches_per_epoch
            return {"loss": float(np.mean(losses[-done:])), "step": step}

        def validate(_epoch: int) -> dict[str, float]:
            if valid is None or valid.empty or not cfg.patience:
                return {}
            # PEPLER's early stop: keep the epoch with the lowest validation NLL.
            self.lm.eval()
            nll = self.nll(valid)
            self.lm.train()
            return {"valid_nll": nll}

        def restore(kept: list[torch.Tensor]) -> None:
            with torch.no_grad():
                for tensor, copy in zip(trained, kept, strict=True):
                    tensor.copy_(copy)

        start, cpu_start = time.perf_counter(), time.process_time()
        run = loop.run(train_epoch, validate, keep=lambda: [t.detach().clone() for t in trained], restore=restore)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        self.lm.eval()
        self._merge_lora()
        self._lean = None  # the weights changed
        for p in lm_params:
            p.requires_grad_(False)
        self.user_prompts.requires_grad_(False)
        self.item_prompts.requires_grad_(False)
        self.fit_stats = {
            "examples": len(examples),
            "steps": step,
            "prompt_only_steps": min(stage1, step),
            "epochs": round(step / batches_per_epoch, 3),
            "seconds": round(seconds, 2),
            "sec_per_step": round(seconds / max(step, 1), 3),
            # CPU seconds of all threads per step: the pace apart from how busy the machine was.
            "cpu_sec_per_step": round(cpu_seconds / max(step, 1), 3),
            "loss": [round(x, 4) for x in losses],
        }
        checks = [m["valid_nll"] for m in run.metrics if "valid_nll" in m]  # validation NLL after each epoch
        if checks:
            self.fit_stats.update(
                valid_nll_per_epoch=[round(x, 4) for x in checks], best_epoch=run.best_epoch, stopped_early=step < total
            )
        if valid is not None and not valid.empty:
            self.fit_stats["valid_nll"] = round(run.best if run.best is not None else self.nll(valid), 4)

    def _merge_lora(self) -> None:
        """Fold LoRA's B·A into the weights it adapts, so decoding runs one matmul per projection, not three.

        The adapter's own tensors stay (peft's merge_adapter), so `save` still writes the adapter alone.
        """
        if self.config.train_lm == "lora":  # only called once self.lm is the PeftModel
            self.lm.merge_adapter()

    def _word_vector(self, word: str) -> torch.Tensor:
        """(1, d) mean input embedding of the tokens of `word`."""
        ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        return self.lm.get_input_embeddings().weight[ids].detach().mean(0, keepdim=True)

    def _trainable_lm_params(self) -> list:
        """The LM weights stage 2 trains (LoRA adapters or all), frozen for now; [] for prompt-only tuning."""
        if self.config.train_lm == "lora":
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=self.config.lora_r,
                lora_alpha=self.config.lora_alpha,
                lora_dropout=self.config.lora_dropout,
                target_modules=list(self.config.lora_targets),
                task_type="CAUSAL_LM",
            )
            self.lm = get_peft_model(self.lm, lora)
            params = [p for p in self.lm.parameters() if p.requires_grad]
        elif self.config.train_lm == "full":
            params = list(self.lm.parameters())
        else:
            params = []
        self.lm.requires_grad_(False)
        return params

    # ---- sequences ----------------------------------------------------------------------------
    def _prefix_ids(self, item: int, hint: str | None) -> list[int]:
        """Token ids between the two soft tokens and the explanation: the item's title as a user turn
        (with `title_words`), the reply's opening, then the hint."""
        title = " ".join(self.titles.get(item, "").split()[: self.config.title_words])
        text = f"<|im_start|>user\n{title}<|im_end|>\n" if title else ""
        text += _LEAD + (f"About the {hint}:" if self.config.aspect_hint and hint else "")
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _encode_examples(self, examples: pd.DataFrame) -> list[tuple[int, int, list[int], list[int]]]:
        """(user, item, prefix ids, target ids) per example; targets = explanation cut to PEPLER's length + end of turn."""
        cut = [" ".join(t.split()[: self.config.max_explanation_words]) for t in examples["explanation"]]
        hinted = self.config.aspect_hint
        # After "About the <feature>:" the explanation starts with a space, as in running text.
        targets = self.tokenizer([(" " + t) if hinted else t for t in cut], add_special_tokens=False)["input_ids"]
        prefixes: dict[tuple[int, str], list[int]] = {}
        out = []
        for user, item, feature, ids in zip(examples["user"], examples["item"], examples["feature"], targets, strict=True):
            key = (int(item) if self.config.title_words else -1, feature)
            if key not in prefixes:
                prefixes[key] = self._prefix_ids(int(item), feature)
            out.append((int(user), int(item), prefixes[key], [*ids, self.tokenizer.eos_token_id]))
        return out

    def _batch_loss(self, batch: list[tuple[int, int, list[int], list[int]]]) -> torch.Tensor:
        """Mean next-token NLL of the target tokens of a batch, given soft prompts and prefixes."""
        import torch
        import torch.nn.functional as F

        lengths = [len(p) + len(t) for _, _, p, t in batch]
        width = max(lengths)
        ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)  # (B, T), right-padded
        labels = torch.full((len(batch), 2 + width), -100, dtype=torch.long)  # (B, 2+T); -100 = not scored
        mask = torch.zeros((len(batch), 2 + width), dtype=torch.long)
        for b, (_, _, prefix, target) in enumerate(batch):
            seq = prefix + target
            ids[b, : len(seq)] = torch.tensor(seq)
            labels[b, 2 + len(prefix) : 2 + len(seq)] = torch.tensor(target)
            mask[b, : 2 + len(seq)] = 1
        users = torch.tensor([u for u, _, _, _ in batch])
        items = torch.tensor([i for _, i, _, _ in batch])
        tokens = self.lm.get_input_embeddings()(ids)  # (B, T, d)
        embeds = torch.cat([self.user_prompts[users][:, None], self.item_prompts[items][:, None], tokens], dim=1)  # (B, 2+T, d)
        causal = self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm
        # Position t predicts token t+1; the vocabulary projection runs on scored positions only,
        # which saves most of the (B, 2+T, 49k) logits a full forward would build.
        scored = labels[:, 1:] != -100  # (B, 1+T)
        with self._autocast():
            hidden = causal.get_decoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state  # (B, 2+T, d)
            logits = causal.get_output_embeddings()(hidden[:, :-1][scored])  # (N, V)
        return F.cross_entropy(logits.float(), labels[:, 1:][scored])

    def _autocast(self):
        """bf16 autocast on the LM's device when `bf16` is set (matmuls in bf16, weights and optimiser in fp32)."""
        import torch

        device = next(self.lm.parameters()).device.type
        return torch.autocast(device, dtype=torch.bfloat16, enabled=bool(self.config.bf16))

    def nll(self, examples: pd.DataFrame) -> float:
        """Mean per-token NLL of `examples`' explanations (columns user, item, explanation, feature); soft_prompt mode."""
        import torch

        self._require_soft_prompts()
        encoded = self._encode_examples(examples)
        total, count = 0.0, 0
        with torch.inference_mode():
            for start in range(0, len(encoded), self.config.batch_size):
                batch = encoded[start : start + self.config.batch_size]
                n = sum(len(t) for _, _, _, t in batch)
                total += float(self._batch_loss(batch)) * n
                count += n
        return total / max(count, 1)

    # ---- generation -----------------------------------------------------------------------------
    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        """One reason per request: hints are planned, candidates decoded in batches, and the best candidate kept by
        `_pick`, which keeps one shopper's reasons in this call distinct; a repeated request gets the same reason."""
        self._require_fitted()
        import torch

        if self.config.mode == "soft_prompt":
            self._require_soft_prompts()
        asked = [dataclasses.replace(r, user=r.user if 0 <= r.user < self.n_users else -1) for r in requests]
        distinct = list(dict.fromkeys(asked))
        # how the served facts' reviews praised each item's aspects: the wording for those the fitted record lacks
        self._served_opinions.update({q.item: dict(q.praised_with) for q in distinct if q.praised_with})
        keys = [(q.user, q.item, h) for q, h in zip(distinct, self._hints(distinct), strict=True)]
        # With hints on, no hint means nothing of the item to write from: the request is declined, not decoded (the LM
        # would write "You're in the right place."), and the filters retry it or the fallback writes it.
        unique = list(dict.fromkeys(k for k in keys if k[2] is not None or not self.config.aspect_hint))
        written: dict[tuple[int, int, str | None], list[tuple[str, float]]] = {}
        size = max(1, self.config.generate_batch_size // self.config.candidates)
        with torch.inference_mode():
            for start in range(0, len(unique), size):
                chunk = unique[start : start + size]
                written.update(zip(chunk, self._decode(chunk), strict=True))
        bonus = self._bonus(written)
        kept: dict[int, list[str]] = defaultdict(list)  # user -> texts kept so far in this call
        picked: dict[ReasonRequest, tuple[tuple[int, int, str | None], str, float, bool]] = {}
        limit = self.config.max_faults
        for q, key in zip(distinct, keys, strict=True):
            if key not in written:
                picked[q] = (key, "", 0.0, False)
                continue
            text, score = self._pick(written[key], key[1], key[2], kept[key[0]], bonus.get(key))
            # what it says, not its wording: "The design is very creative." (a word no review uses) stays shown
            faulty = limit is not None and self._fault_counter(key[1], key[2], kept[key[0]])[0](text, False) > limit
            kept[key[0]].append(text)
            picked[q] = (key, text, score, faulty)
        linked: set[tuple[int, str | int]] = set()  # (user, brand or item) one link in this call already names
        turns: Counter[int] = Counter()  # user -> evidence links written in this call
        reasons: dict[ReasonRequest, Reason] = {}
        for r, q in zip(requests, asked, strict=True):
            if r not in reasons:  # a repeated request gets the same reason
                key, text, score, faulty = picked[q]
                reason = self._reason(r, key[2], text, score, linked, turns)
                reasons[r] = dataclasses.replace(reason, flags=[*reason.flags, FAULTY]) if faulty else reason
        return [reasons[r] for r in requests]

    def _bonus(self, written: dict[tuple[int, int, str | None], list[tuple[str, float]]]) -> dict[tuple, list[float]]:
        """Per key, what each candidate adds to its log-prob in `_pick`: the critic's P(real) times `critic_weight`, plus its
        cosine to the shopper's profile times `profile_weight`; no key where neither applies. One MiniLM pass for both."""
        critic = self.critic if self.config.critic_weight > 0 else None
        profiled = self.config.profile_weight > 0 and any(k[0] in self.user_profiles for k in written)
        if critic is None and not profiled:
            return {}
        from whyrec.embeddings import embed_texts

        texts = list(dict.fromkeys(t for cands in written.values() for t, _ in cands))
        vectors = dict(zip(texts, embed_texts(texts), strict=True))
        realness = {}
        if critic is not None:
            realness = dict(
                zip(texts, map(float, critic.score(texts, lambda ts: np.stack([vectors[t] for t in ts]))), strict=True)
            )
        out: dict[tuple, list[float]] = {}
        for key, cands in written.items():
            profile = self.user_profiles.get(key[0]) if profiled else None
            out[key] = [
                self.config.critic_weight * realness.get(t, 0.0)
                + (self.config.profile_weight * float(vectors[t] @ profile) if profile is not None else 0.0)
                for t, _ in cands
            ]
        return out

    def _hints(self, requests: list[ReasonRequest]) -> list[str | None]:
        """The aspect each reason is about, chosen before any text: the request's hint; else an aspect this shopper's
        reviews mention that the item's reviews praise, else one the item shares with items the shopper reviewed
        (`_kin`: what their history suggests they look for; the one the item is most praised for first), else the
        praised aspect nearest in meaning to what the shopper writes about (`_nearest`: "fragrance" for one who praises
        scent), else the item's most-praised aspect, then one the item has that its reviews do not fault more than praise
        (a catalog aspect), `VAGUE` nouns after all the others ("condition" only where nothing else is praised) —
        preferring, within one shopper's requests, an aspect not yet used, so a list does not repeat one aspect; among
        the praised ones only, where the item has any: praise said again beats a catalog noun no review praised. Never
        a faulted aspect nor one that only names the product type ("gift card" in a gift-card shop) or the item's brand
        ("ihop" of an IHOP card): None then, and the reason is flagged for the filters."""
        if not self.config.aspect_hint:
            return [None] * len(requests)
        used: dict[int, set[str]] = defaultdict(set)
        out: list[str | None] = []
        self._embed_aspects(
            {
                a
                for r in requests
                if not r.hint and r.user >= 0
                for a in self.user_aspects.get(r.user, [])[: self.config.profile_size]
            }
            | {a for r in requests if not r.hint for a in [*self.praised_by_item.get(r.item, []), *r.praised]}
        )
        for r in requests:
            user = r.user
            if r.hint:
                out.append(r.hint)
                continue
            # the item's brand praised as an aspect ("I love IHOP") names the item itself, as its product type does
            product = {*self.product_by_item.get(r.item, ()), normalize_feature(self.brands.get(r.item, ""))}
            faulted = set(self.faulted_by_item.get(r.item, ()))
            # the served facts' praise after the fitted record's (reviews written since fitting count too), never an aspect
            # the reviews fault more than praise, though some praised it
            both = dict.fromkeys([*self.praised_by_item.get(r.item, []), *r.praised])
            praised = [a for a in both if a not in product and a not in faulted]
            liked = self.user_aspects.get(user, []) if user >= 0 else []
            kin = self._kin(user, r.item) if user >= 0 else {}
            # praised aspects first, then others the item has (its catalog names them) but never one its reviews fault
            # more than praise: the reason would praise it ("The bacteria is very good." of a brush holder faulted for them)
            have = [a for a in self.aspects_by_item.get(r.item, []) if a not in product and a not in faulted]
            options = [
                [a for a in liked if a in praised],
                [a for a in praised if a in kin],
                self._nearest(liked[: self.config.profile_size], praised),
                praised,
                [a for a in liked if a in have],
                have,
                # last, the product type where its reviews said what they found of it: "The card is beautiful", never
                # "The gift card is a great gift card"
                [a for a in self.product_by_item.get(r.item, ()) if a not in faulted and self._telling(r.item, a)],
            ]
            candidates = list(dict.fromkeys(a for group in options for a in group))
            candidates.sort(key=lambda a: a in VAGUE)  # stable: the order above, vague nouns last
            # never an aspect whose name a shopper should not read ("movy", the wrong singular of lexicons saved before
            # lexicon/plurals.tsv)
            unknown = set(self._unknown(" ".join(candidates), r.item))
            ranked = [a for a in candidates if unknown.isdisjoint(_words(a))]
            # an aspect not yet used in this list goes first only among the praised ones: a praised aspect said again
            # beats one no review praised ("The burger is great." of a card whose reviews praise the food)
            pool = [a for a in ranked if a in praised and a not in VAGUE] or ranked
            fresh = [a for a in pool if a not in used[user]]
            hint = (fresh or pool or [None])[0]
            if hint is not None:
                used[user].add(hint)
            out.append(hint)
        return out

    def _embed_aspects(self, aspects: set[str]) -> None:
        """MiniLM vectors of the aspects not embedded yet, kept for `_nearest`."""
        new = sorted(aspects - self._aspect_vectors.keys())
        if new:
            from whyrec.embeddings import embed_texts

            self._aspect_vectors.update(zip(new, embed_texts(new), strict=True))

    def _nearest(self, liked: list[str], aspects: list[str]) -> list[str]:
        """`aspects` whose meaning is close to one the shopper writes about (MiniLM cosine ≥ `NEAR`), nearest first."""
        if not liked or not aspects:
            return []
        mine = np.stack([self._aspect_vectors[a] for a in liked])
        near = {a: float((mine @ self._aspect_vectors[a]).max()) for a in aspects}
        return sorted((a for a in aspects if near[a] >= NEAR), key=lambda a: -near[a])

    def _prefix_embeds(self, user: int, item: int, hint: str | None) -> torch.Tensor:
        """(L, d) input embeddings the reply is generated after: soft tokens + prefix, or the zero-shot chat prompt."""
        import torch

        embed = self.lm.get_input_embeddings()
        if self.config.mode == "zero_shot":
            ids = self.tokenizer.apply_chat_template(self._chat(user, item, hint), add_generation_prompt=True)
            return embed(torch.tensor(ids))
        user_vec = self.user_prompts[user] if user >= 0 else self.user_prompts.mean(0)  # (d,); unknown = mean user
        item_vec = self.item_prompts[item] if 0 <= item < self.n_items else self.item_prompts.mean(0)
        tokens = embed(torch.tensor(self._prefix_ids(item, hint)))  # (P, d)
        return torch.cat([user_vec[None], item_vec[None], tokens], dim=0)  # (2+P, d)

    def _chat(self, user: int, item: int, hint: str | None) -> list[dict[str, str]]:
        """The zero-shot conversation: what the shopper mentions, what the product is and has."""
        k = self.config.profile_size
        likes = self.user_aspects.get(user, [])[:k] if user >= 0 else []
        has = self.aspects_by_item.get(item, [])[:k]
        lines = [f"Product: {self.titles.get(item, 'this product')}."]
        if has:
            lines.append(f"Its reviews talk about: {', '.join(has)}.")
        if likes:
            lines.append(f"This shopper's own reviews often mention: {', '.join(likes)}.")
        ask = "In one sentence, tell the shopper why they may like this product"
        lines.append(f"{ask}, mentioning its {hint}." if hint else f"{ask}.")
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n".join(lines)}]

    def _decode(self, keys: list[tuple[int, int, str | None]]) -> list[list[tuple[str, float]]]:
        """Per (user, item, hint), `candidates` replies decoded in one batch: (text, mean token log-prob) each."""
        n = self.config.candidates
        prefixes, openers, constraints = self._rows(keys)
        eos = self.tokenizer.eos_token_id
        results: list[list[tuple[str, float]]] = [[] for _ in keys]
        for r, (tokens, logp) in enumerate(self._replies(prefixes, openers, constraints)):
            if eos not in tokens and len(tokens) < self.config.max_new_tokens:
                continue  # stopped by the quorum before it ended
            end = tokens.index(eos) if eos in tokens else len(tokens)
            # the reply's tokens carry their own leading spaces ("The hood" + " is great", "The hood is light" + ".")
            text = openers[r] + self.tokenizer.decode(tokens[:end], skip_special_tokens=True)
            results[r // n].append((" ".join(text.split()), float(logp[: max(end, 1)].mean())))
        return results

    def _rows(self, keys: list[tuple[int, int, str | None]]) -> tuple[list[torch.Tensor], list[str], Constraints]:
        """What decoding `keys` runs: each key's (P, d) prefix embeddings, and per row (key × candidate) the words its
        reply is forced to open with and, in the Constraints, its bans and sampling seed.

        Candidate 0 is the greedy reply; candidate 1, with a hint, the greedy reply opened by "The <hint> is
        <adjective>" with an adjective the item's reviews praised it with (`_opinion`), or by "The <hint>" where none
        is known (so one candidate surely names it, and says what reviewers found); the others are nucleus samples
        whose noise is seeded per (seed, item, hint, candidate), so a reason does not depend on what else is in the
        batch. With `constrained`, banned words
        cannot be generated.
        """
        cfg = self.config
        rows = [(k, j) for k in keys for j in range(cfg.candidates)]
        openers = [self._opener(*k) if j == 1 and k[2] else "" for k, j in rows]
        constraints = Constraints(
            [self._banned(k[1], k[2]) if cfg.constrained else Banned.empty() for k, _ in rows],
            [None if j == 0 or opener else _row_seed(cfg.seed, k, j) for (k, j), opener in zip(rows, openers, strict=True)],
            cfg.top_p,
            cfg.temperature,
        )
        return [self._prefix_embeds(*k) for k in keys], openers, constraints

    def _replies(
        self, prefixes: list[torch.Tensor], openers: list[str], constraints: Constraints
    ) -> list[tuple[list[int], torch.Tensor]]:
        """Per row (`candidates` per prefix), the generated tokens and their log-probs under the raw logits, decoded
        by the configured `decoder`; an opener is prompt, fed after the prefix."""
        cfg = self.config
        n = cfg.candidates
        # After "About the <feature>:" the opener starts with a space, as in running text.
        forced = [self.tokenizer(" " + o, add_special_tokens=False)["input_ids"] if o else [] for o in openers]
        # the quorum waits for the candidate opened by the hint: the one that surely names it and says what reviewers found
        required = [bool(o) for o in openers]
        if cfg.decoder == "generate":
            return self._generate([prefixes[r // n] for r in range(len(forced))], forced, constraints, required)
        return self._lean_decoder().decode(
            prefixes,
            [(r // n, f) for r, f in enumerate(forced)],
            constraints,
            max_new_tokens=cfg.max_new_tokens,
            min_new_tokens=cfg.min_new_tokens,
            repetition_penalty=cfg.repetition_penalty,
            eos_token_id=self.tokenizer.eos_token_id,
            quorum=cfg.quorum,
            required=required,
        )

    def _generate(
        self, prefixes: list[torch.Tensor], forced: list[list[int]], constraints: Constraints, required: Sequence[bool] = ()
    ) -> list[tuple[list[int], torch.Tensor]]:
        """The reference decoding loop, transformers' `generate`, on rows of prefix + forced tokens left-padded into
        one batch: per row the generated tokens and their log-probs under the raw logits (before any processor)."""
        import torch

        cfg = self.config
        embed = self.lm.get_input_embeddings()
        prompts = [torch.cat([p, embed(torch.tensor(f, dtype=torch.long))]) for p, f in zip(prefixes, forced, strict=True)]
        width = max(len(p) for p in prompts)
        embeds = torch.zeros(len(prompts), width, prompts[0].shape[1])  # (R, L, d); padding on the left, masked out
        mask = torch.zeros(len(prompts), width, dtype=torch.long)
        for b, p in enumerate(prompts):
            embeds[b, width - len(p) :] = p
            mask[b, width - len(p) :] = 1
        options = {
            "max_new_tokens": cfg.max_new_tokens,
            "min_new_tokens": cfg.min_new_tokens,
            "repetition_penalty": cfg.repetition_penalty,
            "do_sample": False,  # sampling, where wanted, is the seeded noise `Constraints` adds
            "eos_token_id": self.tokenizer.eos_token_id,
            "pad_token_id": self.tokenizer.pad_token_id,
            "return_dict_in_generate": True,
            "output_logits": True,
            "logits_processor": [constraints],
        }
        if cfg.quorum is not None:
            quorum = _Quorum(
                cfg.quorum, cfg.candidates, self.tokenizer.eos_token_id, constraints, required or [False] * len(forced)
            )
            options["stopping_criteria"] = [quorum]
        with self._autocast():
            out = self.lm.generate(inputs_embeds=embeds, attention_mask=mask, **options)
        tokens = out.sequences  # (R, n_new): with inputs_embeds only new tokens come back
        logp = torch.stack(out.logits, dim=1).float().log_softmax(-1)  # (R, n_new, V), before penalties
        picked = logp.gather(-1, tokens[..., None]).squeeze(-1)  # (R, n_new)
        return list(zip(tokens.tolist(), picked, strict=True))

    def _opener(self, user: int, item: int, hint: str) -> str:
        """How the hint's candidate starts: "The <hint> is <adjective>" (`_opinion`), else "The <hint>"; closed with a
        period after an adjective that also grades adjectives, or the LM reads it so ("The bottle is pretty good.")."""
        adjective = self._opinion(user, item, hint)
        if not adjective:
            return f"The {hint}"
        return f"The {hint} is {adjective}" + ("." if adjective in _ALSO_ADVERBS else "")

    def _telling(self, item: int, feature: str | None) -> list[str]:
        """Adjectives the item's reviews praised `feature` with that say more than plain praise ("great"), most used first:
        the fitted record's, else the served facts' (reviews written since fitting: "pretty" bottles)."""
        said = self.item_opinions.get(item, {}).get(feature or "") or self._served_opinions.get(item, {}).get(feature or "", ())
        return [a for a in said if a not in PLAIN_PRAISE]

    def _opinion(self, user: int, item: int, feature: str) -> str | None:
        """A telling adjective (`_telling`) of `feature`: the one this shopper also used of it, else the item's most
        used; None where the item's reviews used none."""
        said = self._telling(item, feature)
        if not said:
            return None
        mine = set(self.user_opinions.get(user, {}).get(feature, [])) if user >= 0 else set()
        return next((a for a in said if a in mine), said[0])

    def _lean_decoder(self) -> LeanDecoder:
        """The lean decoding loop over the current LM's weights, in bf16 as `bf16` says (`fast_bf16` when unset); built
        once, kept."""
        import torch

        bf16 = self.config.bf16 if self.config.bf16 is not None else fast_bf16()
        dtype = torch.bfloat16 if bf16 else torch.float32
        if self._lean is None or self._lean.dtype != dtype:
            self._lean = LeanDecoder(self.lm, dtype)
        return self._lean

    def _banned(self, item: int, hint: str | None = None) -> Banned:
        """What decoding for `item` cannot write: first-person, complaint and crowd words ("reviewers", "often"), digits,
        "Your" as the first word, and lexicon aspects the item lacks."""
        if self._global_bans is None:
            # no digits at all: a number the item's reviews or catalog do not state would be a false fact
            digits = frozenset(i for t, i in self.tokenizer.get_vocab().items() if any(c.isdigit() for c in t))
            words = self._word_sequences([*FIRST_PERSON, *COMPLAINT, *CROWD])
            # a reply opening "Your burger looks great." speaks of the shopper's own burger, not of the item
            forms = ("Your", " Your", "your", " your")  # the reply may open with or without a space
            yours = Banned.of(set(), {tuple(self.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in forms})
            self._global_bans = words.merge(Banned(digits, {}, frozenset())).merge(yours)
        has = self._has(item, hint)
        key = (item, hint if hint and hint not in self.aspects_by_item.get(item, []) else None)  # the hint counts only then
        if key not in self._item_bans:
            lacking = [f for f in sorted(self.lexicon.features) if f not in has and not any(f in h.split() for h in has)]
            self._item_bans[key] = self._global_bans.merge(self._word_sequences([*lacking, *(f + "s" for f in lacking)]))
        return self._item_bans[key]

    def _has(self, item: int, hint: str | None) -> set[str]:
        """The aspects a reason for `item` may name: its own, and the hint — a requested hint is one the item has where
        the model's profile does not know it (the filters' retry takes it from the served facts, PETER+ from the review)."""
        return set(self.aspects_by_item.get(item, [])) | ({hint} if hint else set())

    def _word_sequences(self, words: list[str]) -> Banned:
        """Token sequences of each word, capitalised or not: after a space anywhere, and without one as the reply's start
        (elsewhere a bare "us" or "me" is a piece of other words)."""
        forms = sorted({form for w in words for form in (w, w[:1].upper() + w[1:])})
        if not forms:
            return Banned.of(set(), set())
        # one batched call per kind: a lexicon's worth of single calls cost a tenth of a cold top-10's time
        spaced = self.tokenizer([" " + f for f in forms], add_special_tokens=False)["input_ids"]
        bare = self.tokenizer(forms, add_special_tokens=False)["input_ids"]
        return Banned.of(set(map(tuple, spaced)), set(map(tuple, bare)))

    def _pick(
        self,
        candidates: list[tuple[str, float]],
        item: int,
        hint: str | None,
        kept: list[str],
        bonus: Sequence[float] | None = None,
    ) -> tuple[str, float]:
        """The candidate, trimmed (`_trim`), scoring best on what a shown reason must be: every aspect it names is the
        item's, it names the hint, no first person or complaint, no word the training targets, titles and the item's
        reviews' adjectives never use, not a repeat of this shopper's other reasons, no word the item's reviews never use
        but the shop's common ones (`_unsupported`), what it has named as its reviews write it (a lesser fault:
        `_other_forms`; "The picture is …" is tried as "The pictures are …"), no repeated words, no praise of "the product" as such, no hint
        praised as itself ("The bottle is a great bottle.") and no aspect named twice ("Great recipes, great recipes."), not
        cut off nor doubling a word (`unfinished`: "The treat is the.", "fast and fast"), not calling the item one of its
        aspects ("It's a great article." of a magazine: `calls_item_an_aspect`), one of the telling adjectives the
        item's reviews used of the hint where there are any (a candidate praising the hint as itself or the product as
        such competes said plainly too, `said_plainly`), no echo of the hint's prompt ("This is about the gift idea."); then log-prob plus its
        `bonus` (`_bonus`: the critic's and the shopper profile's say), which only reorders the candidates with the fewest
        faults: a shopper's words never buy back a fault (a reply leaving the hint unsaid, "It's a good one.")."""
        faults_of, product, alike = self._fault_counter(item, hint, kept)
        extra = bonus or [0.0] * len(candidates)
        trimmed = [(self._trim(text, item, hint), logp, more) for (text, logp), more in zip(candidates, extra, strict=True)]
        # a candidate praising the hint as itself or the product as such, or ending on an echo (of the hint or an aspect
        # that means it), is tried said plainly too ("The bottle is great."), a repair half a fault down: it beats faulty
        # candidates, not a sound one about as likely
        plain = [
            (p, logp - 0.5, more) for text, logp, more in trimmed if (p := said_plainly(text, hint, product, alike)) is not None
        ]
        # the hint in the lexicon's singular where the reviews write its plural is tried in theirs: "The pictures are …"
        written = self.item_words.get(item, frozenset())
        head = hint.split()[-1] if hint else ""
        forms = _other_forms(self._has(item, hint), written)
        plural = next((w for w in sorted(written) if w != head and singular(w) == head), None) if head in forms else None
        if hint and plural:
            plain += [(p, logp - 0.5, more) for text, logp, more in trimmed if (p := _as_written(text, hint, plural))]
        scored = [(faults_of(text), text, logp, more) for text, logp, more in [*trimmed, *plain]]
        least = min(faults for faults, *_ in scored)
        floor = min(more for faults, _, _, more in scored if faults == least)  # the bonus lifts the soundest, among themselves

        def score(candidate: tuple[int, str, float, float]) -> float:
            faults, _, logp, more = candidate
            return -faults + logp + (more - floor if faults == least else 0.0)

        _, text, logp, _ = max(scored, key=score)
        return text, logp

    def _fault_counter(
        self, item: int, hint: str | None, kept: Sequence[str]
    ) -> tuple[Callable[[str, bool], int], list[str], list[str]]:
        """`_pick`'s scorer of one candidate for (`item`, `hint`) after this shopper's `kept` reasons: its weighted faults
        (0 for a sound reason; 4 for one grave fault or two lesser ones); the words naming the item itself (its
        product type, its brand) whose praise says nothing; and the item's aspects that mean the hint (`_alike`)."""
        have = self._has(item, hint)
        seen = {t.lower() for t in kept}
        # words the item's own title and reviews use of it ("sturdy" of a tin's box), and the names of what it has, are not
        # the LM's inventions
        own = set(_words(self.titles.get(item, "")))
        names, written = {w for a in have for w in _words(a)}, self.item_words.get(item, frozenset())
        own |= self._opinion_words(item) | names | {w for w in written if singular(w) in names}
        # the names of what the item has as its texts write them: "pictures" where reviews wrote so, not "The picture is …"
        forms = _other_forms(have, written)
        # what the item's reviews found, where they said more than "great": a reason without it says less
        telling = set(self._telling(item, hint))
        # "the gift card is perfect", "the magazine is good", "You'll love Texas Roadhouse." praise none of it
        itself = [*self._what_it_is(item), self.brands.get(item, "").lower()]
        product = [p for p in dict.fromkeys(itself) if p and p != hint]
        alike = self._alike(have)

        def faults_of(text: str, wording: bool = True) -> int:
            """Weighted faults of `text`; with `wording=False` only those of what it says (an aspect the item lacks,
            the hint unsaid, first person, a complaint, a repeat, cut off, praise of the item as such, an echo), not
            of how it says it (a word its reviews never use, no telling adjective, too short)."""
            named = self.lexicon.mentions(text)
            first_person, complaint = voice_faults(text)
            faults = 4 * (not set(named) <= have) + 2 * (hint is not None and hint not in named)
            faults += 4 * first_person + 4 * complaint + 2 * (text.lower() in seen)
            faults += 2 * bool(_ABOUT.match(text)) + 4 * unfinished(text) + 2 * calls_item_an_aspect(text, self.lexicon)
            filler, tautology = empty_praise(text, hint, product)
            # any aspect said twice reads as an echo ("The story is fun and the stories are short"), not only the hint,
            # as do two that mean one thing ("The fragrance is beautiful and the scent is great")
            tautology = tautology or len(self.lexicon.occurrences(text)) > len(named)
            tautology = tautology or any(frozenset(pair) in alike for pair in itertools.combinations(named, 2))
            faults += 2 * filler + 2 * tautology
            if not wording:
                return faults
            words = _words(text)
            faults += (len(words) < 4) + bool(telling and telling.isdisjoint(words)) + (len(words) - len(set(words)) > 2)
            faults += 2 * bool(self.vocab and any(not _known(w, self.vocab) and not _known(w, own) for w in words))
            faults += 2 * bool(self._unsupported(text, item, hint)) + bool(forms.intersection(words))
            return faults

        return faults_of, product, [a for pair in alike if hint in pair for a in pair if a != hint]

    def _alike(self, aspects: Collection[str]) -> set[frozenset[str]]:
        """The pairs of `aspects` that mean one thing (MiniLM cosine ≥ `SAME_MEANING`: scent and fragrance)."""
        names = sorted(aspects)
        self._embed_aspects(set(names))
        if len(names) < 2:
            return set()
        vectors = np.stack([self._aspect_vectors[a] for a in names])
        close = np.argwhere(np.triu(vectors @ vectors.T, k=1) >= SAME_MEANING)
        return {frozenset((names[i], names[j])) for i, j in close.tolist()}

    def _what_it_is(self, item: int) -> list[str]:
        """The words naming what `item` is: its product-type aspects ("gift card") and the lexicon's products its title or
        category names (`_products_named`)."""
        return [*self.product_by_item.get(item, ()), *self._products_named(item)]

    def _products_named(self, item: int) -> list[str]:
        """The lexicon's products (`AspectLexicon.products`: what reviews call the item by, "this magazine") that the
        item's title or category names: its product type, though no aspect ("Magazine Subscriptions" -> "magazine").
        Only those: a shop-wide list would take "flavor" of a mouthwash for the product itself."""
        named = {singular(w) for w in _words(f"{self.titles.get(item, '')} {self.categories.get(item, '')}")}
        return sorted(p for p in self.lexicon.products if named.issuperset(p.split()))

    def _unsupported(self, text: str, item: int, hint: str | None = None) -> list[str]:
        """Words of `text` neither in the shop's common language nor in `item`'s training reviews, title or brand, nor
        naming what it has (its aspects, the hint): what the LM adds of its own ("cooking and dining" of a Subway card).
        Nothing for an item with no reviews at fitting."""
        own = self.item_words.get(item)
        if not own:
            return []
        said = self._opinion_words(item) | {w for a in self._has(item, hint) for w in _words(a)}
        return [w for w in _words(text) if not (_known(w, own) or _known(w, self.common_words) or _known(w, said))]

    def _opinion_words(self, item: int) -> set[str]:
        """Words of the adjectives the item's reviews praised its aspects with, fitted and served."""
        said = [*self.item_opinions.get(item, {}).values(), *self._served_opinions.get(item, {}).values()]
        return {w for adjectives in said for a in adjectives for w in _words(a)}

    def _trim(self, text: str, item: int, hint: str | None = None) -> str:
        """The reply without later sentences that name no aspect of the item the earlier ones have not named — the
        small LM's echo ("The burger is great. Great burger.", "Great food. Great gift card."); its first letter upper-case;
        the item's brand as the catalog spells it ("burger king" -> "Burger King"); the article a bare hint lacks
        ("You'll love treat." -> "You'll love the treat."); a first sentence naming only what the item is ("Gift card. A
        great treat." -> "A great treat."); a past copula in the present (`in_present`: "The selection was
        great." -> "The selection is great."); a lone clause's dangling "too" said away; whatever runs on
        from a stop with no space after it ("The holder is cute.user You will …" -> "The holder is cute.")."""
        title = self.titles.get(item, "").lower()
        glued = next((m for m in _GLUED.finditer(text) if m[0].lower() not in title), None)
        if glued is not None:
            text = text[: glued.start(2)]
        text = in_present(text[:1].upper() + text[1:])
        brand = self.brands.get(item)
        if brand:
            text = re.sub(rf"\b{re.escape(brand)}\b", lambda _: brand, text, flags=re.IGNORECASE)
        if hint:
            # the singular only ("You'll love batteries." is whole); case-sensitive: the hint is lower-case, and a brand
            # ("Burger King" of the hint "burger") is no bare hint
            text = re.sub(rf"^(You'll (?:love|like|enjoy)) ({re.escape(hint)}\b)", r"\1 the \2", text)
        sentences = split_sentences(text)
        # a first sentence that only names what the item is goes where more follows: "Gift card. A great treat."
        itself = {w for p in self._what_it_is(item) for w in _words(p)}
        if len(sentences) > 1 and {singular(w) for w in _words(sentences[0])} <= itself:
            sentences = sentences[1:]
            text = " ".join(sentences)
        if len(sentences) < 2:
            lone = _DANGLING_TOO.match(text) if " and " not in text else None
            return f"{lone[1]}{lone[2]}" if lone else text
        own = set(self.aspects_by_item.get(item, [])) - set(self.product_by_item.get(item, ()))
        kept, named = [sentences[0]], set(self.lexicon.mentions(sentences[0]))
        for sentence in sentences[1:]:
            new = set(self.lexicon.mentions(sentence)) - named
            if new and new <= own:
                kept.append(sentence)
                named |= new
        return " ".join(kept)

    def _reason(
        self,
        request: ReasonRequest,
        hint: str | None,
        text: str,
        score: float,
        linked: set[tuple[int, str | int]],
        turns: Counter[int],
    ) -> Reason:
        """The Reason for a decoded text, with the shopper's evidence written after it (`_link`): the aspects it names,
        and the item aspects and history items it rests on. A brand line is written once per (shopper, brand) in
        `linked` (what the call's links so far named), not after every item of that brand in a list (the co-view line
        instead, where there is one), and a link names another of the shopper's items than those named before where it
        can; `turns` counts the links each shopper's list has had, so the next one is worded differently."""
        if not text:  # declined: nothing of the item to write from
            evidence = {"item_aspects": [], "history_items": [], "user_aspects": [], "hint": None, "kind": "item"}
            return Reason(request.user, request.item, "", (), evidence, score, [UNSUPPORTED])
        known_user = 0 <= request.user < self.n_users
        have = self.aspects_by_item.get(request.item, [])
        named = set(self.lexicon.mentions(text))
        rests_on = [a for a in dict.fromkeys([*have, *([hint] if hint else [])]) if a in named or a == hint]
        link, history, kind = ("", [], "item")
        dated = None
        if known_user:
            # the shopper's praise of the hint is evidence only for a reason that names it: "It's a good one — the same
            # was praised in three items you reviewed." would credit an aspect the sentence never says
            said = hint if hint in named else None
            before = {j for u, j in linked if u == request.user and isinstance(j, int)}
            link, history, kind = self._link(
                request.user, request.item, said, turns[request.user], request.praised, named, before
            )
            turns[request.user] += bool(link)
        if kind == "brand":
            brand = (request.user, self.brands[request.item])
            if brand in linked:
                link, history, kind = self._co_viewed(request.user, request.item, turns[request.user] - 1, named)
            linked.add(brand)
        first = history[0] if history else None
        if first is not None and (title := self._sayable_title(first)) and title in link:
            linked.add((request.user, first))
        elif first is not None and (when := self._when(request.user, first)) and when in link:
            linked.add((request.user, first))
            dated = self._review_day(request.user, first).isoformat()
        # a reply the LM left unfinished ("The hood is excellent") ends as a sentence before any link
        text = text if text[-1] in ".!?" else f"{text}."
        cut = unfinished(text)  # the LM's words alone: a link's title is not theirs to finish
        text = f"{text.rstrip('.!')}{link}" if link.startswith(" —") else f"{text}{link}"
        evidence = {
            "item_aspects": rests_on,
            "history_items": history[: self.config.max_history],
            "user_aspects": [a for a in self.user_aspects.get(request.user, []) if a in rests_on] if known_user else [],
            "hint": hint,
            "kind": kind,
        }
        if dated:  # the day of the shopper's review the link dates its first history item by
            evidence["reviewed_on"] = dated
        # A word in no dictionary that neither the training targets nor this item's title or brand use is invented, and
        # a reply cut off or doubling a word is no sentence: flagged, so the filters retry the reason or replace it.
        flags = [UNKNOWN_WORD + w for w in self._unknown(text, request.item)[:1]] + [UNFINISHED] * cut
        return Reason(request.user, request.item, text, self.lexicon.mentions(text), evidence, score, flags)

    def _unknown(self, text: str, item: int) -> list[str]:
        """Words of `text` in no English dictionary and nowhere in the training targets, titles or the item's brand;
        nothing where either list is missing (no vocabulary before fitting; no word list installed)."""
        english = _english()
        if not self.vocab or english is None:
            return []
        own = {*_words(self.titles.get(item, "")), *_words(self.brands.get(item, ""))}
        return [w for w in _words(text) if not (_known(w, self.vocab) or _known(w, own) or is_english(w, english))]

    def _link(
        self,
        user: int,
        item: int,
        hint: str | None,
        turn: int = 0,
        served: Sequence[str] = (),
        named: Collection[str] = (),
        cited: Collection[int] = (),
    ) -> tuple[str, list[int], str]:
        """What ties the reason to this shopper, from counts the LM cannot be trusted with: (text to append, history items,
        evidence kind). The shopper praised the hinted aspect in earlier reviews ("… — just what you praised in your review
        of the Trail Pack."), else one close to it in meaning (`_near_praise`: "The fragrance is lovely — much like the
        scent you praised in two of your reviews."), else their reviewed items' reviews praise it ("… — the same was
        praised in the Trail Pack and one other item you reviewed.", "two gift cards" where the catalog names them so:
        `_kind_nouns`), else reviewed items of the same brand (" You've reviewed one item from Amazon."), else who else
        looked at it (`_co_viewed`), else nothing. The shopper's item is named by its title where one can be (`_cited`),
        else by when they reviewed it ("in your review from July 2016", "the item you reviewed on 4 July 2016": `_when`),
        else counted.
        `turn` (links already in this shopper's list) picks the wording, so a list does not end every reason alike;
        `served` (the store's praised aspects of the item) counts as the item's for the near link; `named` (the aspects
        the reason's sentence names) keeps the link from naming one again; `cited` (items earlier links in the list
        named) are named again only where no other can be."""
        praised = [i for i in self.user_history.get(user, {}).get(hint or "", []) if i != item]
        if praised:
            title, when, praised = self._cited(user, item, praised[::-1], cited)
            where = _your_reviews(len(praised), title, when)
            return _PERSONAL[turn % len(_PERSONAL)].format(where=where), praised, "personal"
        near = self._near_praise(user, item, hint, served) if hint else None
        if near:
            mine, items = near
            title, when, items = self._cited(user, item, items[::-1], cited)
            wording = _NEAR_PERSONAL[turn % len(_NEAR_PERSONAL)]
            return wording.format(mine=mine, where=_your_reviews(len(items), title, when)), items, "near"
        kin = self._kin(user, item).get(hint or "", [])
        if kin:
            one, many = self._kind_nouns(item, kin, named)
            title, when, kin = self._cited(user, item, kin[::-1], cited)
            if when is not None:
                others = len(kin) - 1
                items = f"the {one} you reviewed {at_words(when)}" + (f" and {_others(others)}" if others else "")
                wording = _HISTORY_DATED[turn % len(_HISTORY_DATED)]
            elif title is None:
                items = f"one {one}" if len(kin) == 1 else f"{count_words(len(kin))} {many}"
                wording = _HISTORY[turn % len(_HISTORY)]
            else:
                others = len(kin) - 1
                items = title + (f" and {count_words(others)} other {one if others == 1 else many}" if others else "")
                wording = _HISTORY_NAMED[turn % len(_HISTORY_NAMED)]
            return wording.format(items=items, was="was" if len(kin) == 1 else "were"), kin, "history"
        brand = self.brands.get(item)
        same = [j for j in self.reviewed.get(user, []) if j != item and brand is not None and self.brands.get(j) == brand]
        text = f" You've reviewed {count_words(len(same))} {'item' if len(same) == 1 else 'items'} from {brand}."
        if same and not self.lexicon.mentions(text):
            return text, same[::-1], "brand"
        return self._co_viewed(user, item, turn, named)

    def _cited(
        self, user: int, item: int, items: list[int], cited: Collection[int] = ()
    ) -> tuple[str | None, str | None, list[int]]:
        """How a link names the shopper's item: (title, when, `items` reordered to cite it first; the evidence lists the
        cited items, whose titles the words check reads). The title ("the Trail Pack", "SmartMoney": `_with_article`)
        of the first of `items` (newest first; one not in `cited` before one that is, so a list does not name one item
        in every link) whose title can be said (`_short_title`), is not `item`'s own and names no aspect `item` lacks;
        one named before is named short where that is unambiguous (`_named_again`). Where no title can be said, when
        the shopper reviewed the first of them that `_when` tells apart: an untitled item is otherwise "one item you
        reviewed" to every shopper. (None, None, `items`) where neither can be, or the evidence lists no item
        (`max_history` 0)."""
        own = _short_title(self.titles.get(item, ""))
        has = set(self.aspects_by_item.get(item, ()))
        order = sorted(range(len(items)), key=lambda k: items[k] in cited) if self.config.max_history else []
        for k in order:  # stable: newest first within each
            j = items[k]
            title = self._sayable_title(j)
            if title and title != own and set(self.lexicon.mentions(title)) <= has:
                named = (j in cited and self._named_again(user, j)) or _with_article(title, self.categories.get(j))
                return named, None, [j, *items[:k], *items[k + 1 :]]
        for k in order:
            if when := self._when(user, items[k]):
                return None, when, [items[k], *items[:k], *items[k + 1 :]]
        return None, None, items

    def _when(self, user: int, item: int) -> str | None:
        """When the shopper reviewed `item` (or the listing their review of it is first filed under: `first_listing`),
        told apart from their other reviews (`when_reviewed`); None where it cannot be, or where times are not kept (an
        artifact saved before they were)."""
        return when_reviewed(self.reviewed_on.get(user, {}), first_listing(self.variants.get(user, {}), item))

    def _review_day(self, user: int, item: int) -> date | None:
        """The day (UTC) of the shopper's review of `item` (as `_when` finds it); None where its time is not kept."""
        at = self.reviewed_on.get(user, {}).get(first_listing(self.variants.get(user, {}), item))
        return None if at is None else review_day(at)

    def _named_again(self, user: int, item: int) -> str | None:
        """How a link names again the item an earlier link in the list named by title: by the title's last words that its
        category path names in the plural, the first part that does ("the headphones" for the Kestrel Flint Wireless
        Headphones in "… > Headphones", "the knife" for a Chef's Knife in "Kitchen > Knives > Chef Knives"), where the
        shopper reviewed no other item of that category, so the words point at one item; None otherwise."""
        path, title = self.categories.get(item), self._sayable_title(item)
        if not path or not title or any(self.categories.get(j) == path for j in self.reviewed.get(user, ()) if j != item):
            return None
        words = title.split()
        head = next((part for part in plural_parts(path, title) if len(part) <= len(words)), None)
        return "the " + " ".join(words[-len(head) :]).lower() if head else None

    def _sayable_title(self, item: int) -> str | None:
        """`item`'s catalog title as a link can say it (`_short_title`); None where its entry is only its category."""
        return _short_title(self.titles[item]) if item in self.titled else None

    def _kind_nouns(self, item: int, others: Sequence[int], named: Collection[str] = ()) -> tuple[str, str]:
        """What to call `item` and `others` in a link, singular and plural: the catalog's name for them where they share
        one category whose last part names, in the plural, a product type the item's reviews use ("Gift Cards": "two
        gift cards you reviewed"), unless the reason names that type already (`named`); else "item", "items". The plural
        is the catalog's own spelling, never a suffix added."""
        path = self.categories.get(item)
        if path is None or any(self.categories.get(j) != path for j in others):
            return "item", "items"
        plural = path.split(">")[-1].strip().lower().split()
        for kind in self.product_by_item.get(item, ()):
            words = kind.split()
            if kind in named or plural[:-1] != words[:-1]:
                continue
            if plural[-1] != words[-1] and singular(plural[-1]) == words[-1]:
                return kind, " ".join(plural)
        return "item", "items"

    def _co_viewed(self, user: int, item: int, turn: int = 0, named: Collection[str] = ()) -> tuple[str, list[int], str]:
        """Who else looked at the item among those who looked at the shopper's items, for a shopper the other links know
        nothing of (no aspect in their reviews, no shared brand): of their items with a title that names no aspect or
        number and, where the catalog knows both categories, shares the item's department (the path's first part), one
        of its very category first, the one most tied to it (" Two shoppers who looked at the Cascade Daypack, as you did,
        also viewed this one.", never the headphones they looked at, for a glass lid); where none has such a title, the
        first of those items the shopper's review dates (`_when`: " A shopper who looked at the item you reviewed in
        July 2016 also viewed this one.", "the gift card" where `_kind_nouns` can call it so and the reason's aspects,
        `named`, do not); ("", [], "item") where nobody links them or neither can name one: a line of
        counts alone ("Many shoppers who looked at items you looked at …") tells a shopper nothing and reads as filler,
        and one through another department as chance."""
        shared = co_viewers(self.seen_by, self._history, user, item)
        if not shared:
            return "", [], "item"
        mine = list(shared)
        tied = ties(self.seen_by, shared)
        here = self.categories.get(item)
        kin = {j: _category_kinship(here, self.categories.get(j)) for j in mine}
        ranked = [j for j in sorted(mine, key=lambda j: (kin[j], -tied[j])) if kin[j] != _OTHER_DEPARTMENT]  # stable
        who = {j: "a shopper" if len(shared[j]) == 1 else f"{count_words(len(shared[j]))} shoppers" for j in ranked}
        for j in ranked:
            title = self._sayable_title(j)
            if title and not self.lexicon.mentions(title):
                named_as = _with_article(title, self.categories.get(j))  # "the Cascade Daypack", "Justice"
                line = _NAMED_CO_VIEW[turn % len(_NAMED_CO_VIEW)].format(who=who[j], title=named_as)
                return f" {line[0].upper()}{line[1:]}", [j], "co-viewed"
        for j in ranked:
            if when := self._when(user, j):
                one = self._kind_nouns(item, [j], named)[0]
                line = _DATED_CO_VIEW[turn % len(_DATED_CO_VIEW)].format(who=who[j], one=one, when=at_words(when))
                return f" {line[0].upper()}{line[1:]}", [j], "co-viewed"
        return "", [], "item"

    def _near_praise(self, user: int, item: int, hint: str, served: Sequence[str] = ()) -> tuple[str, list[int]] | None:
        """The aspect nearest in meaning to `hint` (MiniLM cosine ≥ `NEAR`) that the shopper praised, with the items
        whose reviews praised it; one the item has too (the link names it, and a reason names only what the item has),
        neither `hint` itself nor the item's product type ("much like the gift card you praised" says nothing). None
        where no praised aspect is that close or a vector is missing."""
        history = self.user_history.get(user, {})
        skip = {hint, *self.product_by_item.get(item, ())}
        has = {*self.aspects_by_item.get(item, ()), *served}
        mine = [
            a
            for a in self.user_aspects.get(user, [])[: self.config.profile_size]
            if a not in skip and a in has and history.get(a)
        ]
        if hint not in self._aspect_vectors or not all(a in self._aspect_vectors for a in mine):
            return None
        close = [(float(self._aspect_vectors[a] @ self._aspect_vectors[hint]), a) for a in mine]
        best = max((c for c in close if c[0] >= NEAR), default=None)
        return (best[1], history[best[1]]) if best else None

    def _kin(self, user: int, item: int) -> dict[str, list[int]]:
        """Aspect -> items the user reviewed (not `item`, oldest first) whose reviews praise it, for `item`'s aspects; an
        item's reviews are those of every variant the shopper's review is filed under, one product to the shopper."""
        have = set(self.aspects_by_item.get(item, ()))
        variants = self.variants.get(user, {})
        out: dict[str, list[int]] = defaultdict(list)
        for j in self.reviewed.get(user, []):
            listings = [j, *variants.get(j, ())]
            if item not in listings:
                for a in dict.fromkeys(a for k in listings for a in self.praised_by_item.get(k, ())):
                    if a in have:
                        out[a].append(j)
        return dict(out)

    def forget_user(self, user: int) -> bool:
        """Drop what is kept of the user: aspects, praise history, reviewed items (when, and under which variants),
        adjectives, interactions (so no other shopper's co-view line counts them), their profile vector, and their soft
        prompt, which becomes the other users' mean (what an unknown shopper gets). Item counts and the LoRA weights keep
        what their reviews taught until refitted."""
        tables = (self.user_aspects, self.user_history, self.reviewed, self.reviewed_on, self.variants, self.user_opinions)
        for table in (*tables, self.user_profiles):
            table.pop(user, None)
        for item in self._history.pop(user, []):
            self.seen_by[item] = [u for u in self.seen_by[item] if u != user]
        if self.user_prompts is not None and 0 <= user < len(self.user_prompts) and len(self.user_prompts) > 1:
            import torch

            with torch.no_grad():
                others = torch.cat([self.user_prompts[:user], self.user_prompts[user + 1 :]])
                self.user_prompts[user] = others.mean(0)
        return True

    def _require_soft_prompts(self) -> None:
        if self.user_prompts is None or self.item_prompts is None:
            raise ArtifactError("prompt_lm reasoner has no soft prompts: fit it in soft_prompt mode first")

    # ---- persistence -----------------------------------------------------------------------------
    def item_aspects(self) -> dict[int, list[str]]:
        """Per item the model knows, its aspects: most-mentioned in reviews first, then catalog ones."""
        return {i: list(a) for i, a in self.aspects_by_item.items()}

    def _fitted(self) -> bool:
        return self.lexicon is not None and self.lm is not None

    def _meta(self) -> dict[str, Any]:
        return {"n_users": self.n_users, "n_items": self.n_items, "fit_stats": self.fit_stats}

    def _json_parts(self) -> dict[str, Any]:
        """profiles.json: aspects per user and item (all, praised, product-type), the user histories, reviewed items, their
        times and variants,
        item titles, brands and categories, the vocabulary of the training targets."""
        profiles = {
            "users": {str(u): a for u, a in self.user_aspects.items()},
            "items": {str(i): a for i, a in self.aspects_by_item.items()},
            "praised": {str(i): a for i, a in self.praised_by_item.items()},
            "faulted": {str(i): a for i, a in self.faulted_by_item.items()},
            "history": {str(u): h for u, h in self.user_history.items()},
            "reviewed": {str(u): items for u, items in self.reviewed.items()},
            "reviewed_on": {str(u): {str(i): t for i, t in by.items()} for u, by in self.reviewed_on.items()},
            "variants": {str(u): {str(i): v for i, v in by.items()} for u, by in self.variants.items()},
            "product": {str(i): a for i, a in self.product_by_item.items()},
            "titles": {str(i): t for i, t in self.titles.items()},
            "brands": {str(i): b for i, b in self.brands.items()},
            "categories": {str(i): c for i, c in self.categories.items()},
            "vocab": sorted(self.vocab),
            "item_opinions": {str(i): o for i, o in self.item_opinions.items()},
            "user_opinions": {str(u): o for u, o in self.user_opinions.items()},
            "item_words": {str(i): sorted(w) for i, w in self.item_words.items()},
            "common_words": sorted(self.common_words),
            "titled": sorted(self.titled),
            "seen_by": {str(i): u for i, u in self.seen_by.items()},
        }
        return {"profiles.json": profiles}

    def _save_weights(self, out: Path) -> None:
        """prompts.npz (soft_prompt mode), adapter/ (LoRA) or lm/ (full fine-tuning), critic.npz, profiles.npz; never the
        unchanged base LM."""
        if self.critic is not None:
            self.critic.save(out / "critic.npz")
        if self.user_profiles:
            users = sorted(self.user_profiles)
            vectors = np.stack([self.user_profiles[u] for u in users]).astype(np.float16)
            np.savez(out / "profiles.npz", users=np.asarray(users, dtype=np.int64), vectors=vectors)
        if self.config.mode == "soft_prompt":
            self._require_soft_prompts()
            np.savez(out / "prompts.npz", user=self.user_prompts.detach().numpy(), item=self.item_prompts.detach().numpy())
            if self.config.train_lm == "lora":
                self.lm.save_pretrained(out / "adapter")  # adapter_config.json + adapter_model.safetensors
            elif self.config.train_lm == "full":
                self.lm.save_pretrained(out / "lm")  # config + model.safetensors

    def _restore(self, path: Path, meta: dict[str, Any], parts: dict[str, Any]) -> None:
        """Profiles, then the LM: the base model from the config (the cache or a local folder), or the saved fine-tuned one."""
        import torch

        cfg = self.config
        profiles = parts["profiles.json"]
        self.n_users, self.n_items, self.fit_stats = int(meta["n_users"]), int(meta["n_items"]), meta.get("fit_stats", {})
        self.user_aspects = {int(u): list(a) for u, a in profiles["users"].items()}
        self.aspects_by_item = {int(i): list(a) for i, a in profiles["items"].items()}
        self.praised_by_item = {int(i): list(a) for i, a in profiles["praised"].items()}
        # artifacts saved before faults were kept: none known, every aspect the item has may be hinted after the praised
        self.faulted_by_item = {int(i): list(a) for i, a in profiles.get("faulted", {}).items()}
        self._item_bans = {}
        self.user_history = {
            int(u): {f: [int(i) for i in items] for f, items in h.items()} for u, h in profiles["history"].items()
        }
        self.reviewed = {int(u): [int(i) for i in items] for u, items in profiles["reviewed"].items()}
        # artifacts saved before review times were kept: a link names an untitled item by a count, as it did then
        self.reviewed_on = {int(u): {int(i): int(t) for i, t in by.items()} for u, by in profiles.get("reviewed_on", {}).items()}
        # artifacts saved before variants were kept list every variant as reviewed, each praised on its own
        self.variants = {
            int(u): {int(i): [int(j) for j in v] for i, v in by.items()} for u, by in profiles.get("variants", {}).items()
        }
        self.product_by_item = {int(i): list(a) for i, a in profiles["product"].items()}
        self.titles = {int(i): t for i, t in profiles["titles"].items()}
        self.brands = {int(i): b for i, b in profiles["brands"].items()}
        # artifacts saved before categories were kept: the co-view link picks among all the shopper's items alike
        self.categories = {int(i): c for i, c in profiles.get("categories", {}).items()}
        self.vocab = frozenset(profiles["vocab"])
        # artifacts saved before opinions were kept have none: their reasons open with "The <hint>" alone
        self.item_opinions = {int(i): o for i, o in profiles.get("item_opinions", {}).items()}
        self.user_opinions = {int(u): o for u, o in profiles.get("user_opinions", {}).items()}
        # artifacts saved before item words were kept: no candidate is marked down for words its item's reviews lack
        self.item_words = {int(i): frozenset(w) for i, w in profiles.get("item_words", {}).items()}
        self.common_words = frozenset(profiles.get("common_words", ()))
        # older artifacts kept no interactions: their reasons have no co-view link
        self.titled = {int(i) for i in profiles.get("titled", ())}
        self.seen_by = {int(i): [int(u) for u in users] for i, users in profiles.get("seen_by", {}).items()}
        self._history = histories(self.seen_by)
        if cfg.critic_weight > 0:
            from whyrec.explain.critic import Critic

            self.critic = Critic.load(path / "critic.npz")
        # artifacts saved before profiles were kept (or fitted with profile_weight 0) pick by log-prob and critic alone
        profiles = path / "profiles.npz"
        self.user_profiles = _load_profiles(profiles) if cfg.profile_weight > 0 and profiles.exists() else {}
        from safetensors import SafetensorError

        if cfg.mode == "soft_prompt" and cfg.train_lm == "full":
            try:
                self._load_lm(path / "lm")
            except (OSError, ValueError, SafetensorError) as exc:  # transformers says "no file named ..." as OSError
                raise ArtifactError(f"{path / 'lm'}: fine-tuned LM missing or damaged ({type(exc).__name__}: {exc})") from exc
        else:
            self._load_lm()
        if cfg.mode == "soft_prompt":
            prompts = path / "prompts.npz"
            try:
                with np.load(prompts, allow_pickle=False) as z:
                    self.user_prompts = torch.from_numpy(z["user"].astype(np.float32))
                    self.item_prompts = torch.from_numpy(z["item"].astype(np.float32))
            except FileNotFoundError as exc:
                raise ArtifactError(f"{path}: prompt_lm reasoner incomplete (prompts.npz missing)") from exc
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                raise ArtifactError(f"{prompts}: damaged ({type(exc).__name__}: {exc})") from exc
            if self.user_prompts.shape[0] != self.n_users or self.item_prompts.shape[0] != self.n_items:
                raise ArtifactError(f"{prompts}: prompt tables do not match n_users/n_items in config.json")
            if cfg.train_lm == "lora":
                from peft import PeftModel

                adapter = path / "adapter"
                if not (adapter / "adapter_config.json").is_file():
                    raise ArtifactError(f"{path}: prompt_lm reasoner incomplete (adapter/ missing)")
                try:
                    self.lm = PeftModel.from_pretrained(self.lm, adapter).eval()
                except SafetensorError as exc:
                    raise ArtifactError(f"{adapter / 'adapter_model.safetensors'}: damaged ({exc})") from exc
                except json.JSONDecodeError as exc:
                    raise ArtifactError(f"{adapter / 'adapter_config.json'}: damaged ({exc})") from exc
                except (OSError, ValueError, KeyError, RuntimeError) as exc:  # unreadable, or another base model's
                    raise ArtifactError(f"{adapter}: LoRA adapter damaged ({type(exc).__name__}: {exc})") from exc
                self._merge_lora()


# Links to the shopper's evidence, worded in turn down one shopper's list (`_link`).
_PERSONAL = (
    " — just what you praised in {where}.",
    " — you praised the same in {where}.",
    " — as you said yourself in {where}.",
)
_NEAR_PERSONAL = (
    " — much like the {mine} you praised in {where}.",
    " — you praised the {mine} in {where}.",
)
_HISTORY = (
    " — the same was praised in {items} you reviewed.",
    " — {items} you reviewed {was} praised for it too.",
)
# {items}: "the item you reviewed in July 2016 (and two more)"
_HISTORY_DATED = (
    " — the same was praised in {items}.",
    " — {items} {was} praised for it too.",
)
# A title says nothing of its number ("the Trail Boots", "the Times"): no verb that must agree with it
_HISTORY_NAMED = (
    " — the same was praised in {items} you reviewed.",
    " — {items} you reviewed got the same praise.",
)


# "looked at" once: "… who looked at the Cascade Daypack you looked at also looked at this one." said it three times
_NAMED_CO_VIEW = (
    "{who} who looked at {title}, as you did, also viewed this one.",
    "Also viewed by {who} who looked at {title}, as you did.",
)
# {one}: "item", "gift card" (`_kind_nouns`); {when}: "in July 2016", "on 4 July 2016" (`at_words`)
_DATED_CO_VIEW = (
    "{who} who looked at the {one} you reviewed {when} also viewed this one.",
    "Also viewed by {who} who looked at the {one} you reviewed {when}.",
)


_YOU = frozenset({"you", "you'll", "you're", "you've", "your", "yours"})


_OTHER_DEPARTMENT = 3


def _category_kinship(a: str | None, b: str | None) -> int:
    """0 for the same catalog category path, 1 for the same department (first part), 2 where either is unknown,
    `_OTHER_DEPARTMENT` otherwise."""
    if a is None or b is None:
        return 2
    if a == b:
        return 0
    return 1 if a.split(">")[0].strip() == b.split(">")[0].strip() else _OTHER_DEPARTMENT


def _your_reviews(n: int, title: str | None = None, when: str | None = None) -> str:
    """Where the shopper said it, for a link: "an earlier review", "two of your reviews"; with the `title` of one of
    the items as a link names it, "your review of the Trail Pack", "your reviews of SmartMoney and one other item";
    with `when` the shopper reviewed one (`_when`), "your review from July 2016 and one more"."""
    if when is not None:
        return f"your review from {when}" + (f" and {_others(n - 1)}" if n > 1 else "")
    if title is None:
        return "an earlier review" if n == 1 else f"{count_words(n)} of your reviews"
    if n == 1:
        return f"your review of {title}"
    return f"your reviews of {title} and {count_words(n - 1)} other {'item' if n == 2 else 'items'}"


def _others(n: int) -> str:
    """ "one more", "two more": the rest of a link's items after the one it names ("other" is an aspect in lexicons
    built before "others" was a function word, All Beauty's among them, and the grounding filter would cut the link)."""
    return f"{count_words(n)} more"


_UNSAID = frozenset(w.lower() for w in (*FIRST_PERSON, *COMPLAINT, *CROWD))


def _with_article(title: str, path: str | None) -> str:
    """A title as a link names it: "the Trail Pack" where it ends in the countable noun of a part of its category path
    ("Outdoor > Packs"; "Gift Cards" for "Sears Gift Card") or the path is unknown; bare where it does not, a name
    of its own ("SmartMoney", "Woman's Day" in "Magazine Subscriptions > Fashion & Style > Women"; "Olive Garden" in
    "Gift Cards"). Countable: the catalog writes the head in a plural ("Packs"), not "Health" or "History"."""
    return f"the {title}" if not path or plural_parts(path, title) else title


def _short_title(title: str) -> str | None:
    """A catalog title as a sentence can name it: up to its first separator ("Fandango Gift Cards, Multipack of 3" ->
    "Fandango Gift Cards") or Amazon's parent-listing marker ("Petco Gift Cards Configuration Asin" -> "Petco Gift
    Cards"), without a leading "The"; None past six words, with a number (the facts check would read "24 cm" as a
    measure of the recommended item) or with a word a reason never says of itself (first person, a complaint, the
    crowd: "My Little Pony", "No Bake", "People" read as the reason's own voice and claims)."""
    head = re.split(r" - | – | — | \(|, | \| |; | Configuration Asin\b", title, maxsplit=1)[0].strip()
    head = re.sub(r"^the\s+", "", head, flags=re.IGNORECASE)
    if (
        not head
        or len(head.split()) > 6
        or re.search(r"\d", head)
        or any(w in _UNSAID or w.split("'")[0] in _UNSAID for w in _words(head))
    ):
        return None
    return head


def _words(text: str) -> list[str]:
    """Lower-case words of `text` (apostrophes kept: "you'll"), for the vocabulary check."""
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def _other_forms(aspects: Collection[str], written: Collection[str]) -> set[str]:
    """Words of `aspects` (the lexicon's singulars) that `written` has only in another form: "picture" where the item's
    reviews wrote "pictures"."""
    plural = {singular(w) for w in written} - set(written)
    return {w for a in aspects for w in _words(a) if w in plural}


_PLURAL_VERB = {"is": "are", "was": "were", "has": "have"}


def _as_written(text: str, hint: str, plural: str) -> str | None:
    """ "The picture is clear." -> "The pictures are clear." (`plural`: the hint's last word as the reviews write it), or
    None where the text does not open on the hint and its verb."""
    match = re.match(rf"The {re.escape(hint)} (is|was)\b", text)
    if match is None:
        return None
    # a verb the same subject governs after "and" agrees too: "The ads are informative and have great pictures"
    rest = re.sub(r"\b(and|but) (has|is|was)\b", lambda m: f"{m[1]} {_PLURAL_VERB[m[2]]}", text[match.end() :])
    return f"The {' '.join([*hint.split()[:-1], plural])} {_PLURAL_VERB[match[1]]}{rest}"


def _known(word: str, words: Collection[str]) -> bool:
    """`word` is in `words`, or is the possessive of one ("panera's" of the title's "panera"): no new word."""
    return word in words or (word.endswith("'s") and word[:-2] in words)


def _english() -> frozenset[str] | None:
    """The English word list, or None where it is not installed (`make setup` installs it)."""
    try:
        return load_dictionary()
    except ConfigError:
        return None


def _item_words(
    reviews: pd.DataFrame, titles: dict[int, str], brands: dict[int, str]
) -> tuple[dict[int, frozenset[str]], frozenset[str]]:
    """Per reviewed item, the words of its reviews, title and brand; and the words the reviews of `COMMON_SHARE` of the
    reviewed items (two at least) use, with plain praise ("great") and the shopper's "you"."""
    words: dict[int, set[str]] = defaultdict(set)
    for item, text in zip(reviews["item"].to_numpy(), reviews["text"], strict=True):
        if isinstance(text, str):
            words[int(item)].update(_words(text))
    spread = Counter(w for used in words.values() for w in used)
    floor = max(2, math.ceil(COMMON_SHARE * len(words)))
    # plain praise says nothing of the item's own, and the shopper's "you" is what the targets are rewritten into
    common = frozenset(w for w, n in spread.items() if n >= floor) | PLAIN_PRAISE | _YOU
    for item, used in words.items():
        used.update(_words(titles.get(item, "")), _words(brands.get(item, "")))
    return {i: frozenset(w) for i, w in words.items()}, common


def _row_seed(seed: int, key: tuple[int, int, str | None], candidate: int) -> int:
    """A stable seed for one sampled candidate of (user, item, hint), the same in every batch and process. The user is
    left out: the text then depends on the user through their soft prompt alone."""
    import zlib

    return zlib.crc32(f"{seed}|{key[1]}|{key[2]}|{candidate}".encode())


def _profiles(reviews: pd.DataFrame) -> dict[int, np.ndarray]:
    """User -> what sets their words apart: the unit mean MiniLM vector of the texts (first 128 tokens each) of their
    `PROFILE_REVIEWS` latest reviews, less the mean of all shoppers' such vectors, renormalised. Uncentred, every profile
    is nearest the product type ("little magazine", "perfume"). `reviews` in time order; the cap bounds the fit's MiniLM
    pass on a big shop."""
    from whyrec.embeddings import embed_texts

    latest = reviews.groupby("user", sort=False).tail(PROFILE_REVIEWS).sort_values("user", kind="stable")
    if latest.empty:
        return {}
    vectors = embed_texts(latest["text"].fillna("").astype(str).tolist(), max_seq_length=128)  # blank texts zero
    users, starts = np.unique(latest["user"].to_numpy(), return_index=True)
    sums = np.add.reduceat(vectors, starts, axis=0)
    lengths = np.linalg.norm(sums, axis=1)
    written = lengths > 0  # a shopper whose reviews are all blank has no profile, nor weighs in the shop's mean
    means = sums[written] / lengths[written, None]
    apart = means - means.mean(0)
    spread = np.linalg.norm(apart, axis=1)
    return {int(u): (v / n).astype(np.float32) for u, v, n in zip(users[written], apart, spread, strict=True) if n > 1e-6}


def _load_profiles(path: Path) -> dict[int, np.ndarray]:
    """profiles.npz back as `_profiles` wrote it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            users, vectors = z["users"], z["vectors"].astype(np.float32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{path}: damaged ({type(exc).__name__}: {exc})") from exc
    if vectors.ndim != 2 or len(users) != len(vectors) or not np.isfinite(vectors).all():
        raise ArtifactError(f"{path}: profile table must be one finite row per user, got {vectors.shape}")
    return {int(u): v for u, v in zip(users, vectors, strict=True)}
