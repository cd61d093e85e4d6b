"""Who may act: officers, their roles and enforcement certificates.

Officers are data the lifecycle functions receive (a directory keyed by officer id), never
constants: departments change, certificates expire.
"""

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field, TypeAdapter

from events.model import Frozen


class Role(StrEnum):
    OFFICER = "officer"
    """部门工作人员: records complaints and petitions for their department."""
    ENFORCEMENT_OFFICER = "enforcement_officer"
    """持证执法人员: records enforcement steps; needs a valid enforcement certificate."""
    LEGAL_REVIEWER = "legal_reviewer"
    """法制审核人员: reviews major enforcement decisions before they are made."""
    MEDIATOR = "mediator"
    """人民调解员: runs people's mediation cases."""
    SUPERVISOR = "supervisor"
    """督查 / 分管领导: adds supervision notes (督办) to any department's cases."""
    PRIVACY_OFFICER = "privacy_officer"
    """个人信息保护负责人: records the erasure of personal data an auditor approved."""
    SYSTEM = "system"
    """The system clock: the only actor that records deadline warnings and breaches."""


ROLE_TITLES: dict[Role, str] = {
    Role.OFFICER: "部门工作人员 / Department officer",
    Role.ENFORCEMENT_OFFICER: "持证执法人员 / Certified enforcement officer",
    Role.LEGAL_REVIEWER: "法制审核人员 / Legal reviewer",
    Role.MEDIATOR: "人民调解员 / Mediator",
    Role.SUPERVISOR: "督查 / Supervisor",
    Role.PRIVACY_OFFICER: "个人信息保护负责人 / Personal-data officer",
    Role.SYSTEM: "系统时钟 / System clock",
}

SYSTEM_CLOCK_ID = "system-clock"


class Certificate(Frozen):
    """执法证: an enforcement certificate and its validity (both days inclusive)."""

    number: str = Field(min_length=1, max_length=64, examples=["44200120200089"])
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


class Officer(Frozen):
    officer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=64)
    department: str = Field(min_length=1, max_length=64)
    roles: frozenset[Role]
    certificate: Certificate | None = None


_OFFICERS = TypeAdapter(list[Officer])


def directory(document: Any) -> dict[str, Officer]:
    """Officers by id from a directory document (``{"officers": [...]}``, as JSON parsed);
    raises ValueError, KeyError or TypeError when it is not one."""
    officers = _OFFICERS.validate_python(document["officers"])
    return {officer.officer_id: officer for officer in officers}
