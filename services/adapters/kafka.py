"""The one place that knows how CaseTrail talks to Kafka's admin API and reads committed records.

- ``client_options``: how every client connects (SASL/SCRAM-SHA-512 as the settings' user, TLS
  if configured); every function here takes the settings, so it signs in as their user;
- ``admin``: an admin client, closed when the block ends;
- ``committed_consumer``: a consumer that sees committed records only and never commits offsets;
- ``read_until`` / ``read_to_end``: records of assigned partitions up to given end offsets;
- the topic layout of ``../shared/DESIGN.md``: ``create_topics`` (replicated for the cluster's
  size: ``replication``), ``check_copartitioned``, ``delete_topics``.
"""

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.admin.records_to_delete import RecordsToDelete
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner
from faststream.security import SASLScram512

from events.model import Outcome
from services.adapters.kafka_acls import all_grants, create_acls, delete_acls
from services.settings import KafkaRole, Settings

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
WEEK_MS = str(7 * 24 * 3600 * 1000)
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024
"""The dead-letter topic takes records twice Kafka's default size: a refused submission of any
size the submissions topic accepted fits whole, with the headers that say why it was refused."""


class TopologyError(RuntimeError):
    """The topics are missing or laid out against DESIGN.md (e.g. unequal partition counts)."""


class UnequalPartitions(TopologyError):
    """Topics that must be co-partitioned are not: only an operator can fix that."""


class KafkaCredentialsError(RuntimeError):
    """This process has no Kafka user or password: a configuration error, not an outage."""


SASL_MECHANISM = "SCRAM-SHA-512"


def kafka_password(settings: Settings) -> str:
    """The password of the settings' Kafka user: given, in the given file, or in the file
    'casetrail infra up' made for a development user."""
    if settings.kafka_password is not None:
        return settings.kafka_password.get_secret_value()
    path = (
        settings.kafka_password_file
        or settings.kafka_secrets_dir / f"{settings.kafka_user}.password"
    )
    try:
        return path.read_text().strip()
    except OSError as error:
        raise KafkaCredentialsError(
            f"no password for Kafka user {settings.kafka_user!r} ({error}): set"
            " CASETRAIL_KAFKA_PASSWORD or CASETRAIL_KAFKA_PASSWORD_FILE, or run"
            " 'casetrail infra up' for the development users"
        ) from error


def client_options(settings: Settings) -> dict[str, Any]:
    """The connection options of every Kafka client CaseTrail makes: the bootstrap list, signed
    in as the settings' user (SASL/SCRAM-SHA-512), over TLS when ``kafka_tls``."""
    if settings.kafka_user is None:
        raise KafkaCredentialsError(
            "no Kafka user: set CASETRAIL_KAFKA_USER (each service signs in as its own user)"
        )
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_servers,
        "security_protocol": "SASL_SSL" if settings.kafka_tls else "SASL_PLAINTEXT",
        "sasl_mechanism": SASL_MECHANISM,
        "sasl_plain_username": settings.kafka_user,
        "sasl_plain_password": kafka_password(settings),
    }
    if settings.kafka_tls:
        options["ssl_context"] = create_ssl_context(cafile=str(settings.kafka_ca_path))
    return options


def scram_security(settings: Settings) -> SASLScram512:
    """``client_options`` for faststream's brokers (which also put it in the AsyncAPI document)."""
    options = client_options(settings)
    return SASLScram512(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=options.get("ssl_context"),
        use_ssl=settings.kafka_tls,
    )


def unreachable(error: BaseException) -> bool:
    """Kafka, or a topic, is not there (yet): worth waiting for, where unequal partition counts
    are not."""
    return isinstance(error, (KafkaError, OSError, TopologyError)) and not isinstance(
        error, UnequalPartitions
    )


async def started(consumer: AIOKafkaConsumer) -> AIOKafkaConsumer:
    """``consumer``, started; if it cannot start, it is stopped (it is spent) and the error
    raised: make a new one to try again."""
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    return consumer


@asynccontextmanager
async def admin(settings: Settings) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(**client_options(settings))
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def committed_consumer(settings: Settings, **options: Any) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer in read_committed mode that commits nothing (assign partitions to it)."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        **options,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read_until(
    consumer: AIOKafkaConsumer, ends: Mapping[TopicPartition, int], max_records: int | None = None
) -> AsyncIterator[dict[TopicPartition, list[Record]]]:
    """Fetched batches, from each partition's position up to (not including) its end offset."""
    remaining = {tp for tp, end in ends.items() if await consumer.position(tp) < end}
    while remaining:
        fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=max_records)
        wanted = {}
        for tp, records in fetched.items():
            wanted[tp] = [r for r in records if r.offset < ends[tp]]
            if len(wanted[tp]) < len(records):
                # Records past the end were fetched: the next read of this consumer (a later
                # pass with later ends) must start at the end, not after what was dropped.
                consumer.seek(tp, ends[tp])
        yield {tp: records for tp, records in wanted.items() if records}
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)


