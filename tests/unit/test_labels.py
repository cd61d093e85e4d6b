"""Every code a screen can show has a "中文 / English" label in the catalogue."""

from events.deadlines import DEFAULT_RULES
from events.labels import catalogue
from events.lifecycles import LIFECYCLES
from events.officers import Role
from events.payloads import ComplaintChannel


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
