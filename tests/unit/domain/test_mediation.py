"""People's mediation (人民调解): the happy path of DOMAIN.md and every branch."""

import uuid
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from events.deadlines import Light
from events.decide import evolve, fold
from events.errors import RejectionCode
from events.hashing import GENESIS_HASH, chain_hash
from events.lifecycles.mediation import MEDIATION, REFUSAL_BASIS
from events.model import CaseType, Event
from events.payloads import MediationAccepted, MediationApplication, RefusalGround
from events.upcasting import CURRENT_VERSIONS, typed_payload, upcast
from tests.signing import SUITE
from tests.unit.domain.support import (
    CASE_ID,
    MEDIATOR,
    MEDIATOR_2,
    PETITION_OFFICER,
    TJ,
    Action,
    china,
    due,
    end,
    refuse,
    refuse_to_parse,
    run,
    take,
    verify_chain,
    walk,
)

ACCEPT = Action(
    "mediation.accept",
    MEDIATOR,
    china(2020, 7, 1),
    {
        "dispute": "厂房租赁合同纠纷",
        "parties": [{"name": "甲"}, {"name": "乙"}],
        "amount_in_dispute_fen": 12_000_000,
    },
)
ASSIGN = Action(
    "mediation.assign_mediator", MEDIATOR, china(2020, 7, 2), {"mediator_id": MEDIATOR_2}
)
SESSION = Action("mediation.hold_session", MEDIATOR_2, china(2020, 7, 8), {"notes": "双方陈述意见"})
AGREE = Action(
    "mediation.reach_agreement",
    MEDIATOR_2,
    china(2020, 7, 15),
    {"amount_fen": 10_000_000, "terms": "乙方分两期支付租金"},
)
FOLLOW_UP = Action(
    "mediation.follow_up", MEDIATOR_2, china(2020, 8, 15), {"performed": True, "notes": "已履行"}
)
CLOSE = Action("mediation.close", MEDIATOR_2, china(2020, 8, 17))
WINDOW = "mediation.judicial_confirmation"
"""The parties' 30 days to apply for judicial confirmation (人民调解法 第三十三条)."""


def test_mediation_happy_path_from_acceptance_to_closing() -> None:
    second_session = replace(SESSION, at=china(2020, 7, 10), payload={"notes": "第二次"})
    states, events = walk(
        [
            (ACCEPT, "mediation.accepted", "accepted", ["mediation.conclusion"]),
            (ASSIGN, "mediation.mediator_assigned", "mediator_assigned", ["mediation.conclusion"]),
            (SESSION, "mediation.session_held", "in_session", ["mediation.conclusion"]),
            (second_session, "mediation.session_held", "in_session", ["mediation.conclusion"]),
            (AGREE, "mediation.agreement_reached", "agreed", [WINDOW]),
            (FOLLOW_UP, "mediation.followed_up", "followed_up", [WINDOW]),
            (CLOSE, "mediation.closed", "closed", []),
        ]
    )
    closed = states[-1]
    assert closed.case_type is CaseType.MEDIATION
    assert (closed.owner_department, closed.assigned_officer) == (TJ, MEDIATOR_2)
    assert events[0].payload["amount_in_dispute_fen"] == 12_000_000
    assert events[4].payload["amount_fen"] == 10_000_000


def test_mediation_conclusion_clock_is_thirty_days() -> None:
    state, _ = run([ACCEPT])
    assert due(state, "mediation.conclusion") == date(2020, 7, 31)


@pytest.mark.parametrize("after", [[ASSIGN], [ASSIGN, SESSION]], ids=["assigned", "in_session"])
def test_mediation_failed_then_closed(after: list[Action]) -> None:
    state, _ = run([ACCEPT, *after])
    failure = Action(
        "mediation.record_failure", MEDIATOR_2, china(2020, 7, 20), {"reason": "双方分歧较大"}
    )
    refuse_to_parse(failure, RejectionCode.MISSING_FIELD, "payload.remedies_told")
    told = {"reason": "双方分歧较大", "remedies_told": "可向法院起诉"}
    state, event = take(state, replace(failure, payload=told))
    assert event.type == "mediation.failed"
    assert state.status == "failed"
    assert state.clocks == ()  # failing stops the conclusion clock
    assert state.closed_at is None
    follow_up = Action("mediation.follow_up", MEDIATOR_2, china(2020, 7, 21), {"performed": False})
    refuse(state, follow_up, RejectionCode.ILLEGAL_TRANSITION, "'failed'")
    close = Action("mediation.close", MEDIATOR, china(2020, 7, 22))
    end(state, close, "mediation.closed", "closed")


