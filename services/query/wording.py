"""Codes in the officials' words, for documents made on the server (exports, the case file): the
Chinese half of each "中文 / English" label of ``events.labels.catalogue`` (what ``GET /labels``
serves the dashboard). A code without a label is shown as the code: there is nothing else to
show, and nothing is passed off as a label."""

from functools import cache
from typing import Any

from events.labels import catalogue


@cache
def _catalogue() -> dict[str, Any]:
    return catalogue()


def chinese(title: str | None, code: str) -> str:
    """The Chinese half of ``title``; ``code`` when there is no title."""
    if not title:
        return code
    return title.split(" / ", 1)[0]


def case_type(code: str) -> str:
    return chinese(_catalogue()["case_types"].get(code), code)


def status(case_type_code: str | None, code: str) -> str:
    statuses: dict[str, dict[str, str]] = _catalogue()["statuses"]
    if case_type_code is not None and code in statuses.get(case_type_code, {}):
        return chinese(statuses[case_type_code][code], code)
    # Without the case type (a statistics row by status alone): the first type that has it.
    title = next((titles[code] for titles in statuses.values() if code in titles), None)
    return chinese(title, code)


def step(event_type: str) -> str:
    return chinese(_catalogue()["events"].get(event_type), event_type)


def role(code: str) -> str:
    return chinese(_catalogue()["roles"].get(code), code)


def light(code: str) -> str:
    return chinese(_catalogue()["lights"].get(code), code)


def clock(name: str) -> str:
    """A deadline; a rule with one clock per starting event is named ``<rule>#<version>``."""
    rule, _, key = name.partition("#")
    label = chinese(_catalogue()["clocks"].get(rule), rule)
    return f"{label} #{key}" if key else label


def value(enum: str | None, code: str) -> str:
    titles: dict[str, str] = _catalogue()["values"].get(enum or "", {})
    return chinese(titles.get(code), code)


def fields(event_type: str) -> dict[str, Any]:
    """What each field of a step's payload is (``events.fields``): title, kind, members."""
    described: dict[str, Any] = _catalogue()["fields"].get(event_type, {})
    return described


def channel(case_type_code: str | None, code: str | None) -> str | None:
    """A registration's channel, labelled by the enum of its case type's opening step."""
    if not code:
        return None
    for event_type, described in _catalogue()["fields"].items():
        if case_type_code and not event_type.startswith(case_type_code + "."):
            continue
        field = described.get("channel")
        if field and field.get("kind") == "enum":
            titles = _catalogue()["values"].get(field.get("enum"), {})
            if code in titles:
                return chinese(titles[code], code)
    return code


TOKEN_ROLES = {
    "department": "部门",
    "supervisor": "督查",
    "auditor": "审计",
    "public": "公众",
}
"""The readers' token roles (``services.tokens.TokenRole``), as a document names its reader."""


def role_of_token(code: str) -> str:
    return TOKEN_ROLES.get(code, code)
