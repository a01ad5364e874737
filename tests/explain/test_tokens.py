"""The reasons' tokenizer: PEPLER's rules, by hand and as properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from whyrec.explain.tokens import tokenize


def test_tokenize_follows_peplers_rules():
    assert tokenize("Doesn't fit; too small!! (Really) 3.5") == [
        "does",
        "n't",
        "fit",
        ".",
        "too",
        "small",
        "!",
        "(",
        "really",
        ")",
        "3",
        ".",
        "5",
    ]
    assert tokenize("It's great, isn't it?? Yes: I'd buy") == [
        "it",
        "'s",
        "great",
        ",",
        "is",
        "n't",
        "it",
        "?",
        "yes",
        ",",
        "i",
        "'d",
        "buy",
    ]
    assert tokenize("  ") == []


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcXYZ '.,;:!?()-\t\n", max_size=40))
def test_tokenize_is_idempotent_and_lowercase(text):
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens
    assert all(t == t.lower() and t.strip() == t and t for t in tokens)