def test_mediation_judicial_confirmation_then_follow_up_and_close() -> None:
    state, events = run(
        [
            ACCEPT,
            ASSIGN,
            SESSION,
            AGREE,
            Action(
                "mediation.confirm_judicially",
                MEDIATOR_2,
                china(2020, 7, 30),
                {"court": "中山市第二人民法院", "ruling_number": "(2020)粤2072民特123号"},
            ),
        ]
    )
    assert state.status == "judicially_confirmed"
    assert events[-1].type == "mediation.judicially_confirmed"
    state, _ = run([FOLLOW_UP, CLOSE], state)
    assert state.status == "closed"


def test_mediation_agreement_needs_a_session_and_closing_a_follow_up() -> None:
    state, _ = run([ACCEPT, ASSIGN])
    illegal = RejectionCode.ILLEGAL_TRANSITION
    agree = replace(AGREE, at=china(2020, 7, 3), payload={"amount_fen": 1, "terms": "t"})
    # the last names where it is allowed from
    refuse(state, agree, illegal, "mediation.reach_agreement", "in_session")
    state, _ = run([SESSION, AGREE], state)
    refuse(state, replace(CLOSE, at=china(2020, 7, 16)), illegal)


@pytest.mark.parametrize(
    ("parties", "amount", "field"),
    [
        ([{"name": "甲"}], 0, "payload.parties"),
        ([{"name": "甲"}, {"name": "乙"}], -1, "payload.amount_in_dispute_fen"),
    ],
    ids=["one-party", "negative-amount"],
)
def test_mediation_needs_two_parties_and_a_non_negative_amount(
    parties: list[dict[str, str]], amount: int, field: str
) -> None:
    payload = {"dispute": "纠纷", "parties": parties, "amount_in_dispute_fen": amount}
    accept = replace(ACCEPT, payload=payload)
    refuse_to_parse(accept, RejectionCode.INVALID_PAYLOAD, field)


def test_mediation_cannot_be_reopened() -> None:
    state, _ = run([ACCEPT, ASSIGN, SESSION, AGREE, FOLLOW_UP, CLOSE])
    reopen = Action("case.reopen", MEDIATOR, china(2020, 9, 1), {"reason": "当事人反悔"})
    refuse(state, reopen, RejectionCode.WRONG_CASE_TYPE, "case.reopen", CASE_ID, "mediation")


def test_mediation_steps_need_a_mediator() -> None:
    accept = replace(ACCEPT, actor=PETITION_OFFICER)
    refuse(None, accept, RejectionCode.FORBIDDEN_ROLE, "mediation.accept", "mediator")


# --- application, acceptance and refusal (不予受理) ----------------------------------------------

APPLY = Action(
    "mediation.register_application",
    MEDIATOR,
    china(2020, 6, 29),
    {
        "dispute": "宅基地界址纠纷",
        "parties": [{"name": "甲"}, {"name": "乙"}],
        "amount_in_dispute_fen": 3_000_000,
    },
)
ACCEPT_APPLICATION = Action(
    "mediation.accept_application", MEDIATOR, china(2020, 7, 1), {"note": "符合受理条件"}
)
REFUSE = Action(
    "mediation.refuse",
    MEDIATOR,
    china(2020, 7, 1),
    {
        "ground": "party_refuses",
        "reason": "被申请人明确表示拒绝调解",
        "remedies_told": "可向人民法院起诉",
    },
)


