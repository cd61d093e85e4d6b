"""A small typed Python client for departments: submit a step through the gateway, wait for
its outcome, read the case from the query API (README, "A Python client for departments").

    from client import CaseTrailClient
    with CaseTrailClient("http://127.0.0.1:8000", "http://127.0.0.1:8001", token=…) as ct:
        outcome = ct.submit({...})            # events.model.Outcome, or raises Rejected
        case = ct.case(outcome.case_id, min_version=outcome.version)

It imports only the contract (``events/``), pydantic and httpx: never a service."""

from client.clients import AsyncCaseTrailClient, CaseTrailClient
from client.errors import (
    CaseTrailError,
    ClientCode,
    InvalidSubmission,
    OutcomeTimeout,
    ReadModelBehind,
    Rejected,
    Unreachable,
)
from client.flows import SubmissionSigner
from client.models import Case, Deadline, Link
from events.errors import RejectionCode
from events.model import Outcome

__all__ = [
    "AsyncCaseTrailClient",
    "Case",
    "CaseTrailClient",
    "CaseTrailError",
    "ClientCode",
    "Deadline",
    "InvalidSubmission",
    "Link",
    "Outcome",
    "OutcomeTimeout",
    "ReadModelBehind",
    "Rejected",
    "RejectionCode",
    "SubmissionSigner",
    "Unreachable",
]
