"""The serving pipeline in-process: restarts replay stored events, live-only shoppers, sequence models, stale reasons."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

import pytest

from whyrec import recommendation
from whyrec.artifact import Artifact
from whyrec.config import RunConfig
from whyrec.data.sample import generate_sample
from whyrec.data.store import Store
from whyrec.explain.registry import make_reasoner
from whyrec.serve.pipeline import Pipeline


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small sample shop with a tiny SASRec and the template reasoner (the run config's default model family)."""
    folder = tmp_path_factory.mktemp("small")
    store = folder / "shop.sqlite"
    with Store(store) as db:
        db.write_dataset(generate_sample(seed=2, n_users=80, n_items=60))
        dataset = db.read_dataset()
    run = RunConfig(
        recommender="sasrec", reasoner="template", models={"sasrec": {"epochs": 3, "hidden": 16, "max_len": 20, "num_threads": 1}}
    )
    artifact = Artifact.train(dataset, run)
    artifact.reasoner = make_reasoner("template").fit(dataset)
    artifact.save(folder / "artifact")
    return folder / "artifact", store


@pytest.fixture()
def shop(small_shop: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy per test: pipelines write to the store and, on forget, to the artifact."""
    artifact, store = small_shop
    shutil.copytree(artifact, tmp_path / "artifact")
    shutil.copy(store, tmp_path / "shop.sqlite")
    return tmp_path / "artifact", tmp_path / "shop.sqlite"


def test_sequence_model_follows_new_events_and_a_restart_replays_them(shop: tuple[Path, Path]) -> None:
    artifact, store = shop
    pipeline = Pipeline.open(artifact, store)
    try:
        before = pipeline.recommend("U00004", 5)
        last = [e["item"] for e in before["items"][:2]]
        events = [{"user": "U00004", "item": i, "event": "purchase", "timestamp": 1_800_000_000 + n} for n, i in enumerate(last)]
        events.append({"user": "late-comer", "item": last[0], "event": "view", "timestamp": 1_800_000_005})
        assert pipeline.record_events(events)["observed"] == 3
        after = pipeline.recommend("U00004", 5)
        newcomer = pipeline.recommend("late-comer", 5)
    finally:
        pipeline.close()
    assert [e["item"] for e in after["items"]] != [e["item"] for e in before["items"]]
    assert not set(last) & {e["item"] for e in after["items"]}
    assert newcomer["known"] and not newcomer["fallback"]
    reopened = Pipeline.open(artifact, store)
    try:
        assert reopened.recommend("U00004", 5)["items"] == after["items"]
        again = reopened.recommend("late-comer", 5)
        assert again["known"] and [e["item"] for e in again["items"]] == [e["item"] for e in newcomer["items"]]
        assert reopened.model_info()["live"]["users_added"] == 1
    finally:
        reopened.close()


def test_reasons_are_written_outside_the_model_lock_and_their_attributions_redone_after_events(shop: tuple[Path, Path]) -> None:
    """While one shopper's reasons are being written (an LM takes about a second), others' profiles, feedback and
    events go on. A shopper's events leave their cached reasons (no reasoner reads live events) but not the
    recommender's attributions: reasons written across such an event are cached without them, and the next answer
    computes them again from the model that has folded the event in."""
    artifact, store = shop
    pipeline = Pipeline.open(artifact, store)
    reasoner = pipeline.reasons.reasoner
    items = pipeline.live.item_ids.raw

    def written_during(viewer: str, user: str = "U00004") -> dict:
        """`user`'s top-5, its reasons written while another thread reads a profile, records feedback and a view by
        `viewer`; that thread must finish while the reasoner is held."""
        inside, release = threading.Event(), threading.Event()

        def held(requests):
            inside.set()
            assert release.wait(60)
            return type(reasoner).generate(reasoner, requests)

        done: dict = {}

        def others() -> None:
            done["profile"] = pipeline.profile("U00010")
            done["feedback"] = pipeline.record_feedback("U00010", items[0], "like")
            done["events"] = pipeline.record_events([{"user": viewer, "item": items[len(done) + 1], "event": "view"}])

        reasoner.generate = held
        try:
            writer = threading.Thread(target=lambda: done.update(answer=pipeline.recommend(user, 5)))
            writer.start()
            assert inside.wait(60)
            side = threading.Thread(target=others)
            side.start()
            side.join(60)
            assert not side.is_alive() and done["events"]["stored"] == 1  # nobody waited on the reasoner
        finally:
            release.set()
            writer.join(60)
            del reasoner.generate
        assert all(e["reason"] for e in done["answer"]["items"]) and done["answer"]["reasons_cached"] == 0
        return done["answer"]

    def cached(answer: dict) -> dict:
        return Store(store, create=False).cached_reasons("U00004", [e["item"] for e in answer["items"]], pipeline.version)

    def weighed(attributions: list) -> list:
        """The attributions with their weights as pytest.approx: the served answer re-solves only its missing and stale
        items, in another batch than this re-solve of all five, so their sums can round apart in the sixth decimal
        (0.058102 / 0.058103 on an AVX2-only EPYC)."""
        return [
            {**a, "items": [{**i, "weight": pytest.approx(i["weight"], abs=1e-5)} for i in a["items"]],
             "aspects": [{**s, "weight": pytest.approx(s["weight"], abs=1e-5)} for s in a["aspects"]]}
            for a in attributions
        ]  # fmt: skip

    def credited(answer: dict) -> list:
        uid = pipeline.live.user_ids.get("U00004")
        dense = [pipeline.live.item_ids.get(e["item"]) for e in answer["items"]]
        return recommendation.attribution(pipeline.live.model, uid, dense, pipeline.facts)

    try:
        first = written_during("U00010")
        kept = cached(first)  # another shopper's view: kept whole
        assert {i: p["attribution"] for i, p in kept.items()} == {e["item"]: e["attribution"] for e in first["items"]}
        assert pipeline.recommend("U00004", 5)["reasons_cached"] == 5
        with Store(store, create=False) as db:
            db.drop_reasons([e["item"] for e in first["items"]])
        during = written_during("U00004")  # written while their own view is folded in
        assert {i: p["reason"]["text"] for i, p in cached(during).items()} == {e["item"]: e["reason"] for e in during["items"]}
        assert not any("attribution" in p for p in cached(during).values())  # the reasons kept, not what was credited
        again = pipeline.recommend("U00004", 5)
        assert again["reasons_cached"] == len({e["item"] for e in again["items"]} & {e["item"] for e in during["items"]})
        assert [e["attribution"] for e in again["items"]] == weighed(credited(again))
        assert [e["attribution"] for e in again["items"]] != [e["attribution"] for e in during["items"]]  # the view counts
        assert all("attribution" in p for p in cached(again).values())  # cached again with the attributions redone
        pipeline.record_events([{"user": "U00004", "item": items[9], "event": "view"}])
        after = pipeline.recommend("U00004", 5)
        assert after["reasons_cached"] >= 1 and [e["attribution"] for e in after["items"]] == weighed(credited(after))
        reasons = {e["item"]: e["reason"] for e in [*again["items"], *during["items"]]}
        assert all(reasons.get(e["item"], e["reason"]) == e["reason"] for e in after["items"])
    finally:
        pipeline.close()


def test_repeated_live_events_are_folded_in_as_the_store_keeps_them(shop: tuple[Path, Path]) -> None:
    artifact, store = shop
    pipeline = Pipeline.open(artifact, store)
    try:
        uid = pipeline.live.user_ids.get("U00005")
        view = {"user": "U00005", "item": "SKU00002", "event": "view", "timestamp": 1_800_000_000}
        cart = {"user": "U00005", "item": "SKU00003", "event": "cart", "timestamp": 1_800_000_001}
        first = pipeline.record_events([view, view, cart])  # a repeat inside the batch
        second = pipeline.record_events([view, cart])  # and the same batch sent again
        assert (first["stored"], first["observed"]) == (2, 2) and (second["stored"], second["observed"]) == (0, 0)
        live = pipeline.live.model.history(uid).tolist()
        answer = pipeline.recommend("U00005", 5)
    finally:
        pipeline.close()
    reopened = Pipeline.open(artifact, store)  # the restart rebuilds the sequence from the store
    try:
        assert reopened.live.model.history(uid).tolist() == live
        assert reopened.recommend("U00005", 5)["items"] == answer["items"]
    finally:
        reopened.close()


def test_forgetting_a_live_only_shopper_leaves_the_artifact_alone(shop: tuple[Path, Path]) -> None:
    artifact, store = shop
    untouched = folder_digest(artifact)
    pipeline = Pipeline.open(artifact, store)
    try:
        pipeline.record_events([{"user": "visitor-9", "item": "SKU00003", "event": "cart", "timestamp": 10}])
        assert pipeline.recommend("visitor-9", 3)["known"]
        answer = pipeline.forget("visitor-9")
        assert answer["removed"]["store"]["interactions"] == 1 and answer["removed"]["artifact_files"] == []
        assert pipeline.recommend("visitor-9", 3)["fallback"]
        assert "visitor-9" not in pipeline.users(1000)
    finally:
        pipeline.close()
    assert folder_digest(artifact) == untouched


def test_forgetting_a_trained_shopper_rewrites_the_artifact_consistently(shop: tuple[Path, Path]) -> None:
    artifact, store = shop
    before = Artifact.load(artifact)
    uid = before.user_ids.index("U00007")
    rows = int((before.interactions["user"] == uid).sum())
    pipeline = Pipeline.open(artifact, store)
    try:
        pipeline.forget("U00007")
    finally:
        pipeline.close()
    after = Artifact.load(artifact)
    assert "U00007" not in after.user_ids and len(after.user_ids) == len(before.user_ids)
    assert len(after.interactions) == len(before.interactions) - rows and not (after.interactions["user"] == uid).any()
    assert after.recommender.seen[uid].nnz == 0 and (after.recommender.latest[uid] == -1).all()
    assert uid not in after.reasoner.users
    # the split still indexes the same remaining rows
    kept = before.interactions[before.interactions["user"] != uid].reset_index(drop=True)
    for part in ("train", "valid", "test"):
        old = before.interactions.iloc[getattr(before.split, part)]
        new = after.interactions.iloc[getattr(after.split, part)]
        assert len(new) == int((old["user"] != uid).sum())
        assert new.reset_index(drop=True).equals(old[old["user"] != uid].reset_index(drop=True))
    assert len(kept) == len(after.interactions)
    # and the pipeline still opens and serves everyone else
    reopened = Pipeline.open(artifact, store)
    try:
        assert reopened.recommend("U00008", 3)["known"] and reopened.recommend("U00007", 3)["fallback"]
    finally:
        reopened.close()


def test_shop_facts_list_an_items_aspects_best_judged_first_and_praise_only_the_praised() -> None:
    """A real sample shop: an item's aspects by net sentiment (not by name), and `praised` keeps only those its reviews
    praise more than they fault — what the filters' retry may ask a reasoner to praise."""
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.serve.reasons import ShopFacts

    shop = generate_sample(seed=2, n_users=80, n_items=60)
    facts = ShopFacts.read(shop, shop.item_ids, AspectLexicon.build(shop.reviews["text"]))
    mixed = [i for i in range(shop.n_items) if len(set(facts.item_aspects[shop.item_ids.raw[i]].values())) > 1]
    assert mixed
    for item in mixed:
        judged = facts.item_aspects[shop.item_ids.raw[item]]
        listed = list(facts.aspects(item))
        assert sorted(listed) == sorted(judged) and [judged[f] for f in listed] == sorted(judged.values(), reverse=True)
        assert list(facts.praised(item)) == [f for f in listed if judged[f] > 0]
    assert any(len(facts.praised(i)) < len(facts.aspects(i)) for i in mixed)  # some aspects are faulted
    # an aspect that only names what the item is (its category's head word: "lid") is never one to praise
    lid = next(i for i in range(shop.n_items) if facts.catalog(i)["category"].endswith("Lids"))
    raw = shop.item_ids.raw[lid]
    facts.item_aspects[raw] = {**facts.item_aspects[raw], "glass lid": 1.0}
    assert "glass lid" in facts.aspects(lid) and "glass lid" not in facts.praised(lid)


def test_shop_facts_keep_the_adjectives_reviews_praised_each_aspect_with() -> None:
    """What a reasoner may word its praise with for an item whose reviews came after fitting: the adjectives of the
    store's positive mentions, most used first, none of a faulted mention, none that is not an adjective ("love")."""
    from whyrec.explain.aspects import AspectLexicon
    from whyrec.serve.reasons import ShopFacts

    shop = generate_sample(seed=2, n_users=80, n_items=60)
    texts = ["The bottle is pretty.", "Pretty bottle.", "The bottle is sturdy.", "I love the bottle."] * 3
    shop.reviews = shop.reviews.iloc[: len(texts) + 2].assign(text=[*texts, "The bottle is flimsy.", "A flimsy bottle."], item=0)
    facts = ShopFacts.read(shop, shop.item_ids, AspectLexicon(frozenset({"bottle"})))
    said = facts.praised_with(0)
    assert said == {"bottle": ["pretty", "sturdy"]}
    assert facts.praised_with(1) == {}
