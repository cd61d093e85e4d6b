"""``casetrail infra``: local Kafka and PostgreSQL without Docker."""

import asyncio
import json
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError

from services.adapters.kafka import KafkaCredentialsError, TopologyError, admin, create_topics
from services.adapters.kafka_acls import AclError, create_acls, role_grants, set_password
from services.cli.common import fail
from services.infra import (
    InfraError,
    LocalKafkaCluster,
    LocalPostgres,
    LocalServer,
    bring_up,
    components,
    stop_started,
)
from services.infra.broker_files import DATA, write_broker_files
from services.integrity.checkpoints import Signer, SigningKeyNotTrusted
from services.integrity.keyring import ensure_dev_keys
from services.integrity.log_suite import SuiteMismatch, settle_log_suite
from services.integrity.signing import ensure_dev_signing_keys
from services.settings import KafkaRole, Settings

app = typer.Typer(help="Local Kafka and PostgreSQL, without Docker.", no_args_is_help=True)


class Component(StrEnum):
    KAFKA = "kafka"
    POSTGRES = "postgres"


Components = Annotated[
    list[Component] | None,
    typer.Argument(help="Which servers (default: both)", show_default=False),
]


Brokers = Annotated[
    int | None,
    typer.Option(
        "--brokers",
        min=1,
        max=9,
        help="Kafka brokers: 1, or 3 for a local cluster (nodes on consecutive ports from"
        " CASETRAIL_KAFKA_BOOTSTRAP's first, or on each address it lists), topics with 3"
        " replicas and min.insync.replicas=2 (default: CASETRAIL_KAFKA_BROKERS, 1)",
        show_default=False,
    ),
]


def _settings(brokers: int | None) -> Settings:
    settings = Settings()
    if brokers is None:
        return settings
    return settings.model_copy(update={"kafka_brokers": brokers})


def _chosen(settings: Settings, which: list[Component] | None) -> list[LocalServer]:
    everything = components(settings)
    return [everything[c.value] for c in (which or list(Component))]


def _topics_and_key(settings: Settings) -> None:
    asyncio.run(create_topics(settings, typer.echo))
    done = ensure_dev_keys(settings.key_ring_path, settings.signing_key_path, settings.crypto_suite)
    if done:
        typer.echo(f"keys: {done}")
    ensure_dev_signing_keys(settings, typer.echo)  # the gateway's, each department's
    _declare_suite(settings)


def _declare_suite(settings: Settings) -> None:
    """Fix the log's suite with a signed declaration, unless something fixed it already (then
    say whether it is the one set); a decider declares it at its first start otherwise."""
    signer = Signer(settings.signing_key_path, settings.key_ring_path, settings.crypto_suite)
    decider = settings.as_kafka_user(KafkaRole.DECIDER)  # who may write the checkpoints topic
    try:
        found = asyncio.run(settle_log_suite(decider, signer, "casetrail infra"))
    except SigningKeyNotTrusted as error:
        typer.echo(f"suite: not declared (the decider declares it at its first start): {error}")
        return
    except SuiteMismatch as error:
        typer.echo(f"suite: warning: {error}")
        return
    typer.echo(f"suite: the log is of the suite {settings.crypto_suite.value} ({found.how()})")


@app.command("up")
def up(which: Components = None, brokers: Brokers = None) -> None:
    """Start Kafka and PostgreSQL if they do not answer, then create the topics and database,
    and a development key ring with the decider's checkpoint key if missing. If that fails, the
    servers this call started are stopped again. With --brokers 3, a local 3-node Kafka cluster
    (run it again to bring back a node that died)."""
    settings = _settings(brokers)
    try:
        started = bring_up(_chosen(settings, which), typer.echo)
        try:
            if Component.KAFKA in (which or list(Component)):
                _topics_and_key(settings)
        except BaseException:
            stop_started(started, typer.echo)
            raise
    except (InfraError, TopologyError) as error:
        raise fail(error) from error
    kafka = components(settings)["kafka"]
    if isinstance(kafka, LocalKafkaCluster) and kafka.bootstrap != settings.kafka_bootstrap:
        typer.echo(
            "clients: export CASETRAIL_KAFKA_BOOTSTRAP="
            f"{kafka.bootstrap} CASETRAIL_KAFKA_BROKERS={settings.kafka_brokers}"
        )


