"""Local infrastructure without Docker: a single-node Kafka (KRaft) and PostgreSQL on loopback.

``up`` is idempotent: a server that already answers is used as it is. Whatever ``up`` starts is
recorded by pid under the state directory, and ``down`` stops exactly that and nothing else.
"""

import asyncio
import glob
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.settings import Settings

POM = Path(__file__).with_name("kafka") / "pom.xml"
WEEK_MS = str(7 * 24 * 3600 * 1000)
Say = Callable[[str], None]


class InfraError(RuntimeError):
    """A local server could not be installed, started or reached; the message says what to do."""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    address: str
    answering: bool
    pid: int | None
    """The pid of the process ``up`` started, while it still runs; None for a server we found."""


def answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise InfraError(f"{what} did not answer within {timeout:.0f}s")
        time.sleep(0.25)


def _running(pid_file: Path, marker: str) -> int | None:
    """The pid recorded in ``pid_file`` if that process still runs and its command line contains
    ``marker``, so that a recycled pid is never taken for ours."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError, IndexError):
        return None
    return pid if marker in cmdline else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _run(cmd: list[str], what: str, **kwargs: object) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise InfraError(f"{what} failed ({' '.join(cmd[:3])} …):\n{result.stdout}{result.stderr}")


class LocalServer:
    """What the two local servers share: an address, and a pid file naming the process that
    ``up`` started, recognised by ``marker`` in its command line and stopped by ``stop_signal``."""

    name: str
    stop_signal: signal.Signals

    def __init__(self, host: str, port: int, pid_file: Path, marker: str):
        self.host, self.port = host, port
        self.pid_file, self.marker = pid_file, marker

    def status(self) -> ServerStatus:
        return ServerStatus(
            self.name,
            f"{self.host}:{self.port}",
            answers(self.host, self.port),
            _running(self.pid_file, self.marker),
        )

    def up(self, say: Say) -> None:
        raise NotImplementedError

    def down(self, say: Say) -> None:
        pid = _running(self.pid_file, self.marker)
        if pid is None:
            say(f"{self.name}: nothing started by casetrail is running")
            return
        os.kill(pid, self.stop_signal)
        try:
            wait_until(lambda: _running(self.pid_file, self.marker) is None, 60, "stop")
        except InfraError:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        say(f"{self.name}: stopped pid {pid}")


# --- Kafka -------------------------------------------------------------------------------


class LocalKafka(LocalServer):
    name = "kafka"
    stop_signal = signal.SIGTERM

    def __init__(self, settings: Settings):
        self.settings = settings
        host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
        self.dir = (settings.state_dir / "kafka").resolve()
        self.properties = self.dir / "server.properties"
        super().__init__(
            host or "127.0.0.1", int(port), self.dir / "kafka.pid", str(self.properties)
        )

    def up(self, say: Say) -> None:
        if answers(self.host, self.port):
            say(f"kafka: already answering on {self.host}:{self.port}")
            return
        classpath = self._classpath(say)
        self._configure()
        data = self.dir / "data"
        java_opts = [f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}"]
        if not (data / "meta.properties").exists():
            say("kafka: formatting storage")
            cluster_id = uuid.uuid4().hex[:22]
            _run(
                [
                    "java",
                    *java_opts,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(self.properties),
                    "--standalone",
                ],
                "formatting Kafka storage",
            )
        log = open(self.dir / "kafka.out", "ab")  # noqa: SIM115 - the broker keeps it open
        process = subprocess.Popen(
            [
                "java",
                "-Xms512m",
                "-Xmx1g",
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
        say(f"kafka: started pid {process.pid}, waiting for it to answer")

        def ready() -> bool:
            if process.poll() is not None:
                log_tail = _tail(self.dir / "server.log")
                raise InfraError(f"kafka exited with {process.returncode}; log:\n{log_tail}")
            return answers(self.host, self.port) and asyncio.run(_kafka_ready(self.settings))

        wait_until(ready, 120, "kafka")
        say(f"kafka: ready on {self.host}:{self.port}")

    def _classpath(self, say: Say) -> str:
        home = os.environ.get("KAFKA_HOME")
        if home:
            if not glob.glob(os.path.join(home, "libs", "kafka_2.13-*.jar")):
                raise InfraError(f"KAFKA_HOME={home} has no libs/kafka_2.13-*.jar")
            return os.path.join(home, "libs", "*")
        libs = self.dir / "libs"
        if not list(libs.glob("kafka_2.13-*.jar")):
            if shutil.which("mvn") is None:
                raise InfraError("Maven (mvn) is needed to fetch Kafka's jars, or set KAFKA_HOME")
            say("kafka: fetching the broker's jars from Maven Central (once)")
            _run(
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

    def _configure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        controller = f"{self.host}:{self.port + 1}"
        self.properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.bootstrap.servers={controller}",
                    f"listeners=PLAINTEXT://{self.host}:{self.port},CONTROLLER://{controller}",
                    f"advertised.listeners=PLAINTEXT://{self.host}:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.dir / 'data'}",
                    "num.partitions=1",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        (self.dir / "log4j2.properties").write_text(
            "\n".join(
                [
                    "rootLogger.level=INFO",
                    "rootLogger.appenderRef.file.ref=file",
                    "appender.file.type=File",
                    "appender.file.name=file",
                    f"appender.file.fileName={self.dir / 'server.log'}",
                    "appender.file.layout.type=PatternLayout",
                    "appender.file.layout.pattern=[%d] %p %m (%c)%n",
                    "",
                ]
            )
        )


async def _kafka_ready(settings: Settings) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


async def create_topics(settings: Settings, say: Say) -> None:
    """Create the topics DESIGN.md lists; check the partition counts of those that exist."""
    forever = {"retention.ms": "-1", "retention.bytes": "-1"}
    days = {"retention.ms": WEEK_MS}
    wanted = {
        settings.submissions_topic: (settings.partitions, days),
        settings.events_topic: (settings.partitions, forever),
        settings.outcomes_topic: (settings.partitions, days),
        settings.checkpoints_topic: (settings.partitions, forever),
        settings.deadletter_topic: (1, forever),
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, count, 1, topic_configs=config)
            for name, (count, config) in wanted.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            say("topics: created " + ", ".join(t.name for t in missing))
        present = [name for name in wanted if name in existing]
        for description in await admin.describe_topics(present) if present else []:
            name, count = description["topic"], len(description["partitions"])
            if count != wanted[name][0]:
                raise InfraError(
                    f"topic {name} has {count} partitions, settings say {wanted[name][0]}"
                )
        if present:
            say("topics: present " + ", ".join(present))
    finally:
        await admin.close()


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        prefix = settings.topic_prefix + "."
        doomed = [name for name in await admin.list_topics() if name.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


# --- PostgreSQL --------------------------------------------------------------------------


class LocalPostgres(LocalServer):
    name = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's "fast" shutdown

    def __init__(self, settings: Settings):
        self.settings = settings
        url = urlsplit(settings.postgres_dsn)
        self.user, self.password = url.username or "casetrail", url.password or "casetrail"
        self.database = url.path.lstrip("/") or "casetrail"
        self.dir = (settings.state_dir / "postgres").resolve()
        self.data = self.dir / "data"
        host, port = url.hostname or "127.0.0.1", url.port or 5432
        super().__init__(host, port, self.dir / "postgres.pid", str(self.data))

    def up(self, say: Say) -> None:
        if answers(self.host, self.port):
            say(f"postgres: already answering on {self.host}:{self.port}")
        else:
            bin_dir = self._binaries(say)
            if answers(self.host, self.port):  # installing the package may start a cluster
                say(f"postgres: the installed package's server answers on port {self.port}")
            else:
                self._start_own_cluster(bin_dir, say)
        asyncio.run(self.ensure_database(say))

    def _binaries(self, say: Say) -> Path:
        def find() -> Path | None:
            on_path = shutil.which("pg_ctl")
            if on_path:
                return Path(on_path).resolve().parent
            found = sorted(
                glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                key=lambda p: int(Path(p).parts[-3]),
            )
            return Path(found[-1]).parent if found else None

        bin_dir = find()
        if bin_dir is None:
            if os.geteuid() != 0 or shutil.which("apt-get") is None:
                raise InfraError(
                    "PostgreSQL is not installed: install it (e.g. apt-get install postgresql) "
                    "or point CASETRAIL_POSTGRES_DSN at a running server"
                )
            say("postgres: installing Debian's postgresql package")
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            _run(["apt-get", "update", "-q"], "apt-get update", env=env)
            _run(["apt-get", "install", "-y", "-q", "postgresql"], "installing postgresql", env=env)
            bin_dir = find()
            if bin_dir is None:
                raise InfraError("postgresql was installed but pg_ctl was not found")
        return bin_dir

    def _as_owner(self, cmd: list[str]) -> list[str]:
        """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *cmd]
        return cmd

    def _start_own_cluster(self, bin_dir: Path, say: Say) -> None:
        sockets = self.dir / "run"
        sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(sockets, "postgres", "postgres")
        if not (self.data / "PG_VERSION").exists():
            say(f"postgres: creating a cluster in {self.data}")
            password_file = self.dir / "password"
            password_file.write_text(self.password + "\n")
            password_file.chmod(0o600)
            if os.geteuid() == 0:
                shutil.chown(password_file, "postgres", "postgres")
            try:
                _run(
                    self._as_owner(
                        [
                            str(bin_dir / "initdb"),
                            "-D",
                            str(self.data),
                            "-U",
                            self.user,
                            f"--pwfile={password_file}",
                            "--auth-host=scram-sha-256",
                            "--auth-local=peer",
                            "-E",
                            "UTF8",
                            "--locale=C.UTF-8",
                        ]
                    ),
                    "initdb",
                )
            finally:
                password_file.unlink(missing_ok=True)
        options = f"-c listen_addresses={self.host} -p {self.port} -k {sockets}"
        _run(
            self._as_owner(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.dir / "postgres.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            "starting postgres",
        )
        pid = (self.data / "postmaster.pid").read_text().split()[0]
        self.pid_file.write_text(f"{pid}\n")
        say(f"postgres: started pid {pid} on {self.host}:{self.port}")

    async def ensure_database(self, say: Say, may_create_role: bool = True) -> None:
        try:
            conn = await asyncpg.connect(self.settings.postgres_dsn)
        except asyncpg.InvalidCatalogNameError:
            admin_dsn = urlunsplit(urlsplit(self.settings.postgres_dsn)._replace(path="/postgres"))
            try:
                admin = await asyncpg.connect(admin_dsn)
            except (asyncpg.PostgresError, OSError) as error:
                raise InfraError(f"cannot create database {self.database}: {error}") from error
            try:
                await admin.execute(f'CREATE DATABASE "{self.database}"')
            except asyncpg.DuplicateDatabaseError:
                pass
            finally:
                await admin.close()
            say(f"postgres: created database {self.database}")
            return
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            if not may_create_role:
                raise
            self._create_role_as_superuser(say)
            return await self.ensure_database(say, may_create_role=False)
        await conn.close()
        say(f"postgres: database {self.database} ready")

    def _create_role_as_superuser(self, say: Say) -> None:
        """A server we did not start and whose role we lack: create the role through the local
        superuser (peer authentication), where this machine allows it."""
        if os.geteuid() != 0 or shutil.which("psql") is None:
            raise InfraError(
                f"cannot log in to PostgreSQL on {self.host}:{self.port} as {self.user}: set "
                "CASETRAIL_POSTGRES_DSN to a role that may create the casetrail database"
            )
        quoted = self.password.replace("'", "''")
        sql = (
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{self.user}') "
            f"THEN CREATE ROLE \"{self.user}\" LOGIN CREATEDB PASSWORD '{quoted}'; END IF; END $$;"
        )
        _run(
            ["runuser", "-u", "postgres", "--", "psql", "-p", str(self.port), "-c", sql],
            "creating the casetrail role",
        )
        say(f"postgres: created role {self.user}")


def components(settings: Settings) -> dict[str, LocalServer]:
    return {"kafka": LocalKafka(settings), "postgres": LocalPostgres(settings)}
