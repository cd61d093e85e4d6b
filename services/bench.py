"""Benchmarks against the real broker, each with a baseline measured in the same run.

``casetrail bench write``: N submissions published straight to Kafka, the decider (a separate
process, as in production) decides them, and every outcome is read back. The baseline is raw
aiokafka moving the same messages through the same broker: produce, then consume. The ratio says
what CaseTrail's guarantees cost: transactions, state, validation, hashing.
"""

import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.checkpoints import ensure_dev_key
from services.cli import infra
from services.settings import Settings

ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}


@dataclass(frozen=True)
class Figures:
    messages: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float


def _figures(count: int, seconds: float, latencies: list[float]) -> Figures:
    ordered = sorted(latencies)
    return Figures(
        messages=count,
        seconds=round(seconds, 3),
        per_second=round(count / seconds, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    )


def submissions(count: int, per_case: int, run: str) -> list[tuple[str, bytes]]:
    """(case_id, JSON) for ``count`` submissions: each case is registered, accepted, then
    handled again and again, so that cases grow long histories as real ones do."""
    out: list[tuple[str, bytes]] = []
    case = 0
    while len(out) < count:
        case_id = f"BENCH-{run}-{case:06d}"
        for index in range(min(per_case, count - len(out))):
            kind, payload = (
                ("petition.register", {"channel": "visit", "persons": 2, "summary": "基准测试"})
                if index == 0
                else ("petition.accept", {"note": "受理"})
                if index == 1
                else ("petition.handle", {"record": f"第{index - 1}次办理：走访核实情况"})
            )
            body = {
                "type": kind,
                "submission_id": str(uuid.uuid4()),
                "case_id": case_id,
                "actor": ACTOR,
                "occurred_at": "2020-06-01T09:00:00+08:00",
                "payload": payload,
            }
            out.append((case_id, json.dumps(body, ensure_ascii=False).encode()))
        case += 1
    return out


async def _round_trip(
    bootstrap: str,
    send_topic: str,
    receive_topic: str,
    messages: list[tuple[str, bytes]],
    key_of_reply: Callable[[bytes], str],
    key_of_message: Callable[[bytes], str],
    lone: bool,
) -> tuple[float, list[float]]:
    """Send every message, read a reply for each; the seconds it took and each latency."""
    consumer = AIOKafkaConsumer(
        receive_topic,
        bootstrap_servers=bootstrap,
        isolation_level="read_committed",
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0 if lone else 5)
    await consumer.start()
    await producer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)  # fix the starting point before anything is sent
    sent: dict[str, float] = {}
    latencies: list[float] = []
    waiting = {key_of_message(value) for _, value in messages}

    async def receive(until: int) -> None:
        while len(latencies) < until:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    key = key_of_reply(record.value or b"")
                    if key in waiting and key in sent:
                        waiting.discard(key)
                        latencies.append(now - sent[key])

    started = time.perf_counter()
    try:
        if lone:
            for count, (case_id, value) in enumerate(messages, start=1):
                sent[key_of_message(value)] = time.perf_counter()
                await producer.send_and_wait(send_topic, value, key=case_id.encode())
                await asyncio.wait_for(receive(count), 30)
        else:
            receiver = asyncio.create_task(receive(len(messages)))
            for case_id, value in messages:
                sent[key_of_message(value)] = time.perf_counter()
                await producer.send(send_topic, value, key=case_id.encode())
            await producer.flush()
            await asyncio.wait_for(receiver, 600)
    finally:
        await producer.stop()
        await consumer.stop()
    return time.perf_counter() - started, latencies


def _submission_id(value: bytes) -> str:
    return str(json.loads(value)["submission_id"])