def test_an_application_is_registered_and_accepted_before_the_conclusion_clock_starts() -> None:
    states, events = walk(
        [
            (APPLY, "mediation.application_registered", "applied", []),
            (
                ACCEPT_APPLICATION,
                "mediation.application_accepted",
                "accepted",
                ["mediation.conclusion"],
            ),
            (ASSIGN, "mediation.mediator_assigned", "mediator_assigned", ["mediation.conclusion"]),
        ]
    )
    # the month runs from the acceptance (2020-07-01), not from the application (06-29)
    assert due(states[1], "mediation.conclusion") == date(2020, 7, 31)
    assert events[0].payload["amount_in_dispute_fen"] == 3_000_000
    assert events[0].payload["referral"] is None


@pytest.mark.parametrize(
    "ground",
    [
        "party_refuses",
        "not_a_civil_dispute",
        "reserved_to_authorities",
        "already_before_authorities",
    ],
)
def test_an_application_is_refused_and_the_case_ends_refused(ground: str) -> None:
    applied, _ = run([APPLY])
    assert REFUSAL_BASIS[RefusalGround(ground)].startswith(
        ("人民调解法 第", "人民调解工作若干规定 第")
    )
    refusal = replace(REFUSE, payload={**(REFUSE.payload or {}), "ground": ground})
    refused, event = end(applied, refusal, "mediation.refused", "refused")
    assert event.payload["ground"] == ground
    assert event.payload["remedies_told"] == "可向人民法院起诉"
    assert "refused" in MEDIATION.refused  # statistics count closure over accepted cases only
    later = replace(ASSIGN, at=china(2020, 7, 2))
    refuse(refused, later, RejectionCode.ILLEGAL_TRANSITION, "'refused'")
    accept = replace(ACCEPT_APPLICATION, at=china(2020, 7, 2))
    refuse(refused, accept, RejectionCode.ILLEGAL_TRANSITION, "'refused'")


def test_a_refusal_names_its_ground_and_where_the_applicant_may_turn() -> None:
    without_remedies = {k: v for k, v in (REFUSE.payload or {}).items() if k != "remedies_told"}
    refuse_to_parse(
        replace(REFUSE, payload=without_remedies), RejectionCode.MISSING_FIELD, "remedies_told"
    )
    unknown_ground = {**(REFUSE.payload or {}), "ground": "too_busy"}
    refuse_to_parse(
        replace(REFUSE, payload=unknown_ground), RejectionCode.INVALID_PAYLOAD, "ground"
    )


def test_only_a_registered_application_can_be_refused_or_accepted_as_one() -> None:
    accepted, _ = run([ACCEPT])  # a direct acceptance: there is nothing left to refuse
    refuse(accepted, replace(REFUSE, at=china(2020, 7, 2)), RejectionCode.ILLEGAL_TRANSITION)
    refuse(
        accepted,
        replace(ACCEPT_APPLICATION, at=china(2020, 7, 2)),
        RejectionCode.ILLEGAL_TRANSITION,
        "applied",
    )
    applied, _ = run([APPLY])
    refuse(applied, replace(ACCEPT, at=china(2020, 7, 2)), RejectionCode.CASE_EXISTS, CASE_ID)
    refuse(applied, replace(ASSIGN, at=china(2020, 7, 2)), RejectionCode.ILLEGAL_TRANSITION)


def test_the_applicant_step_needs_two_parties() -> None:
    one_party = {**(APPLY.payload or {}), "parties": [{"name": "甲"}]}
    refuse_to_parse(replace(APPLY, payload=one_party), RejectionCode.INVALID_PAYLOAD, "parties")


# --- referral from other bodies (衔接: 诉调、访调、警调对接) -------------------------------


@pytest.mark.parametrize(
    ("channel", "body", "reference"),
    [
        ("court", "中山市第二人民法院", "(2020)粤2072民诉前调123号"),
        ("petition", "大涌镇信访办", "XF-2020-0042"),
        ("police", "中山市公安局大涌派出所", "大公(治)调字〔2020〕7号"),
    ],
)
def test_a_referral_is_recorded_with_the_application_or_the_direct_acceptance(
    channel: str, body: str, reference: str
) -> None:
    referral = {"channel": channel, "body": body, "reference": reference}
    for opening in (APPLY, ACCEPT):
        _, events = run(
            [replace(opening, payload={**(opening.payload or {}), "referral": referral})]
        )
        assert events[0].payload["referral"] == referral
        typed = typed_payload(events[0])
        assert isinstance(typed, MediationApplication)
        assert typed.referral is not None
        assert typed.referral.channel.value == channel


