"""Hostile records on the submissions topic (any Kafka client can write them): each gets an
answer, a rejected outcome or a dead letter, and the submissions behind them are still decided
by a decider that stays alive (DESIGN.md, guarantee 1; rule 5 of the house)."""

import asyncio
import json
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from events.model import Outcome
from services.adapters.kafka import client_options
from services.bench.workload import submissions
from services.settings import KafkaRole, Settings
from tests.support import Service, all_outcomes, casetrail, dead_letters, signed_messages

DEEP = 200_000


def attributable(body: bytes) -> tuple[str, bytes]:
    """A record with a readable submission_id and case_id around ``body``: it is answered on
    the outcomes topic (rejected), not dead-lettered."""
    submission_id, case_id = str(uuid.uuid4()), f"HOSTILE-{uuid.uuid4().hex[:8]}"
    head = f'{{"submission_id": "{submission_id}", "case_id": "{case_id}", "payload": '
    return submission_id, head.encode() + body + b"}"


def hostile() -> tuple[list[tuple[str, bytes | None, bytes | None]], dict[str, bytes]]:
    """(what, key, value) of records no decider can accept, and, for those it can answer, the
    submission_id each must be rejected under."""
    near_limit = b'"' + b"x" * 1_000_000 + b'"'
    unattributed: list[tuple[str, bytes | None, bytes | None]] = [
        ("deep nesting", b"HOSTILE-1", b"[" * DEEP),
        ("deep nesting, closed", b"HOSTILE-1", b"[" * 5000 + b"]" * 5000),
        ("invalid UTF-8", b"HOSTILE-1", b'{"type": "\xff\xfe\xc3\x28"}'),
        ("NUL bytes", b"HOSTILE-1", b"\x00" * 64),
        ("a string near Kafka's size limit", b"HOSTILE-1", near_limit),
        ("a number beyond any integer", b"HOSTILE-1", b"9" * 100_000),
        ("a huge exponent", b"HOSTILE-1", b'{"submission_id": 1e999999}'),
        ("a JSON array", b"HOSTILE-1", b'[{"submission_id": "x"}]'),
        ("an empty record", b"HOSTILE-1", b""),
        ("no value at all", b"HOSTILE-1", None),
        ("no key", None, b"not json"),
        ("a case_id of a megabyte", b"HOSTILE-1", b'{"case_id": "' + b"C" * 900_000 + b'"}'),
    ]
    answered = {}
    for what, body in [
        ("attributable, deep nesting", b"[" * 500 + b"]" * 500),
        ("attributable, a number beyond any integer", b"9" * 5000),
        ("attributable, NUL in a string", b'"\\u0000"'),
        ("attributable, near the size limit", b'"' + b"y" * 900_000 + b'"'),
    ]:
        submission_id, value = attributable(body)
        case_id = json.loads(value[: value.index(b', "payload"')] + b"}")["case_id"]
        unattributed.append((what, case_id.encode(), value))
        answered[what] = submission_id.encode()
    return unattributed, answered


async def test_hostile_records_get_answers_and_never_stop_the_decider(
    log: Settings,
    tmp_path: Path,
) -> None:
    records, answered = hostile()
    valid = signed_messages(log, submissions(300, 3, uuid.uuid4().hex[:6]))
    producer = AIOKafkaProducer(
        **client_options(log.as_kafka_user(KafkaRole.DEPARTMENT)),
        acks="all",
        enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )
    insider = AIOKafkaProducer(**client_options(log.as_kafka_user(KafkaRole.ADMIN)))
    await producer.start()
    decider = Service("decider", log, tmp_path)
    placed: dict[str, tuple[int, int]] = {}
    try:
        # Junk where only the decider writes (an insider with the admin password could), read
        # when it takes the partitions over.
        await insider.start()
        try:
            for topic in (log.outcomes_topic, log.checkpoints_topic):
                for junk in (b"[" * DEEP, b"\xff", b'{"count": -1}'):
                    await insider.send_and_wait(topic, junk, partition=0)
        finally:
            await insider.stop()
        decider.start()
        # Hostile records in the middle of a valid stream, on every partition.
        for case_id, value in valid[:150]:
            await producer.send(log.submissions_topic, value, key=case_id.encode())
        for what, key, hostile_value in records:
            for partition in range(log.partitions):
                sent = await producer.send_and_wait(
                    log.submissions_topic, hostile_value, key=key, partition=partition
                )
                placed[f"{what} #{partition}"] = (sent.partition, sent.offset)
        for case_id, value in valid[150:]:
            await producer.send(log.submissions_topic, value, key=case_id.encode())
        await producer.flush()
        published = time.monotonic()
    finally:
        await producer.stop()

    expected = {json.loads(value)["submission_id"] for _, value in valid}
    expected |= {submission_id.decode() for submission_id in answered.values()}
    outcomes = await all_outcomes(log, expected, seconds=120)
    decided_after = time.monotonic() - published
    print(f"\nall {len(expected)} answered {decided_after:.1f} s after the last record was sent")
    decider.check_alive()

    by_id: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_id.setdefault(str(outcome.submission_id), []).append(outcome)
    for _, value in valid:
        (outcome,) = by_id[json.loads(value)["submission_id"]]
        assert outcome.status == "accepted", outcome
    for what, submission_id in answered.items():
        answers = by_id[submission_id.decode()]
        assert [a.code for a in answers] == ["invalid_payload"] * log.partitions, what
        assert all(len(a.message) <= 2000 for a in answers), what

    dead = {
        (int(headers["casetrail.partition"]), int(headers["casetrail.offset"])): (value, headers)
        for value, headers in await dead_letters(log)
    }
    for what, _, hostile_value in records:
        if what.startswith("attributable"):
            continue
        for partition in range(log.partitions):
            letter = dead.get(placed[f"{what} #{partition}"])
            assert letter is not None, f"{what} on partition {partition}: no dead letter"
            assert letter[0] == (hostile_value or b""), f"{what}: the raw bytes are kept exactly"
            assert letter[1]["casetrail.error"], what
    await asyncio.to_thread(decider.stop)

    verified = casetrail(log, "verify", "--log-only", "--json")
    problems = [(p["kind"], p["where"]) for p in json.loads(verified.stdout)["problems"]]
    assert sorted(problems) == sorted(
        [("unreadable_outcome", f"outcomes p0@{offset}") for offset in range(3)]
        + [("unreadable_checkpoint", f"checkpoints p0@{offset}") for offset in range(3)]
    )
