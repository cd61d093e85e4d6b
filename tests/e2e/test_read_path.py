"""Statistics, replay and lag through the command line, on the running system."""

import json

import httpx

from services.settings import Settings
from tests.e2e.test_petition_flow import accept_body, new_case_id, register_body, summary_when
from tests.support import casetrail


async def test_stats_replay_and_lag_from_the_command_line(
    gateway: httpx.AsyncClient, query: httpx.AsyncClient, settings: Settings
) -> None:
    case_id = new_case_id()
    assert (await gateway.post("/submissions", json=register_body(case_id))).status_code == 201
    assert (await gateway.post("/submissions", json=accept_body(case_id))).status_code == 201
    await summary_when(query, case_id, "accepted")

    now = json.loads(casetrail(settings, "stats", "--year", "2020", "--json").stdout)
    (petitions,) = [row for row in now["rows"] if row["case_type"] == "petition"]
    assert petitions["cases"] >= 1
    as_of = json.loads(
        casetrail(
            settings,
            "stats",
            "--year",
            "2020",
            "--as-of",
            "2020-03-05",
            "--basis",
            "occurred",
            "--json",
        ).stdout
    )
    # Registered on 4 March (occurred), so counted as of 5 March; accepted only on 6 March.
    rows = {row["case_type"]: row for row in as_of["rows"]}
    assert rows["petition"]["cases"] >= 1
    as_recorded = json.loads(casetrail(settings, "stats", "--as-of", "2020-03-05", "--json").stdout)
    assert as_recorded["rows"] == [], "nothing had been recorded by 2020: it was all entered now"

    replayed = casetrail(
        settings, "replay", case_id, "--as-of", "2020-03-05", "--basis", "occurred"
    )
    assert replayed.returncode == 0, replayed.stderr
    assert "petition registered, version 1" in replayed.stdout
    assert "1 later step(s) not counted" in replayed.stdout
    missing = casetrail(settings, "replay", "NO-SUCH-CASE")
    assert missing.returncode == 1
    assert "no case NO-SUCH-CASE" in missing.stderr

    lag = casetrail(settings, "lag", "--json")
    assert lag.returncode == 0, lag.stdout + lag.stderr
    assert {r["projection"] for r in json.loads(lag.stdout)} == {
        "cases",
        "audit_trail",
        "officer_activity",
    }
