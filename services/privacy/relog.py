"""The I/O of ``casetrail migrate``: seal a log written in plaintext into topics of a new prefix
(``seal_log``), or move a log to another cryptographic suite the same way (``to_suite``), check
the migration record (``audit_evidence``), and delete the old topics once the new log stands
(``drop_old``). The pure part is ``services.privacy.migration``; the operator's procedures are
docs/privacy-migration.md and docs/suite-migration.md.

Restartable by design: the target is written in Kafka transactions of at most ``BATCH_EVENTS``
events, each with the signed checkpoint over them and the keys of their new data subjects stored
before it commits, under the decider's transactional ids of the target (so a run fences an
earlier one, and a decider fences a run). A run that stops anywhere leaves a target that ends at
its latest signed checkpoint; the next run checks that target against its checkpoints and,
event by event, against the source, and writes only what is missing. Run it again on a finished
target and it writes nothing (and signs the same correspondence again).
"""

import asyncio
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from pydantic import ValidationError

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event
from events.sealed import subjects_in
from events.suite import Suite
from services.adapters.kafka import (
    admin,
    client_options,
    committed_consumer,
    create_topics,
    delete_topics,
    end_offsets,
    topic_partitions,
)
from services.integrity.checkpoints import Checkpoint, Signer, SigningKeyNotTrusted
from services.integrity.keyring import KeyRing, KeyRingError, load_ring, write_private
from services.integrity.log_check import PartitionAudit, trusted_checkpoints
from services.integrity.problems import Record
from services.integrity.shell import read_topic
from services.integrity.verification import verify
from services.privacy.keystore import KeyStore, open_keystore
from services.privacy.migration import (
    EvidenceCheck,
    MigrationReport,
    Pair,
    PartitionEvidence,
    PartitionReport,
    Resealed,
    SuiteChange,
    Unmigratable,
    check_evidence,
    evidence_lines,
    pairs_match_log,
    record_suites,
    reseal,
)
from services.privacy.sealing import Sealer
from services.progress import Progress, Say
from services.settings import KafkaRole, Settings

BATCH_EVENTS = 500
"""Events per transaction of the target (each with its signed checkpoint)."""

_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,100}$")


class MigrationRefused(RuntimeError):
    """The migration (or the deletion of the old topics) must not run; ``reasons`` says why,
    one line each."""

    def __init__(self, reasons: list[str]):
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def evidence_path(settings: Settings, from_prefix: str, to_prefix: str) -> Path:
    """Where the migration record of ``from_prefix`` → ``to_prefix`` is kept by default."""
    return settings.state_dir / "migrations" / f"seal-log.{from_prefix}.to.{to_prefix}.jsonl"


def _check_prefixes(from_prefix: str, to_prefix: str) -> None:
    why = []
    if not _PREFIX.match(to_prefix):
        why.append(f"{to_prefix!r} is no topic prefix: letters, digits, '-' and '_' only")
    if to_prefix == from_prefix:
        why.append("the new prefix is the old one: a migration writes new topics")
    # delete_topics(prefix) deletes every '<prefix>.*': neither may ever delete the other.
    if to_prefix.startswith(from_prefix + ".") or from_prefix.startswith(to_prefix + "."):
        why.append(f"{from_prefix} and {to_prefix}: one prefix must not start the other's topics")
    if why:
        raise MigrationRefused(why)


def _ring(settings: Settings) -> KeyRing:
    try:
        return load_ring(settings.key_ring_path)
    except KeyRingError as error:
        raise MigrationRefused([f"no key ring to check checkpoints with: {error}"]) from error


async def _existing_topics(settings: Settings) -> set[str]:
    async with admin(settings.as_kafka_user(KafkaRole.ADMIN)) as client:
        return set(await client.list_topics())


def _by_partition(records: Sequence[Record]) -> dict[int, list[tuple[int, bytes]]]:
    found: dict[int, list[tuple[int, bytes]]] = {}
    for partition, offset, raw in records:
        found.setdefault(partition, []).append((offset, raw))
    return found


