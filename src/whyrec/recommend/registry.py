"""Every recommender by name: the config's `recommender = "..."` picks one (STYLE 3).

Models import lazily so `whyrec --help` stays instant and torch loads only when a torch model is used.
"""

from __future__ import annotations

from importlib import import_module

from whyrec.errors import NotFoundError

# name -> "module:Class"; a new model plugs in with one line here.
RECOMMENDERS: dict[str, str] = {
    "pop": "whyrec.recommend.popular:Popularity",
    "itemknn": "whyrec.recommend.itemknn:ItemKNN",
    "mf": "whyrec.recommend.mf:MatrixFactorization",
    "sasrec": "whyrec.recommend.sasrec:SASRec",
    "lightgcn": "whyrec.recommend.lightgcn:LightGCN",
    "content": "whyrec.recommend.content:ContentRecommender",
}


def get_recommender_class(name: str) -> type:
    try:
        target = RECOMMENDERS[name]
    except KeyError:
        raise NotFoundError(f"unknown recommender '{name}'; known: {', '.join(sorted(RECOMMENDERS))}") from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)
