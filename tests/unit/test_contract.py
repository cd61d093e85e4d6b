"""The published contract is generated from the code, and committed: a change shows in review."""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from events.contract import event_schema, submission_schema
from events.errors import MEANING, RejectionCode
from events.lifecycles import EVENT_PAYLOADS, LIFECYCLES, SUBMISSION_PAYLOADS
from services.cli.contract import contract_files
from services.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("relative", sorted(contract_files()))
def test_committed_contract_matches_the_code(relative: str) -> None:
    committed = (DOCS / relative).read_text("utf-8")
    assert committed == contract_files()[relative], (
        f"docs/{relative} no longer matches the code: if the change is meant, run"
        " `casetrail contract` and commit the result"
    )


def test_schemas_cover_every_step_and_event() -> None:
    submissions = {m["properties"]["type"]["const"] for m in _members(submission_schema())}
    events = {m["properties"]["type"]["const"] for m in _members(event_schema())}
    assert submissions == set(SUBMISSION_PAYLOADS)
    assert events == set(EVENT_PAYLOADS)
    past_tense = re.compile(r"^[a-z]+\.[a-z_]*(ed|held|made)(_up)?$")
    assert [t for t in events if not past_tense.match(t)] == [], (
        "events are named in the past tense"
    )


def test_every_field_has_a_description_and_an_example() -> None:
    undocumented = [
        f"{name}.{field}"
        for name, definition in submission_schema()["$defs"].items()
        for field, spec in definition.get("properties", {}).items()
        if "description" not in spec or "examples" not in spec
    ]
    assert undocumented == []


def test_lifecycle_json_lists_all_five_case_types() -> None:
    result = CliRunner().invoke(app, ["lifecycle", "--format", "json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.output)
    assert [d["case_type"] for d in described] == [c.value for c in LIFECYCLES]
    assert {"complaint", "petition", "mediation", "enforcement", "disclosure"} == {
        d["case_type"] for d in described
    }
    petition = described[1]
    assert "petition.acceptance" in [d["name"] for d in petition["deadlines"]]
    disclosure = described[4]
    assert [d["name"] for d in disclosure["deadlines"]] == [
        "disclosure.answer",
        "disclosure.third_party_reply",
        "case.supervision_answer",  # every case type's
    ]


@pytest.mark.parametrize("output", ["table", "mermaid"])
def test_lifecycle_prints_one_case_type(output: str) -> None:
    result = CliRunner().invoke(app, ["lifecycle", "mediation", "--format", output])
    assert result.exit_code == 0, result.output
    assert "mediation.reach_agreement" in result.output
    assert "petition" not in result.output


def test_lifecycle_rejects_an_unknown_case_type() -> None:
    result = CliRunner().invoke(app, ["lifecycle", "parking"])
    assert result.exit_code == 1
    assert "unknown case type" in result.output


def _members(schema: dict[str, Any]) -> list[dict[str, Any]]:
    defs: dict[str, dict[str, Any]] = schema["$defs"]
    return [defs[ref["$ref"].split("/")[-1]] for ref in schema["oneOf"]]


def test_every_rejection_code_is_documented() -> None:
    assert set(MEANING) == set(RejectionCode)
    assert all(meaning.strip() for meaning in MEANING.values())
