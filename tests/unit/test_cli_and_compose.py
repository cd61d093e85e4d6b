"""The casetrail command and docker-compose.yml agree: every compose command exists."""

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from services.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
CLI = typer.main.get_command(app)


def subcommands(command: object) -> dict[str, object]:
    found: dict[str, object] = getattr(command, "commands", {})
    return found


def command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in subcommands(command).items():
        paths += command_paths(sub, (*prefix, name))
    return paths


def resolve(path: tuple[str, ...]) -> object:
    command: object = CLI
    for name in path:
        command = subcommands(command)[name]
    return command


@pytest.mark.parametrize("path", command_paths(CLI), ids=lambda p: " ".join(p) or "casetrail")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_the_command_tree_is_complete() -> None:
    assert {("infra", "up"), ("infra", "down"), ("infra", "status"), ("demo",)} <= set(
        command_paths(CLI)
    )


def test_compose_is_valid_and_every_service_command_exists() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "postgres", "gateway", "decider", "projector", "query"} <= set(services)
    known = set(command_paths(CLI))
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        command = service.get("command")
        if name in {"kafka", "postgres"}:
            continue
        assert isinstance(command, list), name
        assert command[0] == "casetrail", name
        leaves = {path for path in known if not subcommands(resolve(path))}
        assert any(tuple(command[1 : 1 + len(path)]) == path for path in leaves), (name, command)
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)


def test_the_decider_in_compose_has_an_officer_directory_that_the_image_holds() -> None:
    """The decider refuses to start without CASETRAIL_OFFICERS_FILE: compose names the demo's,
    which the image holds because the Dockerfile copies services/ to /app."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    path = compose["services"]["decider"]["environment"]["CASETRAIL_OFFICERS_FILE"]
    assert path.startswith("/app/"), path
    assert (ROOT / path.removeprefix("/app/")).is_file(), path
    assert "COPY services ./services" in (ROOT / "Dockerfile").read_text()


def test_asyncapi_document_describes_the_kafka_contract() -> None:
    result = CliRunner().invoke(app, ["asyncapi"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["channels"]) == {"casetrail.submissions", "casetrail.outcomes"}
    schemas = document["components"]["schemas"]
    assert {"PetitionRegister", "EnforcementDecide", "CaseSuspend", "Outcome", "Actor"} <= set(
        schemas
    )
    assert schemas["Person"]["properties"]["name"]["x-personal-data"] is True