def _checkpoints(records: Sequence[Record]) -> list[Checkpoint]:
    found = []
    for _, _, raw in records:
        try:
            found.append(Checkpoint.model_validate_json(raw))
        except ValidationError:
            continue  # vouches for nothing (verify names it)
    return found


def _latest(
    checkpoints: Sequence[Checkpoint], ring: KeyRing, suite: Suite
) -> dict[int, Checkpoint]:
    trusted, _ = trusted_checkpoints(checkpoints, ring, suite)
    latest: dict[int, Checkpoint] = {}
    for checkpoint in trusted:
        known = latest.get(checkpoint.partition)
        if known is None or checkpoint.count > known.count:
            latest[checkpoint.partition] = checkpoint
    return latest


# --- before: is the source quiet and intact? ------------------------------------------------------


async def source_busy(settings: Settings) -> list[str]:
    """Why the source is not quiet: deciders still in its group, or submissions they have not
    decided yet (which the new log would never get: its deciders start from empty topics)."""
    group = settings.decider_group
    settings = settings.as_kafka_user(KafkaRole.ADMIN)  # unless a user is configured
    why = []
    async with admin(settings) as client:
        for response in await client.describe_consumer_groups([group]):
            for described in response.groups:
                _, name, state, _, _, members = described[:6]
                if name == group and (members or state not in ("Empty", "Dead")):
                    why.append(
                        f"the deciders of {settings.topic_prefix} are running ({len(members)} in"
                        f" group {group}, {state}): stop them first"
                    )
        committed = await client.list_consumer_group_offsets(group)
    partitions = await topic_partitions(settings, settings.submissions_topic)
    async with committed_consumer(settings) as consumer:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    undecided = 0
    for tp in partitions:
        # Records expired by the topic's retention are no longer there to decide, and the
        # group's committed offsets expire too once it has been empty for long enough.
        done = committed.get(tp)
        decided = max(starts[tp], done.offset if done is not None else 0)
        undecided += max(ends[tp] - decided, 0)
    if undecided:
        why.append(
            f"{undecided} records of {settings.submissions_topic} are not decided yet (or were"
            " never answered): start the deciders until 'casetrail lag'-style checks show them"
            " done, stop the gateway and the clock first, then migrate"
        )
    return why


@dataclass
class _Source:
    partitions: int
    events: dict[int, list[tuple[int, bytes, Event]]]
    latest: dict[int, Checkpoint]
    ends: dict[int, int]
    """Each partition's end offset (the last stable one) when it was read."""


async def _read_source(settings: Settings, ring: KeyRing) -> _Source:
    """The source log, verified as ``casetrail verify --log-only`` does, with no grace: every
    event must be covered by a signed checkpoint (the deciders are stopped)."""
    reader = settings.as_kafka_user(KafkaRole.AUDITOR)
    partitions = await topic_partitions(reader, settings.events_topic)
    count = len(partitions)
    # Before reading: an event appended meanwhile moves the end past this (see source_grew).
    ends = {tp.partition: end for tp, end in (await end_offsets(reader, partitions)).items()}
    events = await read_topic(reader, settings.events_topic)
    checkpoint_records = await read_topic(reader, settings.checkpoints_topic)
    outcomes = await read_topic(reader, settings.outcomes_topic)
    now = datetime.now(UTC)
    result = verify(
        events,
        checkpoint_records,
        ring,
        None,
        {},
        None,
        outcomes,
        now=now,
        grace=timedelta(0),
        suite=settings.crypto_suite,
    )
    if not result.intact:
        raise MigrationRefused(
            [
                f"the log of {settings.topic_prefix} does not verify ({result.summary()}); a log"
                " that does not verify is not migrated: 'casetrail verify' names the records",
                *(str(p) for p in result.problems[:20]),
            ]
        )
    parsed: dict[int, list[tuple[int, bytes, Event]]] = {p: [] for p in range(count)}
    for partition, offset, raw in events:
        parsed[partition].append((offset, raw, Event.model_validate_json(raw)))
    return _Source(
        count, parsed, _latest(_checkpoints(checkpoint_records), ring, settings.crypto_suite), ends
    )


