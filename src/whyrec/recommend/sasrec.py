"""SASRec: self-attentive sequential recommendation (Kang & McAuley, ICDM 2018).

A user's latest items (left-padded to `max_len`) go through item + learned position
embeddings and causal self-attention blocks; the hidden state at the last position, dotted
with the (tied) item embeddings, scores every item. The blocks are pre-LN, as in the paper
(x + Dropout(sublayer(LayerNorm(x))), with a LayerNorm on the output), built from
torch.nn.TransformerEncoderLayer with a point-wise feed-forward of the hidden size.

Loss: "ce" (default) is full-softmax cross-entropy over the whole catalog at every position,
which beats the original one-negative BCE by a wide margin (Klenitskiy & Vasilev, RecSys 2023;
Petrov & Macdonald, gSASRec, RecSys 2023); "bce" is the paper's loss with one negative per
position drawn from items the user never had.

Scores follow the user's latest events: `observe` appends new events to the user's sequence,
so recommendations change without retraining.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, PositiveInt, ValidationInfo, field_validator

from whyrec.recommend.base import ArraySpec, Recommender, TrainData
from whyrec.recommend.training import TorchRecommender, TrainConfig, owned_keys, sample_negatives

if TYPE_CHECKING:
    import torch

PAD = -1  # padding in the saved latest-items matrix; the network sees item + 1 with 0 as padding
_SCORE_BATCH = 1024  # users run through the network at once in score()
_BUCKET = 64  # training batches whose rows are grouped by length together (see `batches`)


class SASRecConfig(TrainConfig):
    """SASRec's architecture and loss; training settings come from TrainConfig."""

    hidden: PositiveInt = 64  # embedding and hidden size
    blocks: PositiveInt = 2  # self-attention blocks
    heads: PositiveInt = 1  # attention heads per block (must divide hidden)
    max_len: PositiveInt = 50  # latest items read per user; the paper used 50 for Amazon, 200 for MovieLens-1M
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = (
        0.5  # on embeddings, attention and feed-forward; 0.5 suits sparse Amazon data, 0.2 denser sets
    )
    loss: Literal["ce", "bce"] = "ce"  # full-softmax cross-entropy, or the original 1-negative binary cross-entropy

    @field_validator("heads")
    @classmethod
    def _heads_divide_hidden(cls, heads: int, info: ValidationInfo) -> int:
        hidden = info.data.get("hidden")  # absent when hidden itself failed validation
        if hidden is not None and hidden % heads:
            raise ValueError(f"must divide hidden ({hidden})")
        return heads


def latest_items(frame: pd.DataFrame, n_users: int, width: int) -> np.ndarray:
    """(n_users, width) int64: each user's last `width` items of `frame`, oldest first, left-padded with PAD.

    `frame` rows must be in (user, timestamp) order, as `Dataset.interactions` is.
    """
    out = np.full((n_users, width), PAD, dtype=np.int64)
    users = frame["user"].to_numpy()
    if not len(users):
        return out
    items = frame["item"].to_numpy()
    starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    sizes = np.diff(np.r_[starts, len(users)])
    from_end = np.repeat(starts + sizes, sizes) - 1 - np.arange(len(users))  # 0 = the user's latest row
    keep = from_end < width
    out[users[keep], width - 1 - from_end[keep]] = items[keep]
    return out


def sequence_rows(histories: Sequence[np.ndarray], width: int) -> np.ndarray:
    """(len(histories), width) int64: each history's last `width` items, oldest first, left-padded with PAD."""
    lengths = [len(h) for h in histories]
    items = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if histories else np.empty(0, np.int64)
    return latest_items(
        pd.DataFrame({"user": np.repeat(np.arange(len(histories)), lengths), "item": items}), len(histories), width
    )


def extend_latest(latest: np.ndarray, events: pd.DataFrame) -> None:
    """Append `events` (in (user, timestamp) order) to the users' rows of `latest`, in place, keeping the last width."""
    width = latest.shape[1]
    users, local = np.unique(events["user"].to_numpy(), return_inverse=True)  # local: row of each event's user
    new = latest_items(pd.DataFrame({"user": local, "item": events["item"].to_numpy()}), len(users), width)  # (U, width)
    both = np.concatenate([latest[users], new], axis=1)  # (U, 2 * width): old then new, each left-padded
    # Move padding to the front, keeping the items' order: a stable sort on "is an item".
    order = np.argsort(both != PAD, axis=1, kind="stable")
    latest[users] = np.take_along_axis(both, order, axis=1)[:, -width:]


