"""A 3-node Kafka cluster of a test's own, on loopback: its own state directory and free ports,
started and brought back with ``casetrail infra up --brokers 3`` (as an operator would), a node
killed with SIGKILL, and the questions a fault test asks the cluster (who leads a partition,
whether every replica is back in sync)."""

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.adapters.case_store import case_store_dsn
from services.adapters.kafka import admin
from services.demo import OFFICERS_FILE
from services.infra import LocalKafkaCluster
from services.privacy.keystore import keystore_dsn
from services.settings import KafkaRole, Settings
from tests.support import casetrail, free_port_block

ROOT = Path(__file__).resolve().parents[2]
BROKERS = 3
INTERNAL_TOPICS = ["__consumer_offsets", "__transaction_state"]


def link_jars(home: Path) -> None:
    """Let a Kafka of a test's own use the jars `infra up` fetched once for the shared broker."""
    libs = ROOT / ".local" / "kafka" / "libs"
    if list(libs.glob("kafka_2.13-*.jar")):
        home.mkdir(parents=True, exist_ok=True)
        (home / "libs").symlink_to(libs)


class Cluster:
    """Three combined broker+controller nodes under ``state_dir`` (see services/infra)."""

    def __init__(self, state_dir: Path, keys: Settings):
        base = free_port_block(2 * BROKERS)  # the brokers, then their controllers
        bootstrap = ",".join(f"127.0.0.1:{base + i}" for i in range(BROKERS))
        self.settings = Settings(
            state_dir=state_dir,
            kafka_bootstrap=bootstrap,
            kafka_brokers=BROKERS,
            topic_prefix=f"faults-{os.getpid()}",
            partitions=3,
            officers_file=OFFICERS_FILE,
            signing_key_file=state_dir / "keys" / "checkpoint-ed25519.pem",
            decider_session_timeout_ms=6000,
            decider_health_port=0,
            projector_metrics_port=0,
            # The key store and master key of the session's servers: deciders seal with them.
            postgres_dsn=keys.postgres_dsn,
            master_key_file=keys.master_key_path,
            keystore_dsn=keystore_dsn(keys),
            decider_store_dsn=case_store_dsn(keys),  # and its case store
        )
        self.local = LocalKafkaCluster(self.settings)
        self.started_in = 0.0
        link_jars(self.local.home)

    def up(self) -> float:
        """``casetrail infra up kafka --brokers 3``: starts the nodes that do not answer, creates
        the topics; the seconds it took."""
        started = time.monotonic()
        result = casetrail(self.settings, "infra", "up", "kafka", "--brokers", str(BROKERS))
        assert result.returncode == 0, result.stdout + result.stderr + self.logs()
        return time.monotonic() - started

    def down(self) -> None:
        """Every node, whatever state it is in: ``infra down``, then SIGKILL what is left."""
        casetrail(self.settings, "infra", "down", "kafka", "--brokers", str(BROKERS))
        for node in self.local.nodes:
            pid = node.running_pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)

    def kill(self, node_id: int) -> None:
        """SIGKILL: the node's process dies at once, as on a power cut of its machine (but its
        page cache, shared with the other nodes on this machine, survives)."""
        pid = self.local.node(node_id).running_pid()
        assert pid is not None, f"node {node_id} is not running"
        os.kill(pid, signal.SIGKILL)

    def logs(self, lines: int = 20) -> str:
        out = []
        for node in self.local.nodes:
            text = (node.dir / "server.log").read_text(errors="replace").splitlines()
            out.append(f"--- {node.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    async def partitions(self, topics: list[str]) -> list[dict[str, Any]]:
        """Each partition of ``topics`` as the cluster's metadata tells it (leader, replicas,
        isr), with its topic's name."""
        async with admin(self.settings.as_kafka_user(KafkaRole.ADMIN)) as client:
            described = await client.describe_topics(topics)
        return [
            {**partition, "topic": topic["topic"]}
            for topic in described
            for partition in topic["partitions"]
        ]

    async def leader(self, topic: str, partition: int) -> int:
        for p in await self.partitions([topic]):
            if p["partition"] == partition:
                return int(p["leader"])
        raise AssertionError(f"{topic} has no partition {partition}")

    async def wait_for(self, topics: list[str], ready: Any, seconds: float) -> float:
        """Seconds until ``ready(partition)`` holds for every partition of ``topics``
        (TimeoutError after ``seconds``)."""
        started = time.monotonic()
        async with asyncio.timeout(seconds):
            while True:
                try:
                    if all(ready(p) for p in await self.partitions(topics)):
                        return time.monotonic() - started
                except Exception:  # a node going away: ask again
                    pass
                await asyncio.sleep(0.2)


@contextmanager
def cluster_of_three(state_dir: Path, keys: Settings) -> Iterator[Cluster]:
    """A started cluster, stopped at the end whatever happens; its deciders keep the keys of
    personal data where ``keys`` says."""
    cluster = Cluster(state_dir, keys)
    try:
        cluster.started_in = cluster.up()
        yield cluster
    finally:
        cluster.down()
