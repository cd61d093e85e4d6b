"""What the client raises. Every error carries the services' error shape, ``code`` and
``message`` (``services/adapters/http.py``), with the HTTP status it came with (None when no
service answered), so a department's code branches on ``code`` as it would on the JSON."""

import uuid
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx
import orjson
from pydantic import ValidationError

from events.errors import RejectionCode
from events.model import Outcome


class ClientCode(StrEnum):
    """The client's own codes, for what no service said in so many words. The services' codes
    are ``RejectionCode`` (the decider's) and ``ErrorCode`` (``services/adapters/http.py``)."""

    PENDING = "pending"
    """No outcome within the timeout: the submission may still be decided; submitting it
    again (same ``submission_id``) is safe and returns its outcome once there is one."""
    UNREACHABLE = "unreachable"
    """No answer from the service within the timeout (refused connections, timeouts)."""
    READ_MODEL_BEHIND = "read_model_behind"
    """The query API did not show the case at the version asked for within the timeout."""
    BAD_ANSWER = "bad_answer"
    """An answer that is not what the service's contract says (a number sent as a string, a
    field missing): the client and the services are of different releases, or a proxy spoke."""


class CaseTrailError(Exception):
    """An error answer of a CaseTrail service, or the client's own (``ClientCode``)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.errors = errors
        """Field by field, for a 422 of the services' validation (``loc``, ``msg``, ``type``)."""
        self.retry_after = retry_after
        """Seconds the service asked to wait before trying again (503, 429), if it did."""


class Rejected(CaseTrailError):
    """The decider rejected the submission: nothing was recorded. ``outcome`` is its answer;
    ``code`` a ``RejectionCode`` (``version_conflict``, ``unknown_case``, …)."""

    code: RejectionCode

    def __init__(self, status: int | None, outcome: Outcome) -> None:
        super().__init__(status, outcome.code or RejectionCode.INVALID_PAYLOAD, outcome.message)
        self.outcome = outcome


class InvalidSubmission(CaseTrailError):
    """The submission does not validate against the contract (``events.submissions``):
    nothing was sent. ``code`` is ``invalid_payload`` or ``missing_field``, as the gateway's."""


class OutcomeTimeout(CaseTrailError):
    """No outcome within the timeout. Safe to submit again with the same ``submission_id``."""

    def __init__(self, submission_id: uuid.UUID, seconds: float) -> None:
        super().__init__(
            None,
            ClientCode.PENDING,
            f"{seconds:.0f} 秒内未得到结果，可用同一 submission_id 重新提交 / no outcome for"
            f" submission {submission_id} within {seconds:.0f} s; submitting it again (same"
            " submission_id) is safe: it is never decided twice",
        )
        self.submission_id = submission_id


class Unreachable(CaseTrailError):
    def __init__(self, url: str, error: httpx.TransportError) -> None:
        super().__init__(
            None,
            ClientCode.UNREACHABLE,
            f"无法连接 {url} / no answer from {url}: {type(error).__name__}: {error}",
        )


class ReadModelBehind(CaseTrailError):
    def __init__(self, case_id: str, version: int, seen: int | None, seconds: float) -> None:
        shown = "not shown yet" if seen is None else f"at version {seen}"
        super().__init__(
            None,
            ClientCode.READ_MODEL_BEHIND,
            f"{seconds:.0f} 秒内查询接口未显示案件 {case_id} 第 {version} 版 / the query API did"
            f" not show case {case_id} at version {version} or later within {seconds:.0f} s"
            f" ({shown})",
        )
        self.case_id, self.version, self.seen = case_id, version, seen


def bad_answer(response: httpx.Response, error: ValidationError | ValueError) -> CaseTrailError:
    return CaseTrailError(
        response.status_code,
        ClientCode.BAD_ANSWER,
        f"意外的应答 / unexpected answer from {response.request.url}: {error}",
    )


def retry_after(response: httpx.Response, default: float = 1.0) -> float:
    """The seconds ``Retry-After`` asks for (a number or an HTTP date), else ``default``."""
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        now = datetime.now(UTC) if when.tzinfo else datetime.now()
        return max(0.0, (when - now).total_seconds())
    except (TypeError, ValueError):
        return default


def error_of(response: httpx.Response) -> CaseTrailError:
    """The error an answer in the services' error shape stands for; a rejected submission's
    (which carries the decider's ``outcome``) is ``Rejected``."""
    wait = retry_after(response) if "retry-after" in response.headers else None
    try:
        body = orjson.loads(response.content)
        code, message = body["code"], body["message"]
        if not isinstance(code, str) or not isinstance(message, str):
            raise TypeError(code, message)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        # Not the services' shape (a proxy's page, say): the status and the start of the text.
        return CaseTrailError(
            response.status_code, "http_error", response.text[:500], retry_after=wait
        )
    if body.get("outcome") is not None:
        try:
            return Rejected(response.status_code, Outcome.model_validate(body["outcome"]))
        except ValidationError as error:
            return bad_answer(response, error)
    errors = body.get("errors")
    return CaseTrailError(
        response.status_code,
        code,
        message,
        errors=errors if isinstance(errors, list) else None,
        retry_after=wait,
    )
