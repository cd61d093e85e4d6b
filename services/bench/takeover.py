"""``casetrail bench takeover``: how long a decider takes to serve its partitions after a
restart, from its snapshots and folding the whole log, against raw aiokafka reading the same
records.

N submissions are decided (the decider writes a snapshot every ``decider_snapshot_every``), the
decider stops, and is started again twice: as configured, taking over from the snapshots, and
with snapshots off, folding every event and outcome of its partitions. Each time: seconds from
the process's start until ``GET /health`` says every partition is served, the events it folded,
and its peak resident memory (and the deciding one's, with how many of its cases it kept in
memory). The baseline reads every record of the events and outcomes
topics with a plain consumer and does nothing with them.
"""

import asyncio
import resource
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import TopicPartition

from services.adapters.kafka import create_topics, delete_topics, read_to_end
from services.bench.workload import submissions
from services.bench.write import _round_trip
from services.demo import demo_settings
from services.infra.processes import start_service, stop
from services.infra.servers import free_port
from services.integrity.keyring import ensure_dev_keys
from services.integrity.signing import DepartmentSigners, ensure_dev_signing_keys
from services.progress import Say
from services.settings import KafkaRole, Settings


async def bench_takeover(base: Settings, count: int, per_case: int, say: Say) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    settings = demo_settings(base.isolated(f"bench-{run}"))
    settings = settings.model_copy(update={"decider_health_port": free_port()})
    ensure_dev_signing_keys(settings, say)
    ensure_dev_keys(settings.key_ring_path, settings.signing_key_path, settings.crypto_suite)
    signers = DepartmentSigners.load(settings)
    await create_topics(settings, lambda _: None)
    logs = settings.state_dir / "logs"
    try:
        decider = start_service("decider", settings, logs / "bench-takeover.log")
        try:
            department = settings.as_kafka_user(KafkaRole.DEPARTMENT)
            messages = [
                (case_id, signers.sign_json(value))
                for case_id, value in submissions(count, per_case, run)
            ]
            say(f"deciding {count} submissions ({count // per_case} cases)")
            seconds, _ = await _round_trip(
                department, settings.submissions_topic, settings.outcomes_topic, messages, False
            )
            deciding = {"seconds": round(seconds, 1), "peak_rss_mb": _peak_rss_mb(decider.pid)}
            say(f"decided in {seconds:.1f} s; restarting the decider")
        finally:
            stop(decider, timeout=30)
        from_snapshot = await _take_over(settings, logs / "bench-takeover-snapshot.log")
        say(f"from snapshots: {from_snapshot['seconds']} s; now folding the whole log")
        off = settings.model_copy(update={"decider_snapshot_every": 0})
        whole = await _take_over(off, logs / "bench-takeover-whole.log")
        say(f"whole log: {whole['seconds']} s; baseline: raw aiokafka reading it")
        baseline = await _read_everything(settings)
    finally:
        await delete_topics(settings)
    return {
        "submissions": count,
        "cases": count // per_case,
        "partitions": settings.partitions,
        "snapshot_every": settings.decider_snapshot_every,
        "hot_cases": settings.decider_hot_cases,
        "deciding": deciding,
        "from_snapshot": from_snapshot,
        "whole_log": whole,
        "baseline_aiokafka_read": baseline,
        "speed_up": round(whole["seconds"] / from_snapshot["seconds"], 1),
    }


class TakeOverFailed(RuntimeError):
    """The decider did not serve every partition: why, and the most memory it was seen with."""

    def __init__(self, reason: str, highest_rss_mb: float):
        super().__init__(reason)
        self.highest_rss_mb = highest_rss_mb


async def _take_over(
    settings: Settings, log: Path, limit: float = 3600, memory_limit_mb: int | None = None
) -> dict[str, Any]:
    """Start a decider; when every partition is served, how long it took, what it folded and
    its peak memory. TakeOverFailed if it exits, refuses a partition, runs out of the address
    space ``memory_limit_mb`` allows it, or takes over ``limit`` seconds."""
    started = time.perf_counter()
    decider = start_service("decider", settings, log)
    if memory_limit_mb is not None:
        # A take-over larger than the machine: a MemoryError in the decider, rather than the
        # kernel killing whatever else runs here. Set at once, while it is still importing.
        cap = memory_limit_mb << 20
        resource.prlimit(decider.pid, resource.RLIMIT_AS, (cap, cap))
    url = f"http://127.0.0.1:{settings.decider_health_port}/health"
    highest, polls = 0.0, 0
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if decider.poll() is not None:
                    raise TakeOverFailed(f"the decider exited; see {log}", highest)
                highest = max(highest, _peak_rss_mb(decider.pid, "VmRSS:"))
                body = await _health(client, url)
                partitions = body.get("partitions", {}) if body else {}
                states = [p["state"] for p in partitions.values()]
                if len(states) == settings.partitions and set(states) == {"serving"}:
                    seconds = time.perf_counter() - started
                    break
                if "refused" in states:
                    raise TakeOverFailed(f"a partition refused: {partitions}", highest)
                if time.perf_counter() - started > limit:
                    raise TakeOverFailed(f"no take-over within {limit:.0f} s; see {log}", highest)
                polls += 1
                if polls % 40 == 0 and b"MemoryError" in _tail(log):
                    # The decider retries a failed take-over for ever: this one never ends.
                    reason = f"out of memory ({memory_limit_mb} MB); see {log}"
                    raise TakeOverFailed(reason, highest)
                await asyncio.sleep(0.05)
        peak = _peak_rss_mb(decider.pid)
        serving = _peak_rss_mb(decider.pid, "VmRSS:")
    finally:
        stop(decider, timeout=30)
    took_over = [p["took_over"] for p in partitions.values()]
    return {
        "seconds": round(seconds, 2),
        "events_folded": sum(t["events_folded"] for t in took_over),
        "from_snapshot": all(t["from_snapshot"] for t in took_over),
        "peak_rss_mb": peak,
        "rss_mb_when_serving": serving,
        "cases_known": sum(p["cases"]["known"] for p in partitions.values()),
        "cases_in_memory": sum(p["cases"]["in_memory"] for p in partitions.values()),
    }


def _tail(log: Path, size: int = 8192) -> bytes:
    with open(log, "rb") as file:
        file.seek(max(0, file.seek(0, 2) - size))
        return file.read()


async def _health(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        body: dict[str, Any] = (await client.get(url)).json()
        return body
    except (httpx.HTTPError, ValueError):
        return None


def _peak_rss_mb(pid: int, field: str = "VmHWM:") -> float:
    """The process's peak resident set (or another of its memory figures), in MB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:  # it has just ended
        return 0.0
    for line in lines:
        if line.startswith(field):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _read_everything(settings: Settings, topics: list[str] | None = None) -> dict[str, Any]:
    """Every record of ``topics`` (by default the events and outcomes topics) through a plain
    consumer."""
    admin = settings.as_kafka_user(KafkaRole.ADMIN)
    tps = [
        TopicPartition(topic, p)
        for topic in topics or (settings.events_topic, settings.outcomes_topic)
        for p in range(settings.partitions)
    ]
    started, records, size = time.perf_counter(), 0, 0
    async for record in read_to_end(admin, tps):
        records += 1
        size += len(record.value or b"")
    return {
        "records": records,
        "mib": round(size / (1 << 20), 1),
        "seconds": round(time.perf_counter() - started, 2),
    }
