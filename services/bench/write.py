"""``casetrail bench write``: the decider's throughput and latency, against raw aiokafka.

N submissions are published straight to Kafka, the decider (a separate process, as in
production) decides them, and every outcome is read back. The baseline is raw aiokafka moving
the same messages through the same broker: produce, then consume. The ratio says what
CaseTrail's guarantees cost: transactions, state, validation, hashing.
"""

import asyncio
import json
import statistics
import time
import uuid
from dataclasses import asdict
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.adapters.kafka import client_options, create_topic, create_topics, delete_topics
from services.bench.figures import figures
from services.bench.workload import submissions
from services.demo import demo_settings
from services.infra.processes import start_service, stop
from services.integrity.keyring import ensure_dev_keys
from services.progress import Say, quiet
from services.settings import KafkaRole, Settings


async def bench_write(
    base: Settings, count: int, per_case: int, lone: int, say: Say
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    settings = demo_settings(base.isolated(f"bench-{run}"))
    # Its GET /health on any free port: a demo's decider may hold the usual one.
    settings = settings.model_copy(update={"decider_health_port": 0})
    await create_topics(settings, quiet)
    baseline_topic = f"{settings.topic_prefix}.baseline"
    await create_topic(settings, baseline_topic, settings.partitions)
    ensure_dev_keys(settings.key_ring_path, settings.signing_key_path)
    decider = start_service("decider", settings, settings.state_dir / "logs" / "bench-decider.log")
    # Both sides sign in (SASL/SCRAM): CaseTrail's as a department, the baseline's as admin,
    # the only user allowed on its topic.
    department, admin = (settings.as_kafka_user(r) for r in (KafkaRole.DEPARTMENT, KafkaRole.ADMIN))
    into, out_of = settings.submissions_topic, settings.outcomes_topic
    try:
        warm_up = submissions(per_case, per_case, f"{run}w")
        await _round_trip(department, into, out_of, warm_up, True)
        say(f"decider ready; publishing {count} submissions")
        messages = submissions(count, per_case, run)
        bulk = figures(count, *await _round_trip(department, into, out_of, messages, False))
        say(f"casetrail: {bulk.per_second} submissions/s; now {lone} one at a time")
        singles = submissions(lone, 2, f"{run}l")
        single = figures(lone, *await _round_trip(department, into, out_of, singles, True))
    finally:
        stop(decider, timeout=30)
    say("baseline: raw aiokafka, the same messages through one topic")
    raw = baseline_topic
    raw_bulk = figures(count, *await _round_trip(admin, raw, raw, messages, False))
    raw_single = figures(lone, *await _round_trip(admin, raw, raw, singles, True))
    await delete_topics(settings)
    size = statistics.mean(len(value) for _, value in messages)
    return {
        "submissions": count,
        "per_case": per_case,
        "partitions": settings.partitions,
        "mean_message_bytes": round(size),
        "casetrail": {"bulk": asdict(bulk), "lone": asdict(single)},
        "baseline_aiokafka": {"bulk": asdict(raw_bulk), "lone": asdict(raw_single)},
        "throughput_ratio": round(bulk.per_second / raw_bulk.per_second, 3),
        "lone_p50_ratio": round(single.p50_ms / raw_single.p50_ms, 2),
    }


async def _round_trip(
    kafka: Settings,
    send_topic: str,
    receive_topic: str,
    messages: list[tuple[str, bytes]],
    lone: bool,
) -> tuple[float, list[float]]:
    """Send every message, read a reply for each; the seconds it took and each latency."""
    consumer = AIOKafkaConsumer(
        receive_topic,
        **client_options(kafka),
        isolation_level="read_committed",
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(
        **client_options(kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=0 if lone else 5,
    )
    await consumer.start()
    await producer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)  # fix the starting point before anything is sent
    sent: dict[str, float] = {}
    latencies: list[float] = []
    waiting = {_submission_id(value) for _, value in messages}

    async def receive(until: int) -> None:
        while len(latencies) < until:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    key = _submission_id(record.value or b"")
                    if key in waiting and key in sent:
                        waiting.discard(key)
                        latencies.append(now - sent[key])

    started = time.perf_counter()
    try:
        if lone:
            for count, (case_id, value) in enumerate(messages, start=1):
                sent[_submission_id(value)] = time.perf_counter()
                await producer.send_and_wait(send_topic, value, key=case_id.encode())
                await asyncio.wait_for(receive(count), 30)
        else:
            receiver = asyncio.create_task(receive(len(messages)))
            for case_id, value in messages:
                sent[_submission_id(value)] = time.perf_counter()
                await producer.send(send_topic, value, key=case_id.encode())
            await producer.flush()
            await asyncio.wait_for(receiver, 600)
    finally:
        await producer.stop()
        await consumer.stop()
    return time.perf_counter() - started, latencies


def _submission_id(value: bytes) -> str:
    return str(json.loads(value)["submission_id"])


def report(result: dict[str, Any]) -> str:
    ours, raw = result["casetrail"], result["baseline_aiokafka"]
    lines = [
        f"{result['submissions']} submissions ({result['per_case']} per case, "
        f"{result['partitions']} partitions, {result['mean_message_bytes']} bytes each)",
        f"{'':<22}{'per second':>12}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    for name, row in (
        ("casetrail, bulk", ours["bulk"]),
        ("aiokafka, bulk", raw["bulk"]),
        ("casetrail, one by one", ours["lone"]),
        ("aiokafka, one by one", raw["lone"]),
    ):
        lines.append(f"{name:<22}{row['per_second']:>12}{row['p50_ms']:>10}{row['p99_ms']:>10}")
    lines.append(
        f"throughput ratio casetrail/aiokafka: {result['throughput_ratio']}; "
        f"lone p50 ratio: {result['lone_p50_ratio']}"
    )
    return "\n".join(lines)
