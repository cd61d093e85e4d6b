"""``casetrail bench verify``: the auditor's tools at scale, on a generated log.

A log of N events over M cases is decided by the decider's own pure core and written to fresh
topics with a checkpoint signed every 100 events of a partition (as the decider signs one per
transaction), under a key of a key ring of its own; the audit trail is projected by the
projector's rebuild, and so are the cases (``case_fact_versions``, which statistics as of an
instant count). Then:

- ``casetrail verify`` runs in a process of its own: its wall time and its peak resident set
  (the high-water mark of its own memory), and whether it found the log intact; beside it, the
  raw baseline: the same topics read whole with aiokafka and nothing checked, and of the
  checking, what the suite's hash alone costs over every event (SHA-256 or SM3);
- the query service answers ``/statistics?as_of=`` and ``/cases/{id}/as-of``: p50 and p99;
  beside them, what the same answers cost from the log itself (the figures folded from the
  whole log, a case replayed from its partition, as the endpoints did before), a few times.
"""

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from events.as_of import Basis, replay
from events.hashing import canonical_json
from projections.db import connect
from projections.queries.statistics import Dimension, report
from services import tokens
from services.adapters.event_log import case_events, read_events
from services.adapters.kafka import create_topics, delete_topics, read_to_end, topic_partitions
from services.bench.figures import percentiles
from services.bench.log import Plan, write_log
from services.demo import demo_settings
from services.infra import answers, wait_until
from services.infra.processes import start_service, stop
from services.infra.servers import free_port
from services.integrity.algorithms import SIGNATURE_ALGORITHM, generate, private_pem
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey, key_id, save_ring
from services.progress import Say, quiet
from services.projector.rebuild import rebuild
from services.settings import KafkaRole, Settings

AS_OF = [datetime(2020, m, 1, tzinfo=UTC) for m in (7, 9, 11)] + [datetime(2021, 1, 1, tzinfo=UTC)]


