"""The HTTP contract of the query API and the gateway, on a running system with real data (a
slice of the demo town's year, decided by the real decider and projected into PostgreSQL):

- plain JSON: every read endpoint's real answers hold numbers as JSON numbers (counts integers,
  rates numbers, money integer fen) and instants as ISO 8601, never a number in a string;
- fuzzing: property-based requests generated from the OpenAPI documents the two services serve
  (schemathesis), with a token of every role and without one, never get a server error, a status
  the document does not list, or a body that does not match the document."""

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from services.adapters.kafka import submit_and_wait
from services.demo import demo_settings
from services.demo import year as demo_year
from services.infra.servers import free_port
from services.integrity.signing import DepartmentSigners
from services.settings import KafkaRole, Settings
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_petition_flow import register_body
from tests.integration.test_projections import caught_up, own_topics_and_database
from tests.support import Service, eventually, healthy

# --- the town: a slice of the demo year on a system of its own ---------------------------------


def slice_of_the_demo_year() -> list[dict[str, Any]]:
    """The demo's submissions of its first cases of each kind and year, every mediation (the
    money in dispute, the supervision notes) and disclosure, and the cases these link to: every
    measure of the statistics has cases behind it, in 2020 and the year before (同比)."""
    bodies = demo_year.submissions()
    chosen = {
        b["case_id"]
        for b in bodies
        if b["case_id"][:2] in ("TJ", "GK") or int(b["case_id"].rsplit("-", 1)[1]) <= 6
    }
    chosen |= {
        b["payload"]["other_case_id"]
        for b in bodies
        if b["type"] == "case.link" and b["case_id"] in chosen
    }
    return [b for b in bodies if b["case_id"] in chosen]


@dataclass
class Town:
    settings: Settings
    query: str
    gateway: str
    tokens: dict[str, str]
    """A token of each role by name; ``department`` speaks for 信访办."""
    submission_id: str
    """One submission the department sent through the gateway."""
    case_ids: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def town(servers: Settings, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Town]:
    async with own_topics_and_database(servers) as own:
        settings = own.model_copy(update={"query_port": free_port(), "gateway_port": free_port()})
        logs = tmp_path_factory.mktemp("http-contract-logs")
        running = [Service(n, settings, logs) for n in ("decider", "projector", "query", "gateway")]
        for service in running:
            service.start()
        try:
            signers = DepartmentSigners.load(demo_settings(settings))
            bodies = [signers.sign(body) for body in slice_of_the_demo_year()]
            outcomes = await submit_and_wait(
                settings.as_kafka_user(KafkaRole.DEPARTMENT), bodies, 180
            )
            refused = [o for o in outcomes.values() if o.status != "accepted"]
            assert not refused, refused[:3]
            tokens = {
                "auditor": await make_token(settings, TokenRole.AUDITOR, []),
                "supervisor": await make_token(settings, TokenRole.SUPERVISOR, []),
                "supervisor of 信访办": await make_token(
                    settings, TokenRole.SUPERVISOR, ["信访办"]
                ),
                "department": await make_token(settings, TokenRole.DEPARTMENT, ["信访办"]),
                "public": await make_token(settings, TokenRole.PUBLIC, []),
            }
            query = f"http://127.0.0.1:{settings.query_port}"
            gateway = f"http://127.0.0.1:{settings.gateway_port}"
            for url in (query, gateway):
                await asyncio.to_thread(eventually, lambda url=url: healthy(url), 60, url)
            body = register_body("XF-T-CONTRACT")
            headers = {"Authorization": f"Bearer {tokens['department']}"}
            async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as client:
                sent = await client.post("/submissions", json=body)
            assert sent.status_code == 201, sent.text
            await caught_up(settings)
            yield Town(
                settings,
                query,
                gateway,
                tokens,
                body["submission_id"],
                sorted({b["case_id"] for b in bodies}),
            )
            for service in running:
                service.check_alive()  # no request, however made, took a service down
        finally:
            for service in running:
                service.stop()


# --- plain JSON ----------------------------------------------------------------------------------

NUMBER_IN_A_STRING = re.compile(
    r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*|\s*[+-]?(inf|infinity|nan)\s*", re.IGNORECASE
)

TEXT_OF_DIGITS = {
    "hash": "a SHA-256 in hex may be all digits (the demo's evidence hashes are)",
    "prev_hash": "the same",
    "sha256": "the same",
    "content_hash": "the same",
    "phone": "a telephone number is text (leading zeros, no arithmetic)",
    "certificate": "an enforcement certificate's number (执法证号) is text",
    "id_number": "an identity card number is text (its last character may be X)",
}
"""Fields whose values are text made of digits, never numbers: the only strings allowed to look
like numbers."""

INSTANT_KEYS = re.compile(r"(^|_)(at|since|last_attempt|as_of)$")
DAY_KEYS = re.compile(r"(^|_)day$")


