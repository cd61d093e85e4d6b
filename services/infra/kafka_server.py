"""Kafka (KRaft) on loopback, from Maven Central's jars, without Docker: one node, or a cluster.

With ``CASETRAIL_KAFKA_BROKERS=1`` (the default) one node is both broker and controller, with its
data, pid file and logs in ``<state_dir>/kafka/``: the layout the demo and the tests use.

With more (``casetrail infra up --brokers 3``), each node is a combined broker and controller
too, in ``<state_dir>/kafka/node-<id>/`` with its own data, ports, pid file and logs, and the
three controllers form a static quorum (``controller.quorum.voters``). Combined nodes rather than
a separate controller quorum beside three brokers, because this runs on one small machine (two
cores): three JVMs of 512 MiB heap instead of six, and the failure the fault tests care about
(a machine, broker and controller together, dies) is exactly what killing one combined node
does. Two of the three controllers remain a majority, so the cluster keeps electing leaders.

Ports: node i listens for clients on the i-th address of ``CASETRAIL_KAFKA_BOOTSTRAP`` when that
lists one address per broker, otherwise on consecutive ports from its first address (9092, 9093,
9094); the controllers listen on the ports just above the highest broker port (9095, 9096,
9097). One node keeps its controller on the broker port + 1 (9093), as before.

Security: clients and brokers sign in with SASL/SCRAM-SHA-512 on the broker listener (over TLS
with ``CASETRAIL_KAFKA_TLS``), the standard authorizer denies whatever no ACL allows, and
``admin`` is the only super user. ``admin`` is written into the metadata when the storage is
formatted (``--add-scram``: the brokers need it before any controller can be asked); the other
users (one per ``KafkaRole``) are made through the API once the broker answers (``make_users``),
so that their passwords never appear on a command line. The controller listener takes
``admin`` only, with SASL/PLAIN from the properties file (KRaft controllers cannot check SCRAM
before they have read the metadata).
Passwords and certificates: ``services.infra.kafka_secrets``.
"""

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.adapters.kafka import SASL_MECHANISM, admin, kafka_ready
from services.adapters.kafka_acls import set_password
from services.infra.kafka_secrets import ensure_certificates, ensure_passwords
from services.infra.servers import (
    InfraError,
    LocalServer,
    ServerStatus,
    answers,
    run,
    tail,
    wait_until,
)
from services.progress import Say
from services.settings import KafkaRole, Settings

POM = Path(__file__).with_name("kafka") / "pom.xml"
SINGLE_HEAP = ["-Xms512m", "-Xmx1g"]
CLUSTER_NODE_HEAP = ["-Xms256m", "-Xmx512m"]
"""Three nodes on one small machine: a modest heap each (the page cache holds the data)."""


@dataclass(frozen=True)
class KafkaNode:
    """Where one node of the local cluster listens."""

    node_id: int
    host: str
    port: int
    """The broker's (clients') port."""
    controller_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def controller(self) -> str:
        return f"{self.host}:{self.controller_port}"


def kafka_nodes(settings: Settings) -> list[KafkaNode]:
    """The nodes of the local cluster the settings describe (see the module's docstring)."""
    addresses = []
    for server in settings.kafka_servers or ["127.0.0.1:9092"]:
        host, _, port = server.rpartition(":")
        try:
            addresses.append((host or "127.0.0.1", int(port)))
        except ValueError:
            raise InfraError(f"CASETRAIL_KAFKA_BOOTSTRAP: {server!r} is not host:port") from None
    count = settings.kafka_brokers
    if len(addresses) != count:
        host, first = addresses[0]
        addresses = [(host, first + i) for i in range(count)]
    if len({port for _, port in addresses}) != count:
        raise InfraError(f"CASETRAIL_KAFKA_BOOTSTRAP: the brokers need distinct ports: {addresses}")
    highest = max(port for _, port in addresses)
    return [
        KafkaNode(i + 1, host, port, highest + 1 + i) for i, (host, port) in enumerate(addresses)
    ]


