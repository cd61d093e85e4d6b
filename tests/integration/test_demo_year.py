"""The demo year's 2020 figures, computed by the projections from events decided by the real
decider, agree with what Dayong town's 2020 report states."""

import asyncio
from pathlib import Path

from projections.db import connect
from projections.queries import statistics
from projections.queries.statistics import Dimension
from services.demo import year as demo_year
from services.settings import Settings
from tests.integration.test_projections import caught_up, isolated  # noqa: F401 - a fixture
from tests.support import Service


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
    rows = {row["case_type"]: row for row in by_type["rows"]}
    petitions = rows["petition"]
    assert (petitions["cases"], petitions["persons"]) == (276, 649)  # 276宗649人次
    # 人次 are counted per visit: the registrations alone hold fewer, the repeat visits the rest
    registered, revisited = _person_visits(2020)
    assert 0 < revisited < registered
    assert registered + revisited == petitions["persons"]
    assert round(float(petitions["closure_rate"]), 2) == 0.99  # 办结率达99%
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
    await asyncio.to_thread(projector.stop)
    await asyncio.to_thread(decider.stop)
