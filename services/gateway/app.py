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
from typing import Annotated, Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import JSONResponse
from faststream.exceptions import FastStreamException
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.publisher.usecase import DefaultPublisher as Publisher
from opentelemetry import trace
from prometheus_client import CollectorRegistry
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from events.errors import RejectionCode
from events.model import Outcome
from events.officers import SYSTEM_CLOCK_ID, Role
from events.submissions import Submission, SubmissionBase
from projections.transient import Backoff
from services import logs
from services.adapters import metrics, tracing
from services.adapters.http import (
    ApiError,
    ErrorBody,
    ErrorCode,
    authenticated,
    error_response,
    install_error_handlers,
    instrument,
    refusals,
)
from services.adapters.kafka import TopologyError, client_options, scram_security
from services.integrity.signing import Signer, gateway_signer
from services.settings import KafkaRole, Settings
from services.tokens import Token, TokenCache, TokenRole

log = logging.getLogger("casetrail.gateway")

SUBMIT = "/submissions"

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
    rejection's message quotes what was sent). An outcome is kept as the bytes it came in and
    read into an ``Outcome`` only when someone asks for it: most are never asked for again,
    and bytes take a fraction of a model's memory."""

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self.waiting: dict[uuid.UUID, asyncio.Future[bytes]] = {}
        self.recent: OrderedDict[uuid.UUID, bytes] = OrderedDict()
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
        raw = self.recent.get(submission_id)
        return None if raw is None else Outcome.model_validate_json(raw)

    def expect(self, submission_id: uuid.UUID) -> asyncio.Future[bytes]:
        return self.waiting.setdefault(submission_id, asyncio.get_running_loop().create_future())

    def forget(self, submission_id: uuid.UUID) -> None:
        self.waiting.pop(submission_id, None)

    def seen(self, raw: bytes) -> None:
        """An outcome record's value: kept, and handed to the request waiting for it."""
        try:
            submission_id = uuid.UUID(orjson.loads(raw)["submission_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            # Only the decider writes this topic (Kafka's ACLs): no outcome of ours, whatever
            # it is, and no reason to stop reading.
            log.warning("not an outcome on the outcomes topic (%s): %.200r", error, raw)
            return
        self.recent[submission_id] = raw
        self.recent.move_to_end(submission_id)
        while len(self.recent) > self.capacity:
            self.recent.popitem(last=False)
        future = self.waiting.pop(submission_id, None)
        if future is not None and not future.done():
            future.set_result(raw)


def outcome_response(outcome: Outcome, accepted_status: int = 201) -> Response:
    if outcome.status == "accepted":
        # pydantic's own serializer: the same JSON as through a dict and json.dumps, cheaper.
        return Response(
            outcome.model_dump_json(), status_code=accepted_status, media_type="application/json"
        )
    assert outcome.code is not None
    return error_response(
        HTTP_STATUS_OF.get(outcome.code, 422),
        outcome.code.value,
        outcome.message,
        outcome=outcome.model_dump(mode="json"),
    )


def kafka_contract(
    settings: Settings, registry: CollectorRegistry | None = None
) -> tuple[KafkaBroker, Publisher]:
    """The gateway's side of Kafka: what it publishes and what it reads. The AsyncAPI document
    (``casetrail asyncapi``) is generated from these declarations.

    With a ``registry``, faststream's own middlewares measure the publishing (Prometheus:
    ``faststream_published_messages_*``) and, with traces on, make it a span of the request's
    trace whose context goes with the submission in its record's ``traceparent`` header.

    The gateway publishes through this broker. It reads the outcomes with a consumer of its own
    (``OutcomeReader``), which hands each to the request waiting for it: faststream's
    subscriber took a message through its whole pipeline (decoding, validation into a model,
    logging context) one by one, for every outcome, awaited or not, a good part of the
    gateway's CPU per submission. The subscriber below declares what is read, for the
    document; the gateway never starts it."""
    broker = KafkaBroker(
        settings.kafka_servers,  # a list: faststream would take "a:1,b:2" for one host
        security=scram_security(settings),
        acks="all",
        enable_idempotence=True,
        # A produce request per submission cost more CPU (here and in the broker) than the rest
        # of the gateway's work on it; a few ms of waiting send those that arrive meanwhile in
        # one request (alone, a submission waits that long at most).
        linger_ms=settings.gateway_linger_ms,
        # A submission not handed over in this time gets a 503 (resend), not a hung request.
        request_timeout_ms=int(settings.outcome_timeout_s * 1000),
        log_level=logging.DEBUG,  # faststream's lines about each message: below INFO
        middlewares=_middlewares(registry),
    )
    submissions = broker.publisher(
        settings.submissions_topic,
        title=settings.submissions_topic,
        description=(
            "What departments ask to record: any Kafka client may publish these JSON documents,"
            " signed (docs/signing.md). The record's key must be its case_id (a record keyed"
            " otherwise is rejected, invalid_payload); any partitioner works: a submission that"
            " arrives on another partition than its case's (Kafka's default murmur2 of the"
            " case_id) is forwarded by the decider to its case's partition, in the transaction"
            " that consumes it, and decided there exactly once, in the order the client sent"
            " the case's submissions. librdkafka's default (CRC32: confluent-kafka, kcat,"
            " node-rdkafka) and Kafka's murmur2 are equally fine; murmur2 saves the forward."
        ),
        schema=Submission,
    )
    return broker, submissions


def _middlewares(registry: CollectorRegistry | None) -> list[Any]:
    if registry is None:
        return []
    found: list[Any] = [KafkaPrometheusMiddleware(registry=registry, app_name="casetrail-gateway")]
    if tracing.enabled():
        found.append(KafkaTelemetryMiddleware(tracer_provider=tracing.provider()))
    return found


def outcomes_declared(broker: KafkaBroker, settings: Settings) -> None:
    """The outcomes topic as the gateway reads it (read_committed: an outcome written in a
    transaction that then aborts was never decided), for the AsyncAPI document only."""

    @broker.subscriber(
        settings.outcomes_topic,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        title=settings.outcomes_topic,
        description=(
            "The decider's answer to every submission, keyed by case_id, on its case's"
            " partition (murmur2 of the case_id) whichever partition the submission was"
            " published to: read every partition and match the submission_id. A re-sent"
            " submission_id gets its first answer again."
        ),
    )
    async def on_outcome(outcome: Outcome) -> None:
        """Never started: ``OutcomeReader`` reads the topic."""


ASSIGNMENT_TIMEOUT_S = 10.0
"""How long the outcome reader waits for the outcomes topic's partitions when it connects."""


class OutcomeReader:
    """One consumer of the outcomes topic (every partition, no group, read_committed, from its
    end when the gateway connects), handing each outcome to ``Outcomes``: the one piece of work
    per outcome, whatever the number of requests waiting."""

    def __init__(self, settings: Settings, outcomes: Outcomes):
        self.settings, self.outcomes = settings, outcomes
        self.consumer: AIOKafkaConsumer | None = None
        self.reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and fix the starting point (the end of each partition now), so that no
        submission published after this returns can have its outcome missed."""
        consumer = AIOKafkaConsumer(
            **client_options(self.settings),
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="latest",
        )
        # Subscribed without a group: every partition is assigned once the topic's metadata
        # is in (and any added later).
        consumer.subscribe([self.settings.outcomes_topic])
        try:
            await consumer.start()
            async with asyncio.timeout(ASSIGNMENT_TIMEOUT_S):
                # aiokafka tells a group-less consumer's assignment to no listener: look.
                while not consumer.assignment():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            for tp in consumer.assignment():
                await consumer.position(tp)
        except TimeoutError as error:
            await consumer.stop()
            raise TopologyError(
                f"no partitions of {self.settings.outcomes_topic} within"
                f" {ASSIGNMENT_TIMEOUT_S:.0f} s: does the topic exist?"
            ) from error
        except BaseException:
            await consumer.stop()
            raise
        self.consumer = consumer
        self.reading = asyncio.create_task(self._read(consumer))
        self.reading.add_done_callback(self._ended)

    def _ended(self, reading: asyncio.Task[None]) -> None:
        if not reading.cancelled() and reading.exception() is not None:
            log.error("the outcome reader stopped", exc_info=reading.exception())

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        backoff = Backoff(first=1.0, cap=10.0)
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except KafkaError as error:
                # The consumer reconnects by itself; meanwhile requests wait, and time out to 202.
                delay = backoff.next_delay()
                log.warning("reading outcomes: %s; going on in %.0f s", error, delay)
                await asyncio.sleep(delay)
                continue
            backoff = Backoff(first=1.0, cap=10.0)
            for records in batches.values():
                for record in records:
                    self.outcomes.seen(record.value or b"")

    def problem(self) -> str | None:
        """None while the reader reads; else why it stopped (a bug: every request would wait
        for its outcome in vain and get a 202)."""
        if self.reading is None or not self.reading.done() or self.reading.cancelled():
            return None
        return f"the outcome reader stopped: {self.reading.exception()!r}"

    async def stop(self) -> None:
        if self.reading is not None:
            self.reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reading
        if self.consumer is not None:
            await self.consumer.stop()
        self.consumer = self.reading = None


OVERLOAD_RETRY_AFTER_S = 1
"""What a shed submission's 503 asks the client to wait: a burst passes in about that long."""


class Admission:
    """At most ``limit`` submissions under way at once; one more gets 503 ``overloaded`` with
    ``Retry-After`` straight away.

    Without it an overload queues: each request still waits its turn for the event loop, the
    Kafka client and the decider, and once more arrive than are completed, every answer comes
    later than the one before (at twice the sustainable rate, nearly all of them after the
    client gave up). Shedding keeps the admitted ones at the latency the system has at its
    capacity, and tells the others when to come back. Plain ASGI, outermost but for the
    metrics (which time the refusals too): a refusal reads no body, looks up no token and
    validates nothing, so it costs a small part of an admission (else shedding would take the
    capacity it is meant to protect). The refusal is made once."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.in_flight = 0
        body = orjson.dumps(
            {
                "code": ErrorCode.OVERLOADED.value,
                "message": f"网关繁忙，请在 {OVERLOAD_RETRY_AFTER_S} 秒后用同一 submission_id"
                " 重新提交 / the gateway has as many submissions under way as it takes"
                f" ({limit}); nothing was published: resend the same submission (same"
                f" submission_id) after {OVERLOAD_RETRY_AFTER_S} s",
            }
        )
        self.refusal: tuple[Message, Message] = (
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(OVERLOAD_RETRY_AFTER_S).encode()),
                ],
            },
            {"type": "http.response.body", "body": body},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SUBMIT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            for message in self.refusal:
                await send(message)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class JsonOnly:
    """415 ``unsupported_media_type`` for a POST that is not JSON. Plain ASGI: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            content_type = Headers(scope=scope).get("content-type", "")
            if not content_type.startswith("application/json"):
                response = error_response(
                    415,
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                    f"send application/json, not {content_type!r}",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class KafkaLink:
    """The gateway's connection to Kafka: made in the background, retried until it holds."""

    def __init__(self, broker: KafkaBroker, reader: OutcomeReader, bootstrap: str):
        self.broker, self.reader, self.bootstrap = broker, reader, bootstrap
        self.connected = False
        self.last_error = "not connected yet"

    async def connect(self) -> None:
        delay = 1.0
        while True:
            try:
                # The reader first: a submission is published only once its outcome can be seen.
                await self.reader.start()
                await self.broker.start()
                self.connected = True
                log.info("connected to Kafka at %s", self.bootstrap)
                return
            except Exception as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("Kafka at %s: %s; trying again in %.0f s", self.bootstrap, error, delay)
                # What the failed start half-opened.
                with contextlib.suppress(Exception):
                    await self.reader.stop()
                with contextlib.suppress(Exception):
                    await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def disconnect(self) -> None:
        """Stop the broker and the reader; with Kafka away that would wait for it, so only for
        a while."""
        try:
            async with asyncio.timeout(5):
                await self.broker.stop()
                await self.reader.stop()
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
        return self.reader.problem()

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
    registry = metrics.registry()
    broker, submissions = kafka_contract(settings, registry)
    known_tokens = TokenCache()

    kafka = KafkaLink(broker, OutcomeReader(settings, outcomes), settings.kafka_bootstrap)

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

    app.add_middleware(JsonOnly)
    # Added after the others, so outside them: it counts a submission from its arrival, and
    # sheds before any other work but the metrics' (outside it, so that the 503s it sheds
    # show in http_request_duration_seconds: an overload must be seen).
    app.add_middleware(Admission, limit=settings.gateway_max_in_flight)
    instrument(app, registry)

    @app.post(
        SUBMIT,
        status_code=201,
        response_model=Outcome,
        responses={
            202: {"description": "Still being decided"},
            **refusals(400, 401, 413, 415, 503),
            403: rejected,
            404: rejected,
            409: rejected,
            422: rejected,
        },
    )
    async def submit(
        submission: Submission, token: Annotated[Token, Depends(caller)], request: Request
    ) -> Response:
        """Record one step of a case; answers with the outcome once the decider has decided."""
        assert isinstance(submission, SubmissionBase)
        correlation_id = str(submission.correlation_id or submission.submission_id)
        logs.bind(correlation_id=correlation_id, submission_id=str(submission.submission_id))
        if tracing.enabled():
            span = trace.get_current_span()
            span.set_attribute(tracing.CORRELATION_ID, correlation_id)
            span.set_attribute(tracing.SUBMISSION_ID, str(submission.submission_id))
            span.set_attribute(tracing.CASE_ID, submission.case_id)
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
            raw = await asyncio.wait_for(asyncio.shield(future), settings.outcome_timeout_s)
        except TimeoutError:
            url = f"/submissions/{submission.submission_id}"
            return JSONResponse(
                status_code=202,
                content={"status": "pending", "status_url": url},
                headers={"Location": url},
            )
        finally:
            outcomes.forget(submission.submission_id)
        return outcome_response(Outcome.model_validate_json(raw))

    @app.get(
        "/submissions/{submission_id}",
        response_model=Outcome,
        responses={**refusals(401, 403, 404, 422), 409: rejected},
    )
    async def submission_outcome(
        submission_id: uuid.UUID, token: Annotated[Token, Depends(caller)]
    ) -> Response:
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