# --- the target as an earlier run left it ---------------------------------------------------------


@dataclass
class _Target:
    """One partition of the target: what is there, checked against the source."""

    head: str = GENESIS_HASH
    count: int = 0
    latest: Checkpoint | None = None
    pairs: list[Pair] = field(default_factory=list)
    case_heads: dict[str, str] = field(default_factory=dict)


async def _read_target(
    target: Settings, source: _Source, ring: KeyRing
) -> tuple[dict[int, _Target], bool]:
    """Each partition of the target as an earlier run left it, and whether its topics exist.
    Refused when the target is not a prefix of this source's migration."""
    if target.events_topic not in await _existing_topics(target):
        return {p: _Target() for p in range(source.partitions)}, False
    reader = target.as_kafka_user(KafkaRole.AUDITOR)
    partitions = len(await topic_partitions(reader, target.events_topic))
    if partitions != source.partitions:
        raise MigrationRefused(
            [f"{target.events_topic} has {partitions} partitions, the source {source.partitions}"]
        )
    written = _by_partition(await read_topic(reader, target.events_topic))
    signed_records = await read_topic(reader, target.checkpoints_topic)
    latest = _latest(_checkpoints(signed_records), ring, target.crypto_suite)
    states: dict[int, _Target] = {}
    why: list[str] = []
    for partition in range(source.partitions):
        records = written.get(partition, [])
        signed = [latest[partition]] if partition in latest else []
        audit = PartitionAudit(partition, signed, suite=target.crypto_suite)
        for offset, raw in records:
            audit.event(offset, raw)
        refusal = audit.refusal()
        if refusal is not None:
            why.append(f"{target.events_topic} p{partition}: {refusal}")
            continue
        old = source.events[partition]
        if len(records) > len(old):
            why.append(
                f"{target.events_topic} p{partition} holds {len(records)} events, the source"
                f" {len(old)}: the new log is in use already (or another log's migration)"
            )
            continue
        state = _Target(audit.head, audit.count, audit.latest)
        for (new_offset, raw), (old_offset, _, event) in zip(records, old, strict=False):
            new = Event.model_validate_json(raw)
            if new.event_id != event.event_id:
                why.append(
                    f"{target.events_topic} p{partition}@{new_offset} is event {new.event_id},"
                    f" where the source has {event.event_id}: not this log's migration"
                )
                break
            state.pairs.append(_pair(partition, old_offset, event, new_offset, new))
            state.case_heads[new.case_id] = new.hash
        states[partition] = state
    if why:
        why.append(
            f"the topics {target.topic_prefix}.* are not a migration of the log of this"
            " source: choose another --to-prefix (or delete them, if nobody needs them)"
        )
        raise MigrationRefused(why)
    return states, True


def _pair(partition: int, old_offset: int, old: Event, new_offset: int, new: Event) -> Pair:
    return Pair(
        partition,
        old_offset,
        old.hash,
        new_offset,
        new.hash,
        str(old.event_id),
        old.case_id,
        old.version,
    )


# --- the migration -------------------------------------------------------------------------------


def target_settings(
    settings: Settings, to_prefix: str, partitions: int, suite: Suite | None = None
) -> Settings:
    """The new log's settings: the source's, with its prefix (and suite: its keys are then the
    suite's own, ``Settings.keys_dir``)."""
    update = {"topic_prefix": to_prefix, "partitions": partitions}
    return settings.model_copy(update=update | {"crypto_suite": suite or settings.crypto_suite})


def _check_suite_keys(settings: Settings, to_suite: Suite) -> None:
    if to_suite is settings.crypto_suite:
        return
    named = [
        variable
        for variable, value in (
            ("CASETRAIL_SIGNING_KEY_FILE", settings.signing_key_file),
            ("CASETRAIL_KEY_RING_FILE", settings.key_ring_file),
        )
        if value is not None
    ]
    if named:
        raise MigrationRefused(
            [
                f"{' and '.join(named)} name one suite's keys, and the old and the new log are"
                f" of two ({settings.crypto_suite}, {to_suite}): unset them, so that each suite's"
                f" keys are those under {settings.state_dir / 'keys'} (Settings.keys_dir)"
            ]
        )


