"""Privacy at the data's edge: pseudonymous user ids and differentially private aggregate counts.

Pseudonyms are keyed HMAC-SHA256 of the raw id: stable (the same shopper keeps one pseudonym, so
models still learn), not reversible without the key, and not guessable by hashing candidate ids
(a plain hash would be). The key stays with the operator (an environment variable or a key file);
the store records only that its ids are pseudonymous and a fingerprint of the key, so a later
ingest with another key or none is refused instead of silently splitting shoppers in two.

The DP release is the Laplace mechanism over counts whose per-user contribution is bounded by
clipping, so its L1 sensitivity under adding or removing one user is known and stated with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from whyrec.data.schema import EVENT_TYPES, Dataset, IdMap
from whyrec.errors import ConfigError

if TYPE_CHECKING:
    from whyrec.data.store import Store

KEY_ENV = "WHYREC_ID_KEY"
MIN_KEY_BYTES = 16  # 128 bits: below that a key could be brute-forced from known (raw, pseudonym) pairs
PSEUDONYM_HEX = 32  # 128 bits of the HMAC: collisions are negligible for any shop's number of users
SETTING = "user_ids"  # the store setting: absent = raw ids, "hmac-sha256:<fingerprint>" = pseudonymous
NO_CATEGORY = "(no category)"


# ---- pseudonymous ids ---------------------------------------------------------------------------


def load_key(key_file: Path | None = None) -> bytes:
    """The pseudonymisation key: the key file's bytes if given, else $WHYREC_ID_KEY; at least 16 bytes."""
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"{key_file}: cannot read the id key file ({exc.strerror})") from exc
        where = str(key_file)
    else:
        key = os.environ.get(KEY_ENV, "").encode()
        where = f"${KEY_ENV}"
        if not key:
            raise ConfigError(f"--pseudonymize needs a key: set {KEY_ENV} or pass --id-key-file PATH")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: the id key must be at least {MIN_KEY_BYTES} bytes, got {len(key)}")
    return key


def pseudonym(raw: str, key: bytes) -> str:
    """The pseudonymous id of a raw user id under `key` ("p" + 32 hex digits of HMAC-SHA256)."""
    return "p" + hmac.new(key, str(raw).encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]


def key_fingerprint(key: bytes) -> str:
    """A short public tag of the key (an HMAC of a fixed message): tells keys apart, reveals nothing of them."""
    return hmac.new(key, b"whyrec id key fingerprint", hashlib.sha256).hexdigest()[:16]


def pseudonymize(dataset: Dataset, key: bytes) -> Dataset:
    """The same dataset with every user id replaced by its pseudonym (dense ids and rows unchanged)."""
    return dataclasses.replace(dataset, user_ids=IdMap(tuple(pseudonym(r, key) for r in dataset.user_ids.raw)))


def check_id_mode(store: Store, key: bytes | None) -> None:
    """Refuse to mix raw and pseudonymous ids, or pseudonyms of two keys, in one store; mark a new store.

    `key` is None for an ingest of raw ids.
    """
    mode = store.setting(SETTING)
    wanted = None if key is None else f"hmac-sha256:{key_fingerprint(key)}"
    if mode == wanted:
        return
    if mode is None:
        if store.counts()["users"]:
            raise ConfigError(f"{store.path}: holds raw user ids; ingest pseudonymised data into a new store")
        store.set_setting(SETTING, wanted)
    elif key is None:
        raise ConfigError(f"{store.path}: holds pseudonymous user ids; ingest with --pseudonymize and the same key")
    else:
        raise ConfigError(f"{store.path}: user ids were pseudonymised with another key (fingerprint {mode.split(':')[1]})")


# ---- differentially private counts ---------------------------------------------------------------


