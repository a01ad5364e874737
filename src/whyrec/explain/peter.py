"""`peter`: PETER (Li, Zhang, Chen, ACL 2021), re-implemented in torch from the paper and its code.

One small transformer reads [user, item, (feature), <bos>, w1 .. wn] and learns three tasks at once:
- explanation generation: next-word NLL on w1 .. wn, <eos> (weight 1);
- context prediction: the item position's hidden state predicts the bag of explanation words,
  which ties the ids' states to the words (weight 1; position 2 as in PETER's code, `hidden[1]`);
- rating prediction: an MLP on the user position's hidden state (weight 0.1).
The PETER mask lets the user and item positions see each other and every word see the ids and
the words before it. Protocol as in PETER's code: the 20,000 most frequent training words, targets
cut to 15 words, SGD (lr 1, clip 1) whose learning rate drops x0.25 after each epoch without a
better validation loss (text + rating), early stop at the 5th such epoch, greedy decoding.
PETER+ (`use_feature`) adds the explanation's feature as a hint token after the ids.

Deviations, each for a reason: the vocabulary comes from training reviews only (PETER counts all
splits); a multi-word feature ("gift card") is embedded as the mean of its words' embeddings
(PETER's features are single words); an unknown user gets the mean user embedding, so it still
gets an item-only reason; decoding never emits <unk> (PETER's may; a shopper must not see it);
weights are saved as arrays, not a pickled module.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from whyrec.data.schema import Dataset
from whyrec.errors import ArtifactError, ConfigError, NotFoundError
from whyrec.explain.base import Reason, Reasoner, ReasonerConfig, ReasonRequest, TrainingReviews, with_catalog
from whyrec.explain.targets import explanation_examples
from whyrec.explain.tokens import tokenize
from whyrec.training import EpochLoop, Stopping

if TYPE_CHECKING:  # annotations only: torch loads in fit/load
    import pandas as pd
    import torch

SPECIALS = ("<bos>", "<eos>", "<pad>", "<unk>")
BOS, EOS, PAD, UNK = range(4)
_GENERATE_BATCH = 256  # requests decoded at once; fixed so the same requests always meet the same batches


class PeterConfig(ReasonerConfig):
    """PETER's hyper-parameters; defaults are its main.py's."""

    emsize: int = 512  # embedding and hidden size
    nhead: int = 2  # attention heads
    nhid: int = 2048  # feed-forward width
    nlayers: int = 2  # transformer layers
    dropout: float = 0.2
    lr: float = 1.0  # SGD learning rate, x0.25 after each epoch without improvement
    clip: float = 1.0  # gradient-norm clip
    epochs: int = 100  # upper limit
    patience: int = 5  # non-improving epochs (in all, as PETER counts them) before stopping
    batch_size: int = 128
    vocab_size: int = 20_000  # most frequent training words kept
    max_words: int = 15  # explanation length cut (targets) and limit (generation)
    use_feature: bool = False  # PETER+: the explanation's feature as a hint token
    peter_mask: bool = True  # False = plain left-to-right mask (PETER's ablation)
    text_weight: float = 1.0
    context_weight: float = 1.0
    rating_weight: float = 0.1
    target: Literal["sentence", "review"] = (
        "sentence"  # explanation = the most opinionated sentence (PETER), or the whole text (XRec)
    )
    max_history: int = 3  # history items cited per reason


# --- text ↔ tokens ------------------------------------------------------------------------------

_NO_SPACE_BEFORE = frozenset({".", ",", "!", "?", ")", "'s", "'m", "'ve", "n't", "'re", "'d", "'ll"})


def detokenize(tokens: list[str]) -> str:
    """Readable text from metric tokens: no space before punctuation or clitics, first letter upper-case.

    The inverse of `explain.tokens.tokenize` on its own output, so scores are the same on either form.
    """
    out = ""
    previous = ""
    for tok in tokens:
        # glued after "(" and before punctuation/clitics, but not after punctuation: tokenize would
        # fold two glued marks into one (",," -> ",")
        glued = previous == "(" or (tok in _NO_SPACE_BEFORE and previous not in _NO_SPACE_BEFORE)
        if out and not glued:
            out += " "
        out += tok
        previous = tok
    return out[:1].upper() + out[1:]


class Vocabulary:
    """Words by frequency after the specials, plus the feature phrases (embedded from their words)."""

    def __init__(self, words: list[str], features: list[str]) -> None:
        self.words = words  # index -> word, SPECIALS first
        self.index = {w: i for i, w in enumerate(words)}
        self.features = features  # index -> feature phrase
        self.feature_index = {f: i for i, f in enumerate(features)}

    @classmethod
    def build(cls, sentences: list[list[str]], features: list[str], size: int) -> Vocabulary:
        """The `size` most frequent words of `sentences` (ties: first met), and every feature phrase."""
        counts = Counter(w for s in sentences for w in s)
        frequent = [w for w, _ in counts.most_common(size) if w not in SPECIALS]
        return cls([*SPECIALS, *frequent], sorted(set(features)))

    def encode(self, words: list[str]) -> list[int]:
        return [self.index.get(w, UNK) for w in words]

    def feature_id(self, feature: str | None) -> int:
        """A feature's index; len(features) (embedded as <unk>) for None or a feature not seen in training."""
        return self.feature_index.get(feature, len(self.features)) if feature else len(self.features)

    def feature_words(self) -> list[list[int]]:
        """Per feature, then for the unknown feature, the word ids it is embedded from."""
        return [*(self.encode(f.split()) for f in self.features), [UNK]]

    def to_json(self) -> dict[str, list[str]]:
        return {"words": self.words, "features": self.features}


