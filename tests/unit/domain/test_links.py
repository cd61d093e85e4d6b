"""Case links (case.link → case.linked): every case type, what the decider checks and what it
cannot (the other case lives on another partition)."""

import pytest

from events.errors import RejectionCode
from events.labels import catalogue
from events.lifecycles import LIFECYCLES
from events.payloads import LINK_SEEN_FROM_THE_OTHER_CASE, CaseLinkKind
from tests.unit.domain.support import (
    CASE_ID,
    ENFORCER,
    MEDIATOR,
    OTHER_OFFICER,
    PETITION_OFFICER,
    REGISTER_COMPLAINT,
    Action,
    china,
    example,
    refuse,
    refuse_to_parse,
    run,
    take,
)

OPENINGS = {
    "complaint": (REGISTER_COMPLAINT, PETITION_OFFICER),
    "petition": (
        example("petition.register", PETITION_OFFICER, china(2020, 9, 24)),
        PETITION_OFFICER,
    ),
    "mediation": (example("mediation.accept", MEDIATOR, china(2020, 9, 24)), MEDIATOR),
    "enforcement": (
        example("enforcement.register_source", ENFORCER, china(2020, 9, 24)),
        ENFORCER,
    ),
}


def link(who: str, other: str, kind: str = "related", day: int = 25) -> Action:
    payload = {"kind": kind, "other_case_id": other, "note": "同一事项"}
    return Action("case.link", who, china(2020, 9, day), payload)


@pytest.mark.parametrize("case_type", sorted(OPENINGS))
def test_every_case_type_links_to_another_case_and_keeps_its_status(case_type: str) -> None:
    opening, who = OPENINGS[case_type]
    state, _ = run([opening])
    linked, event = take(state, link(who, "XF-2020-0007", "originated_from"))
    assert event.type == "case.linked"
    assert event.payload == {
        "kind": "originated_from",
        "other_case_id": "XF-2020-0007",
        "note": "同一事项",
    }
    assert linked.status == state.status
    assert linked.clocks == state.clocks
    assert linked.links == {"originated_from:XF-2020-0007"}
    assert "case.link" in LIFECYCLES[state.case_type].by_submission


def test_a_case_is_not_linked_to_itself() -> None:
    state, _ = run([REGISTER_COMPLAINT])
    refuse(state, link(PETITION_OFFICER, CASE_ID), RejectionCode.INVALID_PAYLOAD, "itself")


def test_the_same_link_twice_is_refused_another_kind_to_the_same_case_is_not() -> None:
    state, _ = run([REGISTER_COMPLAINT, link(PETITION_OFFICER, "TS-2020-0001", "related")])
    again = link(PETITION_OFFICER, "TS-2020-0001", "related", day=26)
    refuse(state, again, RejectionCode.ILLEGAL_TRANSITION, "already linked", "TS-2020-0001")
    state, _ = run([link(PETITION_OFFICER, "TS-2020-0001", "repeat_of", day=26)], state)
    state, _ = run([link(PETITION_OFFICER, "TS-2020-0002", "related", day=27)], state)
    assert state.links == {
        "related:TS-2020-0001",
        "repeat_of:TS-2020-0001",
        "related:TS-2020-0002",
    }


def test_the_other_case_id_must_be_a_case_id_and_the_kind_one_of_the_three() -> None:
    refuse_to_parse(
        link(PETITION_OFFICER, "not a case id!"),
        RejectionCode.INVALID_PAYLOAD,
        "payload.other_case_id",
    )
    refuse_to_parse(
        link(PETITION_OFFICER, "TS-2020-0001", "caused"),
        RejectionCode.INVALID_PAYLOAD,
        "payload.kind",
    )


def test_a_link_to_a_case_nobody_registered_yet_is_recorded() -> None:
    """The decider cannot look the other case up: a mediation a petition is passed to may be
    registered after the petition names it."""
    state, _ = run([REGISTER_COMPLAINT, link(PETITION_OFFICER, "TJ-2099-9999", "related")])
    assert state.links == {"related:TJ-2099-9999"}


def test_a_closed_case_is_linked_as_a_repeat_is_often_found_after_the_first_was_closed() -> None:
    closed, _ = run(
        [
            REGISTER_COMPLAINT,
            Action(
                "complaint.not_accept", PETITION_OFFICER, china(2020, 9, 25), {"reason": "重复投诉"}
            ),
        ]
    )
    assert closed.status == "not_accepted"
    state, _ = take(closed, link(PETITION_OFFICER, "TS-2020-0001", "repeat_of", day=28))
    assert (state.status, state.closed_at) == ("not_accepted", closed.closed_at)


def test_only_the_owning_department_links_its_case() -> None:
    state, _ = run([REGISTER_COMPLAINT])
    refuse(state, link(OTHER_OFFICER, "TS-2020-0001"), RejectionCode.WRONG_DEPARTMENT)


def test_link_kinds_have_labels_both_ways() -> None:
    values = catalogue()["values"]
    kinds = {kind.value for kind in CaseLinkKind}
    assert set(values["CaseLinkKind"]) == kinds
    assert set(values[LINK_SEEN_FROM_THE_OTHER_CASE]) == kinds
    assert values["CaseLinkKind"]["repeat_of"].startswith("重复件")
    assert values[LINK_SEEN_FROM_THE_OTHER_CASE]["originated_from"].startswith("转化为")
    assert catalogue()["events"]["case.linked"] == "关联案件 / Link to another case"
