"""Every code a screen can show has a "中文 / English" label in the catalogue."""

from collections.abc import Iterator
from typing import Any

from events.deadlines import DEFAULT_RULES
from events.fields import SEARCHABLE, payload_fields, search_texts
from events.labels import catalogue
from events.lifecycles import EVENT_PAYLOADS, LIFECYCLES
from events.officers import Role
from events.payloads import ComplaintChannel

KINDS = {
    "text",
    "number",
    "bool",
    "date",
    "datetime",
    "fen",
    "enum",
    "hash",
    "clock",
    "officer",
    "case",
    "object",
    "list",
}


def _bilingual(title: str) -> bool:
    chinese, _, english = title.partition(" / ")
    return bool(chinese) and bool(english) and any("\u4e00" <= c <= "\u9fff" for c in chinese)


def test_every_status_step_role_and_clock_has_a_bilingual_label() -> None:
    labels = catalogue()
    for lifecycle in LIFECYCLES.values():
        statuses = labels["statuses"][lifecycle.case_type.value]
        assert set(statuses) == set(lifecycle.statuses)
        for step in lifecycle.steps:
            assert _bilingual(labels["events"][step.event]), step.event
            assert _bilingual(labels["submissions"][step.submission]), step.submission
    titles = [
        *(t for by_type in labels["statuses"].values() for t in by_type.values()),
        *labels["roles"].values(),
        *labels["clocks"].values(),
        *labels["case_types"].values(),
    ]
    assert all(_bilingual(t) for t in titles), [t for t in titles if not _bilingual(t)]
    assert set(labels["roles"]) == {role.value for role in Role}
    assert set(labels["clocks"]) == {rule.name for rule in DEFAULT_RULES}


def test_coded_answers_have_labels() -> None:
    values = catalogue()["values"]
    assert set(values["ComplaintChannel"]) == {c.value for c in ComplaintChannel}
    assert values["PenaltyKind"]["fine"] == "罚款 / Fine"
    assert all(_bilingual(t) for by_enum in values.values() for t in by_enum.values())


def _fields(described: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, field in described.items():
        yield name, field
        yield from _fields(field.get("fields", {}))


def test_every_payload_field_has_a_bilingual_label_and_a_kind() -> None:
    fields = catalogue()["fields"]
    assert set(fields) == set(EVENT_PAYLOADS)
    for event_type, described in fields.items():
        assert set(described) == set(EVENT_PAYLOADS[event_type].model_fields), event_type
        for name, field in _fields(described):
            assert _bilingual(field["title"] or ""), (event_type, name, field)
            assert field["kind"] in KINDS, (event_type, name, field)


def test_fields_say_how_their_values_are_shown() -> None:
    fields = catalogue()["fields"]
    decision = fields["enforcement.decision_made"]
    penalty = decision["penalty"]["fields"]
    assert penalty["kind"] == {
        "title": "处罚种类 / Kind of penalty",
        "kind": "enum",
        "enum": "PenaltyKind",
    }
    # Shown in yuan: the label no longer names the fen it is stored in.
    assert penalty["amount_fen"] == {"title": "罚款金额 / Fine", "kind": "fen"}
    assert decision["major"]["kind"] == "bool"
    items = fields["enforcement.evidence_collected"]["items"]
    assert items["kind"] == "list"
    assert items["fields"]["content_hash"]["kind"] == "hash"
    assert fields["petition.registered"]["channel"]["enum"] == "PetitionChannel"
    assert fields["complaint.assigned"]["officer_id"]["kind"] == "officer"
    assert fields["case.deadline_extended"]["clock"]["kind"] == "clock"
    assert fields["case.supervision_noted"]["respond_by"]["kind"] == "date"
    petitioner = fields["petition.registered"]["petitioners"]["fields"]["name"]
    assert petitioner == {"title": "姓名 / Name", "kind": "text", "personal": True}
    # Every coded value a field names has its labels in the catalogue.
    values = catalogue()["values"]
    enums = {f["enum"] for d in fields.values() for _, f in _fields(d) if f["kind"] == "enum"}
    assert "PenaltyKind" in enums
    assert enums <= set(values), enums - set(values)


def test_cases_are_found_by_what_they_are_about_never_by_personal_data() -> None:
    found = search_texts(
        "enforcement.filed", {"case_number": " 大涌执法立〔2020〕15号 ", "cause": "涉嫌无证经营"}
    )
    assert found == [("case_number", "大涌执法立〔2020〕15号"), ("cause", "涉嫌无证经营")]
    assert search_texts("petition.registered", {"summary": "厂房噪音", "persons": 3}) == [
        ("summary", "厂房噪音")
    ]
    # Names, findings and replies are not searched; a blank field gives nothing.
    assert search_texts("complaint.replied", {"reply": "已责令整改", "method": "phone"}) == []
    assert (
        search_texts("complaint.registered", {"subject": "  ", "complainant": {"name": "王五"}})
        == []
    )
    searched = {(e, n) for e, d in payload_fields().items() for n in SEARCHABLE & d.keys()}
    assert ("complaint.registered", "subject") in searched
    assert ("enforcement.decision_made", "decision_number") in searched
    for event_type, name in searched:
        field = payload_fields()[event_type][name]
        assert field["kind"] == "text", (event_type, name)
        assert not field.get("personal"), (event_type, name)