async def _source_keys(settings: Settings, source: _Source) -> dict[str, bytes | None]:
    """The keys of every data subject the source's events hold (None: destroyed)."""
    subjects = {
        s for events in source.events.values() for _, _, e in events for s in subjects_in(e.payload)
    }
    async with open_keystore(settings) as keystore:
        await keystore.check_master()
        return await keystore.get(subjects)


async def seal_log(
    settings: Settings,
    to_prefix: str,
    say: Say,
    dry_run: bool = False,
    evidence: Path | None = None,
    batch_events: int = BATCH_EVENTS,
    to_suite: Suite | None = None,
) -> MigrationReport:
    """Migrate the log of ``settings.topic_prefix`` into ``to_prefix`` (module docstring),
    under ``to_suite`` (None: the source's); with ``dry_run``, only say what it would write.
    Raises ``MigrationRefused``."""
    from_prefix = settings.topic_prefix
    to_suite = to_suite or settings.crypto_suite
    _check_prefixes(from_prefix, to_prefix)
    _check_suite_keys(settings, to_suite)
    ring = _ring(settings)
    report = MigrationReport(
        from_prefix, to_prefix, dry_run, from_suite=settings.crypto_suite, to_suite=to_suite
    )
    busy = await source_busy(settings)
    if busy and not dry_run:
        raise MigrationRefused(busy)
    for line in busy:
        say(f"warning: {line}")
    say(f"reading and verifying the log of {from_prefix} ({settings.crypto_suite})")
    source = await _read_source(settings, ring)
    target = target_settings(settings, to_prefix, source.partitions, to_suite)
    target_ring = ring if to_suite is settings.crypto_suite else _ring(target)
    states, exists = await _read_target(target, source, target_ring)
    change, old_keys = None, []
    if to_suite is not settings.crypto_suite:
        # Every sealed value moves to the new suite's cipher: each is opened (checked below,
        # before anything is written), sealed again under a new subject, and the old key goes.
        change = SuiteChange(await _source_keys(settings, source))
        old_keys = sorted(s for s, key in change.keys.items() if key is not None)
        report.old_keys_destroyed = len(old_keys)
    for partition, state in states.items():
        report.partitions.append(
            PartitionReport(partition, len(source.events[partition]), done=state.count)
        )
    if exists:
        say(f"{target.events_topic} exists: {sum(s.count for s in states.values())} events kept")
    # Every event is checked (and counted) before anything is written: one the current schema
    # cannot read stops the migration here, not halfway through.
    for part in report.partitions:
        for _, _, event in source.events[part.partition][part.done :]:
            checked = _resealed(event, GENESIS_HASH, None, part.partition, to_suite, change)
            _count(part, checked)
    if dry_run:
        return report
    report.partitions = [PartitionReport(p.partition, p.events, p.done) for p in report.partitions]

    signer = Signer(target.signing_key_path, target.key_ring_path, to_suite)
    try:
        signer.check(datetime.now(UTC))
    except SigningKeyNotTrusted as error:
        raise MigrationRefused([f"cannot sign checkpoints for the new log: {error}"]) from error
    await create_topics(target, say)
    progress = Progress(sum(p.events - p.done for p in report.partitions), say, "events")
    async with open_keystore(target) as keystore:  # wraps the new keys under the new suite
        for part in report.partitions:
            state = states[part.partition]
            await _write_partition(
                target, source, state, part, (signer, keystore, progress), batch_events, change
            )
    grown = await end_offsets(
        settings.as_kafka_user(KafkaRole.AUDITOR),
        [TopicPartition(settings.events_topic, p) for p in range(source.partitions)],
    )
    report.source_grew = sum(
        max(0, end - source.ends.get(tp.partition, end)) for tp, end in grown.items()
    )
    path = evidence or evidence_path(settings, from_prefix, to_prefix)
    partitions = [
        PartitionEvidence(
            p,
            len(states[p].pairs),
            source.latest.get(p),
            states[p].latest if states[p].pairs else None,
        )
        for p in range(source.partitions)
    ]
    pairs = [pair for p in range(source.partitions) for pair in states[p].pairs]
    at = datetime.now(UTC)
    suites = (settings.crypto_suite, to_suite)
    lines = evidence_lines(from_prefix, to_prefix, partitions, pairs, signer.check(at), at, suites)
    data = b"".join(line + b"\n" for line in lines)
    write_private(path, data)
    report.evidence = str(path)
    if change is not None:
        # The old log's copies must not outlive an erasure on the new one, which names only
        # the new subjects: once the record stands, the old keys go (the old log's chains and
        # checkpoints, its evidence, do not need them).
        check = check_evidence(data, {settings.crypto_suite: ring, to_suite: target_ring})
        if not check.valid:
            raise MigrationRefused(["the record just written does not check", *check.problems])
        because = (
            f"sealed again under {to_suite} by the migration {from_prefix} -> {to_prefix}"
            f" (record {path.name})"
        )
        async with open_keystore(settings) as keystore:
            report.old_keys_destroyed = len(await keystore.destroy(old_keys, because))
    return report


