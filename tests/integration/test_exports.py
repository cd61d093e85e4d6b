"""The exports on the real PostgreSQL with projected cases: CSV and Excel read back (with
openpyxl, another library than the one that wrote them) to the JSON endpoints' figures and
lists; the case file's text (pypdf) holds the case's labels, every step and the documents'
hashes, and no personal data for a role that sees it masked (whose reads the access log records
as the history's are); the same refusals as the JSON endpoints; a formula comes out inert."""

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import openpyxl
import pytest
from pypdf import PdfReader

from events.labels import catalogue
from events.model import Event
from events.officers import Officer
from projections.db import connect
from services.query.app import create_app
from services.settings import Settings, with_database
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.integration.test_statistics_and_links import XF, history, project
from tests.unit.domain.support import PETITION_OFFICER, Action, china, example, run

FILED = "XF-2020-0100"
"""A petition with a petitioner (personal data) and a document attached."""
COMPLAINT = "TS-2020-0100"
"""A complaint: its complainant (perhaps a whistle-blower) is shown only with a reason."""
DOCUMENT_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
HOSTILE = '=HYPERLINK("http://example.invalid","点此")'
"""A name a spreadsheet would run as a formula."""


def filed() -> list[Event]:
    return run(
        [
            example("petition.register", PETITION_OFFICER, china(2020, 9, 1)),
            Action("petition.accept", PETITION_OFFICER, china(2020, 9, 2)),
            example(
                "petition.assign",
                PETITION_OFFICER,
                china(2020, 9, 3),
                department=XF,
                officer_id="DY-XF-02",
            ),
            example("case.attach_document", PETITION_OFFICER, china(2020, 9, 4)),
            Action("petition.handle", PETITION_OFFICER, china(2020, 9, 10), {"record": "约谈"}),
        ],
        case_id=FILED,
    )[1]


def complained() -> list[Event]:
    return run(
        [
            example("complaint.register", PETITION_OFFICER, china(2020, 9, 24)),
            Action("complaint.accept", PETITION_OFFICER, china(2020, 9, 25)),
        ],
        case_id=COMPLAINT,
    )[1]


@pytest.fixture
async def exported(servers: Settings) -> AsyncIterator[tuple[Settings, httpx.AsyncClient]]:
    """The query service in process over a database of its own holding the projections."""
    database = f"{urlsplit(servers.postgres_dsn).path.lstrip('/')}_{uuid.uuid4().hex[:6]}"
    # No Kafka topics under this prefix: the case file says it cannot name a checkpoint.
    settings = servers.isolated(f"exports{uuid.uuid4().hex[:6]}", database).model_copy(
        update={"checkpoint_lookup_s": 2.0}
    )
    async with connect(with_database(servers.postgres_dsn, "postgres")) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            await project(settings, [*history(), *filed(), *complained()])
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                # The directory names the assigned officer with a formula (text from outside).
                app.state.officers = {
                    **app.state.officers,
                    "DY-XF-02": Officer(
                        officer_id="DY-XF-02", name=HOSTILE, department=XF, roles=frozenset()
                    ),
                }
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://q") as client:
                    yield settings, client
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def bearer(settings: Settings, role: TokenRole, departments: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_token(settings, role, departments)}"}


def saved_as(response: httpx.Response) -> str:
    """The Chinese file name of a download (RFC 5987 ``filename*``)."""
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    found = re.search(r"filename\*=UTF-8''([^;]+)", disposition)
    assert found is not None, disposition
    return unquote(found.group(1))


def workbook(response: httpx.Response) -> openpyxl.Workbook:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return openpyxl.load_workbook(io.BytesIO(response.content))


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def zh(title: str) -> str:
    return title.split(" / ")[0]


def as_number(value: Any) -> float | None:
    return None if value is None else float(value)


