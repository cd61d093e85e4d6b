"""``casetrail bench rebuild``: each projection rebuilt from a generated log, against asyncpg COPY.

A log of N events over M cases is decided by the decider's own pure core and written to fresh
topics; each projection is rebuilt from it (``casetrail rebuild``'s code), and the baseline is
asyncpg COPY writing the audit trail's rows straight into a bare table. Optionally the query
API's latency on that data follows (``services.bench.queries``).
"""

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer

from projections.catalog import PROJECTIONS
from projections.db import connect
from projections.read_models import audit_trail
from services.adapters.kafka import client_options, create_topics, delete_topics, partitioner
from services.bench.queries import query_latency
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import demo_settings
from services.integrity.keyring import KeyRing
from services.integrity.signing import SubmissionVerifier
from services.progress import Say, quiet
from services.projector.rebuild import rebuild
from services.settings import KafkaRole, Settings


async def bench_rebuild(
    base: Settings, events: int, cases: int, say: Say, queries: int = 0
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    database = f"casetrail_bench_{run}"
    settings = demo_settings(base.isolated(f"bench-{run}", database))
    async with connect(base.postgres_dsn) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        await create_topics(settings, quiet)
        try:
            say(f"writing a log of {events} events over {cases} cases")
            rows = await _write_log(settings, events, cases, run, say)
            results: dict[str, Any] = {}
            for name in PROJECTIONS:
                started = time.perf_counter()
                await rebuild(settings, name, quiet)
                seconds = time.perf_counter() - started
                results[name] = {
                    "seconds": round(seconds, 1),
                    "events_per_second": round(events / seconds),
                }
                say(f"{name}: {results[name]['events_per_second']} events/s")
            latency = await query_latency(settings, run, cases, queries, say) if queries else None
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
            await delete_topics(settings)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _write_log(
    settings: Settings, events: int, cases: int, run: str, say: Say
) -> list[tuple[Any, ...]]:
    """The decider's pure core decides the workload; its events go to the events topic. Returns
    the audit trail's rows of those events, for the baseline."""
    assert settings.officers_file is not None
    # The log is made, not submitted: no department signs it (signatures cost the write path,
    # measured by `casetrail bench write`, not the projections).
    unsigned = SubmissionVerifier(KeyRing(), required=False)
    state = PartitionState(load_officers(settings.officers_file), unsigned)
    partition_of = partitioner(settings.partitions)
    producer = AIOKafkaProducer(
        # Straight onto the events topic: only the admin user may (this is a benchmark's log).
        **client_options(settings.as_kafka_user(KafkaRole.ADMIN)),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1 << 20,
    )
    await producer.start()
    rows: list[tuple[Any, ...]] = []
    try:
        workload = submissions(events, max(2, events // cases), run)
        for index, (case_id, value) in enumerate(workload):
            for event in state.decide_record(value, datetime(2020, 12, 31, tzinfo=UTC)).events:
                partition = partition_of(case_id)
                raw = event.model_dump_json().encode()
                key = case_id.encode()
                await producer.send(settings.events_topic, raw, key=key, partition=partition)
                rows.append(audit_trail.row(event, partition, index))
            state.commit()
            if index % 100_000 == 0 and index:
                say(f"  {index} events written")
        await producer.flush()
    finally:
        await producer.stop()
    return rows


async def _copy_baseline(dsn: str, rows: list[tuple[Any, ...]]) -> int:
    async with connect(dsn) as conn:
        await conn.execute("CREATE SCHEMA baseline; SET search_path TO baseline")
        await conn.execute(audit_trail.AuditTrail.ddl)
        started = time.perf_counter()
        for start in range(0, len(rows), 10_000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "audit_trail", records=rows[start : start + 10_000]
                )
        await conn.execute(audit_trail.AuditTrail.indexes)
        return round(len(rows) / (time.perf_counter() - started))