@dataclass(frozen=True)
class BrokerSecurity:
    admin_password: str
    tls: tuple[Path, Path] | None = None
    """(CA certificate, broker key and certificate) when the broker listener speaks TLS."""


def security_properties(security: BrokerSecurity) -> list[str]:
    """SASL/SCRAM on the broker listener, SASL/PLAIN for ``admin`` on the controller listener,
    ACLs enforced, ``admin`` the only super user."""
    password = security.admin_password
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    protocol = "SASL_SSL" if security.tls else "SASL_PLAINTEXT"
    lines = [
        f"listener.security.protocol.map=BROKER:{protocol},CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name=BROKER",
        f"sasl.enabled.mechanisms={SASL_MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={SASL_MECHANISM}",
        f"listener.name.broker.{SASL_MECHANISM.lower()}.sasl.jaas.config={scram} required"
        f' username="admin" password="{password}";',
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain} required"
        f' username="admin" password="{password}" user_admin="{password}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin",
        "allow.everyone.if.no.acl.found=false",
    ]
    if security.tls:
        ca, key_store = security.tls
        lines += [
            "listener.name.broker.ssl.keystore.type=PEM",
            f"listener.name.broker.ssl.keystore.location={key_store}",
            "listener.name.broker.ssl.truststore.type=PEM",
            f"listener.name.broker.ssl.truststore.location={ca}",
        ]
    return lines


def server_properties(
    node: KafkaNode,
    nodes: list[KafkaNode],
    data: Path,
    security: BrokerSecurity,
    fsync_before_ack: bool = False,
) -> str:
    """The server.properties of ``node`` in a local cluster of ``nodes`` (one node: itself)."""
    cluster = len(nodes) > 1
    listeners = f"BROKER://{node.address},CONTROLLER://{node.controller}"
    if cluster:
        voters = ",".join(f"{n.node_id}@{n.controller}" for n in nodes)
        quorum = f"controller.quorum.voters={voters}"
    else:
        quorum = f"controller.quorum.bootstrap.servers={node.controller}"
    replicas = min(3, len(nodes))
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        quorum,
        f"listeners={listeners}",
        f"advertised.listeners=BROKER://{node.address}",
        "controller.listener.names=CONTROLLER",
        *security_properties(security),
        f"log.dirs={data}",
        "num.partitions=1",
        "auto.create.topics.enable=false",
        # The internal topics (group offsets, transaction state) replicated like ours:
        # with 3 nodes, 3 replicas and a write needs 2 of them (the decider's transactions
        # and its consumed offsets survive a broker).
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={2 if replicas >= 3 else 1}",
        "group.initial.rebalance.delay.ms=0",
    ]
    if cluster:
        lines += [
            f"default.replication.factor={replicas}",
            f"min.insync.replicas={2 if replicas >= 3 else 1}",
            "unclean.leader.election.enable=false",
        ]
    if fsync_before_ack:
        # Flush (fsync) a partition's log once one message is unflushed, i.e. after every
        # append, before the broker answers: an acknowledged record is on the disk.
        lines.append("log.flush.interval.messages=1")
    return "\n".join([*lines, ""])


def _log4j_properties(log_file: Path) -> str:
    return "\n".join(
        [
            "rootLogger.level=INFO",
            "rootLogger.appenderRef.file.ref=file",
            "appender.file.type=File",
            "appender.file.name=file",
            f"appender.file.fileName={log_file}",
            "appender.file.layout.type=PatternLayout",
            "appender.file.layout.pattern=[%d] %p %m (%c)%n",
            "",
        ]
    )


