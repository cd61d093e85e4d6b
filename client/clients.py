"""``CaseTrailClient`` (sync) and ``AsyncCaseTrailClient`` (asyncio): the same three
operations (``client.flows``), each run with httpx's client of its kind."""

import asyncio
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from client import flows
from client.flows import Call, Flow, SubmissionSigner, Wait
from client.models import Case
from events.model import Outcome
from events.submissions import SubmissionBase

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
"""How long an operation may take by default, retries and waiting for the outcome included."""


class _Plans:
    """What both clients know: where the services are, the signer, the default timeout."""

    def __init__(
        self,
        gateway_url: str,
        query_url: str | None,
        signer: SubmissionSigner | None,
        timeout: float,
    ) -> None:
        self.gateway = gateway_url.rstrip("/")
        self.query = query_url.rstrip("/") if query_url else None
        self.signer, self.timeout = signer, timeout

    def _submit(
        self, submission: SubmissionBase | Mapping[str, Any], timeout: float | None
    ) -> Flow[Outcome]:
        model, body = flows.prepared(submission, self.signer)
        return flows.submit(self.gateway, model.submission_id, body, timeout or self.timeout)

    def _outcome(self, submission_id: uuid.UUID | str, timeout: float | None) -> Flow[Outcome]:
        return flows.outcome(self.gateway, uuid.UUID(str(submission_id)), timeout or self.timeout)

    def _case(self, case_id: str, min_version: int | None, timeout: float | None) -> Flow[Case]:
        if self.query is None:
            raise ValueError("reading a case needs the query API's URL (query_url)")
        return flows.case(self.query, case_id, min_version, timeout or self.timeout)


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": "casetrail-client"}


class CaseTrailClient(_Plans):
    """A department's client of the gateway (submit, and the outcome) and of the query API
    (read a case), with a department token (``casetrail tokens create --department …``).

    ``signer``: the department's own key (``Signer.from_file(…)`` of
    ``services.integrity.signing``); without one the gateway signs for the token's department.
    ``timeout``: how long each call may take in all, its retries included."""

    def __init__(
        self,
        gateway_url: str,
        query_url: str | None = None,
        *,
        token: str,
        signer: SubmissionSigner | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(gateway_url, query_url, signer, timeout)
        self.http = httpx.Client(headers=_headers(token))

    def submit(
        self, submission: SubmissionBase | Mapping[str, Any], *, timeout: float | None = None
    ) -> Outcome:
        """Submit one step and return its accepted outcome; ``Rejected`` when the decider
        rejects it, ``OutcomeTimeout`` when none came in time (then submitting it again is
        safe). Re-submitting a decided submission returns its first outcome."""
        return self._run(self._submit(submission, timeout))

    def outcome(self, submission_id: uuid.UUID | str, *, timeout: float | None = None) -> Outcome:
        """The outcome of a submission sent earlier through this gateway, once there is one."""
        return self._run(self._outcome(submission_id, timeout))

    def case(
        self, case_id: str, *, min_version: int | None = None, timeout: float | None = None
    ) -> Case:
        """The case from the query API; with ``min_version`` (an outcome's ``version``), once
        the read model shows at least that version."""
        return self._run(self._case(case_id, min_version, timeout))

    def _run(self, flow: Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    time.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                try:
                    response = self._send(step)
                except httpx.TransportError as error:
                    step = flow.throw(error)
                else:
                    step = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    def _send(self, call: Call) -> httpx.Response:
        return self.http.request(
            call.method, call.url, content=call.body, headers=call.headers, timeout=call.timeout
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncCaseTrailClient(_Plans):
    """``CaseTrailClient`` for asyncio: the same operations, awaited.

    Each takes ``timeout`` as the sync client does, not ``asyncio.timeout``: running out of
    time raises the errors that say what happened and what is safe (``OutcomeTimeout``: submit
    again), where a cancellation would say only that it was cancelled."""

    def __init__(
        self,
        gateway_url: str,
        query_url: str | None = None,
        *,
        token: str,
        signer: SubmissionSigner | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__(gateway_url, query_url, signer, timeout)
        self.http = httpx.AsyncClient(headers=_headers(token))

    async def submit(
        self,
        submission: SubmissionBase | Mapping[str, Any],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (see the class)
    ) -> Outcome:
        """See ``CaseTrailClient.submit``."""
        return await self._run(self._submit(submission, timeout))

    async def outcome(
        self,
        submission_id: uuid.UUID | str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (see the class)
    ) -> Outcome:
        """See ``CaseTrailClient.outcome``."""
        return await self._run(self._outcome(submission_id, timeout))

    async def case(
        self,
        case_id: str,
        *,
        min_version: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (see the class)
    ) -> Case:
        """See ``CaseTrailClient.case``."""
        return await self._run(self._case(case_id, min_version, timeout))

    async def _run(self, flow: Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                    continue
                try:
                    response = await self._send(step)
                except httpx.TransportError as error:
                    step = flow.throw(error)
                else:
                    step = flow.send(response)
        except StopIteration as done:
            result: T = done.value
            return result

    async def _send(self, call: Call) -> httpx.Response:
        return await self.http.request(
            call.method, call.url, content=call.body, headers=call.headers, timeout=call.timeout
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
