"""Decoding an LM's replies row by row: what a row may not write, seeded nucleus samples, and a lean decoding loop.

`Banned` and `Constraints` say per row which tokens are banned and whether the row samples. Both decoding paths of
`prompt_lm` use them: transformers' `generate` (the reference; `Constraints` is its logits processor) and
`LeanDecoder`, the forward pass of a Llama model (SmolLM2) written out in plain torch for decoding on a CPU. At this
size the generate loop's per-step overhead (bf16 autocast recasts every weight each step) and its padded, per-row
prefill cost as much as the matmuls, so the lean loop takes the weights once (q/k/v and gate/up fused, bf16 or fp32,
prepacked for oneDNN), prefills each distinct prefix once and shares its KV cache among the rows that continue it,
writes all rows into one cache allocated per call, drops finished rows from the matmuls and, once half of the rows
have finished, from the cache. It reproduces `generate` with greedy search, `repetition_penalty`, `min_new_tokens` and
`Constraints`: in fp32 it writes the same tokens.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

from whyrec.errors import ConfigError

if TYPE_CHECKING:
    import torch


def fast_bf16() -> bool:
    """This CPU multiplies bf16 matrices natively (AMX tiles or AVX512-BF16), where bf16 decoding beats fp32: twice as
    fast with AMX, 1.3x on Zen 4's AVX512-BF16; without either about four times slower (benchmarks/RESULTS.md)."""
    import torch

    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


class Banned:
    """Token sequences decoding may not complete: single tokens are banned always, a longer sequence's last token
    only right after the rest of it."""

    def __init__(
        self, singles: frozenset[int], after: dict[int, list[tuple[tuple[int, ...], int]]], first: frozenset[int]
    ) -> None:
        self.singles = singles
        self.after = after  # token before the last -> [(the sequence's head, its last token)]
        self.first = first  # tokens banned as the reply's first token only

    @classmethod
    def empty(cls) -> Banned:
        return cls(frozenset(), {}, frozenset())

    @classmethod
    def of(cls, sequences: set[tuple[int, ...]], starts: set[tuple[int, ...]]) -> Banned:
        """`sequences` banned anywhere; the first token of each of `starts` banned as the reply's first token."""
        after: dict[int, list[tuple[tuple[int, ...], int]]] = defaultdict(list)
        for seq in sequences:
            if len(seq) > 1:
                after[seq[-2]].append((seq[:-1], seq[-1]))
        singles = frozenset(s[0] for s in sequences if len(s) == 1)
        return cls(singles, dict(after), frozenset(s[0] for s in starts if len(s) == 1))

    def merge(self, other: Banned) -> Banned:
        after = {k: list(v) for k, v in self.after.items()}
        for k, v in other.after.items():
            after.setdefault(k, []).extend(v)
        return Banned(self.singles | other.singles, after, self.first | other.first)

    def next_banned(self, written: list[int]) -> list[int]:
        """Tokens that may not follow `written` (the reply so far)."""
        out = list(self.singles)
        if not written:
            out += self.first
        else:
            for head, last in self.after.get(written[-1], ()):
                if tuple(written[-len(head) :]) == head:
                    out.append(last)
        return out


