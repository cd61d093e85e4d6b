"""The dashboard in a real browser (Debian's Chromium, headless) against the demo year: the
figures on the page are the API's and the report's, a figure drills down to its cases and a
case to its timeline, the chain badge says what it checked, the language switches; statuses,
steps and coded values show by their labels (GET /labels), each step with its content as the
role may see it, officers by name; the search and the filters find cases; the token leaves the
address and the history at once, lives in the tab only and goes at logout; a strict
Content-Security-Policy holds (no violation). Screenshots go to docs/screenshots/."""

import asyncio
import csv
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from playwright.async_api import Page, async_playwright
from pypdf import PdfReader

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


def half(title: str, lang: str = "zh") -> str:
    """One half of a "中文 / English" label, as the page shows it."""
    chinese, _, english = title.partition(" / ")
    return chinese if lang == "zh" else english


async def texts(page: Page, selector: str) -> list[str]:
    return [text.strip() for text in await page.locator(selector).all_inner_texts()]


async def downloaded(page: Page, button: str, name: str) -> bytes:
    """What clicking a download button saves, under the name the server gave (which
    begins with ``name``)."""
    async with page.expect_download() as caught:
        await page.click(button)
    download = await caught.value
    assert download.suggested_filename.startswith(name), download.suggested_filename
    saved = await download.path()
    return await asyncio.to_thread(Path(saved).read_bytes)


