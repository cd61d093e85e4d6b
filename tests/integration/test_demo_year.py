"""The demo year's 2020 figures, computed by the projections from events decided by the real
decider, agree with what Dayong town's 2020 report states; the on-time closure rate beside
them."""

import asyncio
import json
from pathlib import Path

from projections.db import connect
from projections.queries import statistics
from projections.queries.statistics import Dimension
from services.demo import year as demo_year
from services.settings import Settings
from tests.integration.test_projections import caught_up, isolated  # noqa: F401 - a fixture
from tests.support import Service, casetrail

LATE_PETITION = "XF-2020-0010"
"""The first petition the demo answers late: after the 3 left open and the 6 refused."""
ON_TIME_PETITION = "XF-2020-0014"


def _person_visits(year: int) -> tuple[int, int]:
    """The persons of the year's petition registrations, and of their repeat visits, as the demo
    submits them."""
    registered = revisited = 0
    for body in demo_year.submissions():
        if body["case_id"].startswith(f"XF-{year}-"):
            if body["type"] == "petition.register":
                registered += body["payload"]["persons"]
            elif body["type"] == "petition.record_visit":
                revisited += body["payload"]["persons"]
    return registered, revisited


async def test_the_2020_figures_are_the_report_s(isolated: Settings, tmp_path: Path) -> None:  # noqa: F811
    decider = Service("decider", isolated, tmp_path)
    projector = Service("projector", isolated, tmp_path)
    decider.start()
    projector.start()
    counts = await demo_year.load(isolated, lambda _: None)
    assert counts == {"accepted": len(demo_year.submissions())}, counts
    await caught_up(isolated)
    async with connect(isolated.postgres_dsn) as conn:
        by_type = await statistics.report(conn, 2020, [Dimension.CASE_TYPE])
        by_channel = await statistics.report(conn, 2020, [Dimension.CASE_TYPE, Dimension.CHANNEL])
        next_year = await statistics.report(conn, 2021, [Dimension.CASE_TYPE])
        late = await conn.fetch(
            "SELECT case_id, closed_at IS NOT NULL AS closed, refused, breached FROM case_facts"
            " WHERE case_id = ANY($1) ORDER BY case_id",
            [LATE_PETITION, ON_TIME_PETITION],
        )
    rows = {row["case_type"]: row for row in by_type["rows"]}
    petitions = rows["petition"]
    assert (petitions["cases"], petitions["persons"]) == (276, 649)  # 276宗649人次
    # 人次 are counted per visit: the registrations alone hold fewer, the repeat visits the rest
    registered, revisited = _person_visits(2020)
    assert 0 < revisited < registered
    assert registered + revisited == petitions["persons"]
    # 办结率达99%: over the petitions accepted (the demo refuses 6 of the 276), of which 3 are
    # still open: 267 / 270, where counting the refusals as closed gave 273 / 276.
    _, _, _, refused, answered_late, still_open = demo_year.PETITIONS[2020]
    assert (refused, answered_late, still_open) == (6, 4, 3)
    assert (petitions["accepted"], petitions["closed"]) == (270, 267)
    assert float(petitions["closure_rate"]) == round(267 / 270, 4) != round(273 / 276, 4)
    assert round(float(petitions["closure_rate"]), 2) == 0.99
    # 按期办结率 beside it: the 4 petitions the demo answers past their 60 days are closed but
    # not on time, judged from their clocks (no system clock ran to record a breach).
    assert petitions["closed_on_time"] == 263
    assert float(petitions["on_time_closure_rate"]) == round(263 / 267, 4)  # 98.5%
    assert [dict(r) for r in late] == [
        {"case_id": LATE_PETITION, "closed": True, "refused": False, "breached": True},
        {"case_id": ON_TIME_PETITION, "closed": True, "refused": False, "breached": False},
    ]
    assert round(petitions["year_over_year"]["cases"], 2) == -0.09  # 同比下降9%
    online = next(
        r for r in by_channel["rows"] if (r["case_type"], r["channel"]) == ("petition", "online")
    )
    assert online["cases"] == 28  # 网络信访投诉28宗
    assert round(online["year_over_year"]["cases"], 2) == -0.78  # 同比下降78%
    mediations = rows["mediation"]
    assert (mediations["cases"], mediations["mediations_agreed"]) == (12, 12)  # 受理12宗，成功12宗
    assert float(mediations["mediation_success_rate"]) == 1.0
    assert mediations["amount_in_dispute_fen"] == 120_000_000  # 涉案金额约120万元
    # 督办: the demo's supervision notes of 2020, each answered, one of them late.
    urged = demo_year.SUPERVISED[2020]
    assert mediations["supervision_notes"] == len(urged) == 4
    answered_late = sum(how == "late" for how in urged.values())
    assert mediations["supervision_answered_on_time"] == len(urged) - answered_late == 3
    assert float(mediations["supervision_on_time_rate"]) == 0.75
    assert "disclosure" not in rows  # 依申请公开的信件0件
    # The illustrative requests of 2021 (not from the report): all ended, all but the ones
    # deemed withdrawn answered.
    requests = demo_year.illustrative_disclosures()
    answered = sum(any(s["type"] == "disclosure.answer" for s in r) for r in requests)
    (disclosure,) = [r for r in next_year["rows"] if r["case_type"] == "disclosure"]
    assert (disclosure["cases"], disclosure["closed"]) == (len(requests), len(requests))
    assert disclosure["replied"] == answered < len(requests)
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)


def _closed_named_complaints() -> set[str]:
    """The demo's complaints that name their complainant and are closed (by 2020)."""
    named = {
        b["case_id"]
        for b in demo_year.submissions()
        if b["type"] == "complaint.register" and not b["payload"].get("anonymous")
    }
    closed = {b["case_id"] for b in demo_year.submissions() if b["type"] == "complaint.close"}
    return named & closed


async def test_retention_erases_the_demo_year_s_complaints_past_their_period(
    isolated: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The retention job on the demo year, as of 2026-11-28: a dry run lists the complaints
    closed more than 3 years before (every other case type keeps its data for 10 or 30
    years), the real run erases exactly those, and every figure stays as it was."""
    decider = Service("decider", isolated, tmp_path)
    projector = Service("projector", isolated, tmp_path)
    decider.start()
    projector.start()
    await demo_year.load(isolated, lambda _: None)
    await caught_up(isolated)

    async def figures() -> list[dict[str, object]]:
        async with connect(isolated.postgres_dsn) as conn:
            return [
                await statistics.report(conn, year, [Dimension.CASE_TYPE, Dimension.CHANNEL])
                for year in (2019, 2020, 2021)
            ]

    before = await figures()
    planned = casetrail(isolated, "retention", "--dry-run", "--as-of", "2026-11-28", "--json")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    due = json.loads(planned.stdout)["due"]
    assert {d["case_type"] for d in due} == {"complaint"}
    assert {d["case_id"] for d in due} == _closed_named_complaints()
    assert all(d["subjects"] == 1 for d in due)

    erased = casetrail(
        isolated, "retention", "--as-of", "2026-11-28", "--approved-by", "审计组", "--json"
    )
    assert erased.returncode == 0, erased.stdout + erased.stderr
    report = json.loads(erased.stdout)
    assert {e["case_id"] for e in report["erased"]} == _closed_named_complaints()
    assert report["keys_destroyed"] == len(due)
    await caught_up(isolated)
    assert await figures() == before
    again = casetrail(isolated, "retention", "--dry-run", "--as-of", "2026-11-28", "--json")
    assert json.loads(again.stdout)["due"] == []
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