class Constraints:
    """Per row, banned tokens get -inf; rows with a seed then sample from the nucleus by the Gumbel trick (seeded noise
    added, so greedy decoding picks a sample), each row's noise independent of the other rows.

    Called as a transformers logits processor, or through `apply` by `LeanDecoder`, which passes only unfinished rows.
    """

    def __init__(self, banned: list[Banned], seeds: list[int | None], top_p: float, temperature: float) -> None:
        import torch

        self.banned, self.top_p, self.temperature = banned, top_p, temperature
        self.generators = [None if s is None else torch.Generator().manual_seed(s) for s in seeds]
        self.start: int | None = None  # generate's input_ids length at the first step: the reply starts there

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.start is None:
            self.start = input_ids.shape[1]
        written = input_ids[:, self.start :].tolist()  # (B, t) the reply so far
        return self.apply(scores, written, range(len(written)))

    def apply(self, scores: torch.Tensor, written: list[list[int]], rows: range | list[int]) -> torch.Tensor:
        """`scores` (A, V) of rows `rows` (indices into the rows this was built for), whose replies so far are `written`."""
        import torch

        scores = scores.clone()  # (A, V)
        at, tokens = [], []
        for a, (r, reply) in enumerate(zip(rows, written, strict=True)):
            banned = self.banned[r].next_banned(reply)
            at += [a] * len(banned)
            tokens += banned
        if tokens:
            scores[at, tokens] = -math.inf
        sampled = [(a, gen) for a, r in enumerate(rows) if (gen := self.generators[r]) is not None]
        if not sampled:
            return scores
        at = torch.tensor([a for a, _ in sampled])  # (S,) the sampling rows, their nuclei taken together
        top, idx = (scores[at].float() / self.temperature).topk(50)  # (S, 50); the nucleus lies within the 50 likeliest
        probs = top.softmax(-1)
        keep = probs.cumsum(-1) - probs < self.top_p  # (S, 50): a prefix of each row; the likeliest token always stays
        uniform = torch.ones(len(sampled), 50)  # (S, 50); 1 (noise 0 after clamping) where not kept
        for s, ((_, gen), kept) in enumerate(zip(sampled, keep.sum(-1).tolist(), strict=True)):
            uniform[s, :kept] = torch.rand(kept, generator=gen)  # per row, its own generator: rows stay independent
        gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-20)))
        noisy = torch.where(keep, top + gumbel, -math.inf)  # (S, 50)
        scores[at] = torch.full((len(sampled), scores.shape[1]), -math.inf).scatter(1, idx, noisy).to(scores.dtype)
        return scores


class _Layer(NamedTuple):
    attn_norm: torch.Tensor  # (d,) fp32
    qkv: torch.Tensor  # ((H + 2G)·hd, d): q, k and v projections stacked
    o: torch.Tensor  # (d, H·hd)
    mlp_norm: torch.Tensor  # (d,) fp32
    gate_up: torch.Tensor  # (2I, d): gate and up projections stacked
    down: torch.Tensor  # (d, I)


