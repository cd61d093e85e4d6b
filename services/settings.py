"""Configuration shared by every service: CASETRAIL_* environment variables, localhost defaults."""

from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.suite import Suite


def with_database(dsn: str, database: str) -> str:
    """The same server and role, another database (``postgres`` to create or drop one)."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


class KafkaRole(StrEnum):
    """Who a Kafka client is: each CaseTrail process signs in (SASL/SCRAM-SHA-512) as its own
    user, and Kafka's ACLs (``services.adapters.kafka_acls``) let each do only its part."""

    ADMIN = "admin"
    """Creates topics and ACLs (``casetrail infra up``, tests, benchmarks); a super user."""
    DECIDER = "decider"
    """The only writer of events, outcomes, checkpoints and dead letters."""
    GATEWAY = "gateway"
    """Writes submissions, reads outcomes."""
    DEPARTMENT = "department"
    """A department publishing straight to Kafka: writes submissions, reads outcomes."""
    PROJECTOR = "projector"
    """Reads events (its consumer groups: the projections')."""
    QUERY = "query"
    """Reads events, checkpoints and outcomes (replay, as-of, a case's verification)."""
    AUDITOR = "auditor"
    """Reads the log: events, checkpoints, outcomes, dead letters (``casetrail verify`` …)."""


