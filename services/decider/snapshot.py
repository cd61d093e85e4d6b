"""The decider's snapshots: what a take-over loads instead of folding a partition's whole log.

Partition p of the snapshots topic (compacted) holds, by key:

- each case's record (key = its case_id): the case's state, and in chunks (``<case_id>/<n>``)
  the outcome of every submission on it that was vouched for (``PartitionState.replay_outcome``),
  so that a re-send is answered with its original outcome however old it is (the outcomes topic
  keeps a week only);
- one head (key ``HEAD_KEY``): where the snapshot stands on the log (the chain over the events
  it covers, the checkpoint that signs that chain, where the outcomes not in it start).

A snapshot is written in the transaction of the batch it follows, the head after the records of
every case changed since the previous one. Transactions are atomic and compaction keeps the
latest record per key, so the committed records of the partition, read to the end, are one
consistent snapshot: the latest head and, for each case, its latest record.

A take-over trusts a snapshot only where the log and the signed checkpoints agree with it (the
checkpoint at its head's count carries its chain); it then folds the events and outcomes after
it. Anything else (no snapshot, one that does not read, one of another log) means the whole log
is folded, as before snapshots.
"""

import json
import uuid
from datetime import datetime

from pydantic import Field, ValidationError

from events.model import Frozen, Outcome, UtcDatetime
from events.state import CaseState
from services.adapters.case_store import Layout

HEAD_KEY = b"#head"
"""No case_id starts with '#': the key of the head cannot be a case's."""

FORMAT = 1
"""Bumped when the records change shape: a take-over ignores snapshots of another format (and
folds the whole log, writing a snapshot of its own format at the next interval)."""


class CaseRecord(Frozen):
    """One case as the decider knows it (None: a case_id that only ever got refusals), and how
    many outcomes it has, which its chunks hold."""

    format: int = FORMAT
    state: CaseState | None
    outcomes: int = Field(ge=0)


class OutcomeChunk(Frozen):
    """Outcomes ``CHUNK * index`` onwards of a case (key ``<case_id>/<index>``): a case with
    many submissions never makes a record too large for Kafka, and a snapshot rewrites only
    its last chunk."""

    format: int = FORMAT
    outcomes: tuple[Outcome, ...]


CHUNK = 100
"""Outcomes per chunk: at most ~600 kB even if each quotes 2,000 Chinese characters."""


def chunk_key(case_id: str, index: int) -> bytes:
    return f"{case_id}/{index}".encode()


class Head(Frozen):
    """Where a partition's snapshot stands on the log."""

    format: int = FORMAT
    partition: int = Field(ge=0)
    chain_head: str
    chain_count: int = Field(ge=0)
    """The events the snapshot covers: every event of the partition up to ``chain_last_offset``."""
    chain_last_offset: int = Field(ge=-1)
    checkpoint_offset: int = Field(ge=-1)
    """The offset of the checkpoint signing that chain on the checkpoints topic (-1: no events
    yet, none needed): later checkpoints are read from there."""
    outcomes_from: int = Field(ge=0)
    """Outcomes from this offset on are not in the snapshot: a take-over reads them."""
    submissions_next: int = Field(ge=0)
    """The next submission to decide when the snapshot was written (for the operator's eyes:
    the consumer group's committed offset is what counts)."""
    cases: int = Field(ge=0)
    written_at: UtcDatetime

    @property
    def events_from(self) -> int:
        return self.chain_last_offset + 1


