"""Why a submission was rejected: a small, stable set of machine-readable codes.

Clients branch on these codes, so a code is never renamed or reused. The message names what was
wrong for a person to read.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RejectionCode(StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    """The submission could not be parsed, or a field has a wrong type or value."""
    MISSING_FIELD = "missing_field"
    """Content the step requires is missing (a reason, an amount, a legal basis, a receipt…)."""
    UNKNOWN_CASE = "unknown_case"
    """The step needs an existing case and none has this case_id."""
    CASE_EXISTS = "case_exists"
    """The step opens a case, but a case with this case_id already exists."""
    WRONG_CASE_TYPE = "wrong_case_type"
    """The step belongs to another case type than the case's."""
    VERSION_CONFLICT = "version_conflict"
    """expected_version was given and differs from the case's current version."""
    FORBIDDEN_ROLE = "forbidden_role"
    """The actor is unknown, is not who they claim, or lacks the role the step needs."""
    CERTIFICATE_REQUIRED = "certificate_required"
    """An enforcement step by an officer without an enforcement certificate valid that day."""
    WRONG_DEPARTMENT = "wrong_department"
    """Only the department that currently owns the case may take this step."""
    ILLEGAL_TRANSITION = "illegal_transition"
    """The lifecycle does not allow this step from the case's current status."""
    LEGAL_REVIEW_REQUIRED = "legal_review_required"
    """A major enforcement decision needs an approved legal review (法制审核) first."""
    HEARING_REQUIRED = "hearing_required"
    """The party asked for a hearing (听证), which must be held before the decision."""
    REPLY_REQUIRED = "reply_required"
    """A complaint or petition cannot be closed before the reply or opinion is given."""
    LIMIT_EXCEEDED = "limit_exceeded"
    """An extension beyond what the deadline's rule allows."""


class Rejection(BaseModel):
    """The answer to a submission that must not be recorded."""

    model_config = ConfigDict(frozen=True)

    code: RejectionCode
    message: str
