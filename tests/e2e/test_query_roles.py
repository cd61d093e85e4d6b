"""What each role may read, and personal data only where it belongs (issue 6, DOMAIN Privacy)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from services.settings import Settings
from services.tokens import TokenRole
from tests.conftest import make_token
from tests.e2e.test_petition_flow import (
    accept_body,
    in_audit_trail,
    new_case_id,
    register_body,
    summary_when,
)

Client = Callable[[TokenRole, list[str]], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def as_role(settings: Settings, services: Any) -> AsyncIterator[Client]:
    opened: list[httpx.AsyncClient] = []

    async def client(role: TokenRole, departments: list[str]) -> httpx.AsyncClient:
        secret = await make_token(settings, role, departments)
        opened.append(
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{settings.query_port}",
                headers={"Authorization": f"Bearer {secret}"},
                timeout=10,
            )
        )
        return opened[-1]

    yield client
    for c in opened:
        await c.aclose()


@pytest.fixture
async def petition(gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings) -> str:
    """A 信访办 petition about 综治中心, accepted (its handling clock long red)."""
    case_id = new_case_id()
    body = register_body(case_id)
    body["payload"]["respondent"] = "综治中心"
    assert (await gateway.post("/submissions", json=body)).status_code == 201
    assert (await gateway.post("/submissions", json=accept_body(case_id))).status_code == 201
    await summary_when(query, case_id, "accepted")
    await in_audit_trail(settings, case_id, 2)
    return case_id


async def test_without_a_token_nothing_is_read(settings: Settings, services: Any) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.query_port}") as client:
        for path in ("/cases", "/statistics", "/deadlines"):
            response = await client.get(path)
            assert response.status_code == 401, path
            assert response.json()["code"] == "unauthenticated"


async def test_the_owning_department_reads_its_case_with_personal_data_and_it_is_logged(
    as_role: Client, petition: str, query: httpx.AsyncClient
) -> None:
    office = await as_role(TokenRole.DEPARTMENT, ["信访办"])
    history = (await office.get(f"/cases/{petition}/history")).json()
    assert history[0]["payload"]["petitioners"][0]["name"] == "李四"
    log = (await query.get("/access-log", params={"case_id": petition})).json()
    assert [entry["role"] for entry in log] == ["department"]
    listed = (await office.get("/cases", params={"limit": 500})).json()["cases"]
    assert {c["owner_department"] for c in listed} == {"信访办"}


async def test_a_case_it_may_not_read_is_unknown_to_it(as_role: Client, petition: str) -> None:
    """Another department's case answers exactly like a case that does not exist, on every
    case endpoint: a 403 would tell which case ids exist."""
    other = await as_role(TokenRole.DEPARTMENT, ["司法所"])
    limited = await as_role(TokenRole.SUPERVISOR, ["司法所"])
    missing = new_case_id()
    for who in (other, limited):
        for path in ("", "/history", "/chain"):
            refused = await who.get(f"/cases/{petition}{path}")
            unknown = await who.get(f"/cases/{missing}{path}")
            assert (refused.status_code, unknown.status_code) == (404, 404), path
            assert refused.json() == {
                **unknown.json(),
                "message": unknown.json()["message"].replace(missing, petition),
            }, path
            assert refused.json()["code"] == "unknown_case"
            assert refused.headers.keys() == unknown.headers.keys()
    assert (await other.get("/cases")).json()["cases"] == []


async def test_the_unit_complained_about_never_sees_the_petitioner(
    as_role: Client, petition: str, gateway: httpx.AsyncClient, query: httpx.AsyncClient
) -> None:
    transfer = {
        **accept_body(petition),
        "type": "case.transfer",
        "payload": {"to_department": "综治中心", "reason": "属地办理"},
    }
    assert (await gateway.post("/submissions", json=transfer)).status_code == 201
    for _ in range(100):
        if (await query.get(f"/cases/{petition}")).json()["owner_department"] == "综治中心":
            break
        await asyncio.sleep(0.1)
    subject = await as_role(TokenRole.DEPARTMENT, ["综治中心"])
    history = (await subject.get(f"/cases/{petition}/history")).json()  # it owns it now
    assert history[0]["payload"]["petitioners"][0] == {
        "name": "***",
        "id_number": None,
        "phone": "***",
        "address": None,
    }
    # A supervisor of the department that handed it over can no longer open it, and its
    # officers' activity no longer names it either.
    former = await as_role(TokenRole.SUPERVISOR, ["信访办"])
    assert (await former.get(f"/cases/{petition}")).status_code == 404
    activity = (await former.get("/officers/DY-XF-01/activity")).json()
    assert petition not in {a["case_id"] for a in activity}


async def test_a_supervisor_reads_every_case_but_no_personal_data(
    as_role: Client, petition: str, query: httpx.AsyncClient
) -> None:
    supervisor = await as_role(TokenRole.SUPERVISOR, [])
    history = (await supervisor.get(f"/cases/{petition}/history")).json()
    assert history[0]["payload"]["petitioners"][0]["name"] == "***"
    assert (await query.get("/access-log", params={"case_id": petition})).json() == []
    assert (await supervisor.get("/access-log")).status_code == 403
    limited = await as_role(TokenRole.SUPERVISOR, ["司法所"])
    assert (await limited.get(f"/cases/{petition}")).status_code == 404


async def test_an_auditor_reads_everything_and_every_read_is_logged(
    query: httpx.AsyncClient, petition: str
) -> None:
    history = (await query.get(f"/cases/{petition}/history")).json()
    assert history[0]["payload"]["petitioners"][0]["phone"] == "13900000000"
    log = (await query.get("/access-log", params={"case_id": petition})).json()
    assert [(e["role"], e["events"]) for e in log] == [("auditor", 2)]
    activity = (await query.get("/officers/DY-XF-01/activity")).json()
    assert petition in {a["case_id"] for a in activity}


async def test_a_limited_supervisor_reads_only_its_departments_officers(
    as_role: Client, petition: str
) -> None:
    own = await as_role(TokenRole.SUPERVISOR, ["信访办"])
    activity = await own.get("/officers/DY-XF-01/activity")
    assert activity.status_code == 200, activity.text
    assert petition in {a["case_id"] for a in activity.json()}
    assert {a["department"] for a in activity.json()} == {"信访办"}
    other = await as_role(TokenRole.SUPERVISOR, ["司法所"])
    for officer in ("DY-XF-01", "nobody-at-all"):
        refused = await other.get(f"/officers/{officer}/activity")
        assert refused.status_code == 404, officer
        assert refused.json()["code"] == "unknown_officer"


async def test_the_public_sees_statistics_only(as_role: Client, petition: str) -> None:
    public = await as_role(TokenRole.PUBLIC, [])
    figures = await public.get("/statistics", params={"year": 2020, "by": "case_type"})
    assert figures.status_code == 200
    assert any(row["case_type"] == "petition" for row in figures.json()["rows"])
    for path in ("/cases", f"/cases/{petition}", "/deadlines", "/officers/DY-XF-01/activity"):
        response = await public.get(path)
        assert response.status_code == 403, path
        assert response.json()["code"] == "forbidden_role"


async def test_filters_lights_and_keyset_pages(query: httpx.AsyncClient, petition: str) -> None:
    red = (await query.get("/cases", params={"light": "red", "case_type": "petition"})).json()
    assert petition in {c["case_id"] for c in red["cases"]}
    assert all(c["case_type"] == "petition" for c in red["cases"])
    deadlines = (await query.get("/deadlines", params={"light": "red"})).json()
    assert (petition, "petition.handling") in {(d["case_id"], d["clock"]) for d in deadlines}

    first = (await query.get("/cases", params={"limit": 1})).json()
    assert len(first["cases"]) == 1
    second = (await query.get("/cases", params={"limit": 1, "after": first["next"]})).json()
    assert second["cases"][0]["case_id"] != first["cases"][0]["case_id"]
    everything = (await query.get("/cases", params={"limit": 500})).json()["cases"]
    assert [c["case_id"] for c in everything[:2]] == [
        first["cases"][0]["case_id"],
        second["cases"][0]["case_id"],
    ]
    bad = await query.get("/cases", params={"after": "not-a-cursor"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_cursor"


async def test_as_of_is_for_auditors_and_never_sticks(
    as_role: Client, petition: str, query: httpx.AsyncClient
) -> None:
    """Registered 4 March, accepted 6 March 2020 (occurred); recorded only now."""
    then = await query.get(
        f"/cases/{petition}/as-of", params={"at": "2020-03-05T00:00:00+08:00", "basis": "occurred"}
    )
    assert then.status_code == 200, then.text
    assert (then.json()["state"]["status"], then.json()["steps_later"]) == ("registered", 1)
    recorded = await query.get(
        f"/cases/{petition}/as-of", params={"at": "2020-03-05T00:00:00+08:00"}
    )
    assert recorded.json()["state"] is None  # nothing of it had been recorded in 2020

    live = (await query.get("/statistics", params={"by": "case_type"})).json()["rows"]
    past = await query.get("/statistics", params={"as_of": "2019-01-01T00:00:00+08:00"})
    assert past.json()["rows"] == []
    # The past figures came from a temporary table: on every pooled connection (8 at most)
    # the live ones must be back at once.
    for _ in range(12):
        again = (await query.get("/statistics", params={"by": "case_type"})).json()["rows"]
        assert [(r["case_type"], r["cases"]) for r in again] == [
            (r["case_type"], r["cases"]) for r in live
        ]

    supervisor = await as_role(TokenRole.SUPERVISOR, [])
    for path, params in (
        (f"/cases/{petition}/as-of", {"at": "2020-03-05T00:00:00+08:00"}),
        ("/statistics", {"as_of": "2020-03-05T00:00:00+08:00"}),
    ):
        response = await supervisor.get(path, params=params)
        assert response.status_code == 403, path


async def test_search_finds_a_case_by_its_words_and_number_never_by_personal_data(
    as_role: Client, gateway: httpx.AsyncClient, query: httpx.AsyncClient
) -> None:
    case_id = new_case_id()
    tag = case_id[-6:]
    body = register_body(case_id)
    body["payload"]["summary"] = f"鱼塘排污{tag}影响农田"
    body["payload"]["petitioners"] = [{"name": f"钱{tag}", "phone": "13900000001"}]
    assert (await gateway.post("/submissions", json=body)).status_code == 201
    await summary_when(query, case_id, "registered")
    office = await as_role(TokenRole.DEPARTMENT, ["信访办"])
    supervisor = await as_role(TokenRole.SUPERVISOR, [])

    async def found(who: httpx.AsyncClient, q: str) -> set[str]:
        response = await who.get("/cases", params={"q": q, "limit": 500})
        assert response.status_code == 200, response.text
        return {c["case_id"] for c in response.json()["cases"]}

    for who in (supervisor, office, query):
        assert await found(who, f"排污{tag}") == {case_id}
        assert await found(who, f"鱼塘 {tag}") == {case_id}  # every word, anywhere
        assert await found(who, case_id[:-2].lower()) == {case_id}  # the id by its beginning
        # Not by the petitioner's name, even for readers who see it: a reader shown *** must
        # not find a case by what it hides, so nobody does.
        assert await found(who, f"钱{tag}") == set()
        assert await found(who, f"{tag} 没有这个词") == set()
    # The wildcards of LIKE are plain characters in a search.
    assert await found(query, "%_%") == set()
    assert case_id not in await found(await as_role(TokenRole.DEPARTMENT, ["司法所"]), tag)


async def test_labels_are_public_and_officers_are_named_to_case_readers(
    as_role: Client, settings: Settings, query: httpx.AsyncClient
) -> None:
    url = f"http://127.0.0.1:{settings.query_port}"
    async with httpx.AsyncClient(base_url=url, timeout=10) as anonymous:
        labels = await anonymous.get("/labels")
        assert labels.status_code == 200
        assert labels.headers["cache-control"].startswith("public")
        assert labels.json()["statuses"]["petition"]["registered"].startswith("已登记")
        assert labels.json()["fields"]["petition.registered"]["summary"]["kind"] == "text"
        again = await anonymous.get("/labels", headers={"If-None-Match": labels.headers["etag"]})
        assert again.status_code == 304
        assert (await anonymous.get("/officers")).status_code == 401
    public = await as_role(TokenRole.PUBLIC, [])
    assert (await public.get("/officers")).status_code == 403
    for who in (await as_role(TokenRole.SUPERVISOR, []), query):
        officers = {o["officer_id"]: o for o in (await who.get("/officers")).json()}
        assert officers["DY-XF-01"] == {
            "officer_id": "DY-XF-01",
            "name": "王芳",
            "department": "信访办",
            "roles": ["officer"],
        }
        assert "certificate" not in officers["DY-SC-07"]
