"""The shapes on the wire: actor, event envelope, submissions and outcomes (frozen models)."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from events.errors import RejectionCode
from events.hashing import chain_hash

EARLIEST, LATEST = 1900, 2200


def _to_utc(moment: datetime) -> datetime:
    # Bounded well inside datetime's range, so that converting to any timezone (China time for
    # working days, say) can never overflow.
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc.year < LATEST:
        raise ValueError(f"instant out of range: years {EARLIEST} to {LATEST - 1} only")
    return utc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC so that its JSON form (and so hashes) is unique."""

CaseId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="案件编号 / Case identifier", examples=["XF-2020-0001"]),
]

PersonalData = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(json_schema_extra={"x-personal-data": True}),
]
"""A field about a natural person (name, ID number, phone, address): to be encrypted per subject."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CaseType(StrEnum):
    COMPLAINT = "complaint"
    PETITION = "petition"
    MEDIATION = "mediation"
    ENFORCEMENT = "enforcement"


class Actor(Frozen):
    """Who recorded a step."""

    officer_id: str = Field(
        min_length=1, max_length=64, description="工作人员编号 / Officer id", examples=["DY-0042"]
    )
    role: str = Field(
        min_length=1, max_length=64, description="角色 / Role", examples=["petition_officer"]
    )
    department: str = Field(
        min_length=1, max_length=64, description="所属部门 / Department", examples=["信访办"]
    )
    certificate: str | None = Field(
        default=None,
        max_length=64,
        description="执法证号 / Enforcement certificate (filled in from the officer directory)",
        examples=["44200120190007"],
    )


class Event(Frozen):
    """The envelope of every event on the log (DESIGN.md, "The event envelope")."""

    event_id: uuid.UUID
    case_id: CaseId
    case_type: CaseType
    version: int = Field(ge=1, description="1, 2, 3 … gapless per case")
    type: str = Field(description="Past-tense dotted name, e.g. petition.accepted")
    schema_version: int = Field(default=1, ge=1)
    occurred_at: UtcDatetime = Field(description="发生时间 / When it happened")
    recorded_at: UtcDatetime = Field(description="记录时间 / When the decider appended it")
    actor: Actor
    department: str
    submission_id: uuid.UUID
    correlation_id: uuid.UUID
    causation_id: uuid.UUID
    payload: dict[str, Any]
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    def computed_hash(self) -> str:
        return chain_hash(self.model_dump(mode="json"))


# --- Outcomes: the answer to every submission --------------------------------------------


class EventRef(Frozen):
    event_id: uuid.UUID
    version: int
    type: str


class Outcome(Frozen):
    """Accepted (with the events written) or rejected (with a code and a message)."""

    submission_id: uuid.UUID
    case_id: str
    status: Literal["accepted", "rejected"]
    code: RejectionCode | None = None
    message: str = ""
    events: tuple[EventRef, ...] = ()
    version: int = Field(ge=0, description="The case's version after this submission")
    decided_at: UtcDatetime
