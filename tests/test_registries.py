"""Both registries: each name loads its class, and each registered model has a contract test (tests/*/contract.py)."""

from __future__ import annotations

import pytest

from explain.contract import contract_classes as reasoner_contracts
from recommend.contract import contract_classes as recommender_contracts
from whyrec.explain.registry import REASONERS, get_reasoner_class
from whyrec.recommend.registry import RECOMMENDERS, get_recommender_class

REGISTRIES = {
    "recommenders": (
        RECOMMENDERS,
        get_recommender_class,
        recommender_contracts,
        "a RecommenderContract subclass in tests/recommend/",
    ),
    "reasoners": (REASONERS, get_reasoner_class, reasoner_contracts, "a ReasonerContract subclass in tests/explain/"),
}


@pytest.mark.parametrize("kind", REGISTRIES)
def test_every_registered_model_has_a_contract_test(kind: str) -> None:
    registry, _, contracts, where = REGISTRIES[kind]
    classes = contracts()
    unnamed = [c.__qualname__ for c in classes if not hasattr(c, "model")]
    assert not unnamed, f"contract test classes without `model = NAME`: {', '.join(unnamed)}"
    missing = sorted(set(registry) - {c.model for c in classes})
    assert not missing, f"registered {kind} without a contract test ({where}): {', '.join(missing)}"
    unknown = sorted({c.model for c in classes} - set(registry))
    assert not unknown, f"contract tests of unregistered {kind}: {', '.join(unknown)}"


@pytest.mark.parametrize("kind", REGISTRIES)
def test_each_name_loads_the_class_of_that_name(kind: str) -> None:
    registry, load, _, _ = REGISTRIES[kind]
    for name in registry:
        assert load(name).name == name
