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
    PlainSerializer,
    StringConstraints,
)

from events.errors import RejectionCode
from events.hashing import chain_hash
from events.suite import Suite

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


_SORTED = PlainSerializer(sorted, when_used="json")
SortedStrings = Annotated[frozenset[str], _SORTED]
SortedInts = Annotated[frozenset[int], _SORTED]
"""Sets whose JSON is sorted: a set of strings iterates in an order that differs from process to
process (hash randomisation), and a state stored as JSON must not depend on which process wrote
it (a projection rebuilt elsewhere must equal the live one)."""


class CaseType(StrEnum):
    COMPLAINT = "complaint"
    PETITION = "petition"
    MEDIATION = "mediation"
    ENFORCEMENT = "enforcement"
    DISCLOSURE = "disclosure"


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


SIGNATURE_EXAMPLE = {
    "key_id": "c8b38bd68c3c3201",
    "department": "信访办",
    "value": "lpqiDo0mv8o748y4alz06uaSOHneAxQz8CDKnFjzjBp9sTYY"
    "PQYR8Qjap1uM0/oBhpu/bRULQh+eIiISFxndBg==",
}
"""The signature of docs/signing.md's worked example (tests/vectors/signed_submission.json)."""


class Signature(Frozen):
    """Who vouches for a submission: a key of the key ring, the department it vouches for, and
    a signature of the log's suite (Ed25519, or SM2 with SM3 under guomi) over the submission's
    canonical JSON (``events.signing``, docs/signing.md)."""

    key_id: str = Field(
        min_length=1,
        max_length=64,
        description="密钥编号 / The signing key's id in the key ring: the first 16 hex digits of"
        " the suite's hash of its raw public key (SHA-256 of the 32-byte Ed25519 key; under"
        " guomi, SM3 of the 65-byte uncompressed SM2 point)",
        examples=[SIGNATURE_EXAMPLE["key_id"]],
    )
    department: str = Field(
        min_length=1,
        max_length=64,
        description="担保部门 / The department the signer vouches for: the actor's (the system"
        " clock's own key vouches for 'system-clock')",
        examples=["信访办"],
    )
    value: str = Field(
        min_length=1,
        max_length=200,
        description="签名值 / Base64 of the signature of the canonical JSON of the whole"
        " submission without signature.value: the 64-byte Ed25519 signature, or under guomi the"
        " SM2 signature (SM3, default user id) in canonical DER",
        examples=[SIGNATURE_EXAMPLE["value"]],
    )


class VouchedBy(Frozen):
    """Who vouched for the step an event records: the key whose signature the decider checked
    (``kind``: a department's own key, or the gateway's for a department token)."""

    key_id: str = Field(description="签名密钥编号 / Key id in the key ring")
    department: str = Field(description="担保部门 / The department vouched for")
    kind: Literal["department", "gateway"] = Field(
        description="签名方 / A department's own key, or the gateway's (vouching for a token)"
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
    vouched_by: VouchedBy | None = Field(
        default=None,
        # Absent, not null, when nobody vouched (events written before signatures): the JSON and
        # so the hash of every event recorded before stay exactly as they were.
        exclude_if=lambda value: value is None,
        description="担保人 / Whose signature the decider checked; absent on events recorded"
        " before submissions were signed",
    )
    payload: dict[str, Any]
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    def computed_hash(self, suite: Suite) -> str:
        return chain_hash(self.model_dump(mode="json"), suite)


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
