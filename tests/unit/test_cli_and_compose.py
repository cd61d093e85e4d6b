"""The casetrail command and docker-compose.yml agree: every compose command exists."""

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from services.adapters.kafka import replication
from services.cli.main import app
from services.infra.broker_files import write_broker_files
from services.settings import KafkaRole

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
        if name in {"kafka", "postgres"} or service.get("image", "").startswith("apache/kafka"):
            continue
        if "observability" in service.get("profiles", []):
            continue  # Prometheus and Grafana: tests/unit/test_observability.py
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


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def test_the_cluster_profile_runs_three_kafka_nodes_replicated_three_times(tmp_path: Path) -> None:
    """``--profile cluster``: three KRaft nodes (broker and controller each), configured by
    ``casetrail infra broker-files`` as the local cluster is: 3 voters, the internal topics
    replicated three times, two replicas needed for a write, SASL/SCRAM and ACLs."""
    services = _compose()["services"]
    nodes = {
        name: service
        for name, service in services.items()
        if service.get("image", "").startswith("apache/kafka")
        and "cluster" in service.get("profiles", [])
    }
    assert sorted(nodes) == ["kafka-1", "kafka-2", "kafka-3"]
    job = services["kafka-secrets-cluster"]
    hosts = [job["command"][i + 1] for i, arg in enumerate(job["command"]) if arg == "--node"]
    assert hosts == [f"kafka-{i}:9092" for i in (1, 2, 3)]
    for name, node in nodes.items():
        assert node["command"] == ["sh", "/kafka-node/start.sh"], name
        i = name[-1]
        assert node["volumes"] == [
            f"{name}-data:/var/lib/kafka/data",
            f"kafka-cluster-node-{i}:/kafka-node:ro",
        ]
        assert f"kafka-cluster-node-{i}:/kafka-secrets/node-{i}" in job["volumes"]
    written = write_broker_files(tmp_path, hosts)
    assert [d.name for d in written] == ["node-1", "node-2", "node-3"]
    properties = dict(
        line.split("=", 1)
        for line in (tmp_path / "node-2" / "server.properties").read_text().splitlines()
        if line
    )
    assert properties["controller.quorum.voters"] == ",".join(
        f"{i}@kafka-{i}:9093" for i in (1, 2, 3)
    )
    assert properties["advertised.listeners"] == "BROKER://kafka-2:9092"
    assert properties["listeners"] == "BROKER://:9092,CONTROLLER://:9093"
    assert properties["transaction.state.log.min.isr"] == "2"
    assert properties["min.insync.replicas"] == "2"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    script = (tmp_path / "node-2" / "start.sh").read_text()
    assert "--standalone" not in script
    assert script.count("--add-scram") == len(KafkaRole)
    assert oct((tmp_path / "node-2" / "start.sh").stat().st_mode)[-3:] == "600"


def test_each_service_signs_in_to_kafka_as_its_own_user_with_its_password_alone() -> None:
    """A password per user, each in its own volume, mounted into the one service that signs
    in as it; the brokers' admin into the init jobs only."""
    services = _compose()["services"]
    users = {
        "decider": "decider",
        "projector": "projector",
        "gateway": "gateway",
        "query": "query",
        "init": "admin",
        "init-cluster": "admin",
    }
    for name, user in users.items():
        service = services[name]
        assert service["environment"]["CASETRAIL_KAFKA_USER"] == user, name
        assert service["environment"]["CASETRAIL_KAFKA_PASSWORD_FILE"] == "/kafka-user/password"
        secrets = [v for v in service["volumes"] if v.startswith("kafka-user-")]
        assert secrets == [f"kafka-user-{user}:/kafka-user:ro"], name


def test_the_cluster_profile_creates_topics_with_three_replicas() -> None:
    """Its init job runs ``casetrail infra init --brokers 3`` against all three nodes: topics
    with 3 replicas and min.insync.replicas=2 (``replication``), after every node is healthy."""
    services = _compose()["services"]
    init = services["init-cluster"]
    assert init["profiles"] == ["cluster"]
    assert init["command"] == ["casetrail", "infra", "init", "--brokers", "3"]
    assert ("infra", "init") in command_paths(CLI)
    result = CliRunner().invoke(app, ["infra", "init", "--help"])
    assert "--brokers" in result.output
    env = {key: str(value) for key, value in init["environment"].items()}
    assert env["CASETRAIL_KAFKA_BOOTSTRAP"].split(",") == [f"kafka-{i}:9092" for i in (1, 2, 3)]
    assert env["CASETRAIL_KAFKA_BROKERS"] == "3"
    for node in ("kafka-1", "kafka-2", "kafka-3"):
        assert init["depends_on"][node] == {"condition": "service_healthy"}
    assert replication(3) == (3, {"min.insync.replicas": "2"})


def test_the_services_wait_for_whichever_init_ran() -> None:
    """The services depend on both init jobs, each optional: without the profile only `init`
    exists, with it (and `--scale init=0`) only `init-cluster` runs."""
    services = _compose()["services"]
    for name in ("decider", "projector", "gateway", "query"):
        depends = services[name]["depends_on"]
        assert set(depends) == {"init", "init-cluster"}, name
        assert all(d["required"] is False for d in depends.values()), name
        assert services[name]["environment"]["CASETRAIL_KAFKA_BOOTSTRAP"] == (
            "${CASETRAIL_KAFKA_BOOTSTRAP:-kafka:9092}"
        )
    assert "profiles" not in services["kafka"]
    assert "profiles" not in services["init"]


def test_only_the_decider_holds_the_private_checkpoint_key() -> None:
    """The private key's volume is mounted into the decider (read-only) and the init jobs that
    make a development key, never into a service that faces users; every service gets the
    public key ring, read-only, and is told where it is."""
    services = _compose()["services"]
    for name in ("decider", "projector", "gateway", "query", "init", "init-cluster"):
        service = services[name]
        mounts = {volume.split(":")[0]: volume for volume in service["volumes"]}
        holds_key = name in {"decider", "init", "init-cluster"}
        assert ("keys" in mounts) == holds_key, name
        assert ("CASETRAIL_SIGNING_KEY_FILE" in service["environment"]) == holds_key, name
        assert service["environment"]["CASETRAIL_KEY_RING_FILE"] == "/ring/ring.json", name
        assert mounts["ring"].startswith("ring:/ring"), name
        if not name.startswith("init"):
            assert mounts["ring"].endswith(":ro"), name
    assert services["decider"]["volumes"][:2] == ["keys:/keys:ro", "ring:/ring:ro"]
    assert services["decider"]["environment"]["CASETRAIL_SIGNING_KEY_FILE"].startswith("/keys/")
    assert "8002/health" in " ".join(services["decider"]["healthcheck"]["test"])


def test_the_key_and_checkpoint_commands_exist() -> None:
    paths = set(command_paths(CLI))
    assert {("keys", "create"), ("keys", "rotate"), ("keys", "list")} <= paths
    assert ("checkpoints", "accept") in paths
