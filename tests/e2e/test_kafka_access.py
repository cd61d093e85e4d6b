"""Kafka itself keeps the promise "only the decider writes history": every client signs in
(SASL/SCRAM-SHA-512) and ACLs allow each user only its part. Tried against the real broker,
with the users 'casetrail infra up' made and one registered like a department's publisher."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
)
from pydantic import SecretStr

from services.adapters.kafka import admin, client_options
from services.settings import KafkaRole, Settings
from tests.support import casetrail

HISTORY = ("events", "outcomes", "checkpoints", "deadletter")


def topic(settings: Settings, name: str) -> str:
    return f"{settings.topic_prefix}.{name}"


async def send(settings: Settings, to: str, **options: object) -> None:
    """One record to ``to``, signed in as the settings' user; raises what Kafka answers."""
    producer = AIOKafkaProducer(**client_options(settings), request_timeout_ms=10_000, **options)
    await producer.start()
    try:
        await producer.send_and_wait(to, b'{"forged": true}', key=b"PT-2020-000001", partition=0)
    finally:
        await producer.stop()


async def may_read(settings: Settings, name: str) -> bool:
    """Whether the settings' user may read partition 0 of ``name``: a topic the user may not
    even see has no metadata for it; one it may write but not read refuses the fetch."""
    async with admin(settings) as client:
        (described,) = await client.describe_topics([name])
    if described["error_code"] == TopicAuthorizationFailedError.errno:
        return False
    consumer = AIOKafkaConsumer(**client_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(name, 0)])
        async with asyncio.timeout(5):
            await consumer.getone()
    except TopicAuthorizationFailedError:
        return False
    except TimeoutError:
        pass  # nothing to read yet, and no refusal
    finally:
        await consumer.stop()
    return True


@pytest.mark.parametrize(
    "role",
    [
        KafkaRole.GATEWAY,
        KafkaRole.DEPARTMENT,
        KafkaRole.PROJECTOR,
        KafkaRole.QUERY,
        KafkaRole.AUDITOR,
    ],
)
@pytest.mark.parametrize("name", HISTORY)
async def test_nobody_but_the_decider_writes_history(
    servers: Settings, role: KafkaRole, name: str
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await send(servers.as_kafka_user(role), topic(servers, name))


@pytest.mark.parametrize("role", [KafkaRole.GATEWAY, KafkaRole.DEPARTMENT])
async def test_publishers_write_submissions_and_read_outcomes_only(
    servers: Settings, role: KafkaRole
) -> None:
    publisher = servers.as_kafka_user(role)
    await send(publisher, topic(servers, "submissions"))  # allowed: the decider answers it
    assert await may_read(publisher, topic(servers, "outcomes"))
    for name in ("events", "checkpoints", "submissions", "decider-snapshots"):
        assert not await may_read(publisher, topic(servers, name)), name


@pytest.mark.parametrize(
    "role", [KafkaRole.PROJECTOR, KafkaRole.QUERY, KafkaRole.AUDITOR, KafkaRole.GATEWAY]
)
async def test_only_the_decider_reads_and_writes_its_snapshots(
    servers: Settings, role: KafkaRole
) -> None:
    """A snapshot is what a take-over trusts: nobody else may write one, and it holds the
    outcomes of every submission, which no reader of the projections needs."""
    name = topic(servers, "decider-snapshots")
    assert not await may_read(servers.as_kafka_user(role), name)
    with pytest.raises(TopicAuthorizationFailedError):
        await send(servers.as_kafka_user(role), name)
    assert await may_read(servers.as_kafka_user(KafkaRole.DECIDER), name)


async def test_no_one_else_uses_the_decider_s_transactional_ids(servers: Settings) -> None:
    """Taking a decider's transactional id would fence the decider of that partition."""
    with pytest.raises(TransactionalIdAuthorizationFailed):
        await send(
            servers.as_kafka_user(KafkaRole.DEPARTMENT),
            topic(servers, "submissions"),
            transactional_id=f"{servers.decider_group}.p0",
        )


async def test_a_wrong_password_or_no_sign_in_is_refused(servers: Settings) -> None:
    wrong = servers.model_copy(
        update={"kafka_user": "decider", "kafka_password": SecretStr("not-the-password")}
    )
    with pytest.raises(KafkaConnectionError):
        await send(wrong, topic(servers, "events"))
    plaintext = AIOKafkaProducer(bootstrap_servers=servers.kafka_servers, request_timeout_ms=3000)
    with pytest.raises(KafkaError):
        async with asyncio.timeout(20):
            await plaintext.start()  # no SASL handshake: the broker closes the connection
    await plaintext.stop()


async def test_a_registered_department_publisher_may_submit_and_nothing_more(
    servers: Settings, tmp_path: object
) -> None:
    name = f"dept-{uuid.uuid4().hex[:6]}"
    made = casetrail(servers, "infra", "kafka-user", name, "--role", "department")
    assert made.returncode == 0, made.stdout + made.stderr
    password = made.stdout.rsplit(":", 1)[1].strip()
    publisher = servers.model_copy(
        update={"kafka_user": name, "kafka_password": SecretStr(password)}
    )
    await send(publisher, topic(servers, "submissions"))
    assert not await may_read(publisher, topic(servers, "events"))
    for name_ in HISTORY:
        with pytest.raises(TopicAuthorizationFailedError):
            await send(publisher, topic(servers, name_))
