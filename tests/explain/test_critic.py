"""The critic: it tells real review statements from a generator's reasons, and saves as plain arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from whyrec.data.loaders import load
from whyrec.embeddings import embed_texts
from whyrec.errors import ArtifactError, DataError
from whyrec.explain.base import ReasonRequest
from whyrec.explain.critic import Critic
from whyrec.explain.targets import explanation_examples
from whyrec.explain.template import TemplateReasoner


@pytest.fixture(scope="module")
def texts(datasets_dir: Path) -> tuple[list[str], list[str]]:
    """Gift Cards' positive review statements, and the template's reasons for the same (user, item) pairs."""
    shop = load("amazon", [datasets_dir / "amazon2018-gift-cards" / "Gift_Cards_5.json.gz"], on_error="skip").dataset
    template = TemplateReasoner().fit(shop)
    examples = explanation_examples(shop, template.lexicon)
    examples = examples[examples["sentiment"] > 0].iloc[:300]
    requests = [ReasonRequest(int(u), int(i)) for u, i in examples[["user", "item"]].itertuples(index=False)]
    return list(examples["explanation"]), [r.text for r in template.generate(requests)]


def test_the_critic_tells_review_statements_from_template_sentences(texts: tuple[list[str], list[str]], tmp_path: Path) -> None:
    real, generated = texts
    critic = Critic.fit(real, generated, embed_texts)
    assert critic.auc > 0.9  # the template's few patterns are easy to tell from people's sentences
    scores = critic.score(["This card was easy to use and arrived quickly.", generated[0]], embed_texts)
    assert scores[0] > scores[1]
    again = Critic.load(critic.save(tmp_path / "critic.npz"))
    np.testing.assert_allclose(again.score(generated[:5], embed_texts), critic.score(generated[:5], embed_texts), rtol=1e-6)


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="at least 10"):
        Critic.fit(["a"] * 3, ["b"] * 30, embed_texts)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match=r"bad\.npz"):
        Critic.load(tmp_path / "bad.npz")