class LatestItemsState(Recommender):
    """A recommender whose user state is `self.latest` (users' last items, PAD-padded): history, live events, new and forgotten users."""

    latest: np.ndarray
    state_arrays: ClassVar[dict[str, ArraySpec]] = {"latest": ArraySpec(("users", None), "i", PAD, "items")}

    def history(self, user: int) -> np.ndarray:
        """The user's latest items (at most the matrix width), oldest first, repeats included: what the model reads."""
        self._require_fitted()
        row = self.latest[user]
        return row[row != PAD]

    def _observe(self, events: pd.DataFrame) -> None:
        extend_latest(self.latest, events)

    def _add_users(self, n: int) -> None:
        self.latest = np.vstack([self.latest, np.full((n, self.latest.shape[1]), PAD, dtype=self.latest.dtype)])

    def _forget_users(self, users: np.ndarray) -> None:
        self.latest[users] = PAD


def _blocked(real: torch.Tensor, heads: int) -> torch.Tensor:
    """(B * heads, L, L) bool attention mask, True = may not attend: later positions and padding.

    Each position may always attend to itself, so a padding query has one key and its softmax
    is finite; real positions never see padding, so their states ignore how much there is.
    """
    import torch

    length = real.shape[1]
    later = torch.ones(length, length, dtype=torch.bool).triu(1)  # (L, L) key after query
    self_only = torch.eye(length, dtype=torch.bool)
    blocked = later | (~real[:, None, :] & ~self_only)  # (B, L, L)
    return blocked.repeat_interleave(heads, dim=0)


