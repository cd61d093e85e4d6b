"""A single-node Kafka (KRaft) on loopback, from Maven Central's jars, without Docker."""

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

from services.adapters.kafka import kafka_ready
from services.infra.servers import InfraError, LocalServer, answers, run, tail, wait_until
from services.progress import Say
from services.settings import Settings

POM = Path(__file__).with_name("kafka") / "pom.xml"


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
            run(
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
                log_tail = tail(self.dir / "server.log")
                raise InfraError(f"kafka exited with {process.returncode}; log:\n{log_tail}")
            return answers(self.host, self.port) and asyncio.run(
                kafka_ready(self.settings.kafka_bootstrap)
            )

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
