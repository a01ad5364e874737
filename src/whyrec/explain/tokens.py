"""The one word tokenizer for reasons: PEPLER's rules, shared by the reasoners that learn words and the text metrics."""

from __future__ import annotations

import re

# PEPLER's `postprocessing` (after Kim's CNN_sentence clean-up), applied in its order: split off
# clitics, pad brackets, fold runs of , : into "," and ; . into ".", pad ! and ?.
_PUNCT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"('s|'m|'ve|n't|'re|'d|'ll)"), r" \1"),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r",+"), " , "),
    (re.compile(r":+"), " , "),
    (re.compile(r";+"), " . "),
    (re.compile(r"\.+"), " . "),
    (re.compile(r"!+"), " ! "),
    (re.compile(r"\?+"), " ? "),
)


def tokenize(text: str) -> list[str]:
    """Lower-case, separate punctuation and clitics by PEPLER's rules, split on whitespace.

    "Doesn't fit; too small!!" -> ["does", "n't", "fit", ".", "too", "small", "!"]
    """
    text = text.lower()
    for pattern, repl in _PUNCT_RULES:
        text = pattern.sub(repl, text)
    return text.split()
