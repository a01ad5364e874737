"""The recommender registry: each name loads its class, and each has a contract test (contract.py)."""

from __future__ import annotations

from whyrec.recommend.registry import RECOMMENDERS, get_recommender_class

from .contract import contract_classes


def test_every_registered_recommender_has_a_contract_test() -> None:
    classes = contract_classes()
    unnamed = [c.__qualname__ for c in classes if not hasattr(c, "model")]
    assert not unnamed, f"contract test classes without `model = NAME`: {', '.join(unnamed)}"
    missing = sorted(set(RECOMMENDERS) - {c.model for c in classes})
    assert not missing, (
        f"registered recommenders without a contract test (a RecommenderContract subclass in tests/recommend/): {', '.join(missing)}"
    )
    unknown = sorted({c.model for c in classes} - set(RECOMMENDERS))
    assert not unknown, f"contract tests of unregistered recommenders: {', '.join(unknown)}"


def test_each_name_loads_the_class_of_that_name() -> None:
    for name in RECOMMENDERS:
        assert get_recommender_class(name).name == name
