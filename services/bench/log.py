"""The benchmarks' log: a workload decided by the decider's own pure core and written straight
onto fresh topics, one case at a time (``bench rebuild``, ``bench verify`` and ``bench scale``).

Per partition, in order:

- the events of each case's submissions, as ``PartitionState`` decides them (unsigned and in
  plaintext: signatures and sealing cost the write path, which ``bench write`` measures),
  recorded over 200 days from 1 June 2020 so that instants of late 2020 cut the log at
  different places;
- with a signing key, a checkpoint of the partition's chain every ``CHECKPOINT_EVERY`` events
  and after the last, as the decider signs one per transaction;
- with ``snapshots``, the decider's snapshot of the partition: each case's record and outcome
  chunks (``PartitionState.snapshot``, the decider's own code), and last a head covering every
  event, naming the last checkpoint, which signs that chain. The outcomes and submissions
  topics stay empty (the head says so), so a decider taking over trusts the snapshot and has
  nothing to fold after it.

Deciding is Python (some 6,500 submissions a second a core), so the partitions are shared out
among worker processes, one a core, each with its own states and producer. A case's
submissions are decided one after another; once its last is, its snapshot records are written
and it is dropped from the state, so a worker's memory does not grow with the number of cases
(the pure core keeps every case and outcome it decided: some 6 kB a case).
"""

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from events.hashing import GENESIS_HASH, partition_chain
from projections.read_models import audit_trail
from services.adapters.kafka import client_options, committed_consumer, partitioner
from services.adapters.worker_processes import in_processes
from services.bench.workload import case_id, case_submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.decider.snapshot import HEAD_KEY, head_record
from services.integrity.algorithms import private_from_pem
from services.integrity.checkpoints import sign
from services.integrity.keyring import KeyRing
from services.integrity.signing import SubmissionVerifier
from services.progress import Progress, Say
from services.settings import KafkaRole, Settings

CHECKPOINT_EVERY = 100
"""Events of a partition per signed checkpoint: a decider's transaction under load."""
FIRST_RECORDED = datetime(2020, 6, 1, 2, tzinfo=UTC)
RECORDED_OVER = timedelta(days=200)
"""The log is recorded from 1 June 2020 over 200 days (the workload's steps all say they
happened on 1 June)."""
IN_PROCESS_BELOW = 50_000
"""Fewer submissions are decided in this process: a worker process (a fresh interpreter
importing CaseTrail) costs more than it saves."""


@dataclass(frozen=True)
class Plan:
    """What to write: ``submissions`` submissions, ``per_case`` a case (the last case may have
    fewer), run ``run``'s case ids."""

    settings: Settings
    submissions: int
    per_case: int
    run: str
    signing_key: bytes | None = None
    """The private key (PEM, Ed25519 or SM2) signing the checkpoints (None: none). Bytes:
    the plan goes to worker processes."""
    snapshots: bool = False
    rows: int = 0
    """Audit trail rows of the first events to hand back, for a COPY baseline."""

    @property
    def cases(self) -> int:
        return -(-self.submissions // self.per_case)


@dataclass
class PartitionLog:
    """What one partition got."""

    partition: int
    events: int = 0
    chain_head: str = GENESIS_HASH
    checkpoints: int = 0
    cases: int = 0


@dataclass
class Written:
    """What was written, and how fast."""

    submissions: int
    events: int
    cases: int
    workers: int
    seconds: float
    partitions: list[PartitionLog]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "submissions": self.submissions,
            "events": self.events,
            "cases": self.cases,
            "workers": self.workers,
            "seconds": round(self.seconds, 1),
            "events_per_second": round(self.events / max(self.seconds, 1e-9)),
        }


@dataclass(frozen=True)
class _Job:
    plan: Plan
    partitions: tuple[int, ...]
    rows: int


