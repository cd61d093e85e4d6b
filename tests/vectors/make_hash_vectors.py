"""Writes tests/vectors/hash_chain.json: one complaint's events, decided from fixed inputs.

Run once when the envelope changes on purpose: `python -m tests.vectors.make_hash_vectors`
(and with `guomi`: guomi/hash_chain.json, the same events chained with SM3). The tests then hold
the code to these bytes, and other languages check themselves against them.
"""

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from events.decide import decide, evolve
from events.hashing import canonical_json
from events.model import Event, VouchedBy
from events.officers import Officer, Role
from events.state import CaseState, Context
from events.submissions import SubmissionBase, parse_submission
from events.suite import Suite

OFFICER = Officer(
    officer_id="DY-XF-01", name="王芳", department="信访办", roles=frozenset({Role.OFFICER})
)
ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
NAMESPACE = uuid.UUID("00000000-0000-0000-0000-000000002020")
STEPS: list[tuple[str, dict[str, Any], str]] = [
    (
        "complaint.register",
        {
            "channel": "hotline_12345",
            "subject": '餐馆油烟扰民\n"夜间"营业\t\\ 后厨排烟',
            "complainant": {"name": "王五", "phone": "13800000000"},
        },
        "2020-09-25T09:30:00+08:00",
    ),
    ("complaint.accept", {"note": "符合受理条件"}, "2020-09-25T10:00:00.123456+08:00"),
    (
        "complaint.assign",
        {"department": "信访办", "officer_id": "DY-XF-01"},
        "2020-09-27T08:00:00Z",
    ),
    ("complaint.investigate", {"findings": "经现场核查，情况属实"}, "2020-09-27T18:00:00+08:00"),
]
VOUCHED = {3: VouchedBy(key_id="c8b38bd68c3c3201", department="信访办", kind="gateway")}
"""Who vouched, by step: the first three were recorded before submissions were signed, and so
have no ``vouched_by`` at all; the fourth has one, which its hash covers."""


def chain(suite: Suite = Suite.INTERNATIONAL) -> list[Event]:
    state: CaseState | None = None
    events: list[Event] = []
    for index, (kind, payload, occurred_at) in enumerate(STEPS):
        submission = parse_submission(
            {
                "type": kind,
                "submission_id": str(uuid.uuid5(NAMESPACE, str(index))),
                "case_id": "TS-2020-0001",
                "actor": ACTOR,
                "occurred_at": occurred_at,
                "payload": payload,
            }
        )
        assert isinstance(submission, SubmissionBase), submission
        recorded_at = datetime(2020, 9, 28, 1, 2, 3, index, tzinfo=UTC)
        officers = {OFFICER.officer_id: OFFICER}
        context = Context(recorded_at, officers, vouched_by=VOUCHED.get(index), suite=suite)
        result = decide(state, submission, context)
        assert isinstance(result, tuple), result
        for event in result:
            state = evolve(state, event)
            events.append(event)
    return events


def vectors(suite: Suite = Suite.INTERNATIONAL) -> list[dict[str, Any]]:
    return [
        {
            "event": event.model_dump(mode="json"),
            "canonical": canonical_json(
                {k: v for k, v in event.model_dump(mode="json").items() if k != "hash"}
            ).decode(),
            "hash": event.hash,
        }
        for event in chain(suite)
    ]


def folder(suite: Suite) -> Path:
    """Where a suite's vectors are: here for international, guomi/ for guomi."""
    here = Path(__file__).parent
    return here if suite is Suite.INTERNATIONAL else here / suite.value


if __name__ == "__main__":
    suite = Suite(sys.argv[1]) if len(sys.argv) > 1 else Suite.INTERNATIONAL
    path = folder(suite) / "hash_chain.json"
    path.write_text(json.dumps(vectors(suite), ensure_ascii=False, indent=2) + "\n", "utf-8")
    print(f"wrote {path}")
