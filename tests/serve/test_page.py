"""The web page end to end in real headless Chromium (Debian's, driven by Playwright) against a real server."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from .server import API_KEY, Server

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"
SHOPPER = "U00100"


def test_pick_a_shopper_see_why_and_give_feedback(server: Server, chromium: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    shot = SCREENSHOTS / "serve_page.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page_errors: list[str] = []
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.goto(server.url + "/app")
            # pick a shopper the way a person does: type the id and press the button
            page.fill("#user", SHOPPER)
            page.click("#pick button[type=submit]")
            cards = page.locator("#reclist .card")
            expect(cards).to_have_count(10)
            expect(page).to_have_url(re.compile(rf"\?user={SHOPPER}$"))
            expect(page.locator("#fallback")).to_be_hidden()

            # reasons with their aspects highlighted, each linked to its evidence
            linked = page.locator(".card", has=page.locator(".reason a.aspect")).first
            aspect = linked.locator(".reason a.aspect").first
            name = aspect.inner_text().lower()
            assert name in linked.locator(".reason").inner_text().lower()
            aspect.click()
            expect(linked.locator("details.evidence")).to_have_attribute("open", "")
            expect(linked.locator("details.evidence li.target")).to_contain_text(name)
            # "because you bought" from the recommender's attribution
            expect(page.locator(".card .because", has_text="Because you bought or viewed").first).to_be_visible()
            # the history x recommendations heatmap, drawn from the same attribution the API returned
            expect(page.locator("#heatmap table.heatmap td[data-weight]").first).to_be_visible()
            assert page.locator("#heatmap table.heatmap tr").first.locator("th").count() == 11  # corner + 10 items
            # the interest profile as a chart, with categories
            expect(page.locator("#profile-chart svg rect.bar").first).to_be_visible()
            assert page.locator("#profile-chart svg rect.bar").count() >= 3
            expect(page.locator("#categories li").first).to_contain_text("%")
            page.screenshot(path=str(shot), full_page=True)

            # feedback needs the API key; like marks the card, not-for-me removes it, and the list refreshes
            page.click("#keybox summary")
            page.fill("#apikey", API_KEY)
            page.press("#apikey", "Tab")
            liked = cards.nth(1).get_attribute("data-item")
            dismissed = cards.nth(0).get_attribute("data-item")
            cards.nth(1).locator(".like").click()
            expect(page.locator(f'.card[data-item="{liked}"]')).to_have_class(re.compile(r"\bliked\b"))
            page.locator(f'.card[data-item="{dismissed}"] .nope').click()
            expect(page.locator(f'.card[data-item="{dismissed}"]')).to_have_count(0)
            expect(cards).to_have_count(10)
            expect(page.locator("#status")).to_have_text("")

            # a shopper the shop has never seen: popular picks, flagged, and an empty profile (its API answer is 404)
            page.fill("#user", "first-visit-shopper")
            page.click("#pick button[type=submit]")
            expect(page.locator("#fallback")).to_be_visible()
            expect(cards).to_have_count(10)
            expect(page.locator("#profile-chart")).to_have_text("No reviewed aspects yet.")
            expect(page.locator("#status")).to_have_text("")
            assert not page_errors, page_errors
        finally:
            browser.close()
    with sqlite3.connect(server.store) as db:
        rows = db.execute(
            "SELECT i.raw, f.event FROM feedback f JOIN users u ON u.id = f.user JOIN items i ON i.id = f.item WHERE u.raw = ?",
            (SHOPPER,),
        ).fetchall()
    assert sorted(rows) == sorted([(liked, "like"), (dismissed, "dismiss")])
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")
