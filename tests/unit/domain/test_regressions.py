"""Bugs found in events/ by the domain tests, each kept as a test of the fixed behaviour."""

from datetime import UTC, datetime

import pytest

from events.errors import Rejection, RejectionCode
from events.submissions import parse_submission
from tests.unit.domain.support import (
    CASE_ID,
    ENFORCER,
    OTHER_OFFICER,
    PETITION_OFFICER,
    SUPERVISOR,
    ZX,
    Action,
    accepted,
    actor,
    china,
    example_payload,
    parse_rejection,
    rejected,
    run,
    submission,
)

REGISTER = Action(
    "complaint.register",
    PETITION_OFFICER,
    china(2020, 9, 24),
    example_payload("complaint.register"),
)
NOT_ACCEPT = Action(
    "complaint.not_accept", PETITION_OFFICER, china(2020, 9, 25), {"reason": "不属于本机关职责范围"}
)
PETITION_CLOSED = [
    Action(
        "petition.register",
        PETITION_OFFICER,
        china(2020, 6, 1),
        example_payload("petition.register"),
    ),
    Action("petition.accept", PETITION_OFFICER, china(2020, 6, 3)),
    Action("petition.assign", PETITION_OFFICER, china(2020, 6, 4), {"department": ZX}),
    Action("petition.handle", OTHER_OFFICER, china(2020, 6, 10), {"record": "已协调"}),
    Action("petition.issue_opinion", OTHER_OFFICER, china(2020, 6, 15), {"opinion": "诉求合理"}),
    Action("petition.close", OTHER_OFFICER, china(2020, 6, 16)),
]


@pytest.mark.parametrize(
    "history", [[REGISTER, NOT_ACCEPT], PETITION_CLOSED], ids=["not_accepted", "closed"]
)
def test_a_supervision_note_on_a_closed_case_keeps_its_closing_time(
    history: list[Action],
) -> None:
    closed, _ = run(history)
    assert closed.closed_at == history[-1].at
    state, event = accepted(
        closed,
        "case.note_supervision",
        {"note": "请总结办理经验"},
        actor=actor(SUPERVISOR),
        occurred_at=china(2020, 12, 1),
    )
    assert event.type == "case.supervision_noted"
    assert state.status == closed.status
    assert state.closed_at == history[-1].at  # today: 2020-12-01, the note's time


@pytest.mark.parametrize("instant", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+08:00"])
def test_an_out_of_range_instant_is_rejected_not_raised(instant: str) -> None:
    raw = submission(
        CASE_ID,
        "complaint.accept",
        None,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 1, 1),
    )
    raw["occurred_at"] = instant
    result = parse_submission(raw)
    assert isinstance(result, Rejection)
    assert result.code is RejectionCode.INVALID_PAYLOAD
    assert "occurred_at" in result.message


@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        ("complaint.accept", None),
        ("enforcement.register_source", example_payload("enforcement.register_source")),
    ],
)
def test_a_step_at_the_end_of_time_is_rejected_before_deciding(
    type_: str, payload: dict[str, object] | None
) -> None:
    """Once accepted by decide, 9999-12-31T20:00Z could not be folded (its China day does not
    exist); now such an instant never parses."""
    rejection = parse_rejection(
        type_, payload, actor=actor(ENFORCER), occurred_at=datetime(9999, 12, 31, 20, 0, tzinfo=UTC)
    )
    assert rejection.code is RejectionCode.INVALID_PAYLOAD
    assert "occurred_at" in rejection.message


def test_a_step_cannot_be_recorded_before_it_happens() -> None:
    state, _ = run([REGISTER])
    refused = rejected(
        state,
        "complaint.accept",
        None,
        RejectionCode.INVALID_PAYLOAD,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2020, 10, 1),
        recorded_at=china(2020, 9, 25),
    )
    assert "later than the time of recording" in refused.message


def test_a_step_cannot_have_happened_before_the_case_s_last_step() -> None:
    state, _ = run([REGISTER])
    refused = rejected(
        state,
        "complaint.accept",
        None,
        RejectionCode.INVALID_PAYLOAD,
        actor=actor(PETITION_OFFICER),
        occurred_at=china(2019, 1, 1),
        recorded_at=china(2020, 9, 25),
    )
    assert "before the last step" in refused.message