def plain_json_problems(value: Any, path: str = "$") -> Iterator[str]:
    """Every number held in a string, and every instant or day that is not ISO 8601, in an
    answer; by its path."""
    if isinstance(value, dict):
        for key, inner in value.items():
            inner_path = f"{path}.{key}"
            if isinstance(inner, str) and key not in TEXT_OF_DIGITS:
                if INSTANT_KEYS.search(key) and not _is_instant(inner):
                    yield f"{inner_path}: {inner!r} is not an ISO 8601 instant with its offset"
                if DAY_KEYS.search(key) and not _is_day(inner):
                    yield f"{inner_path}: {inner!r} is not an ISO 8601 day"
            if key not in TEXT_OF_DIGITS:
                yield from plain_json_problems(inner, inner_path)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from plain_json_problems(inner, f"{path}[{i}]")
    elif isinstance(value, str) and NUMBER_IN_A_STRING.fullmatch(value):
        yield f"{path}: {value!r} is a number in a string"


def _is_instant(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def test_the_walker_finds_numbers_in_strings() -> None:
    """What the walk below fails on: the answers the statistics gave before they were typed."""
    before = {
        "rows": [
            {"closure_rate": "0.9444", "amount_in_dispute_fen": "1.2000E+8", "cases": 3},
            {"average_handling_days": " -2.50", "x": ["NaN", "3"], "opened_at": "2020-03-04"},
        ],
        "hash": "0123",
        "events": [{"payload": {"phone": "13900000000", "note": "第3次"}}],
    }
    assert sorted(plain_json_problems(before)) == [
        "$.rows[0].amount_in_dispute_fen: '1.2000E+8' is a number in a string",
        "$.rows[0].closure_rate: '0.9444' is a number in a string",
        "$.rows[1].average_handling_days: ' -2.50' is a number in a string",
        "$.rows[1].opened_at: '2020-03-04' is not an ISO 8601 instant with its offset",
        "$.rows[1].x[0]: 'NaN' is a number in a string",
        "$.rows[1].x[1]: '3' is a number in a string",
    ]


def read_endpoints(document: dict[str, Any]) -> set[str]:
    """Every GET whose answer is JSON (not the CSV, Excel and PDF exports: their figures are
    checked against these answers in tests/integration/test_exports.py)."""
    return {
        path
        for path, methods in document["paths"].items()
        if "get" in methods
        and "application/json" in methods["get"]["responses"]["200"].get("content", {})
    }


async def test_every_read_endpoint_answers_plain_json(town: Town) -> None:
    """Each GET of both OpenAPI documents, with real answers (each role's, a year without cases,
    the statistics as of an instant on either basis): no number in a string, instants in ISO
    8601; and the statistics' own types, as their schema says."""
    answers: dict[str, list[Any]] = {}
    auditor = {"Authorization": f"Bearer {town.tokens['auditor']}"}

    async def read(client: httpx.AsyncClient, path: str, template: str, **params: Any) -> Any:
        response = await client.get(path, params=params)
        assert response.status_code == 200, (path, params, response.text)
        answers.setdefault(template, []).append(response.json())
        return response.json()

    async with httpx.AsyncClient(base_url=town.query, headers=auditor, timeout=30) as api:
        documents = {"query": (await api.get("/openapi.json")).json()}
        cases: list[dict[str, Any]] = []
        page = await read(api, "/cases", "/cases", limit=40)
        while True:
            cases += page["cases"]
            if page["next"] is None:
                break
            page = await read(api, "/cases", "/cases", limit=40, after=page["next"])
        assert len(cases) == len(town.case_ids) + 1  # and the one sent through the gateway
        one_of_each = {c["case_type"]: c["case_id"] for c in cases}
        for case_id in [*one_of_each.values(), "ZF-2020-0004", "TJ-2020-0001"]:
            await read(api, f"/cases/{case_id}", "/cases/{case_id}")
            await read(api, f"/cases/{case_id}/history", "/cases/{case_id}/history", reason="审计")
            await read(api, f"/cases/{case_id}/chain", "/cases/{case_id}/chain")
            for basis in ("recorded", "occurred"):
                await read(
                    api,
                    f"/cases/{case_id}/as-of",
                    "/cases/{case_id}/as-of",
                    at=datetime.now().astimezone().isoformat(),
                    basis=basis,
                )
        for light in ("red", "yellow", "unknown"):
            await read(api, "/deadlines", "/deadlines", light=light)
        officers = await read(api, "/officers", "/officers")
        for officer in officers[:4]:
            path = f"/officers/{officer['officer_id']}/activity"
            response = await api.get(path)
            if response.status_code == 200:
                answers.setdefault("/officers/{officer_id}/activity", []).append(response.json())
        now = datetime.now().astimezone().isoformat()
        groupings = ["", "case_type", "department,channel", "status,month", "case_type,channel"]
        for year in (2019, 2020, 2021, 2174):  # 2174: a year without a case
            for by in groupings:
                await read(api, "/statistics", "/statistics", year=year, by=by)
                for basis in ("recorded", "occurred"):
                    await read(
                        api, "/statistics", "/statistics", year=year, by=by, as_of=now, basis=basis
                    )
        await read(api, "/labels", "/labels")
        await read(api, "/access-log", "/access-log")
        await read(api, "/health", "/health")
        await read(api, "/health/projections", "/health/projections")
        await read(api, "/health/calendar", "/health/calendar")
        mediations = await read(api, "/statistics", "/statistics", year=2020, by="case_type")
    department = {"Authorization": f"Bearer {town.tokens['department']}"}
    async with httpx.AsyncClient(base_url=town.gateway, headers=department, timeout=30) as gate:
        documents["gateway"] = (await gate.get("/openapi.json")).json()
        await read(gate, "/health", "/health (gateway)")
        path = f"/submissions/{town.submission_id}"
        await read(gate, path, "/submissions/{submission_id}")

    walked = {t.replace(" (gateway)", "") for t in answers}
    assert walked == read_endpoints(documents["query"]) | read_endpoints(documents["gateway"])
    problems = [p for answer in answers.values() for a in answer for p in plain_json_problems(a)]
    assert problems == [], "\n".join(sorted({re.sub(r"\[\d+\]", "[]", p) for p in problems}))

    # The figures themselves: counts and money integers, rates numbers (JSON has no other way).
    (row,) = [r for r in mediations["rows"] if r["case_type"] == "mediation"]
    assert isinstance(row["amount_in_dispute_fen"], int)
    assert row["amount_in_dispute_fen"] > 0
    assert isinstance(row["closure_rate"], float)
    assert 0 < row["closure_rate"] <= 1
    assert all(isinstance(row[k], int) for k in ("cases", "persons", "supervision_notes"))
    statistics = documents["query"]["components"]["schemas"]["StatisticsRow"]["properties"]
    assert statistics["amount_in_dispute_fen"]["type"] == "integer"
    assert {"type": "number"} in statistics["closure_rate"]["anyOf"]


# --- fuzzing --------------------------------------------------------------------------------------

EXAMPLES = 12
"""Generated requests per operation, role and mode (valid data, and data the document forbids):
the run stays within about a minute and a half on a loaded two-core machine."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
"""No 5xx; only statuses the document lists; bodies of the listed type and schema; a request
the document forbids refused with a 4xx."""


@dataclass
class FuzzRun:
    cases: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    """By operation, role and the checks that failed: the first failure's report (with curl)."""


def fuzz(
    document: dict[str, Any], base_url: str, roles: dict[str, str | None], run: FuzzRun
) -> None:
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=base_url)
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid OpenAPI
        operation = result.ok()
        for role, token in roles.items():
            headers = {"Authorization": f"Bearer {token}"} if token else None
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode, headers=headers)
                _fuzz_one(strategy, f"{operation.label} as {role} ({mode.value})", run)