def _resealed(
    event: Event,
    prev_hash: str,
    sealer: Sealer | None,
    partition: int,
    suite: Suite,
    change: SuiteChange | None,
) -> Resealed:
    try:
        return reseal(event, prev_hash, sealer, suite, change)
    except Unmigratable as error:
        raise MigrationRefused([f"p{partition}: {error}"]) from error


def _count(part: PartitionReport, resealed: Resealed) -> None:
    part.written += 1
    part.sealed_events += resealed.values > 0
    part.values += resealed.values
    part.subjects += resealed.subjects
    part.upcast += resealed.upcast
    part.kept_sealed += resealed.kept_sealed
    part.reopened += len(resealed.old_subjects)
    part.erased += resealed.erased


async def _write_partition(
    target: Settings,
    source: _Source,
    state: _Target,
    part: PartitionReport,
    tools: tuple[Signer, KeyStore, Progress],
    batch_events: int,
    change: SuiteChange | None,
) -> None:
    """The source events of the partition that the target lacks, in transactions of events,
    their checkpoint and (stored before the commit) their new keys."""
    signer, keystore, progress = tools
    todo = source.events[part.partition][state.count :]
    if not todo:
        return
    writer = target.as_kafka_user(KafkaRole.DECIDER)
    producer = AIOKafkaProducer(
        **client_options(writer),
        # The decider's transactional id for this partition of the new log: a later run, or a
        # decider started too early, fences this one (and the reverse).
        transactional_id=f"{writer.decider_group}.p{part.partition}",
        enable_idempotence=True,
        acks="all",
    )
    await producer.start()
    suite = target.crypto_suite
    sealer = Sealer(suite)
    try:
        for start in range(0, len(todo), batch_events):
            batch = todo[start : start + batch_events]
            resealed = []
            for _, _, event in batch:
                prev = state.case_heads.get(event.case_id, GENESIS_HASH)
                done = _resealed(event, prev, sealer, part.partition, suite, change)
                state.case_heads[event.case_id] = done.event.hash
                resealed.append(done)
            async with producer.transaction():
                sent: list[RecordMetadata] = []
                futures = [
                    await producer.send(
                        writer.events_topic,
                        r.event.model_dump_json().encode(),
                        key=r.event.case_id.encode(),
                        partition=part.partition,
                    )
                    for r in resealed
                ]
                for future in futures:
                    sent.append(await future)
                head, count = state.head, state.count
                for r in resealed:
                    head = partition_chain(head, r.event.hash, suite)
                    count += 1
                now = datetime.now(UTC)
                checkpoint = signer.sign(part.partition, sent[-1].offset, count, head, now)
                await producer.send_and_wait(
                    writer.checkpoints_topic,
                    checkpoint.record(),
                    key=str(part.partition).encode(),
                    partition=part.partition,
                )
                # Durable before the events commit: a committed event whose key was lost could
                # never be read. Keys of a transaction that then aborts stay unused.
                await keystore.put(sealer.take())
            state.head, state.count, state.latest = head, count, checkpoint
            for (old_offset, _, old), r, metadata in zip(batch, resealed, sent, strict=True):
                state.pairs.append(_pair(part.partition, old_offset, old, metadata.offset, r.event))
                _count(part, r)
            part.transactions += 1
            progress.add(len(batch))
    finally:
        sealer.drop()
        await producer.stop()


