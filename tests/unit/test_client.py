"""The departments' client without the services: its models held to the query service's
OpenAPI document, what it sends (signed or not), how it reads errors and ``Retry-After``, and
what it says when nothing answers. Against the real services: ``tests/e2e/test_client.py``."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ValidationError

from client import (
    Case,
    CaseTrailClient,
    ClientCode,
    Deadline,
    InvalidSubmission,
    Link,
    Rejected,
    RejectionCode,
    Unreachable,
)
from client.errors import error_of, retry_after
from client.flows import prepared
from services.infra.servers import free_port
from services.integrity.signing import Signer, signature_valid
from services.query.app import create_app
from services.settings import Settings
from tests.e2e.test_petition_flow import register_body

PUBLISHED_AS = {Case: "CaseOut", Deadline: "DeadlineOut", Link: "LinkOut"}


def _shape(prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A property's type, comparable across the two documents: models by their published name,
    enums as the strings they are on the wire."""
    if "anyOf" in prop:
        return ("anyOf", tuple(sorted(repr(_shape(p, defs)) for p in prop["anyOf"])))
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        if "enum" in defs[name]:
            return ("string", None)
        published = {m.__name__: n for m, n in PUBLISHED_AS.items()}
        return ("object", published.get(name, name))
    if prop.get("type") == "array":
        return ("array", _shape(prop["items"], defs))
    return (prop["type"], prop.get("format"))


def _signature(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return {
        "required": sorted(schema.get("required", [])),
        "properties": {name: _shape(p, defs) for name, p in schema["properties"].items()},
    }


@pytest.mark.parametrize("model", list(PUBLISHED_AS), ids=lambda m: m.__name__)
def test_the_clients_models_are_the_query_apis_answers(model: type[BaseModel]) -> None:
    published = create_app(Settings()).openapi()["components"]["schemas"]
    mine = model.model_json_schema()
    assert _signature(mine, mine.get("$defs", {})) == _signature(
        published[PUBLISHED_AS[model]], published
    )


CASE = {
    "case_id": "XF-2021-0100",
    "case_type": "petition",
    "status": "registered",
    "owner_department": "信访办",
    "assigned_officer": None,
    "channel": "online",
    "opened_at": "2021-05-06T01:30:00Z",
    "closed_at": None,
    "version": 1,
    "last_event_at": "2021-05-06T01:30:00Z",
    "last_recorded_at": "2021-05-06T01:30:00Z",
    "deadlines": [
        {"clock": "petition.acceptance", "due_day": "2021-05-21", "due_at": None, "light": "red"}
    ],
    "light": "red",
    "links": [],
    "a_field_added_later": 1,
}


def test_a_case_reads_from_json_and_a_numeric_string_is_refused() -> None:
    case = Case.model_validate_json(orjson.dumps(CASE))
    assert (case.version, case.deadlines[0].light) == (1, "red")
    with pytest.raises(ValidationError, match="version"):
        Case.model_validate_json(orjson.dumps(CASE | {"version": "1"}))


def test_without_a_signer_the_submission_goes_as_the_gateway_publishes_it() -> None:
    body = register_body("XF-T-1")
    model, sent = prepared(body, None)
    document = orjson.loads(sent)
    assert "signature" not in document
    assert document["occurred_at"] == "2020-03-04T01:30:00Z"  # in UTC, as the gateway's
    assert str(model.submission_id) == document["submission_id"] == body["submission_id"]


def test_a_signer_signs_exactly_what_is_sent() -> None:
    key = Ed25519PrivateKey.generate()
    _, sent = prepared(register_body("XF-T-1"), Signer.of(key))
    document = orjson.loads(sent)
    assert document["signature"]["department"] == "信访办"
    assert signature_valid(document, key.public_key())


def test_a_document_signed_already_goes_as_given() -> None:
    key = Ed25519PrivateKey.generate()
    signed = Signer.of(key).sign(register_body("XF-T-1"), "信访办")
    _, sent = prepared(signed, Signer.of(Ed25519PrivateKey.generate()))
    assert sent == orjson.dumps(signed)  # not re-signed, instants as written (+08:00)


def test_a_model_signed_over_its_json_keeps_its_signature() -> None:
    key = Ed25519PrivateKey.generate()
    unsigned, _ = prepared(register_body("XF-T-1"), None)
    signed = Signer.of(key).sign(unsigned.model_dump(mode="json", exclude={"signature"}), "信访办")
    model, _ = prepared(signed, None)
    _, sent = prepared(model, None)
    assert signature_valid(orjson.loads(sent), key.public_key())


def test_an_invalid_submission_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidSubmission) as raised:
        prepared(register_body("XF-T-1") | {"occurred_at": "yesterday"}, None)
    assert (raised.value.status, raised.value.code) == (None, RejectionCode.INVALID_PAYLOAD)
    assert raised.value.errors is not None
    assert "occurred_at" in raised.value.errors[0]["loc"]


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    request = httpx.Request("POST", "http://gateway/submissions")
    return httpx.Response(status, content=content, headers=headers, request=request)


def test_error_answers_become_typed_errors() -> None:
    outcome = {
        "submission_id": str(uuid.uuid4()),
        "case_id": "XF-T-1",
        "status": "rejected",
        "code": "unknown_case",
        "message": "no case XF-T-1",
        "version": 0,
        "decided_at": "2021-05-06T01:30:00Z",
    }
    rejected = error_of(answer(404, {"code": "unknown_case", "message": "…", "outcome": outcome}))
    assert isinstance(rejected, Rejected)
    assert (rejected.status, rejected.code) == (404, RejectionCode.UNKNOWN_CASE)
    assert rejected.outcome.case_id == "XF-T-1"

    invalid = error_of(
        answer(422, {"code": "invalid_payload", "message": "x", "errors": [{"loc": ["body"]}]})
    )
    assert (invalid.status, invalid.code, invalid.errors) == (
        422,
        "invalid_payload",
        [{"loc": ["body"]}],
    )
    assert not isinstance(invalid, Rejected)

    shed = error_of(answer(503, {"code": "overloaded", "message": "…"}, {"Retry-After": "1"}))
    assert (shed.status, shed.code, shed.retry_after) == (503, "overloaded", 1.0)

    proxy = error_of(answer(502, b"<html>Bad Gateway</html>"))
    assert (proxy.status, proxy.code, proxy.message) == (
        502,
        "http_error",
        "<html>Bad Gateway</html>",
    )


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after(answer(503, {}, {"Retry-After": "5"})) == 5.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= retry_after(answer(503, {}, {"Retry-After": later})) <= 30
    assert retry_after(answer(503, {}, {"Retry-After": "soon"}), default=2.0) == 2.0
    assert retry_after(answer(503, {}), default=1.0) == 1.0


def test_nothing_listening_is_retried_until_the_timeout_then_unreachable() -> None:
    port = free_port()
    started = time.monotonic()
    with (
        CaseTrailClient(f"http://127.0.0.1:{port}", token="ct_none", timeout=2) as client,
        pytest.raises(Unreachable) as raised,
    ):
        client.submit(register_body("XF-T-1"))
    took = time.monotonic() - started
    assert raised.value.code == ClientCode.UNREACHABLE
    assert f"127.0.0.1:{port}" in raised.value.message
    assert 1.0 <= took < 5, took  # retried meanwhile (0.5 s, 1 s …), not given up at once