def test_a_referral_names_the_body_and_its_reference() -> None:
    partial = {
        **(ACCEPT.payload or {}),
        "referral": {"channel": "court", "body": "中山市第二人民法院"},
    }
    refuse_to_parse(replace(ACCEPT, payload=partial), RejectionCode.MISSING_FIELD, "reference")
    other = {"channel": "village", "body": "南文村", "reference": "1"}
    unknown = {**(ACCEPT.payload or {}), "referral": other}
    refuse_to_parse(replace(ACCEPT, payload=unknown), RejectionCode.INVALID_PAYLOAD, "channel")


# --- the window to apply for judicial confirmation (人民调解法 第三十三条) -----------------

APPLY_CONFIRMATION = Action(
    "mediation.record_confirmation_application",
    MEDIATOR_2,
    china(2020, 7, 20),
    {"court": "中山市第二人民法院", "note": "双方共同申请"},
)
CONFIRM = Action(
    "mediation.confirm_judicially",
    MEDIATOR_2,
    china(2020, 7, 30),
    {"court": "中山市第二人民法院", "ruling_number": "(2020)粤2072民特123号"},
)
AGREED = [ACCEPT, ASSIGN, SESSION, AGREE]


def test_the_window_runs_thirty_days_from_the_agreement_and_turns_red_when_it_lapses() -> None:
    agreed, _ = run(AGREED)
    assert [c.rule for c in agreed.clocks] == [WINDOW]  # the conclusion clock stopped
    assert due(agreed, WINDOW) == date(2020, 8, 14)  # agreement 2020-07-15 + 30 days
    clock = agreed.clock(WINDOW)
    assert clock is not None
    assert clock.light(china(2020, 8, 14, 23, 59)) is Light.YELLOW
    assert clock.light(china(2020, 8, 15, 0, 1)) is Light.RED


@pytest.mark.parametrize(
    ("steps", "status"),
    [([APPLY_CONFIRMATION], "confirmation_applied"), ([CONFIRM], "judicially_confirmed")],
    ids=["applied-for", "confirmed-directly"],
)
def test_the_window_stops_when_the_parties_apply_or_the_court_confirms(
    steps: list[Action], status: str
) -> None:
    state, _ = run([*AGREED, *steps])
    assert state.status == status
    assert state.clocks == ()


def test_the_court_confirms_after_the_application_and_then_the_case_closes_after_follow_up() -> (
    None
):
    state, events = run([*AGREED, APPLY_CONFIRMATION, CONFIRM, FOLLOW_UP, CLOSE])
    assert [e.type for e in events[-4:]] == [
        "mediation.judicial_confirmation_applied",
        "mediation.judicially_confirmed",
        "mediation.followed_up",
        "mediation.closed",
    ]
    assert state.status == "closed"


def test_confirmation_is_not_blocked_once_a_follow_up_was_recorded() -> None:
    early_follow_up = replace(FOLLOW_UP, at=china(2020, 7, 20))
    state, _ = run([*AGREED, early_follow_up])
    assert state.status == "followed_up"
    assert state.clock(WINDOW) is not None  # following up does not close the parties' window
    state, _ = run([CONFIRM], state)
    assert state.status == "judicially_confirmed"
    assert state.clocks == ()
    # the follow-up was recorded before the confirmation: no second one is needed to close
    closed, _ = run([CLOSE], state)
    assert closed.status == "closed"


def test_the_parties_may_apply_after_the_follow_up_too() -> None:
    early_follow_up = replace(FOLLOW_UP, at=china(2020, 7, 18))
    state, _ = run([*AGREED, early_follow_up, APPLY_CONFIRMATION])
    assert state.status == "confirmation_applied"
    state, _ = run([CONFIRM, CLOSE], state)
    assert state.status == "closed"


def test_a_confirmed_agreement_is_closed_only_after_its_follow_up() -> None:
    confirmed, _ = run([*AGREED, CONFIRM])
    refuse(
        confirmed,
        replace(CLOSE, at=china(2020, 8, 1)),
        RejectionCode.ILLEGAL_TRANSITION,
        "回访",
        "人民调解法 第三十一条",
    )


