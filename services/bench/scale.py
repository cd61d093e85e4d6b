"""``casetrail bench scale``: a million cases and ten million events on one partition set.

The log is generated (``services.bench.log``): the workload decided by the decider's pure core,
a checkpoint signed every 100 events of a partition, under a key of a ring of the bench's own
with which the decider signs too, and the decider's snapshot of every partition, whose heads it
trusts (each names the checkpoint signing its chain). Then, each beside a baseline of the same
run:

- a decider takes over, twice (a first start, then a second: whatever a take-over leaves for
  the next, the second shows): seconds from its process's start until ``GET /health`` says
  every partition is served, whether it took over from the snapshots, and its resident memory
  (peak, and when serving); beside it, raw aiokafka reading the snapshots topic (what a
  take-over reads) and the events topic (what one without snapshots would fold). The decider
  gets at most ``MEMORY_SHARE`` of the memory available: a take-over that needs more fails,
  and is reported so, rather than making the kernel kill some process of the machine;
- the audit trail is rebuilt (``casetrail rebuild``'s code): events a second, beside asyncpg
  COPY writing up to ``COPY_ROWS`` of its rows into a bare table;
- ``casetrail verify`` in a process of its own: seconds and peak memory, beside raw aiokafka
  reading the events topic;
- the query service's statistics and a case as of past instants: p50 and p99 (folding the log
  in memory instead, as ``bench verify`` compares at smaller sizes, would not fit).

The decider appends personal data in plaintext here (``seal_personal_data`` off), as the
generated log does: a take-over never unseals, and a key store would need the read models'
roles in the bench's database.
"""

import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from projections.db import connect
from services.adapters.case_store import ensure_case_store
from services.adapters.kafka import create_topics, delete_topics
from services.bench.log import Plan, write_log
from services.bench.rebuild import _copy_baseline
from services.bench.takeover import TakeOverFailed, _read_everything, _take_over
from services.bench.verify import as_of_latency, verify_in_a_process
from services.demo import demo_settings
from services.infra.servers import free_port
from services.integrity.algorithms import SIGNATURE_ALGORITHM, generate, private_pem
from services.integrity.keyring import (
    KeyPurpose,
    KeyRing,
    RingKey,
    key_id,
    save_ring,
    write_private_key,
)
from services.progress import Say
from services.projector.rebuild import rebuild
from services.settings import Settings

COPY_ROWS = 500_000
"""Audit rows the COPY baseline writes (at most): enough for a steady rate, few enough that the
bench does not hold ten million rows in memory for it."""
TAKE_OVER_LIMIT_S = 3 * 3600.0
"""A take-over slower than this is reported as a failure, not waited for."""
MEMORY_SHARE = 0.7
"""Of the memory available when a decider starts, what it may take: a take-over larger than
the machine fails in the decider (MemoryError, reported) instead of the kernel killing
whichever process it picks, the broker or PostgreSQL included."""


def _memory_cap_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(int(line.split()[1]) / 1024 * MEMORY_SHARE)
    raise RuntimeError("no MemAvailable in /proc/meminfo: how much may the decider take?")


async def bench_scale(
    base: Settings, cases: int, events: int, say: Say, queries: int = 20, keep: bool = False
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    database = f"casetrail_bench_{run}"
    work = Path(tempfile.mkdtemp(prefix=f"casetrail-bench-scale-{run}-"))
    key = generate(SIGNATURE_ALGORITHM[base.crypto_suite])
    public = key.public_key()
    ring, signing = work / "ring.json", work / "decider-ed25519.pem"
    since = datetime(2020, 1, 1, tzinfo=UTC)
    save_ring(ring, KeyRing((RingKey(key_id(public), KeyPurpose.CHECKPOINT, public, since),)))
    write_private_key(signing, key)
    settings = demo_settings(base.isolated(f"bench-{run}", database)).model_copy(
        update={
            "key_ring_file": ring,
            "signing_key_file": signing,
            "seal_personal_data": False,
            "decider_health_port": free_port(),
        }
    )
    logs = settings.state_dir / "logs"
    plan = Plan(
        settings,
        events,
        max(2, events // cases),
        run,
        signing_key=private_pem(key),
        snapshots=True,
        rows=min(events, COPY_ROWS),
    )
    result: dict[str, Any] = {"run": run, "partitions": settings.partitions}
    async with connect(base.postgres_dsn) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            say(await ensure_case_store(settings))  # where the decider keeps its cold cases
            await create_topics(settings, say)
            say(f"writing {events} events over {plan.cases} cases, signed, with snapshots")
            written = await write_log(plan, say)
            result["log"] = written.figures()
            say(f"log: {result['log']}")
            copy_rows = len(written.rows)
            copied = await _copy_baseline(settings.postgres_dsn, written.rows)
            del written  # its sample of audit rows
            say(f"baseline asyncpg COPY of {copy_rows} audit rows: {copied} rows/s")

            takeovers: dict[str, Any] = {}
            for start in ("first", "second"):
                cap = _memory_cap_mb()
                say(f"the decider takes over ({start} start, at most {cap} MB of address space)")
                log = logs / f"bench-scale-{run}-decider-{start}.log"
                try:
                    took = await _take_over(settings, log, TAKE_OVER_LIMIT_S, cap)
                except TakeOverFailed as error:
                    # Reported, and the other figures still measured.
                    took = {"failed": str(error), "highest_rss_mb_seen": error.highest_rss_mb}
                takeovers[start] = {**took, "memory_limit_mb": cap, "log": str(log)}
                say(f"  {takeovers[start]}")
            say("baseline: raw aiokafka reading the snapshots topic, then the events topic")
            snapshots = await _read_everything(settings, [settings.snapshots_topic])
            log_read = await _read_everything(settings, [settings.events_topic])
            say(f"  snapshots {snapshots}; events {log_read}")
            result["decider_takeover"] = {
                **takeovers,
                "baseline_aiokafka_read_snapshots": snapshots,
                "baseline_aiokafka_read_events": log_read,
            }

            # The audit trail (what verify and a case as of an instant read) and the cases
            # (whose case_fact_versions answer statistics as of an instant).
            for projection in ("audit_trail", "cases"):
                say(f"rebuilding {projection} (casetrail rebuild {projection})")
                started = time.perf_counter()
                await rebuild(settings, projection, say, batch_size=10_000)
                seconds = time.perf_counter() - started
                rate = round(result["log"]["events"] / seconds)
                result[f"rebuild_{projection}"] = {
                    "seconds": round(seconds, 1),
                    "events_per_second": rate,
                    "baseline_copy_rows": copy_rows,
                    "baseline_copy_rows_per_second": copied,
                    "ratio_to_copy": round(rate / copied, 3),
                }
                say(f"  {result[f'rebuild_{projection}']}")

            say("casetrail verify, in a process of its own")
            result["verify"] = {
                **verify_in_a_process(settings, say),
                "baseline_aiokafka_read_events": log_read,
            }
            say(f"  {result['verify']}")

            say("as-of queries through the query service")
            result["as_of"] = await as_of_latency(
                settings, run, plan.cases, queries, say, from_the_log=False
            )
            if keep:
                (work / "env").write_text(
                    "".join(f"{k}={v}\n" for k, v in settings.as_env().items())
                )
                say(f"kept: topics bench-{run}-*, database {database}, {work}/env")
            return result
        finally:
            if not keep:
                say("removing the bench's topics and database")
                await delete_topics(settings)
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                shutil.rmtree(work, ignore_errors=True)