class LocalKafka(LocalServer):
    """One node. Alone (``node`` None) it is the single broker of ``<state_dir>/kafka``; given
    a node of a cluster, it is that node, in ``<state_dir>/kafka/node-<id>``."""

    stop_signal = signal.SIGTERM

    def __init__(
        self,
        settings: Settings,
        node: KafkaNode | None = None,
        cluster: list[KafkaNode] | None = None,
    ):
        self.settings = settings
        self.home = (settings.state_dir / "kafka").resolve()
        if node is None:
            node = kafka_nodes(settings.model_copy(update={"kafka_brokers": 1}))[0]
            self.name, self.dir, self.cluster = "kafka", self.home, [node]
        else:
            self.name, self.dir = f"kafka-{node.node_id}", self.home / f"node-{node.node_id}"
            self.cluster = cluster or [node]
        self.node = node
        self.properties = self.dir / "server.properties"
        super().__init__(node.host, node.port, self.dir / "kafka.pid", str(self.properties))

    @property
    def alone(self) -> bool:
        return len(self.cluster) == 1

    def up(self, say: Say) -> None:
        if answers(self.host, self.port):
            say(f"kafka: already answering on {self.host}:{self.port}")
            signs_in(self.admin_settings(self.node.address))
            return
        process = self.start(self.classpath(say), None, say)
        say(f"kafka: started pid {process.pid}, waiting for it to answer")
        wait_until(lambda: self.ready(process), 120, "kafka")
        make_users([self], self.admin_settings(self.node.address), say)
        say(f"kafka: ready on {self.host}:{self.port}")

    def start(self, classpath: str, cluster_id: str | None, say: Say) -> subprocess.Popen[bytes]:
        """Write the configuration, format the storage if new, and start the JVM."""
        self.dir.mkdir(parents=True, exist_ok=True)
        data = self.dir / "data"
        passwords = ensure_passwords(self.settings)
        tls = None
        if self.settings.kafka_tls:
            tls = ensure_certificates(self.settings, sorted({n.host for n in self.cluster}))
        security = BrokerSecurity(passwords[KafkaRole.ADMIN], tls)
        properties = server_properties(
            self.node, self.cluster, data, security, self.settings.kafka_fsync_before_ack
        )
        # The properties hold the admin password: readable by their owner only.
        self.properties.touch(mode=0o600)
        self.properties.chmod(0o600)
        self.properties.write_text(properties)
        formatted, pending = self.dir / "users.formatted", self.dir / "users.pending"
        if (data / "meta.properties").exists() and not (formatted.exists() or pending.exists()):
            raise InfraError(
                f"{data} was formatted before Kafka had users (SASL/SCRAM); it holds development"
                f" data only: remove {self.dir} and run 'casetrail infra up' again"
            )
        (self.dir / "log4j2.properties").write_text(_log4j_properties(self.dir / "server.log"))
        java_opts = [f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}"]
        if not (data / "meta.properties").exists():
            say(f"{self.name}: formatting storage")
            # One node: a dynamic quorum of itself. A cluster: the static voters of the
            # properties, the same cluster id on every node.
            quorum = ["--standalone"] if self.alone else []
            run(
                [
                    "java",
                    *java_opts,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id or uuid.uuid4().hex[:22],
                    "-c",
                    str(self.properties),
                    *quorum,
                    # The brokers' own user only: arguments are visible to every local user
                    # while the tool runs; the others are made through the API once it answers.
                    "--add-scram",
                    f"{SASL_MECHANISM}=[name=admin,password={passwords[KafkaRole.ADMIN]}]",
                ],
                "formatting Kafka storage",
            )
            pending.write_text("SCRAM users to make once the broker answers\n")
        log = open(self.dir / "kafka.out", "ab")  # noqa: SIM115 - the broker keeps it open
        process = subprocess.Popen(
            [
                "java",
                *(SINGLE_HEAP if self.alone else CLUSTER_NODE_HEAP),
                *java_opts,
                "-cp",
                classpath,
                "kafka.Kafka",
                str(self.properties),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not killed by the terminal's Ctrl-C
        )
        self.pid_file.write_text(f"{process.pid}\n")
        return process

    def ready(self, process: subprocess.Popen[bytes]) -> bool:
        """Whether this node answers admin requests; InfraError if its process ended."""
        if process.poll() is not None:
            log_tail = tail(self.dir / "server.log")
            raise InfraError(f"{self.name} exited with {process.returncode}; log:\n{log_tail}")
        return answers(self.host, self.port) and asyncio.run(
            kafka_ready(self.admin_settings(self.node.address))
        )

    def admin_settings(self, bootstrap: str) -> Settings:
        """The settings' own, signed in as the brokers' super user, for ``bootstrap``."""
        return self.settings.model_copy(
            update={
                "kafka_bootstrap": bootstrap,
                "kafka_user": KafkaRole.ADMIN.value,
                "kafka_password": None,
                "kafka_password_file": None,
            }
        )

    def classpath(self, say: Say) -> str:
        home = os.environ.get("KAFKA_HOME")
        if home:
            if not glob.glob(os.path.join(home, "libs", "kafka_2.13-*.jar")):
                raise InfraError(f"KAFKA_HOME={home} has no libs/kafka_2.13-*.jar")
            return os.path.join(home, "libs", "*")
        libs = self.home / "libs"
        if not list(libs.glob("kafka_2.13-*.jar")):
            if shutil.which("mvn") is None:
                raise InfraError("Maven (mvn) is needed to fetch Kafka's jars, or set KAFKA_HOME")
            say("kafka: fetching the broker's jars from Maven Central (once)")
            run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={libs}",
                    "-DincludeScope=runtime",
                ],
                "fetching Kafka with Maven",
            )
        return str(libs / "*")