def test_one_agreement_is_applied_for_and_confirmed_once() -> None:
    applied, _ = run([*AGREED, APPLY_CONFIRMATION])
    again = replace(APPLY_CONFIRMATION, at=china(2020, 7, 21))
    refuse(applied, again, RejectionCode.ILLEGAL_TRANSITION, "'confirmation_applied'")
    followed, _ = run([replace(FOLLOW_UP, at=china(2020, 7, 22))], applied)
    refuse(
        followed,
        replace(APPLY_CONFIRMATION, at=china(2020, 7, 23)),
        RejectionCode.ILLEGAL_TRANSITION,
        "already applied for",
    )
    confirmed, _ = run([CONFIRM, replace(FOLLOW_UP, at=china(2020, 8, 1))], followed)
    assert confirmed.status == "followed_up"
    refuse(
        confirmed,
        replace(CONFIRM, at=china(2020, 8, 2)),
        RejectionCode.ILLEGAL_TRANSITION,
        "already confirmed",
    )
    refuse(
        confirmed,
        replace(APPLY_CONFIRMATION, at=china(2020, 8, 2)),
        RejectionCode.ILLEGAL_TRANSITION,
        "already confirmed",
    )


def test_a_failed_mediation_has_no_confirmation_window() -> None:
    failure = Action(
        "mediation.record_failure",
        MEDIATOR_2,
        china(2020, 7, 20),
        {"reason": "双方分歧较大", "remedies_told": "可向法院起诉"},
    )
    state, _ = run([ACCEPT, ASSIGN, SESSION, failure])
    assert state.clocks == ()
    refuse(
        state, replace(APPLY_CONFIRMATION, at=china(2020, 7, 21)), RejectionCode.ILLEGAL_TRANSITION
    )


# --- an acceptance stored before referrals were recorded (schema version 1) ----------------------


def stored_v1_acceptance() -> Event:
    """A mediation.accepted as the old code stored it: schema_version 1, no referral field."""
    submission_id = uuid.uuid4()
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid5(submission_id, "0")),
        "case_id": CASE_ID,
        "case_type": "mediation",
        "version": 1,
        "type": "mediation.accepted",
        "schema_version": 1,
        "occurred_at": "2020-07-01T01:30:00Z",
        "recorded_at": "2020-07-01T01:31:00Z",
        "actor": {"officer_id": MEDIATOR, "role": "mediator", "department": TJ},
        "department": TJ,
        "submission_id": str(submission_id),
        "correlation_id": str(submission_id),
        "causation_id": str(submission_id),
        "payload": {
            "dispute": "厂房租赁合同纠纷",
            "parties": [{"name": "甲"}, {"name": "乙"}],
            "amount_in_dispute_fen": 12_000_000,
        },
        "prev_hash": GENESIS_HASH,
        "hash": GENESIS_HASH,
    }
    stored = Event.model_validate(fields).model_dump(mode="json")  # the JSON on the log
    return Event.model_validate({**stored, "hash": chain_hash(stored, suite=SUITE)})


def test_a_version_1_acceptance_still_reads_and_its_case_continues() -> None:
    old = stored_v1_acceptance()
    assert "referral" not in old.payload  # the stored payload is never rewritten
    typed = typed_payload(old)
    assert isinstance(typed, MediationAccepted)
    assert typed.referral is None
    assert typed.amount_in_dispute_fen == 12_000_000
    state = evolve(None, old)
    assert state.status == "accepted"
    assert due(state, "mediation.conclusion") == date(2020, 7, 31)
    state, second = take(state, ASSIGN)
    assert verify_chain([old, second])
    assert fold([old, second]) == state


def test_new_acceptances_are_written_in_schema_version_2() -> None:
    assert CURRENT_VERSIONS["mediation.accepted"] == 2
    _, event = take(None, ACCEPT)
    assert event.schema_version == 2
    assert upcast("mediation.accepted", 1, {"dispute": "d"}) == {"dispute": "d", "referral": None}
