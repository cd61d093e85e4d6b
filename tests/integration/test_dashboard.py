"""The dashboard in a real browser (Debian's Chromium, headless) against the demo year: the
figures on the page are the API's and the report's, a figure drills down to its cases and a
case to its timeline, the chain badge says what it checked, the language switches; the token
leaves the address and the history at once, lives in the tab only and goes at logout; a strict
Content-Security-Policy holds (no violation). Screenshots go to docs/screenshots/."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, async_playwright

from services.demo import year as demo_year
from services.infra.servers import free_port
from services.settings import Settings
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.integration.test_projections import caught_up, isolated  # noqa: F401 - a fixture
from tests.support import Service, eventually, healthy

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def figure(page: Page, name: str) -> str:
    return (await page.locator(f'[data-figure="{name}"]').inner_text()).strip()


async def test_the_dashboard_shows_the_report_s_figures_and_drills_down(
    isolated: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = isolated.model_copy(update={"query_port": free_port()})
    for name in ("decider", "projector", "query"):
        Service(name, settings, tmp_path).start()
    await demo_year.load(settings, lambda _: None)
    await caught_up(settings)
    url = f"http://127.0.0.1:{settings.query_port}"
    await asyncio.to_thread(eventually, lambda: healthy(url), 30, url)
    token = await make_token(settings, TokenRole.SUPERVISOR, [])
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        stats: dict[str, Any] = (await api.get("/statistics", params={"by": "case_type"})).json()
    petitions = next(r for r in stats["rows"] if r["case_type"] == "petition")

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 1400})
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
        )
        loaded = await page.goto(f"{url}/#token={token}")
        assert loaded is not None
        policy = loaded.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self';" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert loaded.headers["x-content-type-options"] == "nosniff"
        assert loaded.headers["referrer-policy"] == "no-referrer"
        await page.wait_for_selector('body[data-ready="#/"]')
        # The token left the address bar and this history entry at once, and lives in this
        # tab's sessionStorage only.
        assert token not in page.url
        assert page.url == f"{url}/#/"
        assert await page.evaluate("sessionStorage.getItem('casetrail.token')") == token
        assert await page.evaluate("Object.keys(localStorage)") in ([], ["lang"])
        # What the page shows is what the API computed, and what the report says.
        assert await figure(page, "petition-cases") == str(petitions["cases"]) == "276"
        assert await figure(page, "petition-persons") == "649"
        assert await figure(page, "petition-online") == "28"
        assert await figure(page, "petition-closure") == "99%"
        assert await figure(page, "petition-yoy") == "-9%"
        assert await figure(page, "petition-online-yoy") == "-78%"
        assert await figure(page, "mediation-cases") == "12"
        assert await figure(page, "mediation-agreed") == "12 (100%)"
        assert await figure(page, "mediation-amount") == "120.0"
        assert "大涌镇" in await page.title() or "案件督查" in await page.inner_text("h1")
        await page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

        # Drill down: the 28 online petitions behind the figure.
        await page.click('[data-figure="petition-online"]')
        await page.wait_for_selector('body[data-ready^="#/cases"]')
        await page.wait_for_function("document.querySelectorAll('#cases tr').length > 1")
        assert await page.locator("#cases tr").count() == 1 + 28
        await page.locator("#cases a").first.click()
        await page.wait_for_selector('body[data-ready^="#/case/"]')
        # The badge says what it checked, and what it did not.
        badge = await page.inner_text("#badge")
        assert "审计记录哈希链自洽" in badge
        assert "仅核对数据库" in badge
        assert "casetrail verify" in badge
        assert await page.locator("#timeline tr").count() >= 3
        await page.screenshot(path=str(SHOTS / "case.png"), full_page=True)

        # English, second.
        await page.click("#lang")
        # The click redraws the page: wait until the English one is drawn, not the old one.
        await page.wait_for_selector('html[lang="en"] body[data-ready^="#/case/"]')
        badge = await page.inner_text("#badge")
        assert "hash chain consistent (database only" in badge
        assert "run casetrail verify" in badge
        await page.goto(f"{url}/#/")
        await page.wait_for_selector('body[data-ready="#/"]')
        assert "Petitions" in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "overview-en.png"), full_page=True)

        # No entry of the tab's history holds the token (Chromium's own list, through CDP).
        cdp = await page.context.new_cdp_session(page)
        entries = [e["url"] for e in (await cdp.send("Page.getNavigationHistory"))["entries"]]
        assert f"{url}/#/" in entries
        assert len(entries) >= 4, entries  # the overview, the list, a case, the overview again
        assert all(token not in entry for entry in entries), entries

        # Logging out forgets the token: the page asks for one again.
        await page.goto(f"{url}/#/")
        await page.wait_for_selector('body[data-ready="#/"]')
        await page.click("#logout")
        await page.wait_for_selector('body[data-ready="token"]')
        assert await page.evaluate("sessionStorage.getItem('casetrail.token')") is None
        assert await page.locator("#logout").is_hidden()
        assert refused == [], refused
        await browser.close()