def _fuzz_one(strategy: st.SearchStrategy[Any], label: str, run: FuzzRun) -> None:
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: the report keeps the first failing request
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def one(case: Any) -> None:
        run.cases += 1
        try:
            case.call_and_validate(checks=CHECKS, timeout=30)
        except (Exception, FailureGroup) as error:  # each reported, none stops the run
            key = f"{label}: {type(error).__name__}"
            run.failures.setdefault(key, str(error)[:1500])

    try:
        one()
    except Unsatisfiable:
        # Only for data the document forbids, of an operation that takes nothing (no parameter,
        # no body): there is nothing to make invalid.
        assert "(negative)" in label, label


def test_fuzzing_both_openapi_documents_finds_no_server_error(town: Town) -> None:
    """Requests generated from each service's own OpenAPI document, valid and not, as every
    role and as nobody: each answered with a status its document lists (4xx for what it
    forbids), never 5xx, in the shape the document gives."""
    started = time.monotonic()
    documents = {url: httpx.get(f"{url}/openapi.json").json() for url in (town.query, town.gateway)}
    run = FuzzRun()
    everyone: dict[str, str | None] = {"nobody": None, **town.tokens}
    fuzz(documents[town.query], town.query, everyone, run)
    department = {r: everyone[r] for r in ("nobody", "department", "auditor")}
    fuzz(documents[town.gateway], town.gateway, department, run)
    seconds = time.monotonic() - started
    print(f"fuzzing: {run.cases} requests in {seconds:.0f} s, {len(run.failures)} failures")
    assert run.failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in run.failures.items())
    # Bounded by construction (EXAMPLES per operation, role and mode), not by a timed assertion:
    # a loaded machine must not fail a run that found nothing.
    assert run.cases >= 1000