def signs_in(admin_settings: Settings, seconds: float = 30) -> None:
    """A broker found answering must take our admin's password, or every client would fail to
    sign in later, far from the cause: say so now (InfraError)."""
    try:
        # It may be starting (someone else's 'infra up'): a while to answer sign-ins.
        wait_until(lambda: asyncio.run(kafka_ready(admin_settings)), seconds, "kafka sign-in")
    except InfraError:
        raise InfraError(
            f"Kafka at {admin_settings.kafka_bootstrap} answers but does not let the admin user"
            f" of {admin_settings.kafka_secrets_dir} sign in: it is another broker (or one from"
            " before Kafka had users). Stop it, or point CASETRAIL_KAFKA_BOOTSTRAP and"
            " CASETRAIL_STATE_DIR at the broker and secrets that belong together"
        ) from None


def make_users(nodes: list[LocalKafka], admin_settings: Settings, say: Say) -> None:
    """Make CaseTrail's users (all but admin, made at format time) on brokers formatted by this
    or an interrupted earlier start, through the API (AlterUserScramCredentials)."""
    pending = [
        node.dir / "users.pending" for node in nodes if (node.dir / "users.pending").exists()
    ]
    if not pending:
        return
    passwords = ensure_passwords(admin_settings)
    users = {user: password for user, password in passwords.items() if user != KafkaRole.ADMIN}

    async def make() -> None:
        async with admin(admin_settings) as client:
            for user, password in users.items():
                await set_password(client, user, password)

    asyncio.run(make())
    for marker in pending:
        marker.replace(marker.with_name("users.formatted"))
    say("kafka: users " + ", ".join(users) + " made (SASL/SCRAM-SHA-512)")


