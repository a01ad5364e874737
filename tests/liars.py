"""A reasoner that only lies, for the served-reason contract: every reason it writes must be kept from shoppers."""

from __future__ import annotations

from whyrec.explain.base import Reason, ReasonRequest
from whyrec.explain.template import TemplateReasoner

UNGROUNDED = "You will love the zorblax of this one."  # an aspect no item has
UNSAFE = "Only $1 today, and it cures headaches."  # an unbacked price and a medical claim


class Liar(TemplateReasoner):
    """The template's fitted state and persistence, but every reason is ungrounded (even items) or unsafe (odd)."""

    name = "liar"

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        return [
            Reason(r.user, r.item, UNGROUNDED, ["zorblax"]) if r.item % 2 == 0 else Reason(r.user, r.item, UNSAFE, [])
            for r in requests
        ]
