"""SASL_SSL: with CASETRAIL_KAFKA_TLS the local broker listens with TLS (a development CA made by
'casetrail infra up'), and CaseTrail's clients sign in over it. Tried once against a broker of
its own."""

import asyncio
import ssl
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from services.adapters.kafka import client_options, read_to_end
from services.infra.kafka_secrets import ensure_passwords
from services.infra.kafka_server import signs_in
from services.infra.servers import InfraError
from services.settings import KafkaRole, Settings
from tests.faults.own_kafka import own_kafka


def test_clients_sign_in_over_tls_and_nothing_else_gets_in(servers: Settings) -> None:
    with own_kafka(servers, tls=True) as (settings, _):
        assert settings.kafka_ca_path.exists()
        asyncio.run(_over_tls(settings))


async def _over_tls(settings: Settings) -> None:
    department = settings.as_kafka_user(KafkaRole.DEPARTMENT)
    options = client_options(department)
    assert options["security_protocol"] == "SASL_SSL"
    producer = AIOKafkaProducer(**options, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(settings.submissions_topic, b"{}", key=b"k")
    finally:
        await producer.stop()
    # Read back, over TLS too, as the decider (the only reader of submissions).
    decider = settings.as_kafka_user(KafkaRole.DECIDER)
    tp = TopicPartition(settings.submissions_topic, sent.partition)
    values = [record.value async for record in read_to_end(decider, [tp])]
    assert values == [b"{}"]

    # Without TLS the broker's listener does not answer a SASL handshake in the clear …
    cleartext = {**options, "security_protocol": "SASL_PLAINTEXT"}
    del cleartext["ssl_context"]
    await _refused(AIOKafkaConsumer(**cleartext, request_timeout_ms=5000))
    # … and a client that does not trust the development CA refuses the broker.
    untrusting = {**options, "ssl_context": ssl.create_default_context()}
    await _refused(AIOKafkaConsumer(**untrusting, request_timeout_ms=5000))


async def _refused(consumer: AIOKafkaConsumer) -> None:
    with pytest.raises(KafkaConnectionError):
        async with asyncio.timeout(30):
            await consumer.start()
    await consumer.stop()


def test_a_broker_that_does_not_take_our_admin_password_is_named(
    servers: Settings, tmp_path: Path
) -> None:
    """'infra up' finding another broker (or one of another state directory) answering says so
    at once, rather than leaving every client to fail to sign in later."""
    with own_kafka(servers) as (settings, _):
        signs_in(settings.as_kafka_user(KafkaRole.ADMIN), seconds=10)  # its own: fine
        stranger = settings.model_copy(update={"state_dir": tmp_path, "kafka_user": "admin"})
        ensure_passwords(stranger)  # other passwords
        with pytest.raises(InfraError, match="does not let the admin user"):
            signs_in(stranger, seconds=2)