# --- after: the record, and the old topics -------------------------------------------------------


async def audit_evidence(settings: Settings, path: Path) -> EvidenceCheck:
    """Check the migration record at ``path`` with the pinned ring (``check_evidence``), then
    against the logs that still exist: the new log (``to_prefix``) must begin with exactly its
    new events, the old one (``from_prefix``), if its topics still exist, with its old ones."""
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        raise MigrationRefused([f"no migration record at {path}: {error.strerror}"]) from error
    suites = _header_suites(data)
    rings = {s: _ring(settings.model_copy(update={"crypto_suite": s})) for s in suites}
    check = check_evidence(data, rings)
    if not check.header:
        return check
    existing = await _existing_topics(settings)
    for side, prefix in (("new", check.header["to_prefix"]), ("old", check.header["from_prefix"])):
        log = settings.model_copy(update={"topic_prefix": prefix}).as_kafka_user(KafkaRole.AUDITOR)
        if log.events_topic not in existing:
            if side == "new":
                check.problems.append(f"the new log {log.events_topic} does not exist")
            continue
        records = _by_partition(await read_topic(log, log.events_topic))
        for partition, pairs in check.by_partition().items():
            check.problems += pairs_match_log(pairs, records.get(partition, []), side)
    return check


def _header_suites(data: bytes) -> set[Suite]:
    """The suites a record names (the rings to load); what it is otherwise ``check_evidence``
    says."""
    try:
        header = json.loads(data.split(b"\n", 1)[0])
        return set(record_suites(header))
    except (ValueError, TypeError, AttributeError):
        return {Suite.INTERNATIONAL}


async def drop_old(
    settings: Settings, from_prefix: str, evidence: Path | None, yes: bool
) -> list[str]:
    """Delete the topics of ``from_prefix`` (and their ACLs), the plaintext log among them, once
    the migration record of ``from_prefix`` → ``settings.topic_prefix`` checks, the new log
    begins with its events, and the old log holds nothing the migration did not copy. Without
    ``yes``, only names them. Returns the topics (to be) deleted."""
    to_prefix = settings.topic_prefix
    _check_prefixes(from_prefix, to_prefix)
    path = evidence or evidence_path(settings, from_prefix, to_prefix)
    check = await audit_evidence(settings, path)
    header = check.header
    if header and (header["from_prefix"], header["to_prefix"]) != (from_prefix, to_prefix):
        check.problems.append(
            f"{path} is the record of {header['from_prefix']} -> {header['to_prefix']}, not of"
            f" {from_prefix} -> {to_prefix}"
        )
    old = settings.model_copy(update={"topic_prefix": from_prefix})
    existing = sorted(t for t in await _existing_topics(old) if t.startswith(from_prefix + "."))
    if check.valid and old.events_topic in existing:
        records = _by_partition(
            await read_topic(old.as_kafka_user(KafkaRole.AUDITOR), old.events_topic)
        )
        for partition, pairs in check.by_partition().items():
            extra = len(records.get(partition, [])) - len(pairs)
            if extra > 0:
                check.problems.append(
                    f"{old.events_topic} p{partition} has {extra} events the migration did not"
                    " copy: run 'casetrail migrate seal-log' again first"
                )
    if not check.valid:
        raise MigrationRefused(check.problems)
    if yes and existing:
        await delete_topics(old)
    return existing
