"""Local infrastructure without Docker (``casetrail infra``): Kafka and PostgreSQL on loopback,
and the service processes the demo and the tests start."""

from collections.abc import Iterable

from services.infra.kafka_server import LocalKafka, LocalKafkaCluster, local_kafka
from services.infra.postgres_server import LocalPostgres
from services.infra.servers import InfraError, LocalServer, ServerStatus, answers, wait_until
from services.progress import Say
from services.settings import Settings

__all__ = [
    "InfraError",
    "LocalKafka",
    "LocalKafkaCluster",
    "LocalPostgres",
    "LocalServer",
    "ServerStatus",
    "answers",
    "bring_up",
    "components",
    "stop_started",
    "wait_until",
]


def components(settings: Settings) -> dict[str, LocalServer]:
    """The local servers: Kafka (one broker, or a cluster of ``CASETRAIL_KAFKA_BROKERS``) and
    PostgreSQL."""
    return {"kafka": local_kafka(settings), "postgres": LocalPostgres(settings)}


def bring_up(servers: Iterable[LocalServer], say: Say) -> list[LocalServer]:
    """Start each server that does not answer yet; returns those this call started. A start
    that fails stops what it started, the failing server's half-started process included."""
    started: list[LocalServer] = []
    try:
        for server in servers:
            if not server.status().answering:
                started.append(server)
            server.up(say)
    except BaseException:
        stop_started(started, say)
        raise
    return started


def stop_started(started: list[LocalServer], say: Say) -> None:
    """Stop, last first, the servers ``bring_up`` started (never a server found running)."""
    for server in reversed(started):
        server.down(say)