class SASRec(LatestItemsState, TorchRecommender):
    """Transformer over each user's latest items; scores = last hidden state . item embeddings."""

    name = "sasrec"
    config_class = SASRecConfig
    config: SASRecConfig
    _training_only = ("_rows", "_row_users", "_lengths", "_owned")
    attribution_methods = ("occlusion", "attention", "lime")

    # ---- the network --------------------------------------------------------------------------
    def _make_net(self) -> torch.nn.Module:
        """The layers, as a ModuleDict of stock torch modules (no nn.Module subclass, so importing this file needs no torch)."""
        from torch import nn

        c = self.config
        block = dict(
            d_model=c.hidden,
            nhead=c.heads,
            dim_feedforward=c.hidden,
            dropout=c.dropout,
            activation="relu",
            batch_first=True,
            norm_first=True,
        )
        return nn.ModuleDict(
            {
                "item_emb": nn.Embedding(self.n_items + 1, c.hidden, padding_idx=0),  # row 0 = padding
                "pos_emb": nn.Embedding(c.max_len, c.hidden),
                "dropout": nn.Dropout(c.dropout),
                "blocks": nn.ModuleList(nn.TransformerEncoderLayer(**block) for _ in range(c.blocks)),
                "norm": nn.LayerNorm(c.hidden),
            }
        )

    def encode(self, seq: torch.Tensor, attention: list[torch.Tensor] | None = None) -> torch.Tensor:
        """(B, L) item + 1 ids (0 = padding, left) -> (B, L, hidden) states; position p sees items <= p only.

        With an `attention` list, each block's (B, L, L) attention weights (mean over heads) are appended to it.
        """
        import torch

        net = self.net
        length = seq.shape[1]
        # Positions count back from the latest item, so a sequence's positions don't depend on its padding.
        pos = torch.arange(self.config.max_len - length, self.config.max_len)  # (L,)
        x = net["item_emb"](seq) * math.sqrt(self.config.hidden) + net["pos_emb"](pos)  # (B, L, D)
        x = net["dropout"](x)
        mask = _blocked(seq != 0, self.config.heads)  # (B * heads, L, L)
        for block in net["blocks"]:
            if attention is not None:  # the block's own attention, recomputed on its pre-LN input (norm_first)
                h = block.norm1(x)
                attention.append(block.self_attn(h, h, h, attn_mask=mask, need_weights=True)[1])  # (B, L, L)
            x = block(x, src_mask=mask)  # (B, L, D)
        return net["norm"](x)

    def _build(self, data: TrainData) -> torch.nn.Module:
        import torch

        c = self.config
        self.latest = latest_items(data.train, self.n_users, c.max_len)
        # Training rows: each user's last max_len + 1 items; inputs are [:-1], next-item targets [1:].
        rows = latest_items(data.train, self.n_users, c.max_len + 1)
        trainable = (rows != PAD).sum(axis=1) >= 2  # a user needs an item and a next item
        self._rows = rows[trainable] + 1  # (S, max_len + 1), 0 = padding
        self._row_users = np.flatnonzero(trainable)
        self._lengths = (self._rows != 0).sum(axis=1)  # (S,) items per training row
        self._owned = owned_keys(data.seen) if c.loss == "bce" else np.empty(0, np.int64)
        self.net = self._make_net()
        for param in self.net.parameters():
            if param.dim() >= 2:
                torch.nn.init.xavier_normal_(param)  # as the reference SASRec.pytorch does
        with torch.no_grad():
            self.net["item_emb"].weight[0].zero_()
        return self.net

    # ---- training hooks ---------------------------------------------------------------------------
    def batches(self, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """(rows, negatives): rows (B, W + 1) of item + 1 ids; for "bce", one negative per real input position."""
        # Length buckets: shuffle, sort each run of _BUCKET batches by length, cut it into batches and
        # shuffle the batches, so a batch holds sequences of similar length and little padding.
        size = self.config.batch_size
        order = rng.permutation(len(self._rows))
        batches = []
        for start in range(0, len(order), size * _BUCKET):
            run = order[start : start + size * _BUCKET]
            run = run[np.argsort(self._lengths[run], kind="stable")]
            batches += [run[i : i + size] for i in range(0, len(run), size)]
        for b in rng.permutation(len(batches)):
            idx = batches[b]
            rows = self._rows[idx, -int(self._lengths[idx].max()) :]  # (B, W + 1), W = longest input
            neg = None
            if self.config.loss == "bce":
                # Row-major order of the real input positions, as `loss` selects them.
                users = np.repeat(self._row_users[idx], (rows[:, :-1] != 0).sum(axis=1))
                neg = sample_negatives(rng, users, self.n_items, self._owned)
            yield rows, neg

    def loss(self, batch: tuple[np.ndarray, np.ndarray | None]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        rows, neg = batch
        seq = torch.from_numpy(rows[:, :-1])  # (B, L) inputs
        target = torch.from_numpy(rows[:, 1:])  # (B, L) next items
        real = seq != 0  # a target counts where its input is an item (then it is an item too)
        hidden = self.encode(seq)[real]  # (N, D), N real positions in the batch, row-major
        goal = target[real] - 1  # (N,) dense item ids
        items = self.net["item_emb"].weight[1:]  # (n_items, D)
        if neg is None:
            return F.cross_entropy(hidden @ items.T, goal)  # (N, n_items) logits
        pos_logit = (hidden * items[goal]).sum(-1)  # (N,)
        neg_logit = (hidden * items[torch.from_numpy(neg)]).sum(-1)  # (N,)
        logits = torch.cat([pos_logit, neg_logit])  # (2N,)
        labels = torch.cat([torch.ones_like(pos_logit), torch.zeros_like(neg_logit)])
        return F.binary_cross_entropy_with_logits(logits, labels)

    # ---- scoring -------------------------------------------------------------------------------
    def score(self, user_ids: np.ndarray, item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        return self._score_rows(self.latest[np.asarray(user_ids, dtype=np.int64)], item_ids)

    def score_histories(self, user: int, histories: Sequence[np.ndarray], item_ids: np.ndarray | None = None) -> np.ndarray:
        self._require_fitted()
        return self._score_rows(sequence_rows(histories, self.config.max_len), item_ids)

    def attention(self, history: np.ndarray) -> np.ndarray:
        """(len(history),) attention rollout from the latest position back over each history position; sums to 1.

        Per block, A' = (A + I) / 2 (the residual path), multiplied through the blocks (Abnar & Zuidema, 2020).
        It does not depend on the item being scored: a cheap first pass, not a faithful attribution.
        """
        import torch

        self._require_fitted()
        seq = torch.from_numpy(np.asarray(history, dtype=np.int64)[-self.config.max_len :][None, :] + 1)  # (1, L)
        maps: list[torch.Tensor] = []
        was_training = self.net.training
        self.net.eval()
        with torch.no_grad():
            self.encode(seq, attention=maps)
            eye = torch.eye(seq.shape[1])
            rollout = eye
            for a in maps:
                rollout = ((a[0] + eye) / 2) @ rollout  # (L, L)
        self.net.train(was_training)
        weights = np.zeros(len(history), dtype=np.float32)
        weights[-seq.shape[1] :] = rollout[-1].numpy()
        return weights

    def _score_rows(self, latest: np.ndarray, item_ids: np.ndarray | None) -> np.ndarray:
        """(B, I) scores of (B, max_len) PAD-padded item rows, run through the network in length-sorted chunks."""
        import torch

        lengths = (latest != PAD).sum(axis=1)
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding per chunk
        was_training = self.net.training
        self.net.eval()
        with torch.no_grad():
            items = self.net["item_emb"].weight[1:]  # (n_items, D)
            if item_ids is not None:
                items = items[torch.from_numpy(np.asarray(item_ids, dtype=np.int64))]
            out = np.empty((len(latest), items.shape[0]), dtype=np.float32)
            for start in range(0, len(latest), _SCORE_BATCH):
                rows = order[start : start + _SCORE_BATCH]
                width = max(int(lengths[rows].max()), 1)
                seq = latest[rows, -width:] + 1  # (B, W), 0 = padding
                state = self.encode(torch.from_numpy(seq))[:, -1]  # (B, D) at the latest item
                out[rows] = (state @ items.T).numpy()  # (B, I)
        self.net.train(was_training)
        return out

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, np.ndarray]:
        weights = {f"net.{k}": v.detach().numpy() for k, v in self.net.state_dict().items()}
        return {"latest": self.latest, **weights}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        self.latest = state["latest"].astype(np.int64)
        self.net = self._make_net()
        self.net.load_state_dict({k[4:]: torch.from_numpy(v) for k, v in state.items() if k.startswith("net.")})
        self.net.eval()