def case_records(
    case_id: str, state: CaseState | None, outcomes: list[bytes], first_changed: int
) -> list[tuple[bytes, bytes]]:
    """A case's record, and those of its chunks from the one holding outcome ``first_changed``
    on (the earlier ones are in the snapshot already), as (key, value); ``outcomes`` as JSON."""
    record = CaseRecord(state=state, outcomes=len(outcomes))
    records = [(case_id.encode(), record.model_dump_json().encode())]
    for index in range(first_changed // CHUNK, (len(outcomes) + CHUNK - 1) // CHUNK):
        chunk = b",".join(outcomes[index * CHUNK : (index + 1) * CHUNK])
        # An OutcomeChunk, written from the outcomes' JSON as the state keeps it.
        value = b'{"format":%d,"outcomes":[%b]}' % (FORMAT, chunk)
        records.append((chunk_key(case_id, index), value))
    return records


def chunk_submissions(value: bytes) -> list[tuple[uuid.UUID, str]]:
    """The (submission_id, case_id) of a chunk's outcomes, as far as they read (a chunk that
    does not read is found when its case is read whole)."""
    try:
        outcomes = json.loads(value)["outcomes"]
        return [(uuid.UUID(o["submission_id"]), str(o["case_id"])) for o in outcomes]
    except (ValueError, TypeError, KeyError):
        return []


LAYOUT = Layout(HEAD_KEY, chunk_submissions)
"""What the case store must know of these records."""


class StoredCaseUnreadable(ValueError):
    """A case's records in the case store do not read whole: the snapshot is not trusted."""


def stored_cases(
    records: list[tuple[bytes, bytes]],
) -> dict[str, tuple[CaseState | None, list[Outcome]]]:
    """The cases the case store's records hold, each whole (StoredCaseUnreadable if not)."""
    snapshot = Snapshot()
    for key, value in records:
        snapshot.record(key, value)
    if snapshot.unreadable:
        raise StoredCaseUnreadable(f"{snapshot.unreadable} of its records do not read")
    try:
        return snapshot.cases()
    except ValueError as error:
        raise StoredCaseUnreadable(str(error)) from error


def stored_head(value: bytes | None) -> tuple[Head | None, str | None]:
    """The head the case store holds, or why it cannot be used."""
    if value is None:
        return None, None
    snapshot = Snapshot()
    snapshot.record(HEAD_KEY, value)
    return snapshot.head, None if snapshot.head is not None else "its head does not read"


class Snapshot:
    """One partition's snapshot as read back: the latest head and each key's latest record,
    fed in offset order. Records that do not read are counted, never fatal."""

    def __init__(self) -> None:
        self.head: Head | None = None
        self.records: dict[str, CaseRecord] = {}
        self.chunks: dict[tuple[str, int], OutcomeChunk] = {}
        self.keys: set[bytes] = set()
        """Every live key: those the owner no longer knows are deleted by its next snapshot."""
        self.unreadable = 0

    def record(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self.unreadable += 1
            return
        if value is None:  # a tombstone
            self.keys.discard(key)
            self.records.pop(key.decode(errors="replace"), None)
            return
        self.keys.add(key)
        try:
            if key == HEAD_KEY:
                head = Head.model_validate_json(value)
                self.head = head if head.format == FORMAT else None
            elif b"/" in key:
                case_id, index = key.decode().rsplit("/", 1)
                chunk = OutcomeChunk.model_validate_json(value)
                if chunk.format == FORMAT:
                    self.chunks[case_id, int(index)] = chunk
            else:
                record = CaseRecord.model_validate_json(value)
                if record.format == FORMAT:
                    self.records[key.decode()] = record
        except (ValidationError, ValueError):
            self.unreadable += 1

    def problem(self, partition: int) -> str | None:
        """Why this snapshot cannot be used for ``partition`` (None: it can, as far as it
        alone can tell; the runtime then checks it against the log)."""
        if self.head is None:
            return "no snapshot"
        if self.head.partition != partition:
            return f"its head names partition {self.head.partition}"
        if self.unreadable:
            return f"{self.unreadable} of its records do not read"
        if self.head.cases != len(self.records):
            return f"its head counts {self.head.cases} cases, its records {len(self.records)}"
        return None

    def cases(self) -> dict[str, tuple[CaseState | None, list[Outcome]]]:
        """Each case's state and outcomes; ValueError if a chunk is missing or short."""
        cases = {}
        for case_id, record in self.records.items():
            outcomes: list[Outcome] = []
            for index in range((record.outcomes + CHUNK - 1) // CHUNK):
                chunk = self.chunks.get((case_id, index))
                if chunk is None:
                    raise ValueError(f"case {case_id}: chunk {index} of its outcomes is missing")
                outcomes.extend(chunk.outcomes)
            if len(outcomes) < record.outcomes:
                raise ValueError(f"case {case_id}: {len(outcomes)} of {record.outcomes} outcomes")
            cases[case_id] = (record.state, outcomes[: record.outcomes])
        return cases


def head_record(
    partition: int,
    chain: tuple[str, int, int],
    checkpoint_offset: int,
    outcomes_from: int,
    submissions_next: int,
    cases: int,
    now: datetime,
) -> bytes:
    head, count, last_offset = chain
    return (
        Head(
            partition=partition,
            chain_head=head,
            chain_count=count,
            chain_last_offset=last_offset,
            checkpoint_offset=checkpoint_offset,
            outcomes_from=outcomes_from,
            submissions_next=submissions_next,
            cases=cases,
            written_at=now,
        )
        .model_dump_json()
        .encode()
    )