async def bench_verify(
    base: Settings, events: int, cases: int, say: Say, queries: int = 20, keep: bool = False
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    database = f"casetrail_bench_{run}"
    work = Path(tempfile.mkdtemp(prefix=f"casetrail-bench-verify-{run}-"))
    key = generate(SIGNATURE_ALGORITHM[base.crypto_suite])
    ring = work / "ring.json"
    since = datetime(2020, 1, 1, tzinfo=UTC)
    public = key.public_key()
    save_ring(ring, KeyRing((RingKey(key_id(public), KeyPurpose.CHECKPOINT, public, since),)))
    settings = demo_settings(base.isolated(f"bench-{run}", database))
    settings = settings.model_copy(update={"key_ring_file": ring})
    async with connect(base.postgres_dsn) as admin:
        await admin.execute(f'CREATE DATABASE "{database}"')
        await create_topics(settings, quiet)
        try:
            say(f"writing a log of {events} events over {cases} cases, signed")
            pem = private_pem(key)
            plan = Plan(settings, events, max(2, events // cases), run, signing_key=pem)
            await write_log(plan, say)
            say("projecting the audit trail (casetrail rebuild audit_trail)")
            await rebuild(settings, "audit_trail", quiet, batch_size=10_000)
            say("projecting the cases, their fact versions too (casetrail rebuild cases)")
            await rebuild(settings, "cases", quiet)
            verified = verify_in_a_process(settings, say)
            say(f"verify: {verified}")
            baseline = await raw_read(settings)
            say(f"raw baseline: {baseline}")
            as_of = await as_of_latency(settings, run, cases, queries, say)
            if keep:
                (work / "env").write_text(
                    "".join(f"{k}={v}\n" for k, v in settings.as_env().items())
                )
                say(f"kept: topics bench-{run}-*, database {database}, {work}/env")
            return {
                "events": events,
                "cases": cases,
                "suite": settings.crypto_suite.value,
                "verify": verified,
                "raw_baseline": baseline,
                "as_of": as_of,
            }
        finally:
            if not keep:
                await delete_topics(settings)
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                shutil.rmtree(work, ignore_errors=True)


async def raw_read(settings: Settings) -> dict[str, Any]:
    """What verify cannot go below: the events and checkpoints topics read whole with aiokafka
    as the auditor, nothing checked (seconds); and, of verify's checks, the suite's hash alone
    over every event's canonical JSON (seconds, in this process)."""
    auditor = settings.as_kafka_user(KafkaRole.AUDITOR)
    topics = (settings.events_topic, settings.checkpoints_topic)
    tps = [tp for topic in topics for tp in await topic_partitions(auditor, topic)]
    started = time.perf_counter()
    values = [
        record.value or b""
        async for record in read_to_end(auditor, tps)
        if record.topic == settings.events_topic
    ]
    read_s = time.perf_counter() - started
    canonical = [
        canonical_json({k: v for k, v in json.loads(value).items() if k != "hash"})
        for value in values
    ]
    started = time.perf_counter()
    for body in canonical:
        settings.crypto_suite.hexdigest(body)
    hashed_s = time.perf_counter() - started
    return {
        "read_seconds": round(read_s, 2),
        "events": len(values),
        "hash_seconds": round(hashed_s, 3),
    }


def verify_in_a_process(
    settings: Settings, say: Say, python: list[str] | None = None
) -> dict[str, Any]:
    """``casetrail verify --json`` in a process of its own (``python``: another interpreter
    and arguments to run it with): its wall time, its peak resident set (as it says it on
    stderr: the high-water mark of its own memory, which the kernel's rusage of a child
    forked from this large process would not tell), and its verdict."""
    command = [*(python or [sys.executable, "-m", "services.cli"]), "verify", "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env={**os.environ, **settings.as_env()}, stdout=out, stderr=err
        )
        process.wait()
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read()
    try:
        verdict = json.loads(output)
    except ValueError:
        verdict = {"intact": None, "output": output.decode()[-2000:]}
    said = re.search(rb"peak memory (\d+) MiB", errors)
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": int(said.group(1)) if said else None,
        "exit_code": process.returncode,
        "intact": verdict.get("intact"),
        "events": verdict.get("events"),
        "audit_rows": verdict.get("audit_rows"),
        "problems": len(verdict.get("problems", [])),
        "stderr_tail": errors.decode()[-300:],
    }


async def as_of_latency(
    settings: Settings, run: str, cases: int, count: int, say: Say, from_the_log: bool = True
) -> dict[str, Any]:
    """p50 and p99 of the query service's answers as of past instants (statistics from
    ``case_fact_versions``, a case from the audit trail); and, a few times unless not
    ``from_the_log``, the same figures folded from the log read whole (what the endpoint did
    before: at millions of events, more memory than a machine has)."""
    port = free_port()
    served = settings.model_copy(update={"query_port": port})
    service = start_service("query", served, settings.state_dir / "logs" / "bench-query.log")
    pick = random.Random(5)
    result: dict[str, Any] = {}
    try:
        async with connect(settings.postgres_dsn) as conn:
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: answers("127.0.0.1", port), 60, url)
            _, secret = await tokens.create(conn, tokens.TokenRole.AUDITOR, [], "bench")
            headers = {"Authorization": f"Bearer {secret}"}

            def statistics_as_of(i: int) -> tuple[str, dict[str, Any]]:
                basis = list(Basis)[i // len(AS_OF) % 2]
                instant = AS_OF[i % len(AS_OF)].isoformat()
                query = {"year": 2020, "by": "case_type", "as_of": instant, "basis": basis.value}
                return "/statistics", query

            def case_as_of(i: int) -> tuple[str, dict[str, Any]]:
                case = f"BENCH-{run}-{pick.randrange(cases):06d}"
                return f"/cases/{case}/as-of", {"at": AS_OF[i % len(AS_OF)].isoformat()}

            asks = {"statistics_as_of": statistics_as_of, "case_as_of": case_as_of}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as client:
                for name, ask in asks.items():
                    path, params = ask(0)
                    (await client.get(path, params=params)).raise_for_status()  # warm up
                    seconds = []
                    for i in range(count):
                        path, params = ask(i)
                        started = time.perf_counter()
                        (await client.get(path, params=params)).raise_for_status()
                        seconds.append(time.perf_counter() - started)
                    result[name] = {"queries": count, **percentiles(seconds)}
                    say(f"{name}: {result[name]}")
            if not from_the_log:
                return result
            folded = []
            for i in range(min(count, 3)):
                started = time.perf_counter()
                log = await read_events(settings)
                basis = list(Basis)[i % 2]
                await report(conn, 2020, [Dimension.CASE_TYPE], AS_OF[i], basis, log)
                folded.append(time.perf_counter() - started)
            result["statistics_as_of_folded_from_the_log"] = {
                "queries": len(folded),
                **percentiles(folded),
            }
            replayed = []
            for i in range(min(count, 3)):
                started = time.perf_counter()
                case = f"BENCH-{run}-{pick.randrange(cases):06d}"
                replay(await case_events(settings, case), AS_OF[i], Basis.RECORDED)
                replayed.append(time.perf_counter() - started)
            result["case_as_of_replayed_from_the_log"] = {
                "queries": len(replayed),
                **percentiles(replayed),
            }
            say(f"as of, folded from the log: {result['statistics_as_of_folded_from_the_log']}")
    finally:
        stop(service, timeout=30)
    return result
