"""What the client does, written once for the sync and the async client: each operation is a
generator that yields the next thing to do (send a ``Call``, or ``Wait``) and is sent the
answer; ``client.clients`` runs it with httpx's ``Client`` or ``AsyncClient``.

Retrying is safe where it is done: a submission's ``submission_id`` is its idempotency key (the
decider never decides one twice, a re-sent one gets its first outcome back and appends
nothing), and reading a case changes nothing."""

import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import ValidationError

from client.errors import (
    InvalidSubmission,
    OutcomeTimeout,
    ReadModelBehind,
    Rejected,
    Unreachable,
    bad_answer,
    error_of,
    retry_after,
)
from client.models import Case
from events.model import Outcome
from events.signing import SIGNATURE_FIELD, vouched_department
from events.submissions import SUBMISSION, SubmissionBase, rejection_for

T = TypeVar("T")

COME_BACK_LATER = frozenset({429, 503})
"""Answers that ask for the same request again later (``Retry-After``): the gateway shedding
(``overloaded``), Kafka or PostgreSQL away (``kafka_unavailable``, ``database_unavailable``)."""
RECONNECT_FIRST_S, RECONNECT_CAP_S = 0.5, 5.0
"""Waits between attempts while a service does not answer at all: doubling, up to the cap."""
POLL_FIRST_S, POLL_CAP_S = 0.2, 2.0
"""Waits between asking for an outcome (or a case) not there yet: doubling, up to the cap."""
RESEND_AFTER_S = 10.0
"""While the gateway's status URL knows no outcome, the submission is sent again this often: a
gateway keeps outcomes in memory, so after its restart, or behind a load balancer that sends
the question to another gateway, only a resend (answered with the first outcome) finds it."""
MIN_REQUEST_S = 1.0
"""The shortest time a request is given, even when the caller's timeout is nearly over."""


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    body: bytes | None = None
    timeout: float = MIN_REQUEST_S
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    seconds: float


Flow = Generator[Call | Wait, httpx.Response | None, T]
"""Yields what to do next; is sent the answer to a ``Call`` (None after a ``Wait``); a
``Call`` that got no answer is thrown its ``httpx.TransportError`` instead."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())


class SubmissionSigner(Protocol):
    """A department's own key (``services.integrity.signing.Signer`` is one): signs a
    submission's JSON document for a department (docs/signing.md)."""

    def sign(self, document: Mapping[str, Any], department: str) -> dict[str, Any]: ...


