"""template: the shared contract, plus its own known answers on a small shop and on real reviews."""

from __future__ import annotations

from whyrec.explain.base import Reasoner
from whyrec.explain.template import TemplateReasoner

from .contract import ReasonerContract


class TestTemplateContract(ReasonerContract):
    def make(self) -> Reasoner:
        return TemplateReasoner()
