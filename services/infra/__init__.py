"""Local infrastructure without Docker (``casetrail infra``): Kafka and PostgreSQL on loopback,
and the service processes the demo and the tests start."""

from services.infra.kafka_server import LocalKafka
from services.infra.postgres_server import LocalPostgres
from services.infra.servers import InfraError, LocalServer, ServerStatus, answers, wait_until
from services.settings import Settings

__all__ = [
    "InfraError",
    "LocalKafka",
    "LocalPostgres",
    "LocalServer",
    "ServerStatus",
    "answers",
    "components",
    "wait_until",
]


def components(settings: Settings) -> dict[str, LocalServer]:
    return {"kafka": LocalKafka(settings), "postgres": LocalPostgres(settings)}