def prepared(
    submission: SubmissionBase | Mapping[str, Any], signer: SubmissionSigner | None
) -> tuple[SubmissionBase, bytes]:
    """The submission, validated against the contract, and the JSON to send.

    A document that carries a signature goes as given: the signature covers the document as
    its signer wrote it (sign the mapping, not a model made from it: a model writes instants in
    UTC). Any other goes as the gateway would publish it (instants in UTC),
    signed with ``signer`` when there is one (the department's own key: the event then names
    it), else left for the gateway to sign for the token's department."""
    if isinstance(submission, SubmissionBase):
        model = submission
        if model.signature is not None:
            # Signed as a model: the signature verifies if it was made over this JSON form.
            return model, orjson.dumps(model.model_dump(mode="json"))
    else:
        given = dict(submission)
        try:
            model = SUBMISSION.validate_python(given)
        except ValidationError as error:
            rejection = rejection_for(error)
            raise InvalidSubmission(
                None,
                rejection.code,
                rejection.message,
                errors=[
                    {"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]}
                    for e in error.errors()
                ],
            ) from error
        if given.get(SIGNATURE_FIELD) is not None:
            return model, orjson.dumps(given)
    document = model.model_dump(mode="json", exclude={SIGNATURE_FIELD})
    if signer is not None:
        document = signer.sign(document, vouched_department(model.actor))
    return model, orjson.dumps(document)


def answered(call: Call, deadline: Deadline) -> Flow[httpx.Response]:
    """The first answer to ``call`` that is not "come back later": waits out ``Retry-After``
    (429, 503) and a service that does not answer, until the deadline; then raises."""
    reconnect = RECONNECT_FIRST_S
    while True:
        try:
            response = yield Call(
                call.method,
                call.url,
                call.body,
                max(deadline.left(), MIN_REQUEST_S),
                call.headers,
            )
        except httpx.UnsupportedProtocol:
            raise  # a wrong URL: no retry mends it
        except httpx.TransportError as error:
            if deadline.left() < reconnect:
                raise Unreachable(call.url, error) from error
            yield Wait(reconnect)
            reconnect = min(reconnect * 2, RECONNECT_CAP_S)
            continue
        assert response is not None
        if response.status_code not in COME_BACK_LATER:
            return response
        later = retry_after(response)
        if deadline.left() < later:
            raise error_of(response)
        yield Wait(later)


def _code(response: httpx.Response) -> str | None:
    try:
        code = orjson.loads(response.content).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return code if isinstance(code, str) else None


def _pending(response: httpx.Response) -> bool:
    """Not decided yet: 202 from the gateway, or its status URL that has no outcome yet."""
    return response.status_code == 202 or (
        response.status_code == 404 and _code(response) == "unknown_submission"
    )


def _outcome(response: httpx.Response) -> Outcome:
    """The outcome in a decided answer; ``Rejected`` for a rejection."""
    if response.status_code not in (200, 201):
        raise error_of(response)
    try:
        outcome = Outcome.model_validate_json(response.content)
    except ValidationError as error:
        raise bad_answer(response, error) from error
    if outcome.status == "rejected":
        raise Rejected(response.status_code, outcome)
    return outcome


JSON = {"content-type": "application/json"}


def submit(gateway: str, submission_id: uuid.UUID, body: bytes, seconds: float) -> Flow[Outcome]:
    """POST the submission and wait for its outcome: the gateway answers at once when the
    decider is quick, else 202 and its status URL tells; sent again now and then meanwhile."""
    deadline = Deadline(seconds)
    post = Call("POST", f"{gateway}/submissions", body, headers=JSON)
    sent = time.monotonic()
    response = yield from answered(post, deadline)
    poll = POLL_FIRST_S
    while _pending(response):
        if deadline.left() <= 0:
            raise OutcomeTimeout(submission_id, seconds)
        yield Wait(min(poll, deadline.left()))
        poll = min(poll * 2, POLL_CAP_S)
        if time.monotonic() - sent >= RESEND_AFTER_S:
            sent = time.monotonic()
            response = yield from answered(post, deadline)
        else:
            status_url = f"{gateway}/submissions/{submission_id}"
            response = yield from answered(Call("GET", status_url), deadline)
    return _outcome(response)


def outcome(gateway: str, submission_id: uuid.UUID, seconds: float) -> Flow[Outcome]:
    """The outcome of a submission sent earlier through this gateway, waiting while it has
    none. (The gateway answers only the department that sent it, and keeps the most recent
    outcomes only: for an old one, submit it again.)"""
    deadline = Deadline(seconds)
    ask = Call("GET", f"{gateway}/submissions/{submission_id}")
    poll = POLL_FIRST_S
    response = yield from answered(ask, deadline)
    while _pending(response):
        if deadline.left() <= 0:
            raise OutcomeTimeout(submission_id, seconds)
        yield Wait(min(poll, deadline.left()))
        poll = min(poll * 2, POLL_CAP_S)
        response = yield from answered(ask, deadline)
    return _outcome(response)


def case(query: str, case_id: str, min_version: int | None, seconds: float) -> Flow[Case]:
    """The case as the query API shows it; with ``min_version``, once it shows that version or
    a later one (the projections follow the log within moments: read your own writes)."""
    deadline = Deadline(seconds)
    ask = Call("GET", f"{query}/cases/{quote(case_id, safe='')}")
    poll = POLL_FIRST_S
    while True:
        response = yield from answered(ask, deadline)
        seen: int | None = None
        if response.status_code == 200:
            try:
                found = Case.model_validate_json(response.content)
            except ValidationError as error:
                raise bad_answer(response, error) from error
            if min_version is None or found.version >= min_version:
                return found
            seen = found.version
        elif min_version is None or _code(response) != "unknown_case":
            raise error_of(response)
        if deadline.left() <= 0:
            assert min_version is not None
            raise ReadModelBehind(case_id, min_version, seen, seconds)
        yield Wait(min(poll, deadline.left()))
        poll = min(poll * 2, POLL_CAP_S)
