"""Configuration shared by every service: CASETRAIL_* environment variables, localhost defaults."""

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def with_database(dsn: str, database: str) -> str:
    """The same server and role, another database (``postgres`` to create or drop one)."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASETRAIL_", extra="ignore")

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="host:port of one broker or several, comma-separated (list every broker of a"
        " cluster, so that clients start while any one of them is down)",
    )
    kafka_brokers: int = Field(
        default=1,
        ge=1,
        le=9,
        description="How many brokers the cluster has: 'infra up' starts that many local nodes,"
        " and topics get min(3, brokers) replicas (with 3: min.insync.replicas=2)",
    )
    kafka_fsync_before_ack: bool = Field(
        default=False,
        description="Local brokers fsync each append to disk before acknowledging it"
        " (log.flush.interval.messages=1); off, Kafka acknowledges from the page cache",
    )
    postgres_dsn: str = "postgresql://casetrail:casetrail@127.0.0.1:5432/casetrail"
    topic_prefix: str = Field(
        default="casetrail", description="Topics are <prefix>.submissions, <prefix>.events, …"
    )
    partitions: int = Field(default=4, ge=1, description="Partitions of submissions and events")
    state_dir: Path = Field(default=Path(".local"), description="Local servers' jars, data, logs")
    officers_file: Path | None = Field(
        default=None,
        description="The officer directory (JSON); the decider refuses to start without one",
    )

    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) signing checkpoints; <state_dir>/keys/… when unset",
    )
    key_ring_file: Path | None = Field(
        default=None,
        description="The pinned public key ring (JSON, see services/integrity/keyring.py):"
        " the only keys whose signatures count; <state_dir>/keys/ring.json when unset",
    )
    gateway_signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) with which the gateway vouches for the submissions"
        " it accepted with a department's token; <state_dir>/keys/gateway-ed25519.pem when unset",
    )
    require_signatures: bool = Field(
        default=True,
        description="The decider rejects an unsigned submission (unsigned_submission). false:"
        " unsigned ones pass unvouched (signed ones are still checked); a switch for benchmarks"
        " and for migrating clients only, never for production",
    )
    checkpoint_every_events: int = Field(default=1000, ge=1)
    checkpoint_every_s: float = Field(default=10.0, gt=0)
    projector_batch_events: int = Field(default=1000, ge=1, description="Events per batch, at most")
    projector_batch_ms: int = Field(default=200, ge=1, description="How long a batch may wait")
    decider_session_timeout_ms: int = Field(
        default=10_000, ge=6_000, description="How soon a dead decider's partitions move on"
    )

    gateway_port: int = 8000
    query_port: int = 8001
    outcome_timeout_s: float = Field(
        default=5.0, gt=0, description="How long POST /submissions waits before answering 202"
    )
    max_body_bytes: int = 64 * 1024

    def isolated(self, topic_prefix: str, database: str | None = None) -> "Settings":
        """These settings with topics (and, if named, a database) of their own: a benchmark's
        or a test's, which never touch anybody else's data."""
        update: dict[str, Any] = {"topic_prefix": topic_prefix}
        if database is not None:
            update["postgres_dsn"] = with_database(self.postgres_dsn, database)
        return self.model_copy(update=update)

    def as_env(self) -> dict[str, str]:
        """The CASETRAIL_* variables that give a child process exactly these settings."""
        return {
            f"CASETRAIL_{name.upper()}": str(value)
            for name, value in self.model_dump().items()
            if value is not None
        }

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap addresses one by one (for clients that want a list, e.g. faststream,
        which takes a string as one address)."""
        return [address.strip() for address in self.kafka_bootstrap.split(",") if address.strip()]

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.state_dir / "keys" / "checkpoint-ed25519.pem"

    @property
    def gateway_signing_key_path(self) -> Path:
        return self.gateway_signing_key_file or self.state_dir / "keys" / "gateway-ed25519.pem"

    @property
    def key_ring_path(self) -> Path:
        return self.key_ring_file or self.state_dir / "keys" / "ring.json"

    @property
    def submissions_topic(self) -> str:
        return f"{self.topic_prefix}.submissions"

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.events"

    @property
    def outcomes_topic(self) -> str:
        return f"{self.topic_prefix}.outcomes"

    @property
    def checkpoints_topic(self) -> str:
        return f"{self.topic_prefix}.checkpoints"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletter"

    @property
    def decider_group(self) -> str:
        return f"{self.topic_prefix}.decider"

    def projection_group(self, name: str, version: int) -> str:
        return f"{self.topic_prefix}.projection.{name}.v{version}"