async def read_to_end(
    settings: Settings,
    partitions: list[TopicPartition],
    start: Mapping[TopicPartition, int] | None = None,
) -> AsyncIterator[Record]:
    """Every committed record of the given partitions, from the beginning (or the ``start``
    offset given for one) to the end offsets as they are when the call starts."""
    async with committed_consumer(settings) as consumer:
        consumer.assign(partitions)
        # With read_committed these are the last stable offsets, so open transactions of a
        # fenced writer can never hold us up once its successor initialised.
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        for tp, offset in (start or {}).items():
            consumer.seek(tp, offset)
        async for batches in read_until(consumer, ends):
            for records in batches.values():
                for record in records:
                    yield record


async def offset_ranges(
    settings: Settings, partitions: list[TopicPartition]
) -> dict[TopicPartition, tuple[int, int]]:
    """Per partition: its first offset, and its last stable offset (where a read_committed
    reader ends today)."""
    async with committed_consumer(settings) as consumer:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        return {tp: (starts[tp], ends[tp]) for tp in partitions}


async def read_partition(
    settings: Settings, partition: TopicPartition, end: int
) -> AsyncGenerator[list[Record]]:
    """The committed records of one partition from its beginning up to (not including)
    ``end``, in offset order, a fetched batch at a time: what is read is let go of as it goes,
    whatever the partition's length."""
    async with committed_consumer(settings) as consumer:
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        async for batches in read_until(consumer, {partition: end}):
            for records in batches.values():
                yield records


async def read_offsets(
    settings: Settings, partition: TopicPartition, offsets: Sequence[int], end: int
) -> dict[int, bytes]:
    """The values of the committed records at ``offsets`` of one partition (below ``end``);
    an offset that holds none (a transaction marker, an aborted record) is left out."""
    found: dict[int, bytes] = {}
    wanted = {o for o in offsets if o < end}
    if not wanted:
        return found
    async with committed_consumer(settings) as consumer:
        consumer.assign([partition])
        for offset in sorted(wanted):
            if offset in found or await consumer.position(partition) > offset:
                continue  # read on the way to an earlier one, or not there
            if offset - await consumer.position(partition) > 1000:
                consumer.seek(partition, offset)
            async for batches in read_until(consumer, {partition: offset + 1}):
                for records in batches.values():
                    for record in records:
                        if record.offset in wanted:
                            found[record.offset] = record.value or b""
    return found


async def send_one(
    settings: Settings, topic: str, partition: int, key: bytes, value: bytes
) -> None:
    """Append one record to ``partition`` of ``topic``, acknowledged by every in-sync replica."""
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, partition=partition)
    finally:
        await producer.stop()


