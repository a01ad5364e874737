"""The HTTP API through a real `whyrec serve` process on loopback, over the trained sample shop."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from whyrec.serve.app import ServeSettings, create_app

from .server import API_KEY, Server, start_server, stop

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert PROBLEM_KEYS <= body.keys() and body["status"] == status
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


def items_of(body: dict) -> list[str]:
    return [e["item"] for e in body["items"]]


def test_health_model_and_openapi(server: Server) -> None:
    with server.client(None) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        model = c.get("/v1/model").json()
        assert model["recommender"] == "mf" and model["reasoner"] == "template"
        assert {"hr@10", "ndcg@10"} <= model["metrics"]["ranking"].keys()
        assert model["dataset"]["users"] == 400
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/v1/events", "/v1/feedback", "/v1/users/{user_id}/recommendations", "/v1/items/{item_id}"} <= paths.keys()
        assert c.get("/docs").status_code == 200


def test_recommendations_carry_grounded_reasons_evidence_and_attribution(server: Server) -> None:
    with server.client(None) as c:
        body = c.get("/v1/users/U00010/recommendations", params={"k": 8}).json()
    assert body["user"] == "U00010" and body["known"] and not body["fallback"]
    assert len(body["items"]) == 8
    scores = [e["score"] for e in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert all(e["title"] and e["category"] for e in body["items"])
    reasons = [e for e in body["items"] if e["reason"]]
    assert len(reasons) >= 6, "nearly every item gets a reason that passed the filters"
    for e in reasons:
        assert not e["flags"]
        # grounded: every aspect the reason names is one the evidence verified the item has, and it is in the text
        assert set(e["aspects"]) <= set(e["evidence"]["item_aspects"])
        assert all(a in e["reason"].lower() for a in e["aspects"])
    assert any(e["aspects"] for e in reasons), "some reasons name an aspect"
    attributed = [e for e in body["items"] if e["attribution"]["items"]]
    assert attributed, "known users get 'because you bought' items"
    for e in attributed:
        assert e["attribution"]["method"] == "occlusion"
        weights = [a["weight"] for a in e["attribution"]["items"]]
        assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
        assert all(a["title"] for a in e["attribution"]["items"])


def test_reasons_are_cached_per_user_and_item(server: Server) -> None:
    with server.client(None) as c:
        first = c.get("/v1/users/U00011/recommendations", params={"k": 5}).json()
        again = c.get("/v1/users/U00011/recommendations", params={"k": 5}).json()
    assert first["reasons_cached"] == 0 and again["reasons_cached"] == 5
    assert first["items"] == again["items"]
    with sqlite3.connect(server.store) as db:
        n = db.execute("SELECT count(*) FROM reason_cache c JOIN users u ON u.id = c.user WHERE u.raw = 'U00011'").fetchone()[0]
    assert n == 5


def test_unknown_user_gets_popular_items_flagged(server: Server) -> None:
    with server.client(None) as c:
        body = c.get("/v1/users/never-seen-before/recommendations", params={"k": 5}).json()
        profile = c.get("/v1/users/never-seen-before/profile")
    assert body["fallback"] is True and body["known"] is False and len(body["items"]) == 5
    assert all(e["attribution"] == {"method": "none", "items": [], "aspects": []} for e in body["items"])
    assert_problem(profile, 404)


def test_events_change_the_next_recommendation_without_retraining(server: Server) -> None:
    with server.client() as c:
        before = c.get("/v1/users/U00020/recommendations", params={"k": 10}).json()
        assert before["reasons_cached"] == 0
        cached = c.get("/v1/users/U00020/recommendations", params={"k": 10}).json()
        assert cached["reasons_cached"] == 10
        # the shopper buys the first three of their recommendations
        bought = items_of(before)[:3]
        events = [
            {"user": "U00020", "item": i, "event": "purchase", "timestamp": 1_800_000_000 + n} for n, i in enumerate(bought)
        ]
        answer = c.post("/v1/events", json={"events": events}).json()
        assert answer == {"received": 3, "stored": 3, "observed": 3, "new_users": 0, "items_not_in_model": []}
        after = c.get("/v1/users/U00020/recommendations", params={"k": 10}).json()
    assert not set(bought) & set(items_of(after)), "bought items are no longer recommended"
    old_scores = {e["item"]: e["score"] for e in before["items"]}
    old = {e["item"]: e["reason"] for e in before["items"]}
    common = [e for e in after["items"] if e["item"] in old_scores]
    assert common and all(e["score"] != old_scores[e["item"]] for e in common), "the user's factors were re-solved"
    # their reasons are kept (no reasoner reads live events), the recommender's credit computed again
    assert after["reasons_cached"] == len(common) and all(e["reason"] == old[e["item"]] for e in common)


def test_new_shopper_posting_events_gets_personal_recommendations(server: Server) -> None:
    with server.client() as c:
        cold = c.get("/v1/users/walk-in-7/recommendations", params={"k": 10}).json()
        assert cold["fallback"]
        # copy a real shopper's history: the new one should be recommended like them, not like everyone
        twin = [e for e in c.get("/v1/users/U00030/profile").json()["recent_items"]]
        events = [
            {"user": "walk-in-7", "item": e["item"], "event": "purchase", "timestamp": 1_800_000_100 + n}
            for n, e in enumerate(twin)
        ]
        answer = c.post("/v1/events", json={"events": events}).json()
        assert answer["new_users"] == 1 and answer["observed"] == len(events)
        warm = c.get("/v1/users/walk-in-7/recommendations", params={"k": 10}).json()
        profile = c.get("/v1/users/walk-in-7/profile").json()
    assert warm["known"] and not warm["fallback"]
    assert items_of(warm) != items_of(cold)
    assert not {e["item"] for e in twin} & set(items_of(warm))
    assert profile["user"] == "walk-in-7" and profile["categories"]
    assert any(e["attribution"]["items"] for e in warm["items"])


def test_events_on_unknown_items_are_stored_and_reported(server: Server) -> None:
    with server.client() as c:
        answer = c.post(
            "/v1/events", json={"events": [{"user": "U00040", "item": "SKU-NEW-1", "event": "view", "timestamp": 5}]}
        ).json()
    assert answer["stored"] == 1 and answer["observed"] == 0 and answer["items_not_in_model"] == ["SKU-NEW-1"]


def test_writes_need_the_right_key(server: Server) -> None:
    event = {"events": [{"user": "U00050", "item": "SKU00001", "event": "view", "timestamp": 7}]}
    with server.client(None) as c:
        assert_problem(c.post("/v1/events", json=event), 401)
        assert c.post("/v1/events", json=event, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/events", json=event, headers={"Authorization": f"Basic {API_KEY}"}).status_code == 401
        assert_problem(c.delete("/v1/users/U00050"), 401)
        assert_problem(c.put("/v1/items/SKU00001", json={"title": "x"}), 401)
        assert c.post("/v1/events", json=event, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


def test_an_unauthenticated_write_is_refused_before_its_body_is_read(server: Server) -> None:
    with server.client(None) as c:
        assert_problem(c.post("/v1/events", content=b"{not json", headers={"content-type": "application/json"}), 401)
        assert_problem(c.post("/v1/events", json={"events": "not a list"}), 401)
        assert_problem(c.put("/v1/items/SKU00001", json={"price": "free"}, headers={"Authorization": "Bearer wrong"}), 401)
    with server.client() as c:  # with the key, the same body is what is wrong
        assert_problem(c.post("/v1/events", content=b"{not json", headers={"content-type": "application/json"}), 422)


def test_without_a_configured_key_every_write_is_refused(shop_files: tuple[Path, Path], tmp_path: Path) -> None:
    artifact, store = shop_files
    keyless = start_server(artifact, store, tmp_path / "keyless.log", api_key=None)
    try:
        with keyless.client(API_KEY) as c:
            body = assert_problem(c.post("/v1/feedback", json={"user": "U00051", "item": "SKU00001", "kind": "like"}), 403)
            assert "WHYREC_API_KEY" in body["detail"]
            assert_problem(c.delete("/v1/users/U00051"), 403)
            assert_problem(c.post("/v1/events", content=b"[", headers={"content-type": "application/json"}), 403)
            assert c.get("/v1/users/U00051/recommendations").status_code == 200, "reads stay open"
    finally:
        stop(keyless)


def test_invalid_input_is_a_422_problem(server: Server) -> None:
    with server.client() as c:
        assert_problem(c.post("/v1/events", json={"events": [{"user": "u", "item": "i", "event": "teleport"}]}), 422)
        assert_problem(c.post("/v1/events", json={"events": [{"user": "u", "item": "i", "event": "rating"}]}), 422)
        assert_problem(c.post("/v1/events", json={"events": []}), 422)
        assert_problem(c.post("/v1/events", json={"events": [{"user": "u", "item": "i", "event": "view", "extra": 1}]}), 422)
        assert_problem(c.post("/v1/events", content=b"{not json", headers={"content-type": "application/json"}), 422)
        assert_problem(c.get("/v1/users/U00001/recommendations", params={"k": 0}), 422)
        assert_problem(c.put("/v1/items/SKU00001", json={"title": "", "price": -1}), 422)
        # JSON true/false is not a number (schemathesis found these accepted as 1/0); 5.0 is an integer
        ok = c.post("/v1/events", json={"events": [{"user": "U00090", "item": "SKU00001", "event": "view", "timestamp": 5.0}]})
        assert ok.status_code == 200 and ok.json()["stored"] == 1
        assert_problem(
            c.post("/v1/events", json={"events": [{"user": "u", "item": "i", "event": "view", "timestamp": False}]}), 422
        )
        assert_problem(c.put("/v1/items/SKU00001", json={"title": "t", "price": True}), 422)
        assert_problem(c.post("/v1/feedback", content=b"\x1dvCZf\xff", headers={"content-type": "application/json"}), 400)
        assert_problem(c.post("/v1/feedback", json={"user": "U00001", "item": "SKU00001", "kind": "love"}), 422)
        assert_problem(c.post("/v1/feedback", json={"user": "U00001", "item": "no-such-item", "kind": "like"}), 404)
        assert_problem(c.get("/v1/nothing-here"), 404)


def test_oversized_bodies_get_413(server: Server) -> None:
    big = b'{"events": [' + b" " * 1_100_000 + b"]}"
    with server.client() as c:
        assert_problem(c.post("/v1/events", content=big, headers={"content-type": "application/json"}), 413)
        chunked = iter([big[:500_000], big[500_000:]])  # no Content-Length: the server counts what arrives
        assert_problem(c.post("/v1/events", content=chunked, headers={"content-type": "application/json"}), 413)


def test_an_internal_error_is_a_problem_without_traceback(shop_files: tuple[Path, Path]) -> None:
    artifact, store = shop_files
    app = create_app(artifact, store, ServeSettings(api_key=API_KEY))
    with TestClient(app, raise_server_exceptions=False) as c:

        def broken(user: str, k: int) -> dict:
            raise RuntimeError("secret internal detail /etc/passwd")

        app.state.pipeline.recommend = broken
        response = c.get("/v1/users/U00001/recommendations")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["detail"] == "the server could not complete the request"


def test_catalog_upsert_updates_titles_and_reasons(server: Server) -> None:
    with server.client() as c:
        before = c.get("/v1/users/U00060/recommendations", params={"k": 3}).json()
        item = before["items"][0]["item"]
        put = c.put(
            f"/v1/items/{item}", json={"title": "Renamed Jacket", "category": "Outdoor > Jackets > Rain", "price": 99.5}
        ).json()
        assert put == {"item": item, "created": False, "in_model": True}
        after = c.get("/v1/users/U00060/recommendations", params={"k": 3}).json()
        new = c.put("/v1/items/SKU-BRAND-NEW", json={"title": "A new product"}).json()
    assert after["items"][0]["title"] == "Renamed Jacket" and after["items"][0]["price"] == 99.5
    assert after["reasons_cached"] == 2, "only the changed item's reason was regenerated"
    assert new == {"item": "SKU-BRAND-NEW", "created": True, "in_model": False}


def test_feedback_is_stored_and_dismissed_items_leave_the_list(server: Server) -> None:
    with server.client() as c:
        before = items_of(c.get("/v1/users/U00070/recommendations", params={"k": 5}).json())
        c.post("/v1/feedback", json={"user": "U00070", "item": before[0], "kind": "dismiss"}).raise_for_status()
        c.post("/v1/feedback", json={"user": "U00070", "item": before[1], "kind": "like"}).raise_for_status()
        after = c.get("/v1/users/U00070/recommendations", params={"k": 5}).json()
    assert before[0] not in items_of(after) and len(after["items"]) == 5
    assert {e["item"]: e["feedback"] for e in after["items"]}[before[1]] == "like"
    with sqlite3.connect(server.store) as db:
        rows = db.execute(
            "SELECT i.raw, f.event FROM feedback f JOIN users u ON u.id = f.user JOIN items i ON i.id = f.item WHERE u.raw = 'U00070'"
        ).fetchall()
    assert sorted(rows) == sorted([(before[0], "dismiss"), (before[1], "like")])


def test_clear_undoes_a_like_or_a_dismiss(server: Server) -> None:
    with server.client() as c:
        before = items_of(c.get("/v1/users/U00071/recommendations", params={"k": 5}).json())
        for kind in ("dismiss", "like"):
            c.post("/v1/feedback", json={"user": "U00071", "item": before[0], "kind": kind}).raise_for_status()
        c.post("/v1/feedback", json={"user": "U00071", "item": before[1], "kind": "dismiss"}).raise_for_status()
        assert before[1] not in items_of(c.get("/v1/users/U00071/recommendations", params={"k": 5}).json())
        for item in before[:2]:
            c.post("/v1/feedback", json={"user": "U00071", "item": item, "kind": "clear"}).raise_for_status()
        after = c.get("/v1/users/U00071/recommendations", params={"k": 5}).json()
    assert items_of(after) == before, "both are back where they were"
    assert all(e["feedback"] is None for e in after["items"])


def test_the_page_token_is_for_a_local_page_and_for_feedback_only(server: Server) -> None:
    token_re = re.compile(r'<meta name="whyrec-page-token" content="([^"]+)">')
    local = httpx.get(server.url + "/app")
    assert local.headers["cache-control"] == "no-store"
    [token] = token_re.findall(local.text)
    # A page reached by another name (a LAN address, or a DNS-rebinding site resolving to 127.0.0.1) gets none.
    assert not token_re.search(httpx.get(server.url + "/app", headers={"Host": "shop.example:8000"}).text)
    with server.client(token) as c:
        c.post("/v1/feedback", json={"user": "U00072", "item": "SKU00001", "kind": "like"}).raise_for_status()
        event = {"events": [{"user": "U00072", "item": "SKU00001", "event": "view"}]}
        assert_problem(c.post("/v1/events", json=event), 401)
        assert_problem(c.delete("/v1/users/U00072"), 401)
        assert_problem(c.put("/v1/items/SKU00001", json={"title": "x"}), 401)
    assert httpx.get(server.url + "/favicon.ico").headers["content-type"].startswith("image/svg+xml")


def test_concurrent_posts_store_every_event_exactly_once(server: Server) -> None:
    threads, posts, per_post = 12, 10, 5
    errors: list[str] = []

    def worker(t: int) -> None:
        with server.client() as c:
            for p in range(posts):
                events = [
                    {
                        "user": f"crowd-{t}",
                        "item": f"SKU{(t * 7 + p * per_post + e) % 300:05d}",
                        "event": "view",
                        "timestamp": 1_900_000_000 + p * per_post + e,
                    }
                    for e in range(per_post)
                ]
                # every batch is posted twice, from two threads' worth of timing: repeats must not double-count
                for _ in range(2):
                    r = c.post("/v1/events", json={"events": events})
                    if r.status_code != 200:
                        errors.append(r.text)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    with sqlite3.connect(server.store) as db:
        stored = db.execute(
            "SELECT count(*) FROM interactions x JOIN users u ON u.id = x.user WHERE u.raw LIKE 'crowd-%'"
        ).fetchone()[0]
        distinct = db.execute(
            "SELECT count(*) FROM (SELECT DISTINCT x.user, x.item, x.timestamp, x.event FROM interactions x "
            "JOIN users u ON u.id = x.user WHERE u.raw LIKE 'crowd-%')"
        ).fetchone()[0]
    assert stored == distinct == threads * posts * per_post
    with server.client(None) as c:
        assert c.get("/v1/users/crowd-3/recommendations").json()["known"]


def _mentions(raw: str, data: bytes) -> bool:
    """Whether the raw id occurs as a whole id (not inside another, as U00007 is inside SKU00007)."""
    return re.search(rb"(?<![A-Za-z0-9])" + re.escape(raw.encode()) + rb"(?![0-9A-Za-z])", data) is not None


def test_forget_removes_the_user_from_store_model_and_artifact(server: Server) -> None:
    with sqlite3.connect(server.store) as db:
        [(user,)] = db.execute(
            "SELECT u.raw FROM users u JOIN reviews r ON r.user = u.id WHERE u.raw LIKE 'U%' GROUP BY u.id ORDER BY count(*) DESC, u.raw LIMIT 1"
        ).fetchall()
        texts = [t for (t,) in db.execute("SELECT text FROM reviews r JOIN users u ON u.id = r.user WHERE u.raw = ?", (user,))]
        # the sample's reviews are generated: look for the texts nobody else wrote word for word
        own = [t for t in texts if db.execute("SELECT count(*) FROM reviews WHERE text = ?", (t,)).fetchone()[0] == 1]
    assert own
    with server.client() as c:
        c.get(f"/v1/users/{user}/recommendations").raise_for_status()  # fill the reason cache
        c.post("/v1/feedback", json={"user": user, "item": "SKU00002", "kind": "like"}).raise_for_status()
        assert _mentions(user, server.artifact.joinpath("users.txt").read_bytes())
        answer = c.delete(f"/v1/users/{user}").json()
        removed = answer["removed"]
        assert removed["store"]["users"] == 1 and removed["store"]["reviews"] == len(texts) >= 1
        assert removed["store"]["interactions"] > 0 and removed["store"]["reason_cache"] > 0 and removed["store"]["feedback"] == 1
        assert removed["live_model"] is True and "users.txt" in removed["artifact_files"]
        assert any("recommender 'mf'" in r for r in answer["retrain_to_forget_fully"])
        assert c.get(f"/v1/users/{user}/recommendations").json()["fallback"] is True
        assert_problem(c.get(f"/v1/users/{user}/profile"), 404)
        assert_problem(c.delete(f"/v1/users/{user}"), 404)
        assert user not in c.get("/v1/users", params={"limit": 1000}).json()["users"]
    with sqlite3.connect(server.store) as db:
        dump = "\n".join(db.iterdump()).encode()
    assert not _mentions(user, dump), "the user is nowhere in the store's SQL dump"
    for path in [server.store, *server.store.parent.glob(server.store.name + "-*")]:
        raw = path.read_bytes()
        assert not _mentions(user, raw), f"{path.name} still holds the raw id"
        assert not any(t.encode() in raw for t in own), f"{path.name} still holds one of their review texts"
    for path in server.artifact.rglob("*"):
        if path.is_file():
            assert not _mentions(user, path.read_bytes()), f"{path.relative_to(server.artifact)} still names the user"


def test_a_forget_beside_an_open_reader_stalls_nothing_and_is_scrubbed_when_the_reader_closes(server: Server) -> None:
    with sqlite3.connect(server.store) as db:
        [(user,)] = db.execute(
            "SELECT u.raw FROM users u JOIN reviews r ON r.user = u.id WHERE u.raw LIKE 'U%' GROUP BY u.id ORDER BY u.raw DESC LIMIT 1"
        ).fetchall()
    reader = sqlite3.connect(server.store, isolation_level=None)  # another process's `whyrec stats`, say
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM interactions").fetchone()  # holds its snapshot until COMMIT
    try:
        with server.client() as c:
            c.post("/v1/events", json={"events": [{"user": user, "item": "SKU00003", "event": "view"}]}).raise_for_status()
            answers: dict[str, float] = {}

            def timed_recommendations() -> None:
                started = time.monotonic()
                c.get("/v1/users/U00009/recommendations").raise_for_status()
                answers["other"] = time.monotonic() - started

            started = time.monotonic()
            other = threading.Thread(target=timed_recommendations)
            other.start()
            answer = c.delete(f"/v1/users/{user}").json()
            answers["delete"] = time.monotonic() - started
            other.join()
            assert answer["scrub"].startswith("pending, ") and answer["scrub"].endswith(" readers"), answer["scrub"]
            assert answers["delete"] < 10 and answers["other"] < 10, answers  # not the 30 s busy timeout
            assert c.get("/v1/model").json()["scrub"].startswith("pending")
            assert c.get(f"/v1/users/{user}/recommendations").json()["fallback"] is True, "the model forgot at once"
    finally:
        reader.execute("COMMIT")
        reader.close()
    with server.client() as c:
        deadline = time.monotonic() + 30
        while c.get("/v1/model").json()["scrub"] != "scrubbed":
            assert time.monotonic() < deadline, "the scrub did not finish after the reader closed"
            time.sleep(0.1)
    for path in [server.store, *server.store.parent.glob(server.store.name + "-*"), *server.artifact.rglob("*")]:
        if path.is_file():
            assert not _mentions(user, path.read_bytes()), f"{path.name} still holds the raw id"
