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
    TWO_OFFICERS_REQUIRED = "two_officers_required"
    COLLECTIVE_DISCUSSION_REQUIRED = "collective_discussion_required"
    PERIOD_NOT_OVER = "period_not_over"
    PERIOD_EXPIRED = "period_expired"
    PUBLICATION_REQUIRED = "publication_required"
    UNSIGNED_SUBMISSION = "unsigned_submission"
    UNKNOWN_SIGNER = "unknown_signer"
    BAD_SIGNATURE = "bad_signature"
    SIGNER_DEPARTMENT_MISMATCH = "signer_department_mismatch"
    CALENDAR_NOT_COVERED = "calendar_not_covered"
    FINAL_STAGE_REACHED = "final_stage_reached"
    WRONG_PARTITION = "wrong_partition"


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
    RejectionCode.TWO_OFFICERS_REQUIRED: (
        "An investigative act (evidence, sampling) needs at least two enforcement officers of"
        " the department with certificates valid that day, the actor and the ones named"
        " (行政处罚法 第四十二条; 第五十五条, not checked against the text)."
    ),
    RejectionCode.COLLECTIVE_DISCUSSION_REQUIRED: (
        "A penalty in a major or complex enforcement case needs the department heads'"
        " collective discussion (集体讨论, 行政处罚法 第五十七条第二款) first."
    ),
    RejectionCode.PERIOD_NOT_OVER: (
        "The step may only follow a period that has not ended yet: the party's window for"
        " statement, defence and hearing (陈述、申辩、听证) after a notice, the payment period,"
        " ten days after a demand (催告), the periods for review and suit."
    ),
    RejectionCode.PERIOD_EXPIRED: (
        "The step had to come within a period that has ended: a hearing request within five"
        " days of the notice, a petition review asked within 30 days of receiving the reply."
    ),
    RejectionCode.PUBLICATION_REQUIRED: (
        "An enforcement case with a penalty decision cannot be closed before its publication"
        " (公示), or why it is not published, is recorded."
    ),
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
    RejectionCode.FINAL_STAGE_REACHED: (
        "The matter has reached its final stage (三级终结: a petition after its second review,"
        " 复核): a further review of the same matter is not accepted."
    ),
    RejectionCode.WRONG_PARTITION: (
        "The submission was forwarded to its case's partition once already and still arrived"
        " on another: the deciders disagree on the topic's partition count (an operator's"
        " matter). It is not forwarded again; send it again once they agree."
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
