"""The gateway: departments POST submissions over HTTP; it publishes them to Kafka and waits for
the decider's outcome, answering 201 (accepted), 4xx (rejected, with the code) or 202 (still
pending after the timeout, with a URL to ask again).

Kafka may be away when the gateway starts or go away later: the gateway keeps serving, answers
503 ``kafka_unavailable`` to submissions it could not hand over (the client resends the same
submission: the decider never decides a submission_id twice), says so at ``/health``, and
reconnects by itself."""

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import orjson
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from faststream.exceptions import FastStreamException
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import DefaultPublisher as Publisher
from starlette.middleware.base import RequestResponseEndpoint
from starlette.responses import Response

from events.errors import RejectionCode
from events.model import Outcome
from events.officers import SYSTEM_CLOCK_ID, Role
from events.submissions import Submission, SubmissionBase
from services.adapters.http import (
    ApiError,
    ErrorBody,
    ErrorCode,
    authenticated,
    error_response,
    install_error_handlers,
)
from services.adapters.kafka import scram_security
from services.integrity.signing import Signer, gateway_signer
from services.settings import KafkaRole, Settings
from services.tokens import Token, TokenCache, TokenRole

log = logging.getLogger("casetrail.gateway")

HTTP_STATUS_OF = {
    RejectionCode.INVALID_PAYLOAD: 422,
    RejectionCode.MISSING_FIELD: 422,
    RejectionCode.UNKNOWN_CASE: 404,
    RejectionCode.CASE_EXISTS: 409,
    RejectionCode.WRONG_CASE_TYPE: 409,
    RejectionCode.VERSION_CONFLICT: 409,
    RejectionCode.FORBIDDEN_ROLE: 403,
    RejectionCode.CERTIFICATE_REQUIRED: 403,
    RejectionCode.WRONG_DEPARTMENT: 403,
    RejectionCode.ILLEGAL_TRANSITION: 409,
    RejectionCode.LEGAL_REVIEW_REQUIRED: 409,
    RejectionCode.HEARING_REQUIRED: 409,
    RejectionCode.REPLY_REQUIRED: 409,
    RejectionCode.LIMIT_EXCEEDED: 409,
    RejectionCode.UNSIGNED_SUBMISSION: 403,
    RejectionCode.UNKNOWN_SIGNER: 403,
    RejectionCode.BAD_SIGNATURE: 403,
    RejectionCode.SIGNER_DEPARTMENT_MISMATCH: 403,
}


class Outcomes:
    """Outcomes seen on the outcomes topic, and the requests waiting for them.

    Keeps the most recent ``capacity`` outcomes so that a client answered 202 can ask later, and
    which department sent each of the last ``capacity`` submissions through this gateway: an
    outcome is shown only to that department (it names the case and its version, and a
    rejection's message quotes what was sent)."""

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self.waiting: dict[uuid.UUID, asyncio.Future[Outcome]] = {}
        self.recent: OrderedDict[uuid.UUID, Outcome] = OrderedDict()
        self.senders: OrderedDict[uuid.UUID, str] = OrderedDict()

    def sent_by(self, submission_id: uuid.UUID, department: str) -> None:
        """Remember who sent a submission. The first sender keeps it: a resend of the same
        ``submission_id`` by another department does not make the outcome theirs."""
        self.senders.setdefault(submission_id, department)
        self.senders.move_to_end(submission_id)
        while len(self.senders) > self.capacity:
            self.senders.popitem(last=False)

    def outcome_for(self, submission_id: uuid.UUID, departments: tuple[str, ...]) -> Outcome | None:
        """The outcome of a submission one of ``departments`` sent through this gateway."""
        if self.senders.get(submission_id) not in departments:
            return None
        return self.recent.get(submission_id)

    def expect(self, submission_id: uuid.UUID) -> asyncio.Future[Outcome]:
        return self.waiting.setdefault(submission_id, asyncio.get_running_loop().create_future())

    def forget(self, submission_id: uuid.UUID) -> None:
        self.waiting.pop(submission_id, None)

    def seen(self, outcome: Outcome) -> None:
        self.recent[outcome.submission_id] = outcome
        self.recent.move_to_end(outcome.submission_id)
        while len(self.recent) > self.capacity:
            self.recent.popitem(last=False)
        future = self.waiting.pop(outcome.submission_id, None)
        if future is not None and not future.done():
            future.set_result(outcome)