@app.command("init")
def init(brokers: Brokers = None) -> None:
    """Create the topics (replicated for --brokers), the database, and a development key ring
    with a checkpoint key if there is none, on servers that already run (e.g. under Docker)."""
    settings = _settings(brokers)
    try:
        _topics_and_key(settings)
        asyncio.run(LocalPostgres(settings).ensure_database(typer.echo))
    except (InfraError, TopologyError, OSError) as error:
        raise fail(error) from error


@app.command("down")
def down(which: Components = None, brokers: Brokers = None) -> None:
    """Stop the servers that 'infra up' started (by pid), every node of a cluster (give the same
    --brokers as to 'up'); servers found running are left alone."""
    for server in _chosen(_settings(brokers), which):
        server.down(typer.echo)


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    brokers: Brokers = None,
) -> None:
    """Say which servers answer where (each node of a cluster), and which 'infra up' started."""
    statuses = [s for server in _chosen(_settings(brokers), None) for s in server.statuses()]
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in statuses]))
        return
    for s in statuses:
        state = "answering" if s.answering else "not answering"
        owner = f"started by casetrail, pid {s.pid}" if s.pid else "not started by casetrail"
        typer.echo(f"{s.name:<9} {s.address:<16} {state:<14} {owner}")


@app.command("kafka-user")
def kafka_user(
    name: Annotated[str, typer.Argument(help="The Kafka user, e.g. a department's publisher")],
    role: Annotated[
        KafkaRole, typer.Option(help="What it may do (the ACLs of services/adapters/kafka_acls.py)")
    ] = KafkaRole.DEPARTMENT,
    password_file: Annotated[
        Path | None,
        typer.Option(help="Its password, from this file (default: a new one, printed once)"),
    ] = None,
) -> None:
    """Create a Kafka user (SASL/SCRAM-SHA-512), or give it a new password, and grant it the
    ACLs of ROLE on the topics of CASETRAIL_TOPIC_PREFIX. Runs as the admin user. A department
    that publishes straight to Kafka gets a user of its own this way; its submissions must
    still be signed with its key (docs/signing.md)."""
    settings = Settings()
    password = password_file.read_text().strip() if password_file else secrets.token_urlsafe(24)

    async def register() -> None:
        async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
            await set_password(client, name, password)
            await create_acls(client, role_grants(settings, role, user=name))

    try:
        asyncio.run(register())
    except (KafkaError, AclError, KafkaCredentialsError, OSError) as error:
        raise fail(error) from error
    typer.echo(f"kafka user {name}: role {role.value} on {settings.topic_prefix}.*")
    if password_file is None:
        typer.echo(f"password (shown once, keep it in the publisher's secret store): {password}")


@app.command("broker-files")
def broker_files(
    out: Annotated[Path, typer.Option(help="Where to write them (a volume of secrets)")],
    node: Annotated[
        list[str], typer.Option(help="A broker's host:port (repeat for each node of a cluster)")
    ],
    data: Annotated[str, typer.Option(help="The brokers' data directory")] = DATA,
    broker_uid: Annotated[
        int | None, typer.Option(help="Give the nodes' files to this user (apache/kafka: 1000)")
    ] = None,
) -> None:
    """For brokers CaseTrail does not start (docker-compose.yml's apache/kafka nodes): each
    node's server.properties and start script (SASL/SCRAM users formatted in once, ACLs
    enforced), and a password file per CaseTrail user. See services/infra/broker_files.py."""
    try:
        for directory in write_broker_files(out, node, data, broker_uid):
            typer.echo(f"kafka: wrote {directory}/server.properties and start.sh")
    except (InfraError, OSError) as error:
        raise fail(error) from error
    typer.echo(f"users: a password file each in {out / 'users'}")