class LeanDecoder:
    """Greedy decoding, with `Constraints`, of a loaded Llama causal LM (LoRA merged) on weights taken from it once.

    `dtype` is what the weight matmuls run in (torch.bfloat16 or torch.float32); norms, rotary embeddings, attention
    over the KV cache, the residual stream and the processors run in fp32, as under transformers' bf16 autocast.
    """

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        import torch

        causal = model.get_base_model() if hasattr(model, "get_base_model") else model
        config, decoder = causal.config, causal.get_decoder()
        rotary = decoder.rotary_emb
        supported = (
            config.model_type == "llama"
            and not config.attention_bias
            and not config.mlp_bias
            and config.hidden_act == "silu"
            and rotary.rope_type == "default"
        )
        if not supported:
            raise ConfigError(
                f"decoder 'lean' runs Llama models without biases or rope scaling, not this {config.model_type} model; "
                "use decoder = 'generate'"
            )
        self.dtype = dtype
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.intermediate = config.intermediate_size
        self.eps = config.rms_norm_eps
        self.inv_freq = rotary.inv_freq.detach().float()  # (hd/2,)
        self.rope_scale = rotary.attention_scaling

        self._pack, self._linear = _linear_kernels(dtype)

        def weight(linear) -> torch.Tensor:
            """The weight a linear layer applies: a peft LoRA layer must have its adapter merged into it."""
            if hasattr(linear, "base_layer"):
                if not linear.merged and linear.active_adapters:
                    raise ValueError("LeanDecoder needs the LoRA adapter merged into the weights (merge_adapter)")
                linear = linear.base_layer
            return linear.weight.detach().to(dtype)

        self.layers = []
        for layer in decoder.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    layer.input_layernorm.weight.detach().float(),
                    self._pack(torch.cat([weight(attn.q_proj), weight(attn.k_proj), weight(attn.v_proj)])),
                    self._pack(weight(attn.o_proj)),
                    layer.post_attention_layernorm.weight.detach().float(),
                    self._pack(torch.cat([weight(mlp.gate_proj), weight(mlp.up_proj)])),
                    self._pack(weight(mlp.down_proj)),
                )
            )
        self.norm = decoder.norm.weight.detach().float()  # (d,)
        self.embed = causal.get_input_embeddings().weight.detach()  # (V, d) fp32: inputs stay in fp32, as in generate
        self.head = self._pack(causal.get_output_embeddings().weight.detach().to(dtype))  # (V, d)

    def decode(
        self,
        prefixes: list[torch.Tensor],
        rows: list[tuple[int, list[int]]],
        constraints: Constraints,
        *,
        max_new_tokens: int,
        min_new_tokens: int,
        repetition_penalty: float,
        eos_token_id: int,
        quorum: int | None = None,
        required: Sequence[bool] = (),
    ) -> list[tuple[list[int], torch.Tensor]]:
        """Per row (the index of the prefix it continues, the tokens forced after that prefix), its reply's tokens
        (ending with EOS where it ended) and each token's log-prob under the raw logits, before any processor.

        `prefixes` are (P, d) input embeddings. As in `generate` with `inputs_embeds`, forced tokens are prompt, not
        reply: the repetition penalty, `min_new_tokens` and `constraints` see the generated tokens only. With a
        `quorum`, decoding stops once `quorum` rows of every prefix (or all of its rows) have ended: each step reads
        every weight however few rows run, so the last long rows cost as much as all of them; rows marked `required`
        are waited for whatever the count. Rows stopped so end without EOS, shorter than `max_new_tokens`.
        """
        import torch

        with torch.inference_mode():
            logits, cache, ends = self._prompts(prefixes, rows, max_new_tokens)  # (R, V), cache, (R,)
            n = len(rows)
            generated = torch.empty(n, max_new_tokens, dtype=torch.long)  # (R, T): what generate's input_ids hold
            chosen = torch.empty(n, max_new_tokens)  # (R, T) log-probs of the generated tokens
            written: list[list[int]] = [[] for _ in rows]
            active = list(range(n))
            index = torch.arange(n)  # (A,) the active rows
            slots = torch.arange(n)  # (A,) their rows in the cache, compacted when half have finished
            # per prefix, the ended rows still needed before the quorum stops decoding
            wanted = defaultdict(int)
            for k, _ in rows:
                wanted[k] += 1
            if quorum is not None:
                wanted = defaultdict(int, {k: min(quorum, c) for k, c in wanted.items()})
            short = len(wanted)  # prefixes still short of their quorum
            waited = sum(map(bool, required)) if quorum is not None else 0  # required rows still going
            for t in range(max_new_tokens):
                raw = logits.float()  # (A, V)
                scores = raw
                if t and repetition_penalty != 1.0:  # transformers' RepetitionPenaltyLogitsProcessor
                    ids = generated[index, :t]  # (A, t)
                    seen = raw.gather(1, ids)
                    seen = torch.where(seen < 0, seen * repetition_penalty, seen / repetition_penalty)
                    scores = raw.scatter(1, ids, seen)
                if t < min_new_tokens:  # MinNewTokensLengthLogitsProcessor
                    scores = scores.clone()
                    scores[:, eos_token_id] = -math.inf
                scores = constraints.apply(scores, [written[r] for r in active], active)
                picked = scores.argmax(-1)  # (A,)
                generated[index, t] = picked
                chosen[index, t] = raw.log_softmax(-1).gather(1, picked[:, None])[:, 0]
                going = []
                for a, (r, token) in enumerate(zip(active, picked.tolist(), strict=True)):
                    written[r].append(token)
                    if token != eos_token_id:
                        going.append(a)
                    else:
                        k = rows[r][0]
                        wanted[k] -= 1
                        short -= wanted[k] == 0
                        waited -= bool(required) and required[r]
                if not going or not (short or waited) or t + 1 == max_new_tokens:
                    break
                if len(going) < len(active):
                    active = [active[a] for a in going]
                    index, picked, slots = index[going], picked[going], slots[going]
                    if 2 * len(active) <= len(cache[0][0]):  # attention runs over every cache row: keep the live ones
                        cache = [(k[slots], v[slots]) for k, v in cache]
                        slots = torch.arange(len(active))
                x = torch.nn.functional.embedding(picked, self.embed)[:, None]  # (A, 1, d)
                every = len(slots) == len(cache[0][0])  # then slots are all rows in order: no scatter into the cache
                hidden = self._forward(x, cache, None if every else slots, (ends[index] + t)[:, None])  # (A, 1, d)
                logits = self._logits(hidden[:, 0])
            return [(reply, chosen[r, : len(reply)]) for r, reply in enumerate(written)]

    def _prompts(
        self, prefixes: list[torch.Tensor], rows: list[tuple[int, list[int]]], max_new_tokens: int
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """Each prefix prefilled once; rows' caches start as their prefix's, forced tokens then run as one batch.

        Returns the logits of each row's first reply token (R, V), the rows' KV cache and each row's prompt length (R,).
        """
        import torch

        lengths = torch.tensor([len(p) for p in prefixes])  # (K,)
        width = int(lengths.max())
        x = torch.zeros(len(prefixes), width, prefixes[0].shape[1])  # (K, P, d); padded on the right
        for k, p in enumerate(prefixes):
            x[k, : len(p)] = p
        shared = self._cache(len(prefixes), width)
        hidden = self._forward(x, shared, None, torch.arange(width).expand(len(prefixes), width))  # (K, P, d)
        first = self._logits(hidden[torch.arange(len(prefixes)), lengths - 1])  # (K, V)

        key = torch.tensor([k for k, _ in rows])  # (R,)
        forced = [f for _, f in rows]
        ends = lengths[key] + torch.tensor([len(f) for f in forced])  # (R,)
        most = max(len(f) for f in forced)
        cache = self._cache(len(rows), width + most + max_new_tokens, zeroed=True)
        for (k, v), (shared_k, shared_v) in zip(cache, shared, strict=True):
            k[:, :, :width] = shared_k[key]  # columns past a prefix's length hold padding, overwritten before seen
            v[:, :, :width] = shared_v[key]
        logits = first[key]  # (R, V)
        opened = [r for r, f in enumerate(forced) if f]
        if opened:
            ids = torch.tensor([forced[r] + [0] * (most - len(forced[r])) for r in opened])  # (O, F)
            index = torch.tensor(opened)
            positions = lengths[key[index]][:, None] + torch.arange(most)  # (O, F)
            hidden = self._forward(torch.nn.functional.embedding(ids, self.embed), cache, index, positions)
            last = torch.tensor([len(forced[r]) - 1 for r in opened])
            logits[index] = self._logits(hidden[torch.arange(len(opened)), last])
        return logits, cache, ends

    def _cache(self, rows: int, width: int, zeroed: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer, keys and values (rows, G, width, hd) in fp32. A column is written before a query of its row can see it,
        but queries of a batch run over `width` columns, masked: `zeroed` where some of those may be unwritten
        (masked garbage could still be inf or NaN, and 0·inf poisons the sum)."""
        import torch

        make = torch.zeros if zeroed else torch.empty
        shape = (rows, self.kv_heads, width, self.head_dim)
        return [(make(shape), make(shape)) for _ in self.layers]

    def _forward(
        self,
        x: torch.Tensor,
        cache: list[tuple[torch.Tensor, torch.Tensor]],
        rows: torch.Tensor | None,
        positions: torch.Tensor,
    ) -> torch.Tensor:
        """The layers on inputs `x` (B, T, d) of cache rows `rows` (B,) (None: all, in order) at `positions` (B, T),
        whose keys and values go to those columns; each attends to its row's columns up to its own position.
        Returns the last layer's output (B, T, d), before the final norm."""
        import torch
        import torch.nn.functional as F

        b, t, _ = x.shape
        heads, groups, hd, half = self.heads, self.kv_heads, self.head_dim, self.head_dim // 2
        n_rows, _, width, _ = cache[0][0].shape  # attention runs over all columns, masked: slicing would copy them
        freqs = positions[..., None].float() * self.inv_freq  # (B, T, hd/2), as transformers' rotary embedding
        cos = torch.cat([freqs, freqs], -1).cos() * self.rope_scale
        sin = freqs.sin() * self.rope_scale
        cos, sin = cos[:, :, None], torch.cat([-sin, sin], -1)[:, :, None]  # (B, T, 1, hd); sin signed for the roll
        visible = torch.arange(width) <= positions[..., None]  # (B, T, width)
        if rows is not None:  # attention runs over every cache row; rows not asked about attend anywhere, unused
            mask = torch.ones(n_rows, t, width, dtype=torch.bool)
            mask[rows] = visible
            visible = mask
        masked = ~visible[:, None, None]  # (rows, 1, 1, T, width)
        rep, scale = heads // groups, hd**-0.5
        at = (rows if rows is not None else torch.arange(b))[:, None]  # (B, 1)
        n_qk = (heads + groups) * hd
        for layer, (keys, values) in zip(self.layers, cache, strict=True):
            qkv = self._linear(self._rms(x, layer.attn_norm), layer.qkv)  # (B, T, (H + 2G)·hd)
            qk = qkv[..., :n_qk].unflatten(-1, (heads + groups, hd))  # (B, T, H + G, hd)
            qk = qk * cos + qk.roll(half, -1) * sin  # rotary (fp32): rotate_half(x)·sin as roll·signed sin
            keys[at, :, positions] = qk[:, :, heads:]  # (B, T, G, hd) into (rows, G, L, hd)
            values[at, :, positions] = qkv[..., n_qk:].unflatten(-1, (groups, hd)).float()
            # Grouped-query attention as two batched matmuls: each KV head's queries (its `rep` heads × T) together.
            q = qk[:, :, :heads].unflatten(2, (groups, rep)).permute(0, 2, 3, 1, 4).reshape(b, groups, rep * t, hd)
            if rows is not None:
                q = q.new_zeros(n_rows, groups, rep * t, hd).index_copy_(0, rows, q)
            scores = (q @ keys.transpose(2, 3)).float() * scale  # (rows, G, rep·T, width)
            scores = scores.unflatten(2, (rep, t)).masked_fill_(masked, -math.inf).softmax(-1)  # (rows, G, rep, T, width)
            out = scores.flatten(2, 3) @ values  # (rows, G, rep·T, hd)
            if rows is not None:
                out = out[rows]
            out = out.unflatten(2, (rep, t)).permute(0, 3, 1, 2, 4).reshape(b, t, heads * hd).to(self.dtype)  # (B, T, H·hd)
            x = x + self._linear(out, layer.o)
            gate_up = self._linear(self._rms(x, layer.mlp_norm), layer.gate_up)  # (B, T, 2I)
            x = x + self._linear(F.silu(gate_up[..., : self.intermediate]) * gate_up[..., self.intermediate :], layer.down)
        return x

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """LlamaRMSNorm in fp32 (the same numbers), cast to the matmul dtype."""
        import torch.nn.functional as F

        return F.rms_norm(x, weight.shape, weight, self.eps).to(self.dtype)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, V) logits of (B, d) last-layer outputs."""
        return self._linear(self._rms(hidden, self.norm), self.head)


_PACK_ROWS = 32  # the batch size oneDNN lays packed weights out for; any batch runs on them, 16-64 about equally fast


def _linear_kernels(dtype: torch.dtype) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[..., torch.Tensor]]:
    """How weights are prepared once and applied, `x @ w.T`: oneDNN's prepacked matmul where torch has it (what
    torch.compile uses on CPUs), else F.linear. On these AMD cores oneDNN runs bf16 1.3-2x and fp32 1.3-2.5x faster
    than F.linear at 1-40 rows (fp32 F.linear goes to MKL); its fp32 sums differ from MKL's in the last bits only."""
    import torch
    import torch.nn.functional as F

    if torch.backends.mkldnn.is_available():
        try:
            probe = torch.ops.mkldnn._reorder_linear_weight(torch.ones(4, 8, dtype=dtype), _PACK_ROWS)
            torch.ops.mkldnn._linear_pointwise(torch.ones(2, 8, dtype=dtype), probe, None, "none", [], "")
        except (AttributeError, RuntimeError):  # a torch without these ops: the plain matmul
            pass
        else:
            return (
                lambda w: torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), _PACK_ROWS),
                lambda x, w: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], ""),
            )
    return (lambda w: w.contiguous()), F.linear