async def submit_and_wait(
    settings: Settings,
    bodies: Sequence[Mapping[str, Any]],
    timeout_s: float = 60.0,
    decided: Callable[[int], None] | None = None,
) -> dict[str, Outcome]:
    """Publish submissions (signed already) as a department's client does (key = case_id) and
    wait for the outcome of each; by submission_id. ``decided`` hears how many have one, after
    each look. TimeoutError names how many are missing."""
    wanted = {str(body["submission_id"]) for body in bodies}
    producer = AIOKafkaProducer(
        **client_options(settings), acks="all", enable_idempotence=True, linger_ms=10
    )
    await producer.start()
    try:
        for body in bodies:
            await producer.send(
                settings.submissions_topic,
                json.dumps(body, ensure_ascii=False).encode(),
                key=str(body["case_id"]).encode(),
            )
        await producer.flush()
    finally:
        await producer.stop()
    count = len(await topic_partitions(settings, settings.outcomes_topic))
    places = {partitioner(count)(str(body["case_id"])) for body in bodies}
    partitions = [TopicPartition(settings.outcomes_topic, p) for p in sorted(places)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    outcomes: dict[str, Outcome] = {}
    while True:
        async for record in read_to_end(settings, partitions):
            outcome = Outcome.model_validate_json(record.value or b"")
            if str(outcome.submission_id) in wanted:
                outcomes[str(outcome.submission_id)] = outcome
        if decided is not None:
            decided(len(outcomes))
        if len(outcomes) == len(wanted):
            return outcomes
        if loop.time() > deadline:
            missing = len(wanted) - len(outcomes)
            raise TimeoutError(f"{missing} submissions without an outcome after {timeout_s:.0f} s")
        await asyncio.sleep(0.5)


async def drop_decided_submissions(settings: Settings, partitions: Sequence[int]) -> dict[int, int]:
    """Delete the records of these submissions partitions that the decider has decided (those
    below its group's committed offset): submissions are input, not history, and an erasure
    must not leave a person's plaintext there until the topic's retention ends. Needs the
    admin user (Kafka's DeleteRecords). Returns the new start offset of each partition."""
    tps = [TopicPartition(settings.submissions_topic, p) for p in partitions]
    async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
        committed = await client.list_consumer_group_offsets(settings.decider_group, partitions=tps)
        doomed = {
            tp: RecordsToDelete(before_offset=meta.offset)
            for tp, meta in committed.items()
            if meta is not None and meta.offset > 0
        }
        if not doomed:
            return {}
        done = await client.delete_records(doomed)
    return {tp.partition: low for tp, low in done.items()}


async def max_message_bytes(settings: Settings, topic: str) -> int:
    """The largest record batch ``topic`` takes (its max.message.bytes, whoever set it)."""
    wanted = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": None})
    async with admin(settings) as client:
        described = await client.describe_configs([wanted])
    for resource in described[0].to_object()["resources"]:
        for entry in resource["config_entries"]:
            if entry["config_names"] == "max.message.bytes":
                return int(entry["config_value"])
    raise TopologyError(
        f"topic {topic} does not exist on {settings.kafka_bootstrap}: run 'casetrail infra up'"
    )


async def end_offsets(
    settings: Settings, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """The last stable offsets: where a read_committed reader of each partition ends today."""
    async with committed_consumer(settings) as consumer:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends


def fetched_end(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """Where an assigned partition ended at the consumer's last fetch (its last stable offset
    for a read_committed consumer, else its high watermark), without asking the broker; None
    before the first fetch or once the partition is no longer assigned."""
    if tp not in consumer.assignment():
        return None
    end = consumer.last_stable_offset(tp)
    if end is None or end < 0:
        end = consumer.highwater(tp)
    return int(end) if end is not None and end >= 0 else None


def fetch_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """Where the consumer reads next in an assigned partition (past any transaction marker),
    as it knows it without asking the broker; None without a valid position. aiokafka offers
    it only as a coroutine that waits for one, so this reads its partition state."""
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
    except AttributeError:  # not assigned (any more)
        return None
    if state is None or not state.has_valid_position:
        return None
    return int(state.position)


def consumer_lag(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """Records of an assigned partition the consumer has not read yet, as Kafka's own clients
    count it (``records-lag``: the end as last fetched, less the consumer's position; so a
    transaction marker never counts); None before the first fetch."""
    end, position = fetched_end(consumer, tp), fetch_position(consumer, tp)
    if end is None or position is None:
        return None
    return max(end - position, 0)


def partitioner(count: int) -> Callable[[str], int]:
    """Where Kafka's default partitioner (murmur2 of the key) puts a case among ``count``."""
    numbers = list(range(count))
    default = DefaultPartitioner()
    return lambda case_id: int(default(case_id.encode(), numbers, numbers))


# --- the topic layout ----------------------------------------------------------------------------


async def topic_partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; TopologyError if it does not exist."""
    return (await _partitions(settings, [topic]))[topic]


async def _partitions(settings: Settings, topics: list[str]) -> dict[str, list[TopicPartition]]:
    async with admin(settings) as client:
        described = await client.describe_topics(topics)
    found = {}
    for description in described:
        if description["error_code"] != 0 or not description["partitions"]:
            raise TopologyError(
                f"topic {description['topic']} does not exist on {settings.kafka_bootstrap}: run"
                " 'casetrail infra up'"
            )
        found[description["topic"]] = sorted(
            (
                TopicPartition(description["topic"], p["partition"])
                for p in description["partitions"]
            ),
            key=lambda tp: tp.partition,
        )
    return found


async def check_copartitioned(settings: Settings) -> int:
    """The decider owns submissions partition p and events partition p together: both topics
    (and outcomes) must exist with the same number of partitions. Returns that number."""
    topics = [settings.submissions_topic, settings.events_topic, settings.outcomes_topic]
    counts = {name: len(tps) for name, tps in (await _partitions(settings, topics)).items()}
    if len(set(counts.values())) != 1:
        raise UnequalPartitions(f"submissions, events and outcomes need equal partitions: {counts}")
    return counts[settings.events_topic]


async def event_partitions(settings: Settings) -> list[TopicPartition]:
    """The partitions of the log of record (readers may see no other topic: the decider checks
    that the submissions and outcomes match them)."""
    return await topic_partitions(settings, settings.events_topic)


def replication(brokers: int) -> tuple[int, dict[str, str]]:
    """Replicas per partition and the topic config that goes with them, for a cluster of
    ``brokers``: min(3, brokers) replicas; with 3, a write is acknowledged (acks=all) once two
    replicas have it, so one broker may fail without losing an acknowledged record or stopping
    writes. One broker: one replica, min.insync.replicas=1 (nothing survives that broker's disk)."""
    replicas = min(3, brokers)
    return replicas, {"min.insync.replicas": "2" if replicas >= 3 else "1"}


def topic_layout(settings: Settings) -> dict[str, tuple[int, int, dict[str, str]]]:
    """Each topic DESIGN.md lists: (partitions, replicas, topic config)."""
    replicas, durable = replication(settings.kafka_brokers)
    forever = {"retention.ms": "-1", "retention.bytes": "-1", **durable}
    days = {"retention.ms": WEEK_MS, **durable}
    dead_letters = {"max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}
    return {
        settings.submissions_topic: (settings.partitions, replicas, days),
        settings.events_topic: (settings.partitions, replicas, forever),
        settings.outcomes_topic: (settings.partitions, replicas, days),
        settings.checkpoints_topic: (settings.partitions, replicas, forever),
        settings.snapshots_topic: (
            settings.partitions,
            replicas,
            {"cleanup.policy": "compact", **dead_letters, **durable},
        ),
        settings.deadletter_topic: (1, replicas, {**forever, **dead_letters}),
    }


async def create_topics(settings: Settings, say: Callable[[str], None]) -> None:
    """Create the topics DESIGN.md lists, replicated as ``replication`` says for the settings'
    broker count, and the ACLs that let each CaseTrail user do its part on them
    (``kafka_acls``); check the partition counts (and that no topic has fewer replicas than
    wanted) of those that exist. Signs in as the admin user unless a user is configured."""
    layout = topic_layout(settings)
    async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
        await create_acls(client, all_grants(settings))
        existing = set(await client.list_topics())
        missing = [
            NewTopic(name, count, replicas, topic_configs=config)
            for name, (count, replicas, config) in layout.items()
            if name not in existing
        ]
        if missing:
            await client.create_topics(missing)
            each = f" ({missing[0].replication_factor} replicas each)"
            say("topics: created " + ", ".join(t.name for t in missing) + each)
        present = [name for name in layout if name in existing]
        for description in await client.describe_topics(present) if present else []:
            name, partitions = description["topic"], description["partitions"]
            count, replicas, _ = layout[name]
            if len(partitions) != count:
                raise TopologyError(
                    f"topic {name} has {len(partitions)} partitions, settings say {count}"
                )
            fewest = min(len(p["replicas"]) for p in partitions)
            if fewest < replicas:
                raise TopologyError(
                    f"topic {name} has {fewest} replicas, {settings.kafka_brokers} brokers"
                    f" want {replicas}"
                )
        if present:
            say("topics: present " + ", ".join(present))


async def create_topic(settings: Settings, name: str, partitions: int) -> None:
    """One topic (a test's or a benchmark's baseline), replicated as ``replication`` says; only
    the admin user may use it."""
    replicas, config = replication(settings.kafka_brokers)
    async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
        await client.create_topics([NewTopic(name, partitions, replicas, topic_configs=config)])


async def delete_topics(settings: Settings) -> None:
    """Every topic with the settings' prefix (a test run's or a benchmark's), and its ACLs."""
    async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
        await delete_acls(client, all_grants(settings))
        prefix = settings.topic_prefix + "."
        doomed = [name for name in await client.list_topics() if name.startswith(prefix)]
        if doomed:
            await client.delete_topics(doomed)


async def kafka_ready(settings: Settings, brokers: int = 1) -> bool:
    """Whether the broker answers admin requests (it may accept connections before that) and
    the cluster has at least ``brokers`` brokers registered and unfenced."""
    try:
        async with admin(settings) as client:
            await client.list_topics()
            if brokers > 1:
                described = await client.describe_cluster()
                return len(described["brokers"]) >= brokers
        return True
    except Exception:
        return False