async def write_log(plan: Plan, say: Say) -> Written:
    """Write the plan's log onto its (fresh, empty) topics; raises if they were not empty."""
    settings = plan.settings
    partitions = list(range(settings.partitions))
    workers = 1 if plan.submissions < IN_PROCESS_BELOW else os.cpu_count() or 1
    workers = max(1, min(workers, len(partitions)))
    jobs = [
        _Job(plan, tuple(partitions[w::workers]), -(-plan.rows // workers)) for w in range(workers)
    ]
    started = time.perf_counter()
    watcher = asyncio.create_task(_watch(settings, plan.submissions, say))
    try:
        if workers == 1:
            done = [await _write_partitions(jobs[0])]
        else:
            done = await in_processes(_write_partitions, jobs, "a process writing the log")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    seconds = time.perf_counter() - started
    logs = sorted((log for logs, _ in done for log in logs), key=lambda log: log.partition)
    rows = [row for _, rows in done for row in rows][: plan.rows]
    events = sum(log.events for log in logs)
    written = Written(plan.submissions, events, plan.cases, workers, seconds, logs, rows)
    say(f"  {events} events written in {seconds:.0f} s by {workers} process(es)")
    return written


async def _watch(settings: Settings, submissions: int, say: Say) -> None:
    """Progress from the events topic's end offsets (the workers are other processes)."""
    progress = Progress(submissions, say)
    events = [TopicPartition(settings.events_topic, p) for p in range(settings.partitions)]
    async with committed_consumer(settings.as_kafka_user(KafkaRole.ADMIN)) as consumer:
        while True:
            await asyncio.sleep(2)
            # Events, not submissions: near enough (a submission appends one event) to tell
            # how far along it is.
            progress.set(sum((await consumer.end_offsets(events)).values()))


async def _write_partitions(job: _Job) -> tuple[list[PartitionLog], list[Any]]:
    """Decide and write every case of the job's partitions; returns what each got and the
    first ``job.rows`` audit rows."""
    plan, settings = job.plan, job.plan.settings
    assert settings.officers_file is not None
    key = private_from_pem(plan.signing_key) if plan.signing_key else None
    if plan.snapshots and key is None:
        raise ValueError("a snapshot's head needs a signed checkpoint: give a signing key")
    officers = load_officers(settings.officers_file)
    suite = settings.crypto_suite
    unsigned = SubmissionVerifier(KeyRing(), suite, required=False)
    states = {
        p: PartitionState(officers, unsigned, partition=p, suite=suite) for p in job.partitions
    }
    logs = {p: PartitionLog(p) for p in job.partitions}
    partition_of = partitioner(settings.partitions)
    producer = AIOKafkaProducer(
        # Straight onto the topics: only the admin user may (this is a benchmark's log).
        **client_options(settings.as_kafka_user(KafkaRole.ADMIN)),
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1 << 20,
    )
    step = RECORDED_OVER / max(plan.submissions, 1)
    rows: list[tuple[Any, ...]] = []

    async def checkpoint(log: PartitionLog) -> None:
        # Fresh topics written without transactions: the n-th event is at offset n - 1.
        assert key is not None
        now = datetime.now(UTC)
        signed = sign(key, log.partition, log.events - 1, log.events, log.chain_head, now)
        await producer.send(
            settings.checkpoints_topic,
            signed.record(),
            key=str(log.partition).encode(),
            partition=log.partition,
        )
        log.checkpoints += 1

    await producer.start()
    try:
        for case in range(plan.cases):
            partition = partition_of(case_id(plan.run, case))
            if partition not in logs:
                continue
            state, log = states[partition], logs[partition]
            first = case * plan.per_case
            count = min(plan.per_case, plan.submissions - first)
            for index, (case_id_, value) in enumerate(case_submissions(case, count, plan.run)):
                decided = state.decide_record(value, FIRST_RECORDED + (first + index) * step)
                for event in decided.events:
                    await producer.send(
                        settings.events_topic,
                        event.model_dump_json().encode(),
                        key=case_id_.encode(),
                        partition=partition,
                    )
                    if len(rows) < job.rows:
                        rows.append(audit_trail.row(event, partition, log.events))
                    log.chain_head = partition_chain(log.chain_head, event.hash, suite)
                    log.events += 1
                    if key is not None and log.events % CHECKPOINT_EVERY == 0:
                        await checkpoint(log)
                state.commit()
            await _done_with_case(state, log, producer, settings, plan.snapshots)
        for log in logs.values():
            if key is not None and log.events % CHECKPOINT_EVERY:
                await checkpoint(log)
        await producer.flush()
        await _check_offsets(settings, list(logs.values()), key is not None)
        if plan.snapshots:
            now = datetime.now(UTC)
            for log in logs.values():
                chain = (log.chain_head, log.events, log.events - 1)
                # No outcomes or submissions on their topics: none to fold after the snapshot.
                head = head_record(log.partition, chain, log.checkpoints - 1, 0, 0, log.cases, now)
                await producer.send(
                    settings.snapshots_topic, head, key=HEAD_KEY, partition=log.partition
                )
            await producer.flush()
    finally:
        await producer.stop()
    return list(logs.values()), rows


async def _done_with_case(
    state: PartitionState,
    log: PartitionLog,
    producer: AIOKafkaProducer,
    settings: Settings,
    snapshots: bool,
) -> None:
    """A case has all its submissions: its snapshot records (the decider's own, from the state),
    then forget it."""
    if snapshots:
        for key, value in state.snapshot():
            await producer.send(settings.snapshots_topic, value, key=key, partition=log.partition)
    for case in state.changed:
        state.cases.pop(case, None)
        for submission in state.by_case.pop(case, []):
            state.outcomes.pop(submission, None)
        log.cases += 1
    state.changed.clear()


async def _check_offsets(settings: Settings, logs: list[PartitionLog], signed: bool) -> None:
    """The offsets the checkpoints and heads name are where the records are: the topics were
    empty and nobody else wrote them."""
    events = {TopicPartition(settings.events_topic, log.partition): log for log in logs}
    checkpoints = {TopicPartition(settings.checkpoints_topic, log.partition): log for log in logs}
    async with committed_consumer(settings.as_kafka_user(KafkaRole.ADMIN)) as consumer:
        ends = await consumer.end_offsets([*events, *checkpoints])
    for tp, log in events.items():
        if ends[tp] != log.events:
            raise RuntimeError(f"{tp}: ends at {ends[tp]}, {log.events} events written")
    for tp, log in checkpoints.items():
        if signed and ends[tp] != log.checkpoints:
            raise RuntimeError(f"{tp}: ends at {ends[tp]}, {log.checkpoints} checkpoints written")
