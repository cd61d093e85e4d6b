"""``casetrail bench rebuild``: each projection rebuilt from a generated log, against asyncpg COPY.

A log of N events over M cases is decided by the decider's own pure core and written to fresh
topics; each projection is rebuilt from it (``casetrail rebuild``'s code), and the baseline is
asyncpg COPY writing the audit trail's rows straight into a bare table. Optionally the query
API's latency on that data follows (``services.bench.queries``).
"""

import time
import uuid
from typing import Any

from projections.catalog import PROJECTIONS
from projections.db import connect
from projections.read_models import audit_trail
from services.adapters.kafka import create_topics, delete_topics
from services.bench.log import Plan, write_log
from services.bench.queries import query_latency
from services.demo import demo_settings
from services.progress import Say, quiet
from services.projector.rebuild import rebuild
from services.settings import Settings


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
            plan = Plan(settings, events, max(2, events // cases), run, rows=events)
            rows = (await write_log(plan, say)).rows
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