async def bench_write(
    base: Settings, count: int, per_case: int, lone: int, say: Callable[[str], None]
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    settings = base.model_copy(update={"topic_prefix": f"bench-{run}"})
    await infra.create_topics(settings, lambda _: None)
    await _create_baseline_topic(settings)
    ensure_dev_key(settings.signing_key_path)
    decider = _start_decider(settings)
    try:
        warm = submissions(per_case, per_case, f"{run}w")
        await _round_trip(
            settings.kafka_bootstrap, settings.submissions_topic, settings.outcomes_topic,
            warm, _submission_id, _submission_id, lone=True,
        )  # fmt: skip
        say(f"decider ready; publishing {count} submissions")
        messages = submissions(count, per_case, run)
        bulk = _figures(count, *await _round_trip(
            settings.kafka_bootstrap, settings.submissions_topic, settings.outcomes_topic,
            messages, _submission_id, _submission_id, lone=False,
        ))  # fmt: skip
        say(f"casetrail: {bulk.per_second} submissions/s; now {lone} one at a time")
        singles = submissions(lone, 2, f"{run}l")
        single = _figures(lone, *await _round_trip(
            settings.kafka_bootstrap, settings.submissions_topic, settings.outcomes_topic,
            singles, _submission_id, _submission_id, lone=True,
        ))  # fmt: skip
    finally:
        decider.terminate()
        decider.wait(timeout=30)
    say("baseline: raw aiokafka, the same messages through one topic")
    baseline_topic = f"{settings.topic_prefix}.baseline"
    raw_bulk = _figures(count, *await _round_trip(
        settings.kafka_bootstrap, baseline_topic, baseline_topic,
        messages, _submission_id, _submission_id, lone=False,
    ))  # fmt: skip
    raw_single = _figures(lone, *await _round_trip(
        settings.kafka_bootstrap, baseline_topic, baseline_topic,
        singles, _submission_id, _submission_id, lone=True,
    ))  # fmt: skip
    await infra.delete_topics(settings)
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


async def _create_baseline_topic(settings: Settings) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(f"{settings.topic_prefix}.baseline", settings.partitions, 1)]
        )
    finally:
        await admin.close()