def rendered(pdf: bytes, png: Path) -> None:
    """The case file's first page as a picture for the README, where poppler is installed."""
    if shutil.which("pdftoppm") is None:
        return
    source = png.with_suffix(".pdf")
    source.write_bytes(pdf)
    try:
        subprocess.run(
            [
                "pdftoppm",
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                source,
                png.with_suffix(""),
            ],
            check=True,
        )
    finally:
        source.unlink()


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
        labels: dict[str, Any] = (await api.get("/labels")).json()
        names = {o["officer_id"]: o["name"] for o in (await api.get("/officers")).json()}
        online = (
            await api.get(
                "/cases",
                params={"case_type": "petition", "channel": "online", "limit": 500},
            )
        ).json()["cases"]
        histories = {
            c["case_id"]: (await api.get(f"/cases/{c['case_id']}/history")).json() for c in online
        }
        decided = (await api.get("/cases", params={"q": "大涌执法罚〔2020〕4号"})).json()["cases"]
    petitions = next(r for r in stats["rows"] if r["case_type"] == "petition")
    linked = next(
        (body["case_id"], body["payload"]["other_case_id"])
        for body in demo_year.submissions()
        if body["type"] == "case.link" and body["case_id"].startswith("ZF-2020-")
    )
    assert [c["case_id"] for c in decided] == ["ZF-2020-0004"]

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
        # 按期办结率 beside it: 263 of the 267 closed (the demo answers 4 past their 60 days).
        assert await figure(page, "petition-on-time") == "98.5%"
        assert await figure(page, "petition-yoy") == "-9%"
        assert await figure(page, "petition-online-yoy") == "-78%"
        assert await figure(page, "mediation-cases") == "12"
        assert await figure(page, "mediation-agreed") == "12 (100%)"
        assert await figure(page, "mediation-amount") == "120.0"
        assert await figure(page, "mediation-supervision") == "3/4 (75%)"  # 督办按时反馈
        assert "大涌镇" in await page.title() or "案件督查" in await page.inner_text("h1")
        # Every case type by its label from the lifecycle tables, none by its code.
        titles = await texts(page, ".card[data-type] h2")
        assert sorted(titles) == sorted(half(title) for title in labels["case_types"].values())
        assert await page.locator(".raw").count() == 0
        await page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

        # The statistics view saved as a workbook: a sheet per breakdown it is drawn from, the
        # figures the API computed (and the report's), under Chinese headers and labels.
        book = openpyxl.load_workbook(
            io.BytesIO(await downloaded(page, "#stats-xlsx", "统计-2020.xlsx"))
        )
        assert book.sheetnames == ["按案件类型", "按案件类型、渠道", "按案件类型、月份", "说明"]
        table: list[tuple[Any, ...]] = list(book["按案件类型"].iter_rows(values_only=True))
        header = [str(h) for h in table[0]]
        sheet_rows = {str(row[0]): dict(zip(header, row, strict=True)) for row in table[1:]}
        for row in stats["rows"]:
            saved = sheet_rows[half(labels["case_types"][row["case_type"]])]
            assert saved["登记宗数"] == int(row["cases"])
            assert saved["办结宗数"] == int(row["closed"])
            assert saved["人次"] == int(row["persons"])
            assert saved["涉案金额（元）"] * 100 == float(row["amount_in_dispute_fen"])
            assert round(saved["办结率"] or 0, 4) == round(float(row["closure_rate"] or 0), 4)
        assert sheet_rows["信访"]["登记宗数"] == 276
        assert sheet_rows["信访"]["人次"] == 649
        assert sheet_rows["人民调解"]["涉案金额（元）"] == 1_200_000

        # Drill down: the 28 online petitions behind the figure.
        await page.click('[data-figure="petition-online"]')
        await page.wait_for_selector('body[data-ready^="#/cases"]')
        await page.wait_for_function("document.querySelectorAll('#cases tr').length > 1")
        assert await page.locator("#cases tr").count() == 1 + 28
        # Statuses and channels by their Chinese labels, never the codes.
        petition_statuses = {half(title) for title in labels["statuses"]["petition"].values()}
        shown = await texts(page, "#cases td.status")
        assert len(shown) == 28
        assert set(shown) <= petition_statuses, set(shown) - petition_statuses
        assert await page.locator("#cases .raw").count() == 0
        first = (await page.locator("#cases a").first.inner_text()).strip()
        await page.locator("#cases a").first.click()
        await page.wait_for_selector('body[data-ready^="#/case/"]')
        # The case in the officials' words: its status, each step by its label with what was
        # done (masked for this supervisor: the petitioners are ***), officers by name.
        case = next(c for c in online if c["case_id"] == first)
        status = half(labels["statuses"]["petition"][case["status"]])
        assert (await page.inner_text("#case-status")).strip() == status
        history = histories[first]
        steps = await texts(page, "#timeline td.step")
        assert steps == [half(labels["events"][e["type"]]) for e in history]
        assert steps[0] == "登记"
        registered = await page.locator(
            "#timeline tr[data-event='petition.registered']"
        ).inner_text()
        assert "信访渠道" in registered
        assert "网上信访" in registered
        assert history[0]["payload"]["summary"] in registered
        assert "信访人" in registered
        assert "***" in registered
        assert history[0]["payload"]["petitioners"][0]["name"] == "***"
        timeline = await page.inner_text("#timeline")
        assert "王芳" in timeline
        assert all(names[e["actor"]["officer_id"]] in timeline for e in history)
        assert "DY-XF-01" not in timeline
        assert await page.locator(".raw").count() == 0
        # The badge says what it checked, and what it did not.
        badge = await page.inner_text("#badge")
        assert "审计记录哈希链自洽" in badge
        assert "仅核对数据库" in badge
        assert "casetrail verify" in badge
        assert await page.locator("#timeline tr").count() >= 3

        # Search from the header by a decision number: one enforcement case, and its page
        # shows the decision, the fine in yuan and the evidence's hash shortened.
        await page.fill("#q", "大涌执法罚〔2020〕4号")
        await page.press("#q", "Enter")
        await page.wait_for_selector('body[data-ready^="#/cases?q="]')
        await page.wait_for_function("document.querySelectorAll('#cases tr').length > 1")
        assert await texts(page, "#cases td:first-child") == ["ZF-2020-0004"]
        await page.click("#cases a")
        await page.wait_for_selector('body[data-ready="#/case/ZF-2020-0004"]')
        decision = await page.locator(
            "#timeline tr[data-event='enforcement.decision_made']"
        ).inner_text()
        assert "决定书号" in decision
        assert "大涌执法罚〔2020〕4号" in decision
        assert "罚款" in decision
        assert "¥5,000.00" in decision
        evidence = await page.locator(
            "#timeline tr[data-event='enforcement.evidence_collected']"
        ).inner_text()
        assert "000000000000…" in evidence
        assert f"{3:064x}" not in evidence  # the demo's hash of ZF-2020-0004's record
        assert "案源登记" in await texts(page, "#timeline td.step")
        assert "持证执法人员" in await page.inner_text("#timeline")
        assert await page.locator(".raw").count() == 0
        await page.screenshot(path=str(SHOTS / "case.png"), full_page=True)

        # Its case file (案卷): every step by its label, who with which certificate, the
        # evidence's hash in full, and the signed checkpoint that covers the case, masked for
        # this supervisor as the page is.
        pdf = await downloaded(page, "#case-pdf", "案卷-ZF-2020-0004.pdf")
        rendered(pdf, SHOTS / "case-file.png")
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        flat = re.sub(r"\s+", "", text)
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            steps = (await api.get("/cases/ZF-2020-0004/history")).json()
        for step in steps:
            assert half(labels["events"][step["type"]]) in flat, step["type"]
            assert step["hash"] in flat
            certificate = step["actor"].get("certificate")
            assert certificate is None or certificate in flat
        assert "案源登记" in flat
        assert "持证执法人员" in flat
        assert f"{3:064x}" in flat  # the evidence's hash, in full
        assert "大涌执法罚〔2020〕4号" in flat
        assert "签名有效" in flat  # the checkpoint that covers it, checked against the ring

        # Filters: the petitions of 2020 by their status, the options labelled for that type.
        await page.goto(f"{url}/#/cases?case_type=petition")
        await page.wait_for_selector('body[data-ready="#/cases?case_type=petition"]')
        options = await texts(page, "#f-status option")
        assert options[1:] == [half(t) for t in labels["statuses"]["petition"].values()]
        await page.select_option("#f-status", label=half(labels["statuses"]["petition"]["closed"]))
        await page.wait_for_selector('body[data-ready="#/cases?case_type=petition&status=closed"]')
        await page.wait_for_function("document.querySelectorAll('#cases tr').length > 1")
        assert set(await texts(page, "#cases td.status")) == {"已办结"}
        await page.screenshot(path=str(SHOTS / "cases.png"), full_page=True)

        # The list as filtered, saved as CSV: every case of it, the API's, by their labels.
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            closed = (
                await api.get(
                    "/cases",
                    params={
                        "case_type": "petition",
                        "status": "closed",
                        "opened_from": "2020-01-01T00:00:00+08:00",
                        "opened_to": "2021-01-01T00:00:00+08:00",
                        "limit": 500,
                    },
                )
            ).json()["cases"]
        listed = await downloaded(page, "#list-csv", "案件列表-")
        assert listed.startswith(b"\xef\xbb\xbf")
        lines = list(csv.reader(io.StringIO(listed.decode("utf-8-sig"))))
        assert lines[0][:3] == ["案件编号", "案件类型", "状态"]
        assert [line[0] for line in lines[1:]] == [c["case_id"] for c in closed]
        assert {line[2] for line in lines[1:]} == {"已办结"}

        # The information-disclosure requests (illustrative demo data of 2021): each answered
        # by its labelled answer type; the one partly disclosed after consulting a third party.
        await page.goto(f"{url}/#/cases?case_type=disclosure&year=2021")
        await page.wait_for_selector('body[data-ready="#/cases?case_type=disclosure&year=2021"]')
        await page.wait_for_function("document.querySelectorAll('#cases tr').length > 1")
        requests = demo_year.illustrative_disclosures()
        assert await page.locator("#cases tr").count() == 1 + len(requests)
        disclosure_statuses = {half(t) for t in labels["statuses"]["disclosure"].values()}
        assert set(await texts(page, "#cases td.status")) <= disclosure_statuses
        await page.goto(f"{url}/#/case/GK-2021-0003")
        await page.wait_for_selector('body[data-ready="#/case/GK-2021-0003"]')
        answered = await page.locator("#timeline tr[data-event='disclosure.answered']").inner_text()
        assert "部分公开" in answered
        assert "提供中标结果" in answered
        steps = await texts(page, "#timeline td.step")
        assert half(labels["events"]["disclosure.third_party_consulted"]) in steps
        assert await page.locator(".raw").count() == 0
        await page.screenshot(path=str(SHOTS / "disclosure.png"), full_page=True)

        # A link shows on both cases: the penalty case came from a complaint, the complaint
        # led to the penalty case.
        penalty, complaint = linked
        await page.goto(f"{url}/#/case/{penalty}")
        await page.wait_for_selector(f'body[data-ready="#/case/{penalty}"]')
        links = await page.inner_text("#case-links")
        assert f"由…转化而来 {complaint}" in links
        assert half(labels["case_types"]["complaint"]) in links
        await page.goto(f"{url}/#/case/{complaint}")
        await page.wait_for_selector(f'body[data-ready="#/case/{complaint}"]')
        assert f"转化为 {penalty}" in await page.inner_text("#case-links")
        await page.goto(f"{url}/#/case/{first}")
        await page.wait_for_selector(f'body[data-ready="#/case/{first}"]')

        # English, second.
        await page.click("#lang")
        # The click redraws the page: wait until the English one is drawn, not the old one.
        await page.wait_for_selector('html[lang="en"] body[data-ready^="#/case/"]')
        badge = await page.inner_text("#badge")
        assert "hash chain consistent (database only" in badge
        assert "run casetrail verify" in badge
        english = half(labels["statuses"]["petition"][case["status"]], "en")
        assert (await page.inner_text("#case-status")).strip() == english
        assert (await texts(page, "#timeline td.step"))[0] == "Register"
        await page.goto(f"{url}/#/")
        await page.wait_for_selector('body[data-ready="#/"]')
        assert half(labels["case_types"]["petition"], "en") in await page.inner_text("main")
        await page.screenshot(path=str(SHOTS / "overview-en.png"), full_page=True)

        # No entry of the tab's history holds the token (Chromium's own list, through CDP).
        cdp = await page.context.new_cdp_session(page)
        entries = [e["url"] for e in (await cdp.send("Page.getNavigationHistory"))["entries"]]
        assert f"{url}/#/" in entries
        assert len(entries) >= 4, entries  # the overview, lists, cases, the overview again
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