def same_figures(rows: list[dict[str, Any]], table: Sequence[Sequence[Any]], by: list[str]) -> None:
    """The sheet's rows are the JSON rows: labelled breakdown, every count, rate and amount."""
    labels = catalogue()
    header = [str(h) for h in table[0]]
    assert header[: len(by)] == [
        {"case_type": "案件类型", "channel": "渠道", "status": "状态", "month": "月份"}[d]
        for d in by
    ]
    assert len(table) - 1 == len(rows)
    for row, line in zip(rows, table[1:], strict=True):
        cells = dict(zip(header, line, strict=True))
        if "case_type" in by:
            assert cells["案件类型"] == zh(labels["case_types"][row["case_type"]])
        if "month" in by:
            assert cells["月份"] == row["month"]
        for key, title in (
            ("cases", "登记宗数"),
            ("accepted", "受理宗数"),
            ("persons", "人次"),
            ("closed", "办结宗数"),
            ("closed_on_time", "按期办结宗数"),
            ("replied", "答复宗数"),
            ("supervision_notes", "督办件数"),
        ):
            assert int(cells[title]) == int(row[key]), title
        for key, title in (
            ("closure_rate", "办结率"),
            ("on_time_closure_rate", "按期办结率"),
            ("reply_rate", "回复率"),
            ("average_handling_days", "平均办理天数"),
        ):
            value = cells[title]
            assert as_number(value if value != "" else None) == as_number(row[key]), title
        assert float(cells["涉案金额（元）"]) * 100 == float(row["amount_in_dispute_fen"])
        change = row["year_over_year"]["cases"]
        shown = cells["登记宗数同比"]
        assert as_number(shown if shown != "" else None) == as_number(change)