def _start_decider(settings: Settings) -> subprocess.Popen[bytes]:
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        "CASETRAIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CASETRAIL_TOPIC_PREFIX": settings.topic_prefix,
        "CASETRAIL_PARTITIONS": str(settings.partitions),
        "CASETRAIL_STATE_DIR": str(settings.state_dir),
        "CASETRAIL_SIGNING_KEY_FILE": str(settings.signing_key_path),
    }
    import os

    with open(Path(logs) / "bench-decider.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "decider"],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def report(result: dict[str, Any]) -> str:
    ours, raw = result["casetrail"], result["baseline_aiokafka"]
    lines = [
        f"{result['submissions']} submissions ({result['per_case']} per case, "
        f"{result['partitions']} partitions, {result['mean_message_bytes']} bytes each)",
        f"{'':<22}{'per second':>12}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    for name, figures in (
        ("casetrail, bulk", ours["bulk"]),
        ("aiokafka, bulk", raw["bulk"]),
        ("casetrail, one by one", ours["lone"]),
        ("aiokafka, one by one", raw["lone"]),
    ):
        lines.append(
            f"{name:<22}{figures['per_second']:>12}{figures['p50_ms']:>10}{figures['p99_ms']:>10}"
        )
    lines.append(
        f"throughput ratio casetrail/aiokafka: {result['throughput_ratio']}; "
        f"lone p50 ratio: {result['lone_p50_ratio']}"
    )
    return "\n".join(lines)


# --- rebuild -----------------------------------------------------------------------------------


async def bench_rebuild(
    base: Settings, events: int, cases: int, say: Callable[[str], None], queries: int = 0
) -> dict[str, Any]:
    """A log of ``events`` events over ``cases`` cases, rebuilt into each projection; the
    baseline is asyncpg COPY writing the audit trail's rows straight into a bare table."""
    import asyncpg
    from aiokafka.partitioner import DefaultPartitioner

    from projections.catalog import PROJECTIONS
    from services import readpath
    from services.decider.partition import PartitionState
    from services.officers import load_officers

    run = uuid.uuid4().hex[:8]
    database = f"casetrail_bench_{run}"
    settings = base.model_copy(
        update={
            "topic_prefix": f"bench-{run}",
            "postgres_dsn": base.postgres_dsn.rsplit("/", 1)[0] + f"/{database}",
        }
    )
    admin = await asyncpg.connect(base.postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{database}"')
    await infra.create_topics(settings, lambda _: None)
    try:
        say(f"writing a log of {events} events over {cases} cases")
        state = PartitionState(load_officers(None))
        partitioner = DefaultPartitioner()
        numbers = list(range(settings.partitions))
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, linger_ms=20, max_batch_size=1 << 20
        )
        await producer.start()
        rows: list[tuple[Any, ...]] = []
        try:
            for index, (case_id, value) in enumerate(
                submissions(events, max(2, events // cases), run)
            ):
                for event in state.decide_record(value, datetime(2020, 12, 31, tzinfo=UTC)).events:
                    raw = event.model_dump_json().encode()
                    partition = partitioner(case_id.encode(), numbers, numbers)
                    await producer.send(settings.events_topic, raw, key=case_id.encode(),
                                        partition=partition)  # fmt: skip
                    rows.append(_audit_row(event, partition, index))
                state.commit()
                if index % 100_000 == 0 and index:
                    say(f"  {index} events written")
            await producer.flush()
        finally:
            await producer.stop()
        results: dict[str, Any] = {}
        for name in PROJECTIONS:
            started = time.perf_counter()
            await readpath.rebuild(settings, name, lambda _: None, batch_size=10_000)
            seconds = time.perf_counter() - started
            results[name] = {
                "seconds": round(seconds, 1),
                "events_per_second": round(events / seconds),
            }
            say(f"{name}: {results[name]['events_per_second']} events/s")
        latency = await _query_latency(settings, run, cases, queries, say) if queries else None
        baseline = await _copy_baseline(settings.postgres_dsn, rows)
        say(f"baseline asyncpg COPY of the audit rows: {baseline} rows/s")
        return {
            "query_latency_ms": latency,
            "events": events,
            "cases": cases,
            "projections": results,
            "baseline_copy_rows_per_second": baseline,
            "ratio_to_copy": {
                name: round(r["events_per_second"] / baseline, 3) for name, r in results.items()
            },
        }
    finally:
        await infra.delete_topics(settings)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


def _audit_row(event: Any, partition: int, offset: int) -> tuple[Any, ...]:
    return (
        event.event_id, event.case_id, event.case_type.value, event.version, event.type,
        event.schema_version, event.occurred_at, event.recorded_at, event.actor.model_dump_json(),
        event.department, event.submission_id, event.correlation_id, event.causation_id,
        json.dumps(event.payload, ensure_ascii=False), event.prev_hash, event.hash, partition,
        offset,
    )  # fmt: skip


async def _copy_baseline(dsn: str, rows: list[tuple[Any, ...]]) -> int:
    import asyncpg

    from projections.audit_trail import AuditTrail

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE SCHEMA baseline; SET search_path TO baseline")
        await conn.execute(AuditTrail.ddl)
        started = time.perf_counter()
        for start in range(0, len(rows), 10_000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "audit_trail", records=rows[start : start + 10_000]
                )
        await conn.execute(AuditTrail.indexes)
        return round(len(rows) / (time.perf_counter() - started))
    finally:
        await conn.close()


async def _query_latency(
    settings: Settings, run: str, cases: int, count: int, say: Callable[[str], None]
) -> dict[str, Any]:
    """p50 and p99 of the query service's answers, and of the same SQL through bare asyncpg."""
    import os
    import random
    import socket

    import asyncpg
    import httpx

    from projections.statistics import Dimension, Period, figures
    from services import tokens

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        f"CASETRAIL_{k.upper()}": str(v) for k, v in settings.model_dump().items() if v is not None
    }
    env["CASETRAIL_QUERY_PORT"] = str(port)
    service = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "services.cli", "query"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        _, secret = await tokens.create(conn, tokens.TokenRole.AUDITOR, [], "bench")
        url = f"http://127.0.0.1:{port}"
        infra.wait_until(lambda: infra.answers("127.0.0.1", port), 60, url)
        pick = random.Random(1)

        def case() -> str:
            return f"BENCH-{run}-{pick.randrange(cases):06d}"

        year = Period(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
        asks: dict[str, tuple[Callable[[], str], Callable[[], Any]]] = {
            "case": (lambda: f"/cases/{case()}", lambda: conn.fetchrow(
                "SELECT * FROM case_summary WHERE case_id = $1", case())),
            "history": (lambda: f"/cases/{case()}/history", lambda: conn.fetch(
                "SELECT * FROM audit_trail WHERE case_id = $1 ORDER BY version", case())),
            "filtered_list": (lambda: "/cases?case_type=petition&status=handled&limit=50",
                              lambda: conn.fetch(
                "SELECT * FROM case_summary WHERE case_type = 'petition' AND status = 'handled'"
                " ORDER BY last_recorded_at DESC, case_id DESC LIMIT 51")),
            "overview_statistics": (lambda: "/statistics?year=2020&by=case_type",
                                    lambda: figures(conn, year, [Dimension.CASE_TYPE])),
        }  # fmt: skip
        result: dict[str, Any] = {}
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            for name, (path, sql) in asks.items():
                for _ in range(5):  # warm up
                    (await client.get(path())).raise_for_status()
                api, bare = [], []
                for _ in range(count):
                    started = time.perf_counter()
                    (await client.get(path())).raise_for_status()
                    api.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    await sql()
                    bare.append(time.perf_counter() - started)
                result[name] = {
                    "api": _percentiles(api), "asyncpg_same_sql": _percentiles(bare)
                }  # fmt: skip
                say(f"{name}: {result[name]}")
        return result
    finally:
        await conn.close()
        service.terminate()
        service.wait(timeout=30)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "p50": round(statistics.median(ordered) * 1000, 2),
        "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }
