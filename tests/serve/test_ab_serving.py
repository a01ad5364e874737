"""The A/B serving hook: the pipeline routes each user's arm to its reasoner and logs exposures to the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from whyrec.artifact import Artifact
from whyrec.config import Arm, Experiment, RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.errors import ConfigError
from whyrec.evaluate import ab
from whyrec.explain.base import Reason, ReasonRequest
from whyrec.explain.template import TemplateReasoner
from whyrec.serve.experiment import arm_of
from whyrec.serve.pipeline import Pipeline

EXPERIMENT = Experiment(name="reasons", arms={"template": Arm(reasoner="template"), "marked": Arm(reasoner="marked")})


class MarkedReasoner(TemplateReasoner):
    """The template's reasons, marked in their evidence, so a test can see which arm's reasoner wrote one."""

    name = "marked"

    def generate(self, requests: list[ReasonRequest]) -> list[Reason]:
        reasons = super().generate(requests)
        for r in reasons:
            r.evidence["marked"] = True
        return reasons


def _pipeline(folder: Path, experiment: Experiment) -> Pipeline:
    store_path = folder / "shop.sqlite"
    with Store(store_path) as db:
        db.write_dataset(generate_sample(seed=0, n_users=80, n_items=60))
        dataset = db.read_dataset(name="shop")
    artifact = Artifact.train(
        dataset, RunConfig(recommender="pop", reasoner="template", experiment=experiment), store=str(store_path)
    )
    artifact.reasoner = MarkedReasoner().fit(dataset)
    artifact.save(folder / "artifact")  # the pipeline rewrites artifact files only on forget; a folder must exist
    store = Store(store_path, create=False)
    pipeline = Pipeline(folder / "artifact", store_path, artifact, store)
    pipeline.load(store.read_dataset(name="shop"))
    return pipeline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    p = _pipeline(tmp_path_factory.mktemp("ab_serving"), EXPERIMENT)
    yield p
    p.close()


def test_each_user_gets_the_reasons_of_their_arm_and_an_exposure_per_response(pipeline: Pipeline) -> None:
    users = pipeline.users(40)
    arms = {}
    for user in users:
        response = pipeline.recommend(user, 5)
        arm = response["experiment"]["arm"]
        assert arm == arm_of(user, EXPERIMENT)
        arms[user] = arm
        marked = [bool(e["evidence"].get("marked")) for e in response["items"] if e["reason"] and e["reasoner"] == arm]
        assert marked and all(m == (arm == "marked") for m in marked)
    assert set(arms.values()) == {"template", "marked"}
    outcomes = pipeline._store().exposure_outcomes("reasons", EXPERIMENT.window_s)
    assert len(outcomes) == 5 * len(users)
    assert outcomes.groupby("request")["arm"].nunique().max() == 1
    assert (outcomes.groupby("request").size() == 5).all()


def test_cached_reasons_stay_with_their_arm(pipeline: Pipeline) -> None:
    user = pipeline.users(1)[0]
    first = pipeline.recommend(user, 5)
    again = pipeline.recommend(user, 5)
    assert again["reasons_cached"] == 5
    assert [e["reason"] for e in again["items"]] == [e["reason"] for e in first["items"]]


def test_unknown_users_are_routed_but_not_logged(pipeline: Pipeline) -> None:
    before = pipeline._store().counts()["users"]
    n_exposures = len(pipeline._store().exposure_outcomes("reasons", 1))
    response = pipeline.recommend("someone-new", 5)
    assert response["experiment"]["arm"] == arm_of("someone-new", EXPERIMENT)
    assert "request" not in response["experiment"]
    assert pipeline._store().counts()["users"] == before
    assert len(pipeline._store().exposure_outcomes("reasons", 1)) == n_exposures


def test_clicks_posted_to_the_pipeline_reach_the_report(pipeline: Pipeline) -> None:
    user = pipeline.users(3)[2]
    response = pipeline.recommend(user, 3)
    pipeline.record_events([{"user": user, "item": response["items"][0]["item"], "event": "click", "timestamp": None}])
    report = ab.report(pipeline._store(), "reasons")
    arm = response["experiment"]["arm"]
    assert report["arms"][arm]["ctr"]["count"] >= 1


def test_an_arm_the_server_cannot_serve_is_refused_at_start(tmp_path: Path) -> None:
    other = Experiment(name="recs", arms={"a": Arm(), "b": Arm(recommender="sasrec")})
    with pytest.raises(ConfigError, match="routes reasoners only"):
        _pipeline(tmp_path, other)
    missing = Experiment(name="lm", arms={"a": Arm(), "b": Arm(reasoner="prompt_lm")})
    with pytest.raises(ConfigError, match="'prompt_lm' is not loaded"):
        _pipeline(tmp_path / "2", missing)