def clipped_counts(user: np.ndarray, cell: np.ndarray, cells: list[str], clip: int, max_cells: int | None = None) -> np.ndarray:
    """Per-cell event counts where each user adds at most `clip` to a cell, in at most `max_cells` cells.

    A user over `max_cells` keeps the cells where they have the most events (ties by cell order), a
    choice that depends on their own events only, so adding or removing one user changes the
    result by at most clip * max_cells in L1 (clip * len(cells) without a cell limit).
    """
    if clip < 1 or (max_cells is not None and max_cells < 1):
        raise ConfigError(f"clipping bounds must be at least 1, got clip={clip}, max_cells={max_cells}")
    index = {c: i for i, c in enumerate(cells)}
    codes = np.fromiter((index[c] for c in cell), dtype=np.int64, count=len(cell))
    frame = pd.DataFrame({"user": user, "cell": codes}).value_counts().rename("n").reset_index()
    frame["n"] = frame["n"].clip(upper=clip)
    if max_cells is not None:
        frame = frame.sort_values(["user", "n", "cell"], ascending=[True, False, True], kind="stable")
        frame = frame[frame.groupby("user").cumcount() < max_cells]
    return np.bincount(frame["cell"].to_numpy(), weights=frame["n"].to_numpy(), minlength=len(cells))


def laplace(counts: np.ndarray, sensitivity: float, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """`counts` + Laplace(sensitivity / epsilon) noise per cell: epsilon-DP for an L1 sensitivity of `sensitivity`."""
    if not (epsilon > 0 and np.isfinite(epsilon)):
        raise ConfigError(f"--dp-epsilon must be a positive number, got {epsilon}")
    return counts + rng.laplace(0.0, sensitivity / epsilon, size=len(counts))


def dp_statistics(
    dataset: Dataset, epsilon: float, *, clip: int = 1, max_categories: int = 3, seed: int | None = None
) -> dict[str, Any]:
    """Category popularity and event-type counts released together under epsilon-DP (add/remove one user).

    Category popularity counts interactions per catalog category (full path), each user adding at
    most `clip` per category in at most `max_categories` categories; event-type counts add at most
    `clip` per type. One Laplace draw per cell over both vectors, so the whole release spends epsilon.
    The cell lists (catalog categories, event types) are treated as public, not learned from users.
    """
    inter = dataset.interactions
    category = dict(zip(dataset.items["item"].tolist(), dataset.items["category"].tolist(), strict=True))
    item_cat = [category.get(i) or NO_CATEGORY for i in range(dataset.n_items)]
    cats = sorted({c for c in category.values() if c} | {NO_CATEGORY})
    users = inter["user"].to_numpy()
    by_cat = clipped_counts(users, np.asarray(item_cat, dtype=object)[inter["item"].to_numpy()], cats, clip, max_categories)
    by_event = clipped_counts(users, inter["event"].to_numpy(), list(EVENT_TYPES), clip)
    sensitivity = float(clip * (min(max_categories, len(cats)) + len(EVENT_TYPES)))
    rng = np.random.default_rng(seed)
    noisy = laplace(np.concatenate([by_cat, by_event]), sensitivity, epsilon, rng)
    cat_noisy, event_noisy = noisy[: len(cats)], noisy[len(cats) :]
    scale = sensitivity / epsilon

    def released(names: list[str], values: np.ndarray) -> list[dict[str, Any]]:
        # rounding and clamping at 0 are post-processing: they keep the guarantee
        rows = [{"name": n, "count": max(0, round(float(v)))} for n, v in zip(names, values, strict=True)]
        return sorted(rows, key=lambda r: -r["count"])

    return {
        "epsilon": epsilon,
        "delta": 0.0,
        "mechanism": "Laplace",
        "neighbouring": "add or remove all of one user's events",
        "clip": clip,
        "max_categories": max_categories,
        "sensitivity": sensitivity,
        "laplace_scale": scale,
        "noise_sd": scale * float(np.sqrt(2)),
        "seeded": seed is not None,
        "category_popularity": released(cats, cat_noisy),
        "event_types": released(list(EVENT_TYPES), event_noisy),
        "statement": (
            f"epsilon-DP with epsilon={epsilon:g} for adding or removing one user: each user adds at most {clip} "
            f"event(s) per category in at most {max_categories} categories and at most {clip} per event type, so the "
            f"L1 sensitivity is {sensitivity:g} and each count carries Laplace noise of scale {scale:.3g} "
            f"(sd {scale * np.sqrt(2):.3g}). Clipped counts undercount heavy users by design. Category and event names "
            "come from the catalog and schema, not from users. A published seed lets anyone remove the noise."
        ),
    }