HOSTILE_TEXT = {
    "a NUL character": "信访办%00",
    "a lone surrogate (not UTF-8)": "%ED%A0%80",  # as CESU-8 encodes U+D800
    "bytes that are not UTF-8": "%FF%FE",
    "ten thousand characters": "a" * 10_000,
}
"""What a text parameter may carry that PostgreSQL cannot hold or should never be asked about;
percent-encoded as they go in the address."""

GOOD = {
    "case_id": "XF-2020-0001",
    "officer_id": "DY-XF-01",
    "submission_id": "6dfdcf5b-ec97-513d-897f-80a0743f3f88",
    "at": "2020-06-01T00:00:00%2B08:00",
}
"""A valid value of each required parameter, beside the one made hostile."""


def _takes_text(parameter: dict[str, Any]) -> bool:
    """A text parameter of the address. (The one header parameter, the gateway's token, reaches
    PostgreSQL only as the SHA-256 of its secret.)"""
    if parameter["in"] not in ("path", "query"):
        return False
    schema = parameter.get("schema", {})
    return "string" in {schema.get("type"), *(s.get("type") for s in schema.get("anyOf", []))}


def hostile_addresses(document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Each GET with each of its text parameters (in the path or the query) made hostile in
    each way: (what, address)."""
    for path, methods in document["paths"].items():
        parameters = methods.get("get", {}).get("parameters", [])
        for target in (p for p in parameters if _takes_text(p)):
            for what, value in HOSTILE_TEXT.items():
                address, query = path, []
                for p in parameters:
                    given = value if p is target else GOOD.get(p["name"])
                    if given is None:
                        continue
                    if p["in"] == "path":
                        address = address.replace("{" + p["name"] + "}", given)
                    elif p["in"] == "query":
                        query.append(f"{p['name']}={given}")
                label = f"{path} with {target['name']} holding {what}"
                yield label, address + ("?" + "&".join(query) if query else "")


def test_hostile_text_in_any_parameter_is_refused_with_the_error_shape(town: Town) -> None:
    """Every text parameter of every read endpoint of both services, as every role: a NUL, a
    surrogate, bytes that are not UTF-8, ten thousand characters: a 4xx with a code and a
    message (422 invalid_payload where the text reaches a check), never a 5xx. And a submission
    with a NUL in its text, or a body that is not UTF-8: 4xx, nothing published. (Bytes that are
    not UTF-8 in an address are read as U+FFFD, so they may find nothing with a 200.)"""
    answers: dict[str, int] = {}
    for url in (town.query, town.gateway):
        document = httpx.get(f"{url}/openapi.json").json()
        for role in ("auditor", "department"):
            headers = {"Authorization": f"Bearer {town.tokens[role]}"}
            with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
                for label, address in hostile_addresses(document):
                    response = client.get(address)
                    answers[f"{label} as {role}"] = response.status_code
                    if "UTF-8" in label and response.status_code < 300:
                        # Read as U+FFFD (what Starlette makes of bytes that are not UTF-8):
                        # text like any other, that no case matches.
                        continue
                    assert 400 <= response.status_code < 500, (label, response.text[:300])
                    assert {"code", "message"} <= response.json().keys(), label
                    if "NUL" in label or "thousand" in label:
                        assert response.status_code in (401, 403, 422), (label, response.text)
    assert len(answers) >= 2 * 4 * 10  # both roles, every kind, the text parameters there are
    assert answers["/cases with department holding a NUL character as auditor"] == 422
    assert answers["/access-log with case_id holding a NUL character as auditor"] == 422

    headers = {
        "Authorization": f"Bearer {town.tokens['department']}",
        "Content-Type": "application/json",
    }
    nul = register_body("XF-T-NUL")
    nul["payload"]["summary"] = "厂房噪音\x00扰民"
    with httpx.Client(base_url=town.gateway, headers=headers, timeout=30) as gateway:
        refused = gateway.post("/submissions", json=nul)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_payload"
        assert "NUL" in refused.json()["message"]
        not_utf8 = gateway.post("/submissions", content=b'{"type": "\xff\xfe"}')
        assert not_utf8.status_code == 400, not_utf8.text
        assert not_utf8.json()["code"] == "invalid_payload"
        surrogate = gateway.post("/submissions", content=b'{"case_id": "\\ud800"}')
        assert surrogate.status_code == 422, surrogate.text
        # In a payload's free text: JSON's escape of a lone surrogate, which no UTF-8 holds.
        lone = register_body("XF-T-SURROGATE")
        lone["payload"]["summary"] = "SURROGATE"
        body = json.dumps(lone).replace("SURROGATE", "\\ud800", 1).encode()
        refused = gateway.post("/submissions", content=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_payload"