class TraceExport(StrEnum):
    """Where the services send their OpenTelemetry spans (``CASETRAIL_TRACES``)."""

    OFF = "off"
    CONSOLE = "console"
    """One JSON line per span on standard output."""
    OTLP = "otlp"
    """To an OpenTelemetry collector (OTLP over HTTP, ``otlp_endpoint``)."""


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    """One JSON object per line, with correlation_id and submission_id where known."""


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
    kafka_user: str | None = Field(
        default=None,
        description="The Kafka user (SASL/SCRAM-SHA-512) this process signs in as; unset, each"
        " process signs in as the user of its role (decider, gateway, projector, …)",
    )
    kafka_password: SecretStr | None = Field(
        default=None, description="That user's password (else kafka_password_file)"
    )
    kafka_password_file: Path | None = Field(
        default=None,
        description="A file holding that user's password; unset: <state_dir>/secrets/kafka/"
        "<user>.password, where 'casetrail infra up' keeps the development passwords",
    )
    kafka_tls: bool = Field(
        default=False,
        description="Talk to Kafka over TLS (SASL_SSL); local brokers then listen with TLS",
    )
    kafka_ca_file: Path | None = Field(
        default=None,
        description="The CA certificate (PEM) that signed the brokers' certificates (TLS);"
        " unset: <state_dir>/secrets/kafka/ca.pem, made by 'casetrail infra up'",
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
    calendar_dir: Path | None = Field(
        default=None,
        description="Holiday schedules an operator adds when the packages lag behind the State"
        " Council's notice: one <year>.toml per year (see 'casetrail calendar --help');"
        " <state_dir>/calendar when unset. Every service must read the same files",
    )
    calendar_horizon_days: int = Field(
        default=150,
        ge=1,
        le=3660,
        description="Warn (health, logs, 'casetrail calendar check') when a day within this many"
        " days from today lies in a year no holiday schedule covers: the longest deadline with"
        " its extension (90 + 30 days) and some pauses",
    )

    crypto_suite: Suite = Field(
        default=Suite.INTERNATIONAL,
        description="The log's cryptographic suite: international (SHA-256, Ed25519, AES-256-GCM)"
        " or guomi (SM3, SM2, SM4-GCM). One per log, fixed before its first event: a service"
        " set to another suite than the log's checkpoints refuses to start",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="The decider's private key (PEM) signing checkpoints, of the suite's algorithm:"
        " Ed25519 (international) or SM2 (guomi); only the decider needs it."
        " <state_dir>/keys/checkpoint-ed25519.pem, or <state_dir>/keys/guomi/checkpoint-sm2.pem"
        " under guomi, when unset",
    )
    key_ring_file: Path | None = Field(
        default=None,
        description="The pinned public key ring (JSON, see services/integrity/keyring.py):"
        " the only keys whose signatures count; <state_dir>/keys/ring.json (under guomi"
        " <state_dir>/keys/guomi/ring.json) when unset",
    )
    verify_grace_s: float = Field(
        default=60.0,
        ge=0,
        description="verify: an event no signed checkpoint covers is a problem once recorded"
        " longer ago than this (before, a note: its transaction's checkpoint may be on its way)",
    )
    gateway_signing_key_file: Path | None = Field(
        default=None,
        description="The private key (PEM) with which the gateway vouches for the submissions it"
        " accepted with a department's token, of the suite's algorithm: Ed25519 (international)"
        " or SM2 (guomi; the gateway does not start with a key of the other); <state_dir>/keys/"
        "gateway-ed25519.pem, or <state_dir>/keys/guomi/gateway-sm2.pem under guomi, when unset",
    )
    require_signatures: bool = Field(
        default=True,
        description="The decider rejects an unsigned submission (unsigned_submission). false:"
        " unsigned ones pass unvouched (signed ones are still checked); a switch for benchmarks"
        " and for migrating clients only, never for production",
    )
    seal_personal_data: bool = Field(
        default=True,
        description="The decider encrypts every personal value with its data subject's own key"
        " before the event is appended (docs/privacy.md). false: appended in plaintext, as"
        " before; a switch to measure its cost, never for production",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="The master key (32 bytes, base64) that wraps every data subject's key in"
        " the key store; <state_dir>/keys/personal-data-master.key when unset. Whoever holds it"
        " and the key store can read personal data: keep it off the machines that need neither",
    )
    keystore_dsn: str | None = Field(
        default=None,
        description="The key store's PostgreSQL (its own schema and role, casetrail_keys); when"
        " unset, the read models' server and database as role casetrail_keys, with the password"
        " 'casetrail infra up' keeps in <state_dir>/secrets/postgres/",
    )
    retention_years_file: Path | None = Field(
        default=None,
        description="Years after closure that personal data is kept, per case type (JSON, e.g."
        ' {"complaint": 3}): overrides the defaults of docs/privacy.md',
    )
    projector_batch_events: int = Field(default=1000, ge=1, description="Events per batch, at most")
    projector_batch_ms: int = Field(default=200, ge=1, description="How long a batch may wait")
    projector_catch_up_events: int = Field(
        default=50_000,
        ge=1,
        description="A backlog of at least this many events (after downtime) is caught up in bulk,"
        " as a rebuild loads: worker processes, large batches, COPY",
    )
    projector_fetch_wait_ms: int = Field(
        default=50,
        ge=0,
        description="How long Kafka may hold a projector's fetch until it has"
        " projector_fetch_min_bytes of events: under load a fetch fills at once, at a trickle"
        " this many ms of waiting turn many one-event transactions into one",
    )
    projector_fetch_min_bytes: int = Field(
        default=32 * 1024,
        ge=1,
        description="The events a projector's fetch waits for (bytes; 1: answer with the first)",
    )
    decider_session_timeout_ms: int = Field(
        default=10_000, ge=6_000, description="How soon a dead decider's partitions move on"
    )
    decider_health_host: str = Field(
        default="127.0.0.1", description="Where the decider's GET /health and /metrics listen"
    )
    decider_health_port: int = Field(
        default=8002,
        ge=0,
        le=65535,
        description="The decider's GET /health and GET /metrics (0: any free port)",
    )
    projector_metrics_host: str = Field(
        default="127.0.0.1", description="Where the projector's GET /metrics listens"
    )
    projector_metrics_port: int = Field(
        default=8003,
        ge=0,
        le=65535,
        description="The projector's GET /metrics (Prometheus; 0: any free port)",
    )
    traces: TraceExport = Field(
        default=TraceExport.OFF,
        description="OpenTelemetry traces of each submission, from the gateway's request through"
        " Kafka and the decider to the projector's rows: off, console (a JSON line per span on"
        " standard output) or otlp (to otlp_endpoint)",
    )
    otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318/v1/traces",
        description="The OpenTelemetry collector's OTLP/HTTP traces URL (traces=otlp)",
    )
    log_format: LogFormat = Field(
        default=LogFormat.TEXT,
        description="text (one line per record) or json (one JSON object per line, with"
        " correlation_id and submission_id where known, and the trace's ids)",
    )
    decider_snapshot_every: int = Field(
        default=10_000,
        ge=0,
        description="Submissions a partition's decider decides between two snapshots of its"
        " state, which a take-over loads instead of folding the whole log (0: none)",
    )
    decider_hot_cases: int = Field(
        default=5_000,
        ge=0,
        description="Unchanged cases a partition's decider keeps in memory; the others are read"
        " from its case store (a PostgreSQL copy of its snapshots) when a submission names them."
        " As many changed cases make a snapshot due, so memory holds at most twice as many"
        " (0: every case stays in memory)",
    )
    decider_store_dsn: str | None = Field(
        default=None,
        description="The decider's case store (its own schema and role, casetrail_decider);"
        " when unset, the read models' server and database as role casetrail_decider, with the"
        " password 'casetrail infra up' keeps in <state_dir>/secrets/decider/",
    )
    decider_refusal_retry_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the decider checks a partition it refuses again (the log no"
        " longer matches its signed checkpoints), so that it resumes once an operator fixed it",
    )

    gateway_port: int = 8000
    query_port: int = 8001
    outcome_timeout_s: float = Field(
        default=5.0, gt=0, description="How long POST /submissions waits before answering 202"
    )
    max_body_bytes: int = 64 * 1024
    export_max_rows: int = Field(
        default=20_000,
        ge=1,
        le=1_000_000,
        description="The most cases one export of the case list holds (CSV, Excel); a list that"
        " matches more is refused (422 export_too_large) with a word to narrow it, never cut short",
    )
    pdf_font_file: Path | None = Field(
        default=None,
        description="The CJK font (TrueType/OpenType, .ttf/.otf/.ttc) embedded, as a subset, in"
        " the case files (PDF); unset: Debian's fonts-wqy-microhei (make demo installs it) or"
        " Noto Sans CJK where installed",
    )
    checkpoint_lookup_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="How long a case file waits for Kafka to name the signed checkpoint that"
        " covers the case; past it the file says the checkpoint could not be read",
    )
    gateway_max_in_flight: int = Field(
        default=256,
        ge=1,
        description="Submissions the gateway takes at once (from the request's arrival to its"
        " answer); one more is answered 503 overloaded with Retry-After at once, before its"
        " body is read, so that an overload is shed instead of queued (what the gateway"
        " completes stays at what the system sustains, with its latency)",
    )
    gateway_linger_ms: int = Field(
        default=5,
        ge=0,
        description="How long the gateway's Kafka producer waits for more submissions to send"
        " in the same request (0: a request per submission)",
    )
    gateway_access_log: bool = Field(
        default=False,
        description="Log a line per HTTP request (uvicorn's access log): a cost per request"
        " that shows at hundreds of submissions a second",
    )

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
            f"CASETRAIL_{name.upper()}": str(
                value.get_secret_value() if isinstance(value, SecretStr) else value
            )
            for name, value in self.model_dump().items()
            if value is not None
        }

    def as_kafka_user(self, role: KafkaRole) -> "Settings":
        """These settings, signing in to Kafka as ``role``'s user unless a user is configured."""
        if self.kafka_user is not None:
            return self
        return self.model_copy(update={"kafka_user": role.value})

    @property
    def kafka_secrets_dir(self) -> Path:
        """Where 'casetrail infra up' keeps the development Kafka passwords and certificates."""
        return self.state_dir / "secrets" / "kafka"

    @property
    def kafka_ca_path(self) -> Path:
        return self.kafka_ca_file or self.kafka_secrets_dir / "ca.pem"

    @property
    def kafka_servers(self) -> list[str]:
        """The bootstrap addresses one by one (for clients that want a list, e.g. faststream,
        which takes a string as one address)."""
        return [address.strip() for address in self.kafka_bootstrap.split(",") if address.strip()]

    @property
    def keys_dir(self) -> Path:
        """Where the development keys are: <state_dir>/keys, and <state_dir>/keys/guomi for the
        guomi suite, whose keys are of other algorithms (a state directory may hold a log of
        each, under two topic prefixes)."""
        keys = self.state_dir / "keys"
        return keys if self.crypto_suite is Suite.INTERNATIONAL else keys / "guomi"

    @property
    def signature_algorithm(self) -> str:
        """The suite's signature algorithm, as the key files' names say it."""
        return "ed25519" if self.crypto_suite is Suite.INTERNATIONAL else "sm2"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key_file or self.keys_dir / f"checkpoint-{self.signature_algorithm}.pem"

    @property
    def gateway_signing_key_path(self) -> Path:
        return (
            self.gateway_signing_key_file
            or self.keys_dir / f"gateway-{self.signature_algorithm}.pem"
        )

    @property
    def key_ring_path(self) -> Path:
        return self.key_ring_file or self.keys_dir / "ring.json"

    @property
    def master_key_path(self) -> Path:
        # One master whatever the suite: the key store's keys must all be wrapped by one.
        return self.master_key_file or self.state_dir / "keys" / "personal-data-master.key"

    @property
    def keystore_password_path(self) -> Path:
        return self.state_dir / "secrets" / "postgres" / "casetrail_keys.password"

    @property
    def decider_store_password_path(self) -> Path:
        return self.state_dir / "secrets" / "decider" / "casetrail_decider.password"

    @property
    def calendar_path(self) -> Path:
        return self.calendar_dir or self.state_dir / "calendar"

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
    def snapshots_topic(self) -> str:
        return f"{self.topic_prefix}.decider-snapshots"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletter"

    @property
    def decider_group(self) -> str:
        return f"{self.topic_prefix}.decider"

    def projection_group(self, name: str, version: int) -> str:
        return f"{self.topic_prefix}.projection.{name}.v{version}"