def outcome_response(outcome: Outcome, accepted_status: int = 201) -> JSONResponse:
    if outcome.status == "accepted":
        return JSONResponse(status_code=accepted_status, content=outcome.model_dump(mode="json"))
    assert outcome.code is not None
    return error_response(
        HTTP_STATUS_OF.get(outcome.code, 422),
        outcome.code.value,
        outcome.message,
        outcome=outcome.model_dump(mode="json"),
    )


def kafka_contract(settings: Settings, outcomes: Outcomes) -> tuple[KafkaBroker, Publisher]:
    """The gateway's side of Kafka: what it publishes and what it reads. The AsyncAPI document
    (``casetrail asyncapi``) is generated from these declarations."""
    broker = KafkaBroker(
        settings.kafka_servers,  # a list: faststream would take "a:1,b:2" for one host
        security=scram_security(settings),
        acks="all",
        enable_idempotence=True,
        # A submission not handed over in this time gets a 503 (resend), not a hung request.
        request_timeout_ms=int(settings.outcome_timeout_s * 1000),
        log_level=logging.DEBUG,  # not two INFO lines for every outcome that passes by
    )
    submissions = broker.publisher(
        settings.submissions_topic,
        title=settings.submissions_topic,
        description="What departments ask to record, keyed by case_id (any Kafka client may "
        "publish these JSON documents).",
        schema=Submission,
    )

    # read_committed: an outcome written in a transaction that then aborts was never decided.
    @broker.subscriber(
        settings.outcomes_topic,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        title=settings.outcomes_topic,
        description="The decider's answer to every submission, keyed by case_id.",
    )
    async def on_outcome(outcome: Outcome) -> None:
        outcomes.seen(outcome)

    return broker, submissions


class KafkaLink:
    """The gateway's connection to Kafka: made in the background, retried until it holds."""

    def __init__(self, broker: KafkaBroker, bootstrap: str):
        self.broker, self.bootstrap = broker, bootstrap
        self.connected = False
        self.last_error = "not connected yet"

    async def connect(self) -> None:
        delay = 1.0
        while True:
            try:
                await self.broker.start()
                self.connected = True
                log.info("connected to Kafka at %s", self.bootstrap)
                return
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("Kafka at %s: %s; trying again in %.0f s", self.bootstrap, error, delay)
                with contextlib.suppress(Exception):
                    await self.broker.stop()  # what the failed start half-opened
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def disconnect(self) -> None:
        """Stop the broker; with Kafka away that would wait for it, so only for a while."""
        try:
            async with asyncio.timeout(5):
                await self.broker.stop()
        except TimeoutError:
            log.warning("Kafka at %s did not answer the goodbye; stopping anyway", self.bootstrap)

    async def hand_over(self, publish: Callable[[], Awaitable[object]], seconds: float) -> None:
        """Publish, or raise the 503 that tells the client to resend the same submission."""
        if not self.connected:
            raise self._unavailable(self.last_error)
        try:
            async with asyncio.timeout(seconds):
                await publish()
        except MessageSizeTooLargeError as error:
            # No resend helps: the body is within CASETRAIL_MAX_BODY_BYTES but over Kafka's
            # own limit for a record.
            raise ApiError(
                413, ErrorCode.PAYLOAD_TOO_LARGE, f"too large for Kafka: {error}"
            ) from error
        except (KafkaError, FastStreamException, TimeoutError) as error:
            raise self._unavailable(f"{type(error).__name__}: {error}") from error

    async def problem(self) -> str | None:
        """None when Kafka answers; else what is wrong, for ``/health``."""
        if not self.connected:
            return f"connecting to {self.bootstrap}: {self.last_error}"
        if not await self.broker.ping(timeout=2.0):
            return f"{self.bootstrap} does not answer"
        return None

    def _unavailable(self, why: str) -> ApiError:
        return ApiError(
            503,
            ErrorCode.KAFKA_UNAVAILABLE,
            f"Kafka 暂不可用，请稍后用同一 submission_id 重新提交 / Kafka is unavailable ({why});"
            " resend the same submission (same submission_id) later: it is never decided twice",
        )


async def vouched_body(
    submission: SubmissionBase, request: Request, signer: Signer | None
) -> bytes:
    """What the gateway publishes. A submission its department signed goes on byte for byte as
    it came: the decider checks the department's own signature (and rejects a bad one, which
    tells the client its signing is broken). Any other the gateway signs, vouching for the
    department the token speaks for (checked: the actor's)."""
    if submission.signature is not None:
        return await request.body()
    document = submission.model_dump(mode="json", exclude={"signature"})
    if signer is not None:
        document = signer.sign(document, submission.actor.department)
    return orjson.dumps(document)