class LocalKafkaCluster(LocalServer):
    """``CASETRAIL_KAFKA_BROKERS`` nodes on loopback (see the module's docstring). ``up`` starts
    every node that does not answer (after a node died, it brings that one back); ``down``
    stops every node it started, all at once; ``statuses`` tells them one by one."""

    name = "kafka"
    stop_signal = signal.SIGTERM

    def __init__(self, settings: Settings):
        self.settings = settings
        layout = kafka_nodes(settings)
        self.nodes = [LocalKafka(settings, node, layout) for node in layout]
        self.home = self.nodes[0].home
        first = layout[0]
        super().__init__(first.host, first.port, self.nodes[0].pid_file, self.nodes[0].marker)

    @property
    def bootstrap(self) -> str:
        return ",".join(node.node.address for node in self.nodes)

    def node(self, node_id: int) -> LocalKafka:
        return self.nodes[node_id - 1]

    def status(self) -> ServerStatus:
        """The cluster as one server: answering as soon as any node answers, so that a cluster
        found (partly) running is never taken for one this call started; ``statuses`` tells
        the nodes one by one."""
        each = self.statuses()
        pids = [s.pid for s in each if s.pid is not None]
        return ServerStatus(
            self.name, self.bootstrap, any(s.answering for s in each), pids[0] if pids else None
        )

    def statuses(self) -> list[ServerStatus]:
        return [node.status() for node in self.nodes]

    def up(self, say: Say) -> None:
        answering = [answers(n.host, n.port) for n in self.nodes]
        if all(answering):
            say(f"kafka: {len(self.nodes)} brokers already answering on {self.bootstrap}")
            signs_in(self.nodes[0].admin_settings(self.bootstrap))
            return
        for node, up in zip(self.nodes, answering, strict=True):
            if up and node.status().pid is None:
                raise InfraError(
                    f"{node.node.address} answers, but it is no node that casetrail started in"
                    f" {node.dir}: stop that server, or give the cluster other ports"
                    " (CASETRAIL_KAFKA_BOOTSTRAP)"
                )
        missing = [n for n, up in zip(self.nodes, answering, strict=True) if not up]
        for node in missing:
            if answers(node.host, node.node.controller_port):
                raise InfraError(
                    f"{node.name}'s controller port {node.node.controller} is taken: stop what"
                    " listens there, or give the cluster other ports (CASETRAIL_KAFKA_BOOTSTRAP)"
                )
        classpath = self.nodes[0].classpath(say)
        cluster_id = self._cluster_id()
        started = time.monotonic()
        processes: list[tuple[LocalKafka, subprocess.Popen[bytes]]] = []

        def ready() -> bool:
            if not all(node.ready(process) for node, process in processes):
                return False
            admin = self.nodes[0].admin_settings(self.bootstrap)
            return asyncio.run(kafka_ready(admin, brokers=len(self.nodes)))

        try:
            for node in missing:
                processes.append((node, node.start(classpath, cluster_id, say)))
                say(f"{node.name}: started pid {processes[-1][1].pid} on {node.node.address}")
            wait_until(ready, 180, f"kafka cluster {self.bootstrap}")
            make_users(self.nodes, self.nodes[0].admin_settings(self.bootstrap), say)
        except BaseException:
            self._stop([node for node, _ in processes], say)  # only what this call started
            raise
        say(
            f"kafka: {len(self.nodes)} brokers ready on {self.bootstrap}"
            f" in {time.monotonic() - started:.1f}s"
        )

    def _cluster_id(self) -> str:
        """The cluster's id, the same for every node's storage (kept beside the nodes)."""
        path = self.home / "cluster.id"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(uuid.uuid4().hex[:22] + "\n")
        return path.read_text().strip()

    def down(self, say: Say) -> None:
        self._stop(self.nodes, say)

    def _stop(self, nodes: list[LocalKafka], say: Say) -> None:
        """SIGTERM to every node first, so that they stop together (a last node alone would
        wait for a controller majority that is gone), then wait for each; SIGKILL after 60 s."""
        running = [(node, node.running_pid()) for node in nodes]
        ours = [(node, pid) for node, pid in running if pid is not None]
        if not ours:
            say("kafka: no node started by casetrail is running")
        for _, pid in ours:
            os.kill(pid, self.stop_signal)
        for node, pid in ours:
            try:
                wait_until(lambda n=node: n.running_pid() is None, 60, "stop")  # type: ignore[misc]
            except InfraError:
                os.kill(pid, signal.SIGKILL)
            node.pid_file.unlink(missing_ok=True)
            say(f"{node.name}: stopped pid {pid}")


def local_kafka(settings: Settings) -> LocalServer:
    """The local Kafka the settings ask for: one broker, or a cluster of ``kafka_brokers``."""
    return LocalKafka(settings) if settings.kafka_brokers == 1 else LocalKafkaCluster(settings)
