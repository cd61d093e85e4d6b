"""The decider's case store on the real broker and database: it copies the snapshot records
committed on the topic, key by key in offset order, never lets an older record replace a newer
one, finds a case by a submission_id of it, and starts again when the topic was made anew."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from events.model import Outcome
from services.adapters.case_store import PgCaseStore, open_case_store
from services.adapters.kafka import client_options, create_topics, delete_topics
from services.decider.snapshot import HEAD_KEY, LAYOUT, CaseRecord, OutcomeChunk, chunk_key
from services.settings import KafkaRole, Settings
from tests.support import own_topics


@pytest.fixture
async def own(servers: Settings) -> AsyncIterator[Settings]:
    async with own_topics(servers, "casestore", partitions=1) as settings:
        yield settings.as_kafka_user(KafkaRole.DECIDER)


async def write(settings: Settings, records: list[tuple[bytes, bytes | None]]) -> list[int]:
    """Snapshot records as the decider writes them (here as the admin, without a transaction)."""
    producer = AIOKafkaProducer(
        **client_options(settings.model_copy(update={"kafka_user": "admin"}))
    )
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(settings.snapshots_topic, value, key=key, partition=0)
            for key, value in records
        ]
    finally:
        await producer.stop()
    return [metadata.offset for metadata in sent]


def case(version: int) -> bytes:
    return CaseRecord(state=None, outcomes=version).model_dump_json().encode()


def chunk(case_id: str, submission_ids: list[uuid.UUID]) -> bytes:
    outcomes = tuple(
        Outcome(
            submission_id=s,
            case_id=case_id,
            status="accepted",
            version=n + 1,
            decided_at=datetime(2020, 6, 1, tzinfo=UTC),
        )
        for n, s in enumerate(submission_ids)
    )
    return OutcomeChunk(outcomes=outcomes).model_dump_json().encode()


async def test_the_copy_follows_the_topic_key_by_key(own: Settings) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    await write(
        own,
        [
            (b"CS-A", case(1)),
            (chunk_key("CS-A", 0), chunk("CS-A", [first])),
            (b"CS-B", case(1)),
            (HEAD_KEY, b'{"head": 1}'),
            (b"CS-B", None),  # a tombstone: CS-B is gone
            (b"CS-A", case(2)),
            (chunk_key("CS-A", 0), chunk("CS-A", [first, second])),
            (HEAD_KEY, b'{"head": 2}'),
        ],
    )
    async with open_case_store(own, LAYOUT) as store:
        assert await store.catch_up(own, 0) == 8
        assert await store.catch_up(own, 0) == 0  # nothing new
        head = await store.head(0)
        assert (head.value, head.cases) == (b'{"head": 2}', 1)

        latest = dict(await store.cases(0, ["CS-A", "CS-B"], []))
        assert latest == {b"CS-A": case(2), chunk_key("CS-A", 0): chunk("CS-A", [first, second])}
        # By a submission_id alone (a re-send naming another case): its case, whole.
        assert dict(await store.cases(0, [], [second])) == latest
        assert await store.cases(0, ["CS-B", "CS-NEW"], [uuid.uuid4()]) == []

        # A decider fenced meanwhile, still copying what it read earlier: never replaces the
        # newer record.
        await store._copy(0, [(b"CS-A", case(1), 0)])
        assert dict(await store.cases(0, ["CS-A"], []))[b"CS-A"] == case(2)


async def test_a_topic_made_again_is_copied_from_its_beginning(own: Settings) -> None:
    await write(own, [(b"CS-OLD", case(1)), (b"CS-OLD", case(2)), (HEAD_KEY, b'{"old": 1}')])
    async with open_case_store(own, LAYOUT) as store:
        await store.catch_up(own, 0)
        await delete_topics(own.model_copy(update={"kafka_user": "admin"}))
        await create_topics(own.model_copy(update={"kafka_user": "admin"}), lambda _: None)
        await write(own, [(b"CS-NEW", case(1))])
        assert await store.catch_up(own, 0) == 1
        assert (await store.head(0)).value is None
        assert await store.cases(0, ["CS-OLD"], []) == []
        assert dict(await store.cases(0, ["CS-NEW"], [])) == {b"CS-NEW": case(1)}


async def test_forget_drops_the_partition_copy_only(own: Settings) -> None:
    await write(own, [(b"CS-A", case(1))])
    async with open_case_store(own, LAYOUT) as store:
        other = PgCaseStore(store.pool, f"{own.snapshots_topic}-other", LAYOUT)
        await store.catch_up(own, 0)
        await other._copy(0, [(b"CS-A", case(7), 0)])
        await store.forget(0)
        assert await store.cases(0, ["CS-A"], []) == []
        assert dict(await other.cases(0, ["CS-A"], [])) == {b"CS-A": case(7)}
        await other.forget(0)
        assert await store.catch_up(own, 0) == 1  # copied again from the topic
