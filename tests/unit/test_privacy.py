"""Personal data is found by its mark, wherever it sits in a payload, in the payload upcast to
the current schema; whatever the schema cannot vouch for is masked as personal."""

from typing import Any

import pytest

from events.lifecycles import LIFECYCLES
from events.privacy import MASK, mask_personal
from events.submissions import SubmissionBase, parse_submission
from events.upcasting import CURRENT_VERSIONS
from services.demo.year import submissions


def test_petitioners_are_masked_and_the_rest_is_kept() -> None:
    payload = {
        "channel": "visit",
        "persons": 2,
        "summary": "噪音扰民",
        "petitioners": [{"name": "李四", "phone": "13900000000", "id_number": None}],
        "respondent": "某村委会",
    }
    masked, found, _ = mask_personal("petition.registered", 1, payload)
    assert found
    assert masked["petitioners"] == [{"name": MASK, "phone": MASK, "id_number": None}]
    assert {k: masked[k] for k in ("channel", "persons", "summary", "respondent")} == {
        "channel": "visit",
        "persons": 2,
        "summary": "噪音扰民",
        "respondent": "某村委会",
    }


def test_nested_and_single_persons_are_masked() -> None:
    complaint, found, _ = mask_personal(
        "complaint.registered",
        2,
        {
            "channel": "phone",
            "subject": "油烟",
            "complainant": {"name": "王五", "address": "南文村"},
        },
    )
    assert found
    assert complaint["complainant"] == {"name": MASK, "address": MASK}
    parties, _, _ = mask_personal(
        "mediation.accepted",
        1,
        {
            "dispute": "租赁",
            "parties": [{"name": "甲"}, {"name": "乙"}],
            "amount_in_dispute_fen": 1,
        },
    )
    assert parties["parties"] == [{"name": MASK}, {"name": MASK}]
    assert parties["amount_in_dispute_fen"] == 1


def test_a_payload_without_personal_data_is_untouched() -> None:
    payload = {"note": "符合受理条件"}
    assert mask_personal("petition.accepted", 1, payload) == (payload, False, 1)


def test_a_version_1_complainant_is_masked_in_its_upcast_shape() -> None:
    """complaint.registered v1 held the complainant as one string: no mark matched it as
    stored; upcast, it is a Person, and every field of a Person is personal."""
    stored = {"channel": "phone", "subject": "油烟", "complainant": "王五 13800000000"}
    masked, found, version = mask_personal("complaint.registered", 1, stored)
    assert found
    assert version == 3  # upcast through v2 (a Person) to v3 (named: anonymous false)
    assert masked["anonymous"] is False
    assert masked["complainant"] == {"name": MASK, "phone": MASK}
    assert masked["subject"] == "油烟"
    assert stored["complainant"] == "王五 13800000000"  # the stored payload is never changed


def test_an_anonymous_complaint_holds_nothing_personal() -> None:
    stored = {"channel": "hotline_12345", "subject": "夜间施工", "anonymous": True}
    assert mask_personal("complaint.registered", 3, stored) == (stored, False, 3)
    # as the decider stores it, with every field of the model
    stored = {**stored, "complainant": None, "respondent": "某工地"}
    assert mask_personal("complaint.registered", 3, stored) == (stored, False, 3)


@pytest.mark.parametrize(
    ("event_type", "version", "payload"),
    [
        ("complaint.teleported", 1, {"who": "王五", "count": 3, "none": None}),  # unknown type
        ("complaint.registered", 4, {"complainant": "王五", "subject": "油烟"}),  # too new
        ("complaint.registered", 1, {"subject": "油烟"}),  # v1 without a complainant
        ("petition.accepted", 0, {"note": "王五"}),  # no such version
    ],
)
def test_a_payload_the_schema_cannot_read_is_masked_whole(
    event_type: str, version: int, payload: dict[str, Any]
) -> None:
    masked, found, shown_version = mask_personal(event_type, version, payload)
    assert found
    assert masked == {key: None if value is None else MASK for key, value in payload.items()}
    assert shown_version == version


def test_fields_and_shapes_the_current_schema_does_not_know_are_personal() -> None:
    masked, found, _ = mask_personal(
        "petition.accepted", 1, {"note": "符合受理条件", "caller": "王五 13800000000"}
    )
    assert (masked, found) == ({"note": "符合受理条件", "caller": MASK}, True)
    # an object where the schema has a string, a list where it has a number
    masked, found, _ = mask_personal(
        "petition.registered",
        1,
        {
            "channel": "visit",
            "persons": ["王五"],
            "summary": {"name": "王五"},
            "petitioners": [{"name": "李四", "nickname": "四哥"}],
        },
    )
    assert found
    assert masked == {
        "channel": "visit",
        "persons": MASK,
        "summary": MASK,
        "petitioners": [{"name": MASK, "nickname": MASK}],
    }


def test_the_demo_year_loses_only_marked_fields_to_the_mask() -> None:
    """Over every payload of the demo year, masking changes personal fields and nothing else:
    unknown-is-personal must not hide what supervisors need."""
    events = {s.submission: s.event for lc in LIFECYCLES.values() for s in lc.steps}
    changed: set[tuple[str, str]] = set()

    def diff(event_type: str, stored: Any, shown: Any, path: str = "") -> None:
        if isinstance(stored, dict):
            for key in stored:
                diff(event_type, stored[key], shown[key], f"{path}.{key}".lstrip("."))
        elif isinstance(stored, list):
            for a, b in zip(stored, shown, strict=True):
                diff(event_type, a, b, f"{path}[]")
        elif stored != shown:
            changed.add((event_type, path))

    for body in submissions():
        submission = parse_submission(body)
        assert isinstance(submission, SubmissionBase)
        event_type = events[submission.type]
        payload = submission.payload.model_dump(mode="json")
        masked = mask_personal(event_type, CURRENT_VERSIONS.get(event_type, 1), payload)
        diff(event_type, payload, masked.payload)
    assert changed == {
        ("petition.registered", "petitioners[].name"),
        ("petition.registered", "petitioners[].phone"),
        ("complaint.registered", "complainant.name"),
        ("enforcement.source_registered", "party.name"),
        ("mediation.accepted", "parties[].name"),
        ("mediation.application_registered", "parties[].name"),
        ("disclosure.registered", "applicant.name"),
        ("disclosure.registered", "applicant.phone"),
        ("disclosure.third_party_consulted", "name"),
    }
