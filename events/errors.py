"""Why a submission was rejected: a small, stable set of machine-readable codes."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RejectionCode(StrEnum):
    """Stable codes: clients branch on these, so never rename one."""

    ILLEGAL_TRANSITION = "illegal_transition"
    """The case's lifecycle does not allow this step from its current state."""
    UNKNOWN_CASE = "unknown_case"
    """The step needs an existing case and none has this case_id."""
    CASE_EXISTS = "case_exists"
    """The step opens a case, but a case with this case_id already exists."""
    VERSION_CONFLICT = "version_conflict"
    """expected_version was given and differs from the case's current version."""
    WRONG_CASE_TYPE = "wrong_case_type"
    """The step belongs to another case type than the case's."""
    INVALID_PAYLOAD = "invalid_payload"
    """The submission could not be parsed or failed validation."""


class Rejection(BaseModel):
    """The answer to a submission that must not be recorded."""

    model_config = ConfigDict(frozen=True)

    code: RejectionCode
    message: str
