"""Any Kafka client may publish (DESIGN.md, Topics): a department's librdkafka-based client
(confluent-kafka), with its default partitioner (CRC32 of the key, where Kafka's is murmur2),
publishes every step of many cases and re-sends some. The decider forwards each submission that
arrives on another partition than its case's to that partition, in the transaction that
consumes it: each is decided there exactly once, in the order sent, none refused for where it
arrived, and the department reads every outcome with the same client."""

import asyncio
import json
import uuid
import zlib
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka import TopicPartition as AioTopicPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from events.model import Event, Outcome
from services.adapters.kafka import client_options, partitioner, read_to_end
from services.decider.runtime import FORWARDED_FROM
from services.integrity.signing import DepartmentSigners
from services.settings import KafkaRole, Settings
from tests.e2e.test_petition_flow import accept_body, events_of, register_body
from tests.support import Service, all_outcomes, casetrail, whole_topic

CASES = 40


def librdkafka_config(settings: Settings, user: str, password: str) -> dict[str, Any]:
    """What a department writes into its confluent-kafka configuration: no partitioner."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "security.protocol": "SASL_SSL" if settings.kafka_tls else "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
    }
    if settings.kafka_tls:
        config["ssl.ca.location"] = str(settings.kafka_ca_path)
    return config


def publish(config: dict[str, Any], topic: str, records: list[tuple[str, bytes]]) -> list[Any]:
    """Each record, keyed by its case, in order; the (partition, offset) Kafka gave each."""
    producer = Producer({**config, "enable.idempotence": True, "acks": "all"})
    placed: list[Any] = [None] * len(records)

    def delivered(number: int) -> Any:
        def report(error: Any, message: Message) -> None:
            placed[number] = error or (message.partition(), message.offset())

        return report

    # One header with a value and one without: both must reach the decider that decides it.
    headers: list[tuple[str, str | bytes | None]] = [
        ("department-trace", b"run-7"),
        ("empty", None),
    ]
    for number, (case_id, value) in enumerate(records):
        producer.produce(topic, value, key=case_id, headers=headers, on_delivery=delivered(number))
        producer.poll(0)
    assert producer.flush(60) == 0
    return placed


def read_outcomes(config: dict[str, Any], topic: str, count: int, wanted: set[str]) -> list[bytes]:
    """Every outcome on every partition (as the AsyncAPI document says to read them), until
    each of ``wanted`` has one."""
    consumer = Consumer(
        {
            **config,
            "group.id": f"unused-{uuid.uuid4().hex[:6]}",  # assigned, never joined
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(count)])
    values: list[bytes] = []
    seen: set[str] = set()
    try:
        for _ in range(900):
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                if seen >= wanted:
                    return values
                continue
            value = message.value() or b""
            values.append(value)
            seen.add(json.loads(value)["submission_id"])
        raise AssertionError(f"{len(wanted - seen)} submissions without an outcome")
    finally:
        consumer.close()


async def test_a_librdkafka_client_with_its_default_partitioner_gets_every_step_decided_once(
    services: dict[str, Service], settings: Settings
) -> None:
    name = f"dept-rd-{uuid.uuid4().hex[:6]}"
    made = casetrail(settings, "infra", "kafka-user", name, "--role", "department")
    assert made.returncode == 0, made.stdout + made.stderr
    config = librdkafka_config(settings, name, made.stdout.rsplit(":", 1)[1].strip())

    signers = DepartmentSigners.load(settings)
    run = uuid.uuid4().hex[:6]
    records: list[tuple[str, bytes]] = []
    for n in range(CASES):
        case_id = f"XF-RD-{run}-{n}"
        register, accept = (signers.sign(b(case_id)) for b in (register_body, accept_body))
        steps = [register, accept] + ([register, accept] if n % 2 else [])  # re-sent
        records += [(case_id, json.dumps(s, ensure_ascii=False).encode()) for s in steps]
    placed = await asyncio.to_thread(publish, config, settings.submissions_topic, records)

    count, home = settings.partitions, partitioner(settings.partitions)
    assert [p for p, _ in placed] == [zlib.crc32(c.encode()) % count for c, _ in records]
    misplaced = [(r, at) for r, at in zip(records, placed, strict=True) if home(r[0]) != at[0]]
    assert len({case_id for (case_id, _), _ in misplaced}) >= CASES // 3, "CRC32 is not murmur2"

    wanted = {json.loads(value)["submission_id"] for _, value in records}
    values = await asyncio.to_thread(read_outcomes, config, settings.outcomes_topic, count, wanted)
    outcomes = [Outcome.model_validate_json(v) for v in values]
    ours = [o for o in outcomes if str(o.submission_id) in wanted]
    answers: dict[str, set[Outcome]] = {}
    for outcome in ours:
        answers.setdefault(str(outcome.submission_id), set()).add(outcome)
    assert [o for o in ours if o.status != "accepted"] == [], "none refused, for its partition"
    assert [s for s, a in answers.items() if len(a) != 1] == [], "a re-send: the same answer"
    assert len(answers) == 2 * CASES

    # Each step exactly once, in the order sent, on its case's partition.
    events = [
        (p, Event.model_validate_json(v))
        for p, _, v in await whole_topic(settings, settings.events_topic)
    ]
    history: dict[str, list[tuple[int, int, str]]] = {}
    for partition, event in events:
        if event.case_id.startswith(f"XF-RD-{run}-"):
            history.setdefault(event.case_id, []).append((partition, event.version, event.type))
    assert len(history) == CASES
    for case_id, written in history.items():
        where = home(case_id)
        assert written == [(where, 1, "petition.registered"), (where, 2, "petition.accepted")]
    ids = Counter(str(e.submission_id) for _, e in events if str(e.submission_id) in wanted)
    assert set(ids.values()) == {1}

    # Each misplaced record, forwarded once per time it was sent: its bytes, key = case_id, its
    # headers and where it arrived.
    admin = settings.as_kafka_user(KafkaRole.ADMIN)
    tps = [AioTopicPartition(settings.submissions_topic, p) for p in range(count)]
    forwarded = [r async for r in read_to_end(admin, tps) if FORWARDED_FROM in dict(r.headers)]
    copies = {dict(r.headers)[FORWARDED_FROM]: r for r in forwarded}
    for (case_id, value), (partition, offset) in misplaced:
        arrived = f"{partition}@{offset}".encode()
        copy = copies[arrived]
        assert (copy.partition, copy.key, copy.value) == (home(case_id), case_id.encode(), value)
        assert list(copy.headers) == [
            ("department-trace", b"run-7"),
            ("empty", None),
            (FORWARDED_FROM, arrived),
        ]
    print(
        f"\n{len(records)} records of {CASES} cases, {len(misplaced)} forwarded, all decided once"
    )
    sent = {value for _, value in records}
    assert len([r for r in forwarded if r.value in sent]) == len(misplaced), "forwarded once"


async def answers_to(settings: Settings, submission_id: str) -> list[Outcome]:
    outcomes = await all_outcomes(settings, {submission_id}, seconds=60)
    return [o for o in outcomes if str(o.submission_id) == submission_id]


async def test_a_record_forwarded_once_is_never_forwarded_again(
    services: dict[str, Service], settings: Settings
) -> None:
    """Deciders that disagree on the partition count would pass a record back and forth: one
    that says it was forwarded already and still arrives on another partition than its case's
    is rejected there (``wrong_partition``), and the step can be sent again."""
    signers = DepartmentSigners.load(settings)
    case_id = f"XF-RD-{uuid.uuid4().hex[:6]}"
    step = signers.sign(register_body(case_id))
    home = partitioner(settings.partitions)(case_id)
    value = json.dumps(step, ensure_ascii=False).encode()
    producer = AIOKafkaProducer(
        **client_options(settings.as_kafka_user(KafkaRole.DEPARTMENT)), acks="all"
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.submissions_topic,
            value,
            key=case_id.encode(),
            partition=(home + 1) % settings.partitions,
            headers=[(FORWARDED_FROM, f"{home}@0".encode())],
        )
        (refused,) = await answers_to(settings, step["submission_id"])
        assert (refused.status, refused.code) == ("rejected", "wrong_partition")
        assert f"belongs on partition {home}" in refused.message
        # Not remembered: the same step sent again (placed by murmur2 this time) is decided.
        await producer.send_and_wait(settings.submissions_topic, value, key=case_id.encode())
    finally:
        await producer.stop()
    for _ in range(60):
        answers = await answers_to(settings, step["submission_id"])
        if len(answers) == 2:
            break
        await asyncio.sleep(0.5)
    assert sorted((o.status, o.version) for o in answers) == [("accepted", 1), ("rejected", 0)]
    assert len(await events_of(settings, case_id)) == 1