def create_app(settings: Settings) -> FastAPI:
    settings = settings.as_kafka_user(KafkaRole.GATEWAY)
    outcomes = Outcomes()
    signer = gateway_signer(settings)
    broker, submissions = kafka_contract(settings, outcomes)
    known_tokens = TokenCache()

    kafka = KafkaLink(broker, settings.kafka_bootstrap)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await known_tokens.start(settings.postgres_dsn)
        connecting = asyncio.create_task(kafka.connect())
        yield
        connecting.cancel()
        await kafka.disconnect()
        await known_tokens.stop()

    async def caller(authorization: Annotated[str | None, Header()] = None) -> Token:
        token = await authenticated(known_tokens, authorization)
        if token.role is not TokenRole.DEPARTMENT:
            raise ApiError(403, ErrorCode.FORBIDDEN_ROLE, "only department tokens submit")
        return token

    app = FastAPI(
        title="CaseTrail gateway",
        description="部门提交办案步骤 / Departments submit the steps of their cases.",
        lifespan=lifespan,
    )
    install_error_handlers(app, settings.max_body_bytes)
    rejected = {"model": ErrorBody, "description": "Rejected: code and message"}

    @app.middleware("http")
    async def json_only(request: Request, call_next: RequestResponseEndpoint) -> Response:
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and not content_type.startswith("application/json"):
            return error_response(
                415,
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                f"send application/json, not {content_type!r}",
            )
        return await call_next(request)

    @app.post(
        "/submissions",
        status_code=201,
        response_model=Outcome,
        responses={
            202: {"description": "Still being decided"},
            401: rejected,
            403: rejected,
            404: rejected,
            409: rejected,
            422: rejected,
        },
    )
    async def submit(
        submission: Submission, token: Annotated[Token, Depends(caller)], request: Request
    ) -> JSONResponse:
        """Record one step of a case; answers with the outcome once the decider has decided."""
        assert isinstance(submission, SubmissionBase)
        actor = submission.actor
        if actor.role == Role.SYSTEM or actor.officer_id == SYSTEM_CLOCK_ID:
            # The clock's steps are the ones a case's owner does not check (the decider lets
            # the clock signal on any case): a department speaking as the clock could light
            # another department's case red.
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN_SYSTEM_CLOCK,
                "部门令牌不能以系统时钟身份提交（期限预警与超期由系统时钟记录）/ a department"
                f" token never submits as the system clock ({SYSTEM_CLOCK_ID}, role"
                f" {Role.SYSTEM.value}): deadline warnings and breaches are the clock's alone",
            )
        if submission.actor.department not in token.departments:
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN_DEPARTMENT,
                f"this token speaks for {', '.join(token.departments)}, not for"
                f" {submission.actor.department}",
            )
        outcomes.sent_by(submission.submission_id, actor.department)
        body = await vouched_body(submission, request, signer)
        future = outcomes.expect(submission.submission_id)
        try:
            await kafka.hand_over(
                lambda: submissions.publish(body, key=submission.case_id.encode()),
                settings.outcome_timeout_s,
            )
            outcome = await asyncio.wait_for(asyncio.shield(future), settings.outcome_timeout_s)
        except TimeoutError:
            url = f"/submissions/{submission.submission_id}"
            return JSONResponse(
                status_code=202,
                content={"status": "pending", "status_url": url},
                headers={"Location": url},
            )
        finally:
            outcomes.forget(submission.submission_id)
        return outcome_response(outcome)

    @app.get("/submissions/{submission_id}", response_model=Outcome, responses={404: rejected})
    async def submission_outcome(
        submission_id: uuid.UUID, token: Annotated[Token, Depends(caller)]
    ) -> JSONResponse:
        """The outcome of an earlier submission this token's department sent through this
        gateway, if the gateway has seen it; 404 otherwise (another department's submission
        answers like an unknown one)."""
        outcome = outcomes.outcome_for(submission_id, token.departments)
        if outcome is None:
            return error_response(
                404,
                ErrorCode.UNKNOWN_SUBMISSION,
                f"没有此提交的结果 / no outcome seen for submission {submission_id}",
            )
        return outcome_response(outcome, accepted_status=200)

    @app.get("/health", responses={503: {"description": "Kafka does not answer"}})
    async def health() -> JSONResponse:
        """200 when the gateway can hand submissions to Kafka; 503 (saying why) when not."""
        problem = await kafka.problem()
        if problem is None:
            return JSONResponse({"status": "ok", "kafka": "ok"})
        return JSONResponse({"status": "unavailable", "kafka": problem}, status_code=503)

    return app
