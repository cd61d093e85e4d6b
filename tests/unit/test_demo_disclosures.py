"""The demo's information-disclosure requests: none in 2020, as the report says, and the
illustrative ones of 2021 each decided as the real decider would, covering every answer."""

from collections import Counter
from datetime import UTC, datetime

from events.decide import decide, evolve
from events.errors import Rejection
from events.model import Event
from events.payloads import DisclosureAnswerType
from events.state import CaseState, Context
from events.submissions import SubmissionBase, parse_submission
from services.decider.officers import load_officers
from services.demo import OFFICERS_FILE
from services.demo.year import DISCLOSURES_2020, illustrative_disclosures, submissions
from tests.signing import SUITE

OFFICERS = load_officers(OFFICERS_FILE)


def decided(request: list[dict[str, object]]) -> tuple[CaseState, list[Event]]:
    state: CaseState | None = None
    events: list[Event] = []
    for body in request:
        submission = parse_submission(body)
        assert isinstance(submission, SubmissionBase), submission
        result = decide(state, submission, Context(datetime.now(UTC), OFFICERS, suite=SUITE))
        assert not isinstance(result, Rejection), (body["case_id"], body["type"], result)
        for event in result:
            state = evolve(state, event)
            events.append(event)
    assert state is not None
    return state, events


def test_the_demo_s_2020_has_no_information_disclosure_request() -> None:
    opened = Counter(
        body["occurred_at"][:4] for body in submissions() if body["type"] == "disclosure.register"
    )
    assert opened.get("2020", 0) == DISCLOSURES_2020 == 0  # 依申请公开的信件0件
    assert opened == {"2021": len(illustrative_disclosures())}


def test_the_illustrative_requests_are_decided_and_cover_every_answer() -> None:
    answers: set[str] = set()
    types: Counter[str] = Counter()
    for request in illustrative_disclosures():
        state, events = decided(request)
        assert state.status in ("closed", "withdrawn"), state.case_id
        assert state.owner_department == "党政办"
        types.update(event.type for event in events)
        answers |= {e.payload["answer"] for e in events if e.type == "disclosure.answered"}
        views = {e.payload["view"] for e in events if e.type == "disclosure.third_party_replied"}
        assert views <= {"objects", "no_reply", "consents"}
    assert answers == {answer.value for answer in DisclosureAnswerType}
    for shown in (
        "disclosure.correction_requested",
        "disclosure.correction_received",
        "disclosure.withdrawal_deemed",
        "disclosure.third_party_consulted",
        "disclosure.third_party_replied",
        "case.deadline_extended",
    ):
        assert types[shown] >= 1, shown
