"""As of: a case's state and the statistics at a past instant, recorded or occurred."""

from datetime import UTC, datetime, timedelta

from events.as_of import Basis
from events.as_of import replay as replay_case
from events.model import Event
from projections.queries.statistics import facts_as_of
from tests.unit.domain.support import PETITION_OFFICER, Action, china, example_payload, run

STEPS = [
    Action(
        "petition.register",
        PETITION_OFFICER,
        china(2020, 12, 30),
        example_payload("petition.register"),
    ),
    Action("petition.accept", PETITION_OFFICER, china(2020, 12, 31, 16)),
    Action("petition.handle", PETITION_OFFICER, china(2021, 1, 4), {"record": "走访"}),
]


def history() -> list[Event]:
    """The accept happened on 31 December but was entered on 5 January (a late entry)."""
    _, events = run(STEPS)
    late = datetime(2021, 1, 5, 2, tzinfo=UTC)
    recorded = [STEPS[0].at, late, late + timedelta(minutes=5)]
    return [e.model_copy(update={"recorded_at": r}) for e, r in zip(events, recorded, strict=True)]


def test_replay_as_recorded_then_and_as_it_happened() -> None:
    events = history()
    new_year = china(2020, 12, 31, 23, 59)
    recorded = replay_case(events, new_year, Basis.RECORDED)
    occurred = replay_case(events, new_year, Basis.OCCURRED)
    assert recorded.state is not None
    assert (recorded.counted, recorded.state.status) == (1, "registered")
    assert occurred.state is not None
    assert (occurred.counted, occurred.state.status) == (2, "accepted")
    assert replay_case(events, None, Basis.RECORDED).counted == 3
    assert replay_case(events, china(2020, 1, 1), Basis.OCCURRED).state is None


def test_facts_as_of_count_what_had_happened_or_been_recorded() -> None:
    events = history()
    new_year = china(2020, 12, 31, 23, 59)
    (row,) = facts_as_of(events, new_year, Basis.OCCURRED)
    assert (row[0], row[4]) == ("CASE-2020-0001", "accepted")
    (row,) = facts_as_of(events, new_year, Basis.RECORDED)
    assert row[4] == "registered"
    assert facts_as_of(events, china(2020, 12, 1), Basis.RECORDED) == []
