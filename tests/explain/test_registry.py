"""The reasoner registry: each name loads its class, and each has a contract test (contract.py)."""

from __future__ import annotations

from whyrec.explain.registry import REASONERS, get_reasoner_class

from .contract import contract_classes


def test_every_registered_reasoner_has_a_contract_test() -> None:
    classes = contract_classes()
    unnamed = [c.__qualname__ for c in classes if not hasattr(c, "model")]
    assert not unnamed, f"contract test classes without `model = NAME`: {', '.join(unnamed)}"
    missing = sorted(set(REASONERS) - {c.model for c in classes})
    assert not missing, (
        f"registered reasoners without a contract test (a ReasonerContract subclass in tests/explain/): {', '.join(missing)}"
    )
    unknown = sorted({c.model for c in classes} - set(REASONERS))
    assert not unknown, f"contract tests of unregistered reasoners: {', '.join(unknown)}"


def test_each_name_loads_the_class_of_that_name() -> None:
    for name in REASONERS:
        assert get_reasoner_class(name).name == name