# --- the network (built lazily: torch is imported only when a model is made) ----------------------


def _build_network(config: PeterConfig, n_users: int, n_items: int, n_words: int, feature_words: list[list[int]]):
    """The PETER module for these sizes; a function so `import whyrec.explain.peter` does not import torch."""
    import torch
    from torch import nn

    class PositionalEncoding(nn.Module):
        """Fixed sinusoidal positions (Vaswani et al.), as PETER uses; torch ships no such layer."""

        def __init__(self, dim: int, max_len: int) -> None:
            super().__init__()
            position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (L, 1)
            freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))  # (D/2,)
            pe = torch.zeros(max_len, dim)
            pe[:, 0::2] = torch.sin(position * freq)
            pe[:, 1::2] = torch.cos(position * freq)
            self.register_buffer("pe", pe, persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, D)
            return x + self.pe[: x.size(1)]

    class PeterNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = config.emsize
            self.n_users = n_users
            self.prefix = 3 if config.use_feature else 2  # [u, i, (f)] before <bos>
            self.user_emb = nn.Embedding(n_users, d)
            self.item_emb = nn.Embedding(n_items, d)
            self.word_emb = nn.Embedding(n_words, d)
            width = max((len(w) for w in feature_words), default=1)
            table = torch.full((len(feature_words), width), PAD, dtype=torch.long)
            for k, ids in enumerate(feature_words):
                table[k, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            self.register_buffer("feature_words", table, persistent=False)  # (F, W) word ids, PAD-filled
            self.pos = PositionalEncoding(d, self.prefix + config.max_words + 2)
            self.drop = nn.Dropout(config.dropout)
            layer = nn.TransformerEncoderLayer(d, config.nhead, config.nhid, config.dropout, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, config.nlayers, enable_nested_tensor=False)
            self.to_word = nn.Linear(d, n_words)
            self.rating_mlp = nn.Sequential(nn.Linear(d, d), nn.Sigmoid(), nn.Linear(d, 1))
            for emb in (self.user_emb, self.item_emb, self.word_emb, self.to_word):
                nn.init.uniform_(emb.weight, -0.1, 0.1)  # PETER's init
            nn.init.zeros_(self.to_word.bias)
            for lin in (self.rating_mlp[0], self.rating_mlp[2]):
                nn.init.uniform_(lin.weight, -0.1, 0.1)
                nn.init.zeros_(lin.bias)

        def mask(self, length: int, device: torch.device) -> torch.Tensor:
            """(L, L) bool, True = may not attend: causal, except user -> item under the PETER mask."""
            blocked = torch.ones(length, length, dtype=torch.bool, device=device).triu(1)
            if config.peter_mask:
                blocked[0, 1] = False
            return blocked

        def forward(self, user: torch.Tensor, item: torch.Tensor, feature: torch.Tensor | None, words: torch.Tensor):
            """user, item: (B,) (user == n_users: unknown, gets the mean user); feature: (B,) or None;
            words: (B, T) starting with <bos>. Returns hidden states (B, prefix + T, D)."""
            users = torch.cat([self.user_emb.weight, self.user_emb.weight.mean(0, keepdim=True)])  # (U + 1, D)
            parts = [users[user][:, None], self.item_emb(item)[:, None]]  # (B, 1, D) each
            if feature is not None:
                ids = self.feature_words[feature]  # (B, W)
                keep = (ids != PAD).unsqueeze(-1).float()  # (B, W, 1)
                parts.append(((self.word_emb(ids) * keep).sum(1) / keep.sum(1).clamp(min=1))[:, None])  # (B, 1, D)
            parts.append(self.word_emb(words))  # (B, T, D)
            x = torch.cat(parts, 1) * math.sqrt(config.emsize)  # (B, L, D)
            x = self.drop(self.pos(x))
            padding = torch.cat([torch.zeros(len(words), self.prefix, dtype=torch.bool, device=x.device), words == PAD], 1)
            return self.encoder(x, mask=self.mask(x.size(1), x.device), src_key_padding_mask=padding)  # (B, L, D)

        def heads(self, hidden: torch.Tensor):
            """(word log-probs (B, T, V) from the <bos>.. positions, context log-probs (B, V), ratings (B,))."""
            words = torch.log_softmax(self.to_word(hidden[:, self.prefix :]), -1)
            context = torch.log_softmax(self.to_word(hidden[:, 1]), -1)
            rating = self.rating_mlp(hidden[:, 0]).squeeze(-1)
            return words, context, rating

    return PeterNetwork()


# --- the reasoner -----------------------------------------------------------------------------------


class Peter(Reasoner):
    """PETER / PETER+ explanation generator with its rating head; see the module docstring."""

    name = "peter"
    config_class = PeterConfig
    config: PeterConfig
    format_version = 1
    json_parts = ("vocab.json", "aspects.json")
    seeds_torch = True

    def __init__(self, config: PeterConfig | None = None) -> None:
        super().__init__(config)
        self.vocab: Vocabulary | None = None
        self.net = None
        self.n_users = self.n_items = 0
        self.rating_range: tuple[float, float] | None = None  # training min/max (clip); None: no ratings to learn
        self.aspects_by_item: dict[int, list[str]] = {}  # aspects per item, best-reviewed first (hint and evidence)
        self.user_history: dict[int, dict[str, list[int]]] = {}  # user -> aspect -> items they praised it in
        self.history: list[dict[str, float]] = []  # per-epoch losses of the last fit

    # ---- data ------------------------------------------------------------------------------
    def _batches(self, examples, shuffle: bool, generator: torch.Generator | None):
        """(user, item, feature|None, seq (B, max_words + 2), rating) tensors in batches of batch_size."""
        import torch

        n, width = len(examples), self.config.max_words + 2
        seq = torch.full((n, width), PAD, dtype=torch.long)  # <bos> w1..wn <eos> <pad>...
        for k, text in enumerate(examples["explanation"]):
            ids = self.vocab.encode(tokenize(text))[: self.config.max_words]
            seq[k, : len(ids) + 2] = torch.tensor([BOS, *ids, EOS])
        user = torch.tensor(examples["user"].to_numpy(), dtype=torch.long)
        item = torch.tensor(examples["item"].to_numpy(), dtype=torch.long)
        feature = torch.tensor(
            [self.vocab.feature_id(f if isinstance(f, str) else None) for f in examples["feature"]], dtype=torch.long
        )
        rating = torch.tensor(examples["rating"].to_numpy(), dtype=torch.float32)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        for start in range(0, n, self.config.batch_size):
            idx = order[start : start + self.config.batch_size]
            yield user[idx], item[idx], feature[idx] if self.config.use_feature else None, seq[idx], rating[idx]

    def _losses(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(text NLL, context NLL, rating MSE) of one batch."""
        import torch

        user, item, feature, seq, rating = batch
        hidden = self.net(user, item, feature, seq[:, :-1])  # input <bos> w1..wn (B, prefix + T, D)
        word_logp, context_logp, rating_pred = self.net.heads(hidden)
        target = seq[:, 1:]  # w1..wn <eos> (B, T)
        text_loss = torch.nn.functional.nll_loss(word_logp.transpose(1, 2), target, ignore_index=PAD)
        # context: every explanation word (not <eos>/<pad>) scored by the one bag-of-words distribution
        bag = (target != PAD) & (target != EOS)  # (B, T)
        context_loss = -(context_logp.gather(1, target) * bag).sum() / bag.sum().clamp(min=1)
        known = torch.isfinite(rating)  # reviews without a rating (e.g. XRec's) teach no rating
        rating_loss = (
            torch.nn.functional.mse_loss(rating_pred[known], rating[known]) if bool(known.any()) else rating_pred.sum() * 0
        )
        return text_loss, context_loss, rating_loss

    # ---- training ----------------------------------------------------------------------------
    def _fit_reviews(self, reviews: TrainingReviews) -> None:
        """Which aspects each item has and which items each user praised an aspect in (hints and evidence)."""
        net = Counter()
        history: dict[int, dict[str, list[int]]] = defaultdict(dict)
        for user, item, feature, sentiment in reviews.mentions[["user", "item", "feature", "sentiment"]].itertuples(index=False):
            net[(int(item), feature)] += int(sentiment)
            if sentiment > 0:
                items = history[int(user)].setdefault(feature, [])
                if int(item) not in items:
                    items.append(int(item))
        per_item: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for (item, feature), score in net.items():
            per_item[item].append((-score, feature))
        self.aspects_by_item = with_catalog({i: [f for _, f in sorted(p)] for i, p in per_item.items()}, reviews.catalog)
        self.user_history = dict(history)

    def _fit_weights(self, reviews: TrainingReviews) -> None:
        """Train on the training reviews; early-stop on the split's validation reviews (every epoch runs without a split)."""
        import torch

        cfg = self.config
        dataset = reviews.dataset
        generator = torch.Generator().manual_seed(cfg.seed)
        train = self._examples(dataset, reviews.rows)
        valid = self._examples(dataset, reviews.split.valid) if reviews.split is not None else train.iloc[:0]
        if train.empty:
            raise ConfigError("peter: no training review judges an aspect; nothing to learn explanations from")
        self.vocab = Vocabulary.build(
            [tokenize(t) for t in train["explanation"]], list(train["feature"].dropna()), cfg.vocab_size
        )
        self.n_users, self.n_items = dataset.n_users, dataset.n_items
        rated = train["rating"].dropna()
        self.rating_range = (float(rated.min()), float(rated.max())) if len(rated) else None
        self.net = _build_network(cfg, self.n_users, self.n_items, len(self.vocab.words), self.vocab.feature_words())
        optimizer = torch.optim.SGD(self.net.parameters(), lr=cfg.lr)
        started = 0.0

        def train_epoch(epoch: int) -> dict[str, float]:
            nonlocal started
            started = time.perf_counter()
            self.net.train()
            sums, seen = np.zeros(3), 0  # text, context, rating losses summed over examples
            for batch in self._batches(train, True, generator):
                t, c, r = self._losses(batch)
                loss = cfg.text_weight * t + cfg.context_weight * c + cfg.rating_weight * r
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.clip)
                optimizer.step()
                sums += np.array([t.item(), c.item(), r.item()]) * len(batch[0])
                seen += len(batch[0])
            text, context, rating = sums / seen
            return {
                "epoch": epoch,
                "train_text": text,
                "train_context": context,
                "train_rating": rating,
                "lr": optimizer.param_groups[0]["lr"],
            }

        def validate(_epoch: int) -> dict[str, float]:
            record = {}
            if not valid.empty:
                record["valid_text"], record["valid_rating"] = self._valid_losses(valid)
                # PETER's model-selection loss: text NLL, plus rating MSE when the rating task is on
                record["valid_loss"] = record["valid_text"] + (record["valid_rating"] if cfg.rating_weight > 0 else 0.0)
            record["seconds"] = time.perf_counter() - started
            return record

        def anneal() -> None:
            for group in optimizer.param_groups:  # PETER anneals after every non-improving epoch
                group["lr"] *= 0.25

        # PETER's endure_count: non-improving epochs are counted over the whole run, not reset by an improvement
        stopping = Stopping("valid_loss", higher_is_better=False, patience=cfg.patience, misses_in_all=True)
        run = EpochLoop(self.name, cfg.epochs, stopping, self.on_epoch).run(
            train_epoch,
            validate,
            keep=lambda: {k: v.detach().clone() for k, v in self.net.state_dict().items()},
            restore=self.net.load_state_dict,
            on_miss=anneal,
        )
        self.history = run.metrics
        self.net.eval()

    def _examples(self, dataset: Dataset, rows: np.ndarray) -> pd.DataFrame:
        """Training records of the reviews at `rows`: PETER's sentence targets, or whole texts (`target="review"`)."""
        examples = explanation_examples(dataset, self.lexicon, rows)
        if self.config.target == "sentence":
            return examples
        reviews = dataset.reviews.iloc[rows]
        texts = reviews["text"].map(lambda t: t if isinstance(t, str) and t.strip() else None)
        whole = reviews.assign(row=rows, explanation=texts).dropna(subset=["explanation"])
        features = examples.set_index("row")["feature"]
        whole = whole.assign(feature=whole["row"].map(features))  # NaN where no aspect: embedded as unknown
        return whole[["row", "user", "item", "rating", "explanation", "feature"]].reset_index(drop=True)

    def _valid_losses(self, valid) -> tuple[float, float]:
        """Mean text NLL and rating MSE on the validation records."""
        import torch

        self.net.eval()
        sums = np.zeros(2)
        with torch.no_grad():
            for batch in self._batches(valid, False, None):
                t, _, r = self._losses(batch)
                sums += np.array([t.item(), r.item()]) * len(batch[0])
        return tuple(float(x) for x in sums / len(valid))

    # ---- generation ----------------------------------------------------------------------------
    def _fitted(self) -> bool:
        return self.net is not None

    def _encode_requests(self, requests: list[ReasonRequest]):
        """(user, item, feature) tensors; unknown users map to the mean-user row, features to the hint or best aspect."""
        import torch

        for r in requests:
            if not 0 <= r.item < self.n_items:
                raise NotFoundError(f"item {r.item} is unknown to the peter reasoner ({self.n_items} items)")
        user = torch.tensor([r.user if 0 <= r.user < self.n_users else self.n_users for r in requests], dtype=torch.long)
        item = torch.tensor([r.item for r in requests], dtype=torch.long)
        if not self.config.use_feature:
            return user, item, None
        features = [r.hint or next(iter(self.aspects_by_item.get(r.item, [])), None) for r in requests]
        return user, item, torch.tensor([self.vocab.feature_id(f) for f in features], dtype=torch.long)

    def _decode(self, user, item, feature) -> tuple[list[list[int]], list[float], list[float]]:
        """Greedy decoding of one batch: word ids (up to <eos>), mean log-prob per sentence, predicted ratings."""
        import torch

        words = torch.full((len(user), 1), BOS, dtype=torch.long)  # (B, 1)
        logp_sum = torch.zeros(len(user))
        length = torch.zeros(len(user))
        done = torch.zeros(len(user), dtype=torch.bool)
        ratings = None
        for _ in range(self.config.max_words + 1):  # max_words words, then room for <eos>
            hidden = self.net(user, item, feature, words)  # (B, prefix + t, D)
            if ratings is None:
                ratings = self.net.rating_mlp(hidden[:, 0]).squeeze(-1)  # (B,); ids see no words, so step 1 suffices
            logp = torch.log_softmax(self.net.to_word(hidden[:, -1]), -1)  # (B, V)
            logp[:, [BOS, PAD, UNK]] = -math.inf  # never emitted
            best, token = logp.max(-1)  # (B,)
            token = torch.where(done, torch.full_like(token, PAD), token)
            logp_sum += torch.where(done, 0.0, best)
            length += (~done).float()
            done |= token == EOS
            words = torch.cat([words, token[:, None]], 1)
            if bool(done.all()):
                break
        out = []
        for row in words[:, 1:].tolist():
            out.append(row[: row.index(EOS)] if EOS in row else [t for t in row if t != PAD])
        ratings = ratings.clamp(*self.rating_range) if self.rating_range else torch.full_like(ratings, math.nan)
        return out, (logp_sum / length.clamp(min=1)).tolist(), ratings.tolist()

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        """Greedy PETER explanations; aspects are the lexicon features the text names."""
        import torch

        self._require_fitted()
        out: list[Reason] = []
        self.net.eval()
        with torch.no_grad():
            for start in range(0, len(requests), _GENERATE_BATCH):
                chunk = requests[start : start + _GENERATE_BATCH]
                ids, scores, ratings = self._decode(*self._encode_requests(chunk))
                for r, sentence, score, rating in zip(chunk, ids, scores, ratings, strict=True):
                    out.append(self._reason(r, sentence, score, rating))
        return out

    def _reason(self, request: ReasonRequest, ids: list[int], score: float, rating: float) -> Reason:
        text = detokenize([self.vocab.words[i] for i in ids])
        named = self.lexicon.mentions(text)
        has = set(self.aspects_by_item.get(request.item, ()))
        liked = self.user_history.get(request.user, {}) if request.user >= 0 else {}
        history = list(dict.fromkeys(i for a in named for i in liked.get(a, [])))[-self.config.max_history :]
        evidence: dict[str, Any] = {
            "item_aspects": [a for a in named if a in has],
            "history_items": history,
        }
        if not math.isnan(rating):
            evidence["predicted_rating"] = round(rating, 4)
        return Reason(request.user, request.item, text, named, evidence, round(score, 6))

    def item_aspects(self) -> dict[int, list[str]]:
        """Per item the model knows, its aspects, best-reviewed first (for the grounding filter)."""
        return {i: list(a) for i, a in self.aspects_by_item.items()}

    def predict_ratings(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The rating head's predictions (clipped to the training range; NaN if it saw no rating) for (user, item) pairs."""
        import torch

        self._require_fitted()
        requests = [ReasonRequest(int(u), int(i)) for u, i in zip(users, items, strict=True)]
        out = []
        with torch.no_grad():
            for start in range(0, len(requests), _GENERATE_BATCH):
                user, item, feature = self._encode_requests(requests[start : start + _GENERATE_BATCH])
                hidden = self.net(user, item, feature, torch.full((len(user), 1), BOS, dtype=torch.long))
                pred = self.net.rating_mlp(hidden[:, 0]).squeeze(-1)
                out.append((pred.clamp(*self.rating_range) if self.rating_range else torch.full_like(pred, math.nan)).numpy())
        return np.concatenate(out) if out else np.empty(0, np.float32)

    # ---- persistence -------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "n_users": self.n_users,
            "n_items": self.n_items,
            "rating_range": list(self.rating_range) if self.rating_range else None,
        }

    def _json_parts(self) -> dict[str, Any]:
        """vocab.json (words and features) and aspects.json (aspects per item, praised items per user)."""
        aspects = {
            "items": {str(i): a for i, a in self.aspects_by_item.items()},
            "user_history": {str(u): h for u, h in self.user_history.items()},
        }
        return {"vocab.json": self.vocab.to_json(), "aspects.json": aspects}

    def _save_weights(self, out: Path) -> None:
        """weights.npz: the network's state as plain arrays."""
        np.savez(out / "weights.npz", **{k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()})

    def _restore(self, path: Path, meta: dict[str, Any], parts: dict[str, Any]) -> None:
        import torch

        try:
            with np.load(path / "weights.npz", allow_pickle=False) as z:
                state = {k: torch.from_numpy(z[k]) for k in z.files}
        except FileNotFoundError as exc:
            raise ArtifactError(f"{path}: peter reasoner incomplete (weights.npz missing)") from exc
        vocab, aspects = parts["vocab.json"], parts["aspects.json"]
        self.vocab = Vocabulary(vocab["words"], vocab["features"])
        self.n_users, self.n_items = int(meta["n_users"]), int(meta["n_items"])
        self.rating_range = tuple(float(x) for x in meta["rating_range"]) if meta["rating_range"] else None
        self.aspects_by_item = {int(i): list(a) for i, a in aspects["items"].items()}
        self.user_history = {
            int(u): {f: [int(i) for i in items] for f, items in h.items()} for u, h in aspects["user_history"].items()
        }
        self.net = _build_network(self.config, self.n_users, self.n_items, len(self.vocab.words), self.vocab.feature_words())
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise ArtifactError(f"{path / 'weights.npz'}: weights do not fit the saved config: {exc}") from exc
        self.net.eval()
