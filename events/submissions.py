"""Submissions: what a department asks to record, one model per step.

The models are made from the lifecycle tables, so a step added there is a submission here, in
the published JSON Schemas and in the AsyncAPI document, with nothing else to write.
"""

import json
import uuid
from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, ValidationError, create_model, model_validator

from events.errors import Rejection, RejectionCode
from events.lifecycles import LIFECYCLES
from events.model import SIGNATURE_EXAMPLE, Actor, CaseId, Frozen, Signature, UtcDatetime


class SubmissionBase(Frozen):
    """Fields every submission has; ``type`` and ``payload`` come with each step's model."""

    type: str
    submission_id: uuid.UUID = Field(
        description="提交编号，重发时不变 / Idempotency key: a re-sent submission keeps it",
        examples=["6dfdcf5b-ec97-513d-897f-80a0743f3f88"],
    )
    case_id: CaseId
    actor: Actor = Field(
        description="办理人 / Who records it",
        examples=[{"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}],
    )
    expected_version: int | None = Field(
        default=None,
        ge=0,
        description="期望版本 / When given, the case's version must equal it",
        examples=[1],
    )
    occurred_at: UtcDatetime = Field(
        description="发生时间 / When it happened (may be earlier than its recording)",
        examples=["2020-03-04T09:30:00+08:00"],
    )
    correlation_id: uuid.UUID | None = Field(
        default=None, description="关联编号 / Ties related submissions together", examples=[None]
    )
    signature: Signature | None = Field(
        default=None,
        description="签名 / Who vouches for this submission (docs/signing.md): the decider"
        " rejects one without (unsigned_submission); the gateway signs what it accepts with a"
        " token",
        examples=[SIGNATURE_EXAMPLE],
    )
    payload: Any

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        """No text of a submission may hold the NUL character or a lone surrogate (not Unicode,
        JSON's "\\ud800"): PostgreSQL refuses the one in text and in jsonb, and no UTF-8 holds
        the other, so an event carrying either would stop every projection that stores it."""
        if not _storable(data):
            raise ValueError(
                "不能含有 NUL 字符或孤立代理项 / no text may contain the NUL character (U+0000)"
                " or a lone surrogate (U+D800 to U+DFFF)"
            )
        return data


def _storable(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" not in data and _utf_8(data)
    if isinstance(data, dict):
        return all(_storable(key) and _storable(value) for key, value in data.items())
    if isinstance(data, list | tuple):
        return all(_storable(item) for item in data)
    return True


def _utf_8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _model_name(submission_type: str) -> str:
    return "".join(part.title() for part in submission_type.replace(".", "_").split("_"))


def example_of(model: type[Frozen]) -> dict[str, Any]:
    """A payload made of each field's first example."""
    return {name: field.examples[0] for name, field in model.model_fields.items() if field.examples}


def _default_of(payload: type[Frozen]) -> Any:
    """A payload whose fields all have defaults may be left out of a submission."""
    try:
        return payload()
    except ValidationError:
        return ...


def _submission_model(
    submission_type: str, payload: type[Frozen], title: str
) -> type[SubmissionBase]:
    literal = cast(Any, Literal)[submission_type]
    model = create_model(
        _model_name(submission_type),
        __base__=SubmissionBase,
        __doc__=title,
        type=(literal, Field(description=title, examples=[submission_type])),
        payload=(
            payload,
            Field(
                default=_default_of(payload),
                description=f"{title}: 内容 / What is recorded",
                examples=[example_of(payload)],
            ),
        ),
    )
    return cast(type[SubmissionBase], model)


SUBMISSION_MODELS: dict[str, type[SubmissionBase]] = {}
for _lifecycle in LIFECYCLES.values():
    for _step in _lifecycle.steps:
        if _step.submission not in SUBMISSION_MODELS:
            SUBMISSION_MODELS[_step.submission] = _submission_model(
                _step.submission, _step.payload, _step.title
            )

# A discriminated union on "type", one member per step; built at import, so to type checkers it
# is only "a submission".
Submission: Any = Annotated[
    Union[tuple(SUBMISSION_MODELS.values())],  # noqa: UP007
    Field(discriminator="type"),
]
SUBMISSION: TypeAdapter[SubmissionBase] = TypeAdapter(Submission)
_CASE_ID: TypeAdapter[str] = TypeAdapter(CaseId)


def rejection_for(error: ValidationError) -> Rejection:
    """A validation failure as a rejection: ``missing_field`` when required content is absent
    (or blank), ``invalid_payload`` otherwise; the message names every field path (first ten)."""
    details = error.errors(include_url=False)
    missing = all(
        d["type"] == "missing"
        or (d["type"] == "string_too_short" and d.get("ctx", {}).get("min_length") == 1)
        for d in details
    )
    message = "; ".join(
        f"{'.'.join(str(part) for part in d['loc']) or '(body)'}: {d['msg']}" for d in details[:10]
    )
    code = RejectionCode.MISSING_FIELD if missing else RejectionCode.INVALID_PAYLOAD
    return Rejection(code=code, message=message)


def parse_submission(raw: bytes | str | dict[str, Any]) -> SubmissionBase | Rejection:
    """Validate a submission from JSON or a dict."""
    try:
        if isinstance(raw, dict):
            return SUBMISSION.validate_python(raw)
        return SUBMISSION.validate_json(raw)
    except ValidationError as error:
        return rejection_for(error)


def attribution(raw: bytes | str) -> tuple[uuid.UUID, str] | None:
    """The submission_id and case_id of a submission that failed validation, when readable: a
    UUID and a well-formed case_id (anything else could not be answered on the outcomes topic).
    Never raises, whatever the bytes (deep nesting, invalid UTF-8, huge numbers)."""
    try:
        # Numbers stay text: a number too long for int() must not hide whose submission it is.
        body = json.loads(raw, parse_int=str, parse_float=str, parse_constant=str)
        submission_id, case_id = body["submission_id"], body["case_id"]
        if not isinstance(submission_id, str) or not isinstance(case_id, str):
            return None
        return uuid.UUID(submission_id), _CASE_ID.validate_python(case_id)
    except (ValueError, TypeError, KeyError, RecursionError, ValidationError):
        return None
