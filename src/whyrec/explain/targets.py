"""What reasoners learn from and are scored on, built from a Dataset's reviews with the aspect extractor.

PETER/PEPLER train on (user, item, rating, explanation, feature) records whose explanation is
the review sentence Sentires found a feature–opinion pair in; `explanation_examples` builds the
same records with our extractor. `aspect_mentions` lists every judged aspect, from which
`item_aspect_sets` says which aspects an item has (reviews and catalog text), which the grounding
filter checks reasons against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from whyrec.explain.aspects import AspectLexicon, explanation_targets, extract_aspects

if TYPE_CHECKING:  # annotations only
    import numpy as np
    import pandas as pd

    from whyrec.data.schema import Dataset

EXAMPLE_COLUMNS = ("row", "user", "item", "rating", "explanation", "feature", "opinion", "sentiment")
MENTION_COLUMNS = ("row", "user", "item", "feature", "opinion", "sentiment", "sentence")


def _reviews(dataset: Dataset, rows: np.ndarray | Sequence[int] | None) -> pd.DataFrame:
    """The reviews at positions `rows` (all when None), with their position as column `row`."""
    frame = dataset.reviews.reset_index(drop=True)
    frame = frame.assign(row=frame.index)
    return frame if rows is None else frame.iloc[list(rows)]


def explanation_examples(
    dataset: Dataset, lexicon: AspectLexicon, rows: np.ndarray | Sequence[int] | None = None
) -> pd.DataFrame:
    """One record per review that judges an aspect: row, user, item, rating, explanation, feature, opinion, sentiment.

    `rows` are positions into `dataset.reviews` (a split part); reviews without an aspect are
    dropped, as PETER's data has none. Record order follows `rows`.
    """
    import pandas as pd

    reviews = _reviews(dataset, rows)
    targets = explanation_targets(reviews, lexicon)
    kept = targets["sentence"].notna()
    out = pd.DataFrame(
        {
            "row": reviews["row"][kept].astype("int64"),
            "user": reviews["user"][kept].astype("int64"),
            "item": reviews["item"][kept].astype("int64"),
            "rating": reviews["rating"][kept].astype("float32"),
            "explanation": targets["sentence"][kept].astype(str),
            "feature": targets["feature"][kept].astype(str),
            "opinion": targets["opinion"][kept].astype(str),
            "sentiment": targets["sentiment"][kept].astype("int8"),
        }
    )
    return out.reset_index(drop=True)[list(EXAMPLE_COLUMNS)]


def aspect_mentions(dataset: Dataset, lexicon: AspectLexicon, rows: np.ndarray | Sequence[int] | None = None) -> pd.DataFrame:
    """Every lexicon aspect the reviews at `rows` judge, one record per (review, sentence, feature)."""
    import pandas as pd

    records = []
    for row, user, item, text in _reviews(dataset, rows)[["row", "user", "item", "text"]].itertuples(index=False):
        if isinstance(text, str):
            for a in extract_aspects(text, lexicon):
                records.append((int(row), int(user), int(item), a.feature, a.opinion, a.sentiment, a.sentence))
    out = pd.DataFrame(records, columns=list(MENTION_COLUMNS))
    return out.astype({"row": "int64", "user": "int64", "item": "int64", "sentiment": "int8"})


def catalog_aspects(dataset: Dataset, lexicon: AspectLexicon) -> dict[int, set[str]]:
    """Per item with a catalog row, the lexicon features its title, category, brand or description name."""
    out: dict[int, set[str]] = {}
    for row in dataset.items.itertuples(index=False):
        text = ". ".join(str(p) for p in (row.title, row.category, row.brand, row.description) if isinstance(p, str) and p)
        found = set(lexicon.mentions(text))
        if found:
            out[int(row.item)] = found
    return out


def item_aspect_sets(
    dataset: Dataset,
    lexicon: AspectLexicon,
    rows: np.ndarray | Sequence[int] | None = None,
    mentions: pd.DataFrame | None = None,
) -> dict[int, set[str]]:
    """Per item (every item of the dataset), the aspects it has: judged in its reviews at `rows` or named by its catalog.

    Pass `mentions` (from `aspect_mentions` on the same rows) to skip re-extracting them.
    Review aspects count whatever their sentiment: a reason may cite any aspect the item has.
    """
    if mentions is None:
        mentions = aspect_mentions(dataset, lexicon, rows)
    out: dict[int, set[str]] = {i: set() for i in range(dataset.n_items)}
    for item, feature in mentions[["item", "feature"]].itertuples(index=False):
        out[int(item)].add(feature)
    for item, features in catalog_aspects(dataset, lexicon).items():
        out[item] |= features
    return out
