"""Every recommender by name: the config's `recommender = "..."` picks one (STYLE 3).

Models import lazily so `whyrec --help` stays instant and torch loads only when a torch model is used.
The names are also those of the run config's `[models.NAME]` sections, checked by each class's `config_class`
(importing a model module imports no torch; torch loads in fit/load).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from whyrec.errors import NotFoundError

if TYPE_CHECKING:
    from whyrec.recommend.base import Recommender

# name -> "module:Class"; a new model plugs in with one line here.
RECOMMENDERS: dict[str, str] = {
    "pop": "whyrec.recommend.popular:Popularity",
    "itemknn": "whyrec.recommend.itemknn:ItemKNN",
    "mf": "whyrec.recommend.mf:MatrixFactorization",
    "sasrec": "whyrec.recommend.sasrec:SASRec",
    "lightgcn": "whyrec.recommend.lightgcn:LightGCN",
    "content": "whyrec.recommend.content:ContentRecommender",
}
DEFAULT_RECOMMENDER = "sasrec"  # the run config's default


def get_recommender_class(name: str) -> type[Recommender]:
    """The class registered under `name`, imported on first use."""
    try:
        target = RECOMMENDERS[name]
    except KeyError:
        raise NotFoundError(f"unknown recommender '{name}'; known: {', '.join(sorted(RECOMMENDERS))}") from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)