async def test_statistics_read_back_to_the_json_figures(
    exported: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = exported
    public = await bearer(settings, TokenRole.PUBLIC, [])
    # (Not the totals, by="": a year after one without cases divides by zero, issue 15 item 4.)
    breakdowns = ["case_type", "case_type,channel", "case_type,month", "status"]
    answer = await client.get(
        "/statistics.xlsx", params={"year": 2020, "by": breakdowns}, headers=public
    )
    book = workbook(answer)
    assert saved_as(answer) == "统计-2020.xlsx"
    assert book.sheetnames == [
        "按案件类型",
        "按案件类型、渠道",
        "按案件类型、月份",
        "按状态",
        "说明",
    ]
    for by, sheet in zip(breakdowns, book.worksheets, strict=False):
        figures = (await client.get("/statistics", params={"by": by}, headers=public)).json()
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
        same_figures(figures["rows"], table, [d for d in by.split(",") if d])
    # A rate is a number shown as a percentage, not text.
    closure = book["按案件类型"].cell(row=2, column=6)
    assert book["按案件类型"].cell(row=1, column=6).value == "办结率"
    assert closure.data_type == "n"
    assert closure.number_format == "0.00%"

    answer = await client.get("/statistics.csv", params={"by": "case_type,month"}, headers=public)
    figures = await client.get("/statistics", params={"by": "case_type,month"}, headers=public)
    same_figures(figures.json()["rows"], list(csv_rows(answer)), ["case_type", "month"])
    assert saved_as(answer) == "统计-2020.csv"

    # As of a past instant (auditors): the same figures as the JSON's then.
    auditor = await bearer(settings, TokenRole.AUDITOR, [])
    then = {"as_of": "2020-09-03T00:00:00+08:00", "basis": "occurred"}
    answer = await client.get(
        "/statistics.xlsx", params={**then, "by": ["case_type"]}, headers=auditor
    )
    assert saved_as(answer) == "统计-2020-截至2020-09-03.xlsx"
    past = await client.get("/statistics", params={**then, "by": "case_type"}, headers=auditor)
    table = [list(row) for row in workbook(answer).worksheets[0].iter_rows(values_only=True)]
    same_figures(past.json()["rows"], table, ["case_type"])
    today = await client.get("/statistics", params={"by": "case_type"}, headers=auditor)
    assert past.json()["rows"] != today.json()["rows"]  # another view than today's

    # The same refusals as the JSON: an unknown breakdown, figures as of a date for a
    # non-auditor, no token.
    for path in ("/statistics", "/statistics.csv", "/statistics.xlsx"):
        unknown = await client.get(path, params={"by": "colour"}, headers=public)
        assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid_dimension"), path
        then = {"as_of": "2020-08-01T00:00:00+08:00"}
        assert (await client.get(path, params=then, headers=public)).status_code == 403, path
        assert (await client.get(path)).status_code == 401, path


async def test_the_case_list_reads_back_to_the_json_list(
    exported: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = exported
    office = await bearer(settings, TokenRole.DEPARTMENT, [XF])
    filters = {"case_type": "petition", "opened_from": "2020-01-01T00:00:00+08:00"}
    listed = (await client.get("/cases", params={**filters, "limit": 500}, headers=office)).json()
    ids = [c["case_id"] for c in listed["cases"]]
    assert FILED in ids
    assert len(ids) == 7

    rows = csv_rows(await client.get("/cases.csv", params=filters, headers=office))
    assert rows[0][:4] == ["案件编号", "案件类型", "状态", "承办部门"]
    assert [r[0] for r in rows[1:]] == ids
    statuses = catalogue()["statuses"]["petition"]
    by_id = {c["case_id"]: c for c in listed["cases"]}
    for row in rows[1:]:
        case = by_id[row[0]]
        assert row[1] == "信访"
        assert row[2] == zh(statuses[case["status"]])
        assert row[3] == case["owner_department"]
    # The officer's name from the directory is a formula: the CSV cell is inert text.
    filed_row = next(r for r in rows if r[0] == FILED)
    assert filed_row[4] == "'" + HOSTILE
    assert filed_row[5] == "DY-XF-02"
    assert filed_row[6] == "来访"  # the channel by its label

    answer = await client.get("/cases.xlsx", params=filters, headers=office)
    sheet = workbook(answer).worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in table[1:]] == ids
    assert saved_as(answer).startswith("案件列表-")
    # In the workbook it is a string cell, the very text, which no spreadsheet evaluates.
    cell = next(row for row in sheet.iter_rows() if row[0].value == FILED)[4]
    assert cell.data_type == "s"
    assert cell.value == HOSTILE
    assert isinstance(table[1][7], datetime)  # instants as dates, not text

    # Scope and refusals as the list's: another department sees none of these, the public no
    # list at all, nobody without a token.
    other = await bearer(settings, TokenRole.DEPARTMENT, ["司法所"])
    assert len(csv_rows(await client.get("/cases.csv", headers=other))) == 1
    public = await bearer(settings, TokenRole.PUBLIC, [])
    for path in ("/cases", "/cases.csv", "/cases.xlsx"):
        refused = await client.get(path, headers=public)
        assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_role"), path
        assert (await client.get(path)).status_code == 401, path


async def test_what_cannot_be_made_is_refused_with_a_reason(
    exported: tuple[Settings, httpx.AsyncClient],
) -> None:
    """A list larger than an export holds is refused, never cut short; a case file without a
    font to embed is 503 font_unavailable, after the history's own refusals."""
    settings, client = exported
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.settings = settings.model_copy(
        update={"export_max_rows": 3, "pdf_font_file": Path("/nowhere/no-font.ttc")}
    )
    auditor = await bearer(settings, TokenRole.AUDITOR, [])
    refused = await client.get("/cases.xlsx", headers=auditor)
    assert (refused.status_code, refused.json()["code"]) == (422, "export_too_large")
    assert "3" in refused.json()["message"]
    narrowed = await client.get("/cases.csv", params={"case_type": "mediation"}, headers=auditor)
    assert len(csv_rows(narrowed)) == 2
    no_font = await client.get(f"/cases/{FILED}/file.pdf", headers=auditor)
    assert (no_font.status_code, no_font.json()["code"]) == (503, "font_unavailable")
    public = await bearer(settings, TokenRole.PUBLIC, [])
    assert (await client.get(f"/cases/{FILED}/file.pdf", headers=public)).status_code == 403


def pdf_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    fonts = [
        font.get_object()
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()  # type: ignore[index]
    ]
    # The CJK font is embedded, as a subset (its name tagged ABCDEF+).
    for font in fonts:
        descendant = font["/DescendantFonts"][0].get_object()
        assert re.match(r"^/[A-Z]{6}\+", descendant["/BaseFont"]), descendant["/BaseFont"]
        assert "/FontFile2" in descendant["/FontDescriptor"] or (
            "/FontFile3" in descendant["/FontDescriptor"]
        )
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_the_case_file_shows_every_step_masked_as_the_history_is(
    exported: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = exported
    labels = catalogue()
    supervisor = await bearer(settings, TokenRole.SUPERVISOR, [])
    office = await bearer(settings, TokenRole.DEPARTMENT, [XF])
    auditor = await bearer(settings, TokenRole.AUDITOR, [])

    # A supervisor: the JSON history masks the petitioner, and so does the file; nothing is
    # logged as a read of personal data.
    masked = (await client.get(f"/cases/{FILED}/history", headers=supervisor)).json()
    assert masked[0]["payload"]["petitioners"][0]["name"] == "***"
    answer = await client.get(f"/cases/{FILED}/file.pdf", headers=supervisor)
    text = pdf_text(answer)
    assert saved_as(answer) == f"案卷-{FILED}.pdf"
    flat = re.sub(r"\s+", "", text)
    assert "李四" not in flat
    assert "***" in flat
    assert "个人信息已按本角色的权限遮蔽" in flat
    for title in ("案件概况", "办理过程", "材料与证据", "哈希链与签名检查点", "信访"):
        assert title in flat, title
    assert zh(labels["statuses"]["petition"]["handled"]) in flat
    for step in masked:  # every step by its label, with both times
        assert zh(labels["events"][step["type"]]) in flat, step["type"]
        assert step["hash"] in flat
    assert DOCUMENT_HASH in flat
    assert "现场检查笔录" in flat
    assert "2020-09-0109:00" in flat or "2020-09-01" in flat
    assert "部门工作人员" in flat  # the actor's role by its label
    assert "自洽" in flat
    # No topic under this prefix: the file says it could not name a checkpoint, and why.
    assert "签名检查点" in flat
    log = (await client.get("/access-log", params={"case_id": FILED}, headers=auditor)).json()
    assert log == []

    # The owning department sees the petitioner, like its history, and the read is logged.
    text = re.sub(
        r"\s+", "", pdf_text(await client.get(f"/cases/{FILED}/file.pdf", headers=office))
    )
    assert "李四" in text
    assert "个人信息已按本角色的权限遮蔽" not in text
    log = (await client.get("/access-log", params={"case_id": FILED}, headers=auditor)).json()
    assert [(entry["role"], entry["events"]) for entry in log] == [("department", len(masked))]

    # The same refusals as the history: unknown to another department (404, as a case that
    # does not exist), the public role may not, nobody without a token.
    other = await bearer(settings, TokenRole.DEPARTMENT, ["司法所"])
    public = await bearer(settings, TokenRole.PUBLIC, [])
    for suffix in ("/history", "/file.pdf"):
        hidden = await client.get(f"/cases/{FILED}{suffix}", headers=other)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "unknown_case"), suffix
        missing = await client.get(f"/cases/XF-2099-9999{suffix}", headers=auditor)
        assert missing.status_code == 404, suffix
        assert (await client.get(f"/cases/{FILED}{suffix}", headers=public)).status_code == 403
        assert (await client.get(f"/cases/{FILED}{suffix}")).status_code == 401, suffix
    # Every status it can answer is documented, the errors as JSON, the file as a PDF.
    spec = json.loads((await client.get("/openapi.json")).text)
    answers = spec["paths"]["/cases/{case_id}/file.pdf"]["get"]["responses"]
    assert answers.keys() == {"200", "401", "403", "404", "422", "503"}
    assert list(answers["200"]["content"]) == ["application/pdf"]
    assert all(
        list(answers[code]["content"]) == ["application/json"] for code in answers if code != "200"
    )


async def test_a_complainant_is_shown_in_the_case_file_only_with_a_reason(
    exported: tuple[Settings, httpx.AsyncClient],
) -> None:
    settings, client = exported
    office = await bearer(settings, TokenRole.DEPARTMENT, [XF])
    auditor = await bearer(settings, TokenRole.AUDITOR, [])
    for suffix in ("/history", "/file.pdf"):
        hidden = await client.get(f"/cases/{COMPLAINT}{suffix}", headers=office)
        assert hidden.headers["x-casetrail-personal-data"] == "reason-required", suffix
    text = re.sub(r"\s+", "", pdf_text(hidden))
    assert "王五" not in text
    assert "***" in text
    assert (
        await client.get("/access-log", params={"case_id": COMPLAINT}, headers=auditor)
    ).json() == []
    reason = {"reason": "核查答复情况"}
    shown = await client.get(f"/cases/{COMPLAINT}/file.pdf", params=reason, headers=office)
    assert "x-casetrail-personal-data" not in shown.headers
    assert "王五" in re.sub(r"\s+", "", pdf_text(shown))
    log = (await client.get("/access-log", params={"case_id": COMPLAINT}, headers=auditor)).json()
    assert [(entry["role"], entry["reason"]) for entry in log] == [("department", "核查答复情况")]
