"""Why a submission was rejected: a small, stable set of machine-readable codes.

Clients branch on these codes, so a code is never renamed or reused. The message names what was
wrong for a person to read.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class RejectionCode(StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    MISSING_FIELD = "missing_field"
    UNKNOWN_CASE = "unknown_case"
    CASE_EXISTS = "case_exists"
    WRONG_CASE_TYPE = "wrong_case_type"
    VERSION_CONFLICT = "version_conflict"
    FORBIDDEN_ROLE = "forbidden_role"
    CERTIFICATE_REQUIRED = "certificate_required"
    WRONG_DEPARTMENT = "wrong_department"
    ILLEGAL_TRANSITION = "illegal_transition"
    LEGAL_REVIEW_REQUIRED = "legal_review_required"
    HEARING_REQUIRED = "hearing_required"
    REPLY_REQUIRED = "reply_required"
    LIMIT_EXCEEDED = "limit_exceeded"
    UNSIGNED_SUBMISSION = "unsigned_submission"
    UNKNOWN_SIGNER = "unknown_signer"
    BAD_SIGNATURE = "bad_signature"
    SIGNER_DEPARTMENT_MISMATCH = "signer_department_mismatch"
    CALENDAR_NOT_COVERED = "calendar_not_covered"
    TOO_LATE = "too_late"
    FINAL_STAGE_REACHED = "final_stage_reached"


MEANING: dict[RejectionCode, str] = {
    RejectionCode.INVALID_PAYLOAD: (
        "The submission could not be parsed, or a field has a wrong type or value."
    ),
    RejectionCode.MISSING_FIELD: (
        "Content the step requires is missing (a reason, an amount, a legal basis, a receipt…)."
    ),
    RejectionCode.UNKNOWN_CASE: ("The step needs an existing case and none has this case_id."),
    RejectionCode.CASE_EXISTS: (
        "The step opens a case, but a case with this case_id already exists."
    ),
    RejectionCode.WRONG_CASE_TYPE: ("The step belongs to another case type than the case's."),
    RejectionCode.VERSION_CONFLICT: (
        "expected_version was given and differs from the case's current version."
    ),
    RejectionCode.FORBIDDEN_ROLE: (
        "The actor is unknown, is not who they claim, or lacks the role the step needs."
    ),
    RejectionCode.CERTIFICATE_REQUIRED: (
        "An enforcement step by an officer without an enforcement certificate valid that day."
    ),
    RejectionCode.WRONG_DEPARTMENT: (
        "Only the department that currently owns the case may take this step, or, for a step the"
        " law gives to another body (a petition review: the reviewing body above the handling"
        " office), only that body."
    ),
    RejectionCode.ILLEGAL_TRANSITION: (
        "The lifecycle does not allow this step from the case's current status."
    ),
    RejectionCode.LEGAL_REVIEW_REQUIRED: (
        "A major enforcement decision needs an approved legal review (法制审核) first."
    ),
    RejectionCode.HEARING_REQUIRED: (
        "The party asked for a hearing (听证), which must be held before the decision."
    ),
    RejectionCode.REPLY_REQUIRED: (
        "A complaint, petition or information-disclosure request cannot be closed before the"
        " reply, opinion or answer is given (an anonymous complaint excepted), nor a complaint"
        " followed up without a reply."
    ),
    RejectionCode.LIMIT_EXCEEDED: ("An extension beyond what the deadline's rule allows."),
    RejectionCode.UNSIGNED_SUBMISSION: (
        "The submission carries no signature: every step is signed by a key registered for its"
        " department, or by the gateway for a department's token (docs/signing.md)."
    ),
    RejectionCode.UNKNOWN_SIGNER: (
        "The signature's key is not in the key ring as a department or gateway key, or is not"
        " valid at the time of the decision."
    ),
    RejectionCode.BAD_SIGNATURE: (
        "The signature does not verify over the submission's canonical JSON: it was altered"
        " after signing, or signed with another key."
    ),
    RejectionCode.SIGNER_DEPARTMENT_MISMATCH: (
        "The signature vouches for another department than the actor's, or its key may not"
        " vouch for that department (the system clock's steps only by the clock's own key)."
    ),
    RejectionCode.CALENDAR_NOT_COVERED: (
        "A deadline the step starts or moves would run into a year whose holiday schedule no"
        " source holds yet: the step waits until an operator adds the State Council's notice"
        " (a calendar file) rather than counting Monday to Friday."
    ),
    RejectionCode.TOO_LATE: (
        "The step is a request the law allows only within a period, and the period is over (a"
        " petition review asked more than 30 days after the petitioner received the reply)."
    ),
    RejectionCode.FINAL_STAGE_REACHED: (
        "The matter has reached its final stage (三级终结: a petition after its second review,"
        " 复核): a further review of the same matter is not accepted."
    ),
}
"""What each code means: published in docs/lifecycles.md."""


class Rejection(BaseModel):
    """The answer to a submission that must not be recorded."""

    model_config = ConfigDict(frozen=True)

    code: RejectionCode
    message: str


def reject(code: RejectionCode, message: str) -> Rejection:
    return Rejection(code=code, message=message)
