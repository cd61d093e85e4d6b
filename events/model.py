"""The shapes on the wire: actor, event envelope, submissions and outcomes (frozen models)."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)

from events.errors import RejectionCode
from events.hashing import chain_hash


def _to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


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
    PETITION = "petition"


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
        default=None, max_length=64, description="执法证号 / Enforcement certificate number"
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


# --- Petition (信访) payloads -------------------------------------------------------------


class PetitionChannel(StrEnum):
    LETTER = "letter"
    VISIT = "visit"
    ONLINE = "online"
    PHONE = "phone"


class PetitionRegistered(Frozen):
    """登记: a petition is registered with its channel and number of persons."""

    channel: PetitionChannel = Field(description="信访渠道 / Channel", examples=["visit"])
    persons: int = Field(ge=1, le=10_000, description="人次 / Number of persons", examples=[3])
    summary: str = Field(
        min_length=1, max_length=2000, description="诉求摘要 / What is asked", examples=["噪音扰民"]
    )
    petitioner: PersonalData | None = Field(default=None, description="信访人 / Petitioner")


class PetitionAccepted(Frozen):
    """受理: the petition is accepted for handling."""

    note: str = Field(default="", max_length=2000, description="受理意见 / Note")


# --- Submissions: what a department asks to record ---------------------------------------


class SubmissionBase(Frozen):
    submission_id: uuid.UUID = Field(description="Idempotency key: a re-sent submission keeps it")
    case_id: CaseId
    actor: Actor
    expected_version: int | None = Field(
        default=None, ge=0, description="When given, the case's version must equal it"
    )
    occurred_at: UtcDatetime
    correlation_id: uuid.UUID | None = None


class RegisterPetition(SubmissionBase):
    type: Literal["petition.register"]
    payload: PetitionRegistered


class AcceptPetition(SubmissionBase):
    type: Literal["petition.accept"]
    payload: PetitionAccepted = PetitionAccepted()


Submission = Annotated[RegisterPetition | AcceptPetition, Field(discriminator="type")]
SUBMISSION = TypeAdapter[RegisterPetition | AcceptPetition](Submission)


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
