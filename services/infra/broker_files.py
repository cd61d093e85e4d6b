"""Brokers that CaseTrail does not start itself (``docker-compose.yml``'s ``apache/kafka``
nodes): the same ``server.properties`` as the local ones, a start script that formats the
storage with the SCRAM users once, and one password file per user.

``casetrail infra broker-files --out DIR --node kafka:9092`` (or several ``--node``) writes:

- ``DIR/node-<id>/server.properties`` and ``DIR/node-<id>/start.sh`` for each node (the admin
  password is in both: mount the node's directory into that broker only);
- ``DIR/users/<user>/password`` for each CaseTrail user (mount a user's directory into the one
  service that signs in as it).

Passwords are made once and kept: running it again rewrites the configuration, not the users.
"""

import os
import shlex
import uuid
from pathlib import Path

from services.adapters.kafka import SASL_MECHANISM
from services.infra.kafka_secrets import ensure_passwords
from services.infra.kafka_server import BrokerSecurity, KafkaNode, server_properties
from services.infra.servers import InfraError
from services.settings import KafkaRole, Settings

DATA = "/var/lib/kafka/data"


def nodes_of(addresses: list[str]) -> list[KafkaNode]:
    """One node per host:port, each with its controller on the next port of the same host."""
    nodes = []
    for index, address in enumerate(addresses):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise InfraError(f"--node {address!r} is not host:port")
        nodes.append(KafkaNode(index + 1, host, int(port), int(port) + 1))
    if len({n.host for n in nodes}) != len(nodes):
        raise InfraError("each node needs a host of its own (its controller: the next port)")
    return nodes


def start_script(node: KafkaNode, passwords: dict[str, str], cluster_id: str, alone: bool) -> str:
    users = " ".join(
        shlex.quote(f"--add-scram={SASL_MECHANISM}=[name={user},password={password}]")
        for user, password in passwords.items()
    )
    standalone = " --standalone" if alone else ""
    return "\n".join(
        [
            "#!/bin/sh",
            "# Written by 'casetrail infra broker-files': format once, with CaseTrail's users.",
            "set -e",
            'here=$(dirname "$0")',
            "bin=${KAFKA_BIN:-/opt/kafka/bin}",
            f'if [ ! -f "${{KAFKA_DATA:-{DATA}}}/meta.properties" ]; then',
            f'  "$bin/kafka-storage.sh" format -t {cluster_id} -c "$here/server.properties"'
            f"{standalone} {users}",
            "fi",
            'exec "$bin/kafka-server-start.sh" "$here/server.properties"',
            "",
        ]
    )


def write_broker_files(
    out: Path, addresses: list[str], data: str = DATA, broker_uid: int | None = None
) -> list[Path]:
    """Write the files the module's docstring lists; the node directories written. With
    ``broker_uid``, the nodes' files belong to that user (the ``apache/kafka`` image runs as
    uid 1000), still readable by nobody else."""
    nodes = nodes_of(addresses)
    store = Settings(state_dir=out)
    passwords = ensure_passwords(store)
    for user, password in passwords.items():
        directory = out / "users" / user
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        _private(directory / "password", password + "\n")
    cluster_file = out / "cluster.id"
    if not cluster_file.exists():
        cluster_file.write_text(uuid.uuid4().hex[:22] + "\n")
    cluster_id = cluster_file.read_text().strip()
    security = BrokerSecurity(passwords[KafkaRole.ADMIN])
    written = []
    for node in nodes:
        directory = out / f"node-{node.node_id}"
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
        properties = server_properties(node, nodes, Path(data), security)
        # In a container: listen on every interface, advertise the node's name.
        properties = properties.replace(
            f"listeners=BROKER://{node.address},CONTROLLER://{node.controller}",
            f"listeners=BROKER://:{node.port},CONTROLLER://:{node.controller_port}",
        )
        _private(directory / "server.properties", properties)
        script = start_script(node, passwords, cluster_id, alone=len(nodes) == 1)
        _private(directory / "start.sh", script)
        if broker_uid is not None:
            for path in (directory, directory / "server.properties", directory / "start.sh"):
                os.chown(path, broker_uid, -1)
        written.append(directory)
    return written


def _private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
