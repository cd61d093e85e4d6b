"""Sealing a log written in plaintext: the pure part of ``casetrail migrate seal-log``
(docs/privacy-migration.md; the I/O is ``services.privacy.relog``).

Kafka records never change, so a key made today cannot erase a name appended in plaintext
yesterday. The migration writes the log again, under a new topic prefix:

- each event keeps its id, case, version, type, times, actor, submission and correlation ids;
- an event whose type has personal fields and whose values are in plaintext is upcast to the
  current schema version (so that every personal value sits where the schema marks it: a
  version-1 ``complaint.registered`` held the complainant as one free-text string) and each of
  its personal values sealed under a new data subject's key, as the decider seals (``Sealer``);
- an event sealed already (appended by a decider that sealed) keeps its payload: its sealed
  values are bound to its case, event id and place, none of which changes, so they still open;
- every other event keeps its payload and schema version;
- every event is chained again: ``prev_hash`` is the new hash of the case's event before it,
  ``hash`` is computed over the new content.

The old chain is kept as evidence (``Evidence``): per partition, the source's last signed
checkpoint and the new log's, and for every event its old and its new hash, in log order, signed
with the decider's checkpoint key. ``check_evidence`` recomputes both partition chains from the
hashes alone: the old hashes are exactly the events the old signed checkpoint covers, the new
ones exactly those the new signed checkpoint covers, pair by pair the same event.
"""

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError

from events.hashing import GENESIS_HASH, canonical_json, partition_chain
from events.lifecycles import EVENT_PAYLOADS
from events.model import Event
from events.privacy import personal_fields
from events.sealed import sealed_values
from events.suite import Suite
from events.upcasting import CURRENT_VERSIONS, typed_payload, upcast
from services.integrity.algorithms import PrivateKey
from services.integrity.checkpoints import Checkpoint
from services.integrity.keyring import KeyPurpose, KeyRing, key_id
from services.integrity.log_check import untrusted
from services.privacy.sealing import Sealer

EVIDENCE_KIND = "casetrail/seal-log-migration/v1"
"""The first field of a migration record: what it is, and in which format."""


class Unmigratable(ValueError):
    """An event the migration cannot vouch for: it cannot say that every personal value of it
    would be sealed (an unknown type, a payload its current schema does not describe)."""


@cache
def has_personal_fields(event_type: str) -> bool:
    """Whether the current schema of ``event_type`` marks any field as personal data."""
    schema = EVENT_PAYLOADS[event_type].model_json_schema()
    return "x-personal-data" in json.dumps(schema)


@dataclass(frozen=True)
class Resealed:
    """One event as the new log stores it, and what the migration did to it."""

    event: Event
    subjects: int
    """New data subjects (each with a new key) of its personal values."""
    values: int
    """Personal values sealed."""
    upcast: bool
    """Upcast to its type's current schema version before sealing."""
    kept_sealed: bool
    """Sealed already on the source: its payload is copied as it is."""


def reseal(source: Event, prev_hash: str, sealer: Sealer | None, suite: Suite) -> Resealed:
    """``source`` for the new log: upcast and sealed where it holds personal values in
    plaintext (with ``sealer``; None: counted only, for a dry run), chained after ``prev_hash``
    and hashed again. Raises ``Unmigratable``."""
    if source.type not in EVENT_PAYLOADS:
        raise Unmigratable(f"{source.case_id} v{source.version}: unknown event type {source.type}")
    try:
        # What folding validates: the payload upcast to the current schema (sealed values as
        # placeholders). A payload the schema describes holds no personal value it does not mark.
        typed_payload(source)
    except (ValidationError, ValueError, KeyError, TypeError) as error:
        raise Unmigratable(
            f"{source.case_id} v{source.version} ({source.type}, schema version"
            f" {source.schema_version}): its payload does not read in the current schema, so"
            f" nobody can say where its personal data is: {str(error)[:300]}"
        ) from error
    kept_sealed = bool(sealed_values(source.payload))
    payload, schema_version, upcast_now = source.payload, source.schema_version, False
    if not kept_sealed and has_personal_fields(source.type):
        payload = upcast(source.type, source.schema_version, dict(source.payload))
        schema_version = CURRENT_VERSIONS.get(source.type, 1)
        upcast_now = schema_version != source.schema_version
    event = source.model_copy(
        update={"payload": payload, "schema_version": schema_version, "prev_hash": prev_hash}
    )
    found = [] if kept_sealed else personal_fields(event.type, event.payload)
    if found and sealer is not None:
        event = sealer.seal(event)
    event = event.model_copy(update={"hash": event.computed_hash(suite)})
    return Resealed(event, len({f.holder for f in found}), len(found), upcast_now, kept_sealed)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class PartitionReport:
    """One partition of a migration (or of a dry run: what it would do)."""

    partition: int
    events: int = 0
    """Events of the source partition."""
    done: int = 0
    """Of those, already on the target (an earlier run wrote them)."""
    written: int = 0
    """Written by this run (a dry run: would be)."""
    sealed_events: int = 0
    """Of those written, events given sealed values."""
    values: int = 0
    subjects: int = 0
    """New data subjects (keys) of those events."""
    upcast: int = 0
    kept_sealed: int = 0
    transactions: int = 0

    def line(self, dry_run: bool) -> str:
        verb = "would write" if dry_run else "wrote"
        resumed = f" ({self.done} already on the target)" if self.done else ""
        return (
            f"p{self.partition}: {plural(self.events, 'event')}{resumed}; {verb}"
            f" {self.written}: {self.sealed_events} sealed now"
            f" ({plural(self.values, 'personal value')} of"
            f" {plural(self.subjects, 'data subject')}; {self.upcast} upcast to the current"
            f" schema first), {self.kept_sealed} sealed before (copied as they were)"
        )


@dataclass
class MigrationReport:
    from_prefix: str
    to_prefix: str
    dry_run: bool
    partitions: list[PartitionReport] = field(default_factory=list)
    evidence: str | None = None
    """Where the migration record was written."""
    source_grew: int = 0
    """Offsets the source's events topic grew by while it ran (a decider still running)."""

    def lines(self) -> list[str]:
        lines = [p.line(self.dry_run) for p in self.partitions]
        total = sum(p.written for p in self.partitions)
        subjects = sum(p.subjects for p in self.partitions)
        verb = "would write" if self.dry_run else "wrote"
        lines.append(
            f"{self.from_prefix} -> {self.to_prefix}: {verb} {plural(total, 'event')},"
            f" {plural(subjects, 'new data subject')}"
            + (" (dry run: nothing written)" if self.dry_run else "")
        )
        if self.evidence:
            lines.append(f"evidence (old hash -> new hash, signed): {self.evidence}")
        if self.source_grew:
            lines.append(
                f"warning: the source's events topic grew by {plural(self.source_grew, 'offset')}"
                " while migrating (is a decider still running?): stop it and run the migration"
                " again, which copies only what is missing"
            )
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "from_prefix": self.from_prefix,
            "to_prefix": self.to_prefix,
            "dry_run": self.dry_run,
            "partitions": [p.__dict__ for p in self.partitions],
            "evidence": self.evidence,
            "source_grew": self.source_grew,
        }


# --- the evidence: the old chain kept, mapped onto the new one ---------------------------------


@dataclass(frozen=True)
class Pair:
    """One event on both logs."""

    partition: int
    old_offset: int
    old_hash: str
    new_offset: int
    new_hash: str
    event_id: str
    case_id: str
    version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "old_offset": self.old_offset,
            "old_hash": self.old_hash,
            "new_offset": self.new_offset,
            "new_hash": self.new_hash,
            "event_id": self.event_id,
            "case_id": self.case_id,
            "version": self.version,
        }


@dataclass(frozen=True)
class PartitionEvidence:
    partition: int
    events: int
    source_checkpoint: Checkpoint | None
    """The source's latest trusted checkpoint: it covers exactly the old hashes."""
    target_checkpoint: Checkpoint | None
    """The new log's checkpoint over exactly the new hashes."""

    def as_json(self) -> dict[str, Any]:
        def of(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
            return None if checkpoint is None else checkpoint.model_dump(mode="json")

        return {
            "partition": self.partition,
            "events": self.events,
            "source_checkpoint": of(self.source_checkpoint),
            "target_checkpoint": of(self.target_checkpoint),
        }


def _signed_message(digest: str) -> bytes:
    return f"{EVIDENCE_KIND}\n{digest}".encode()


def evidence_lines(
    from_prefix: str,
    to_prefix: str,
    partitions: Sequence[PartitionEvidence],
    pairs: Iterable[Pair],
    key: PrivateKey,
    at: datetime,
) -> list[bytes]:
    """The migration record, JSON Lines (each line canonical JSON): a header naming both
    prefixes and, per partition, the source's last signed checkpoint and the new log's; one line
    per event (old and new place and hash); and last, the signature (Ed25519, the decider's
    checkpoint key, of the log's suite) over the SHA-256 of every line before it."""
    header = {
        "kind": EVIDENCE_KIND,
        "from_prefix": from_prefix,
        "to_prefix": to_prefix,
        "created_at": at.isoformat(),
        "partitions": [p.as_json() for p in partitions],
    }
    lines = [canonical_json(header), *(canonical_json(p.as_json()) for p in pairs)]
    digest = hashlib.sha256(b"".join(line + b"\n" for line in lines)).hexdigest()
    signature = base64.b64encode(key.sign(_signed_message(digest))).decode()
    kid = key_id(key.public_key())
    lines.append(canonical_json({"sha256": digest, "key_id": kid, "signature": signature}))
    return lines


@dataclass
class EvidenceCheck:
    """What ``check_evidence`` found: the record's content, and every problem with it."""

    header: dict[str, Any] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def by_partition(self) -> dict[int, list[Pair]]:
        found: dict[int, list[Pair]] = {}
        for pair in self.pairs:
            found.setdefault(pair.partition, []).append(pair)
        return found


def check_evidence(data: bytes, ring: KeyRing, suite: Suite) -> EvidenceCheck:
    """Check a migration record with the pinned key ring alone: its signature (a checkpoint key
    of the ring, valid when it was made); per partition, that the old hashes, chained, give the
    head the source's signed checkpoint holds (so they are exactly the events of the old log it
    covers), and the new hashes the head of the new log's signed checkpoint; that no event,
    old hash or new hash is there twice."""
    check = EvidenceCheck()
    lines = data.splitlines()
    if len(lines) < 2:
        check.problems.append("not a migration record: fewer than two lines")
        return check
    try:
        header = json.loads(lines[0])
        trailer = json.loads(lines[-1])
        check.pairs = [Pair(**json.loads(line)) for line in lines[1:-1]]
        check.header = header
        if header.get("kind") != EVIDENCE_KIND:
            raise ValueError(f"kind {header.get('kind')!r}, not {EVIDENCE_KIND}")
        created = datetime.fromisoformat(header["created_at"])
        partitions = [
            (
                int(p["partition"]),
                int(p["events"]),
                _checkpoint(p["source_checkpoint"]),
                _checkpoint(p["target_checkpoint"]),
            )
            for p in header["partitions"]
        ]
    except (ValueError, KeyError, TypeError) as error:
        check.problems.append(f"not a readable migration record: {error}")
        return check

    digest = hashlib.sha256(b"".join(line + b"\n" for line in lines[:-1])).hexdigest()
    key = ring.get(str(trailer.get("key_id")), KeyPurpose.CHECKPOINT)
    if trailer.get("sha256") != digest:
        check.problems.append("the record was changed after it was signed (its SHA-256 differs)")
    elif key is None:
        check.problems.append(
            f"signed with key {trailer.get('key_id')}, not a checkpoint key of the pinned ring"
        )
    else:
        try:
            key.public_key.verify(
                base64.b64decode(str(trailer.get("signature"))), _signed_message(digest)
            )
        except (InvalidSignature, ValueError):
            check.problems.append(f"its signature does not verify with key {key.key_id}")
        if not key.valid_at(created):
            check.problems.append(f"key {key.key_id} was not valid at {created.isoformat()}")

    grouped = check.by_partition()
    for partition, events, source, target in partitions:
        pairs = grouped.pop(partition, [])
        where = f"p{partition}"
        if len(pairs) != events:
            check.problems.append(f"{where}: {len(pairs)} events listed, the header says {events}")
        for side, checkpoint, hashes, offsets in (
            ("old", source, [p.old_hash for p in pairs], [p.old_offset for p in pairs]),
            ("new", target, [p.new_hash for p in pairs], [p.new_offset for p in pairs]),
        ):
            check.problems += _chain_problems(where, side, checkpoint, hashes, offsets, ring, suite)
    for partition in grouped:
        check.problems.append(f"p{partition}: events listed for a partition the header lacks")
    for name, values in (
        ("event", [p.event_id for p in check.pairs]),
        ("old hash", [p.old_hash for p in check.pairs]),
        ("new hash", [p.new_hash for p in check.pairs]),
    ):
        if len(set(values)) != len(values):
            check.problems.append(f"an {name} is listed twice")
    return check


def _checkpoint(value: Any) -> Checkpoint | None:
    return None if value is None else Checkpoint.model_validate(value)


def _chain_problems(
    where: str,
    side: str,
    checkpoint: Checkpoint | None,
    hashes: list[str],
    offsets: list[int],
    ring: KeyRing,
    suite: Suite,
) -> list[str]:
    log = "the source's" if side == "old" else "the new log's"
    if checkpoint is None:
        return [] if not hashes else [f"{where}: no signed checkpoint of {log} for its events"]
    problems = []
    problem = untrusted(checkpoint, ring, suite)
    if problem is not None:
        problems.append(f"{where}: {log} checkpoint vouches for nothing: {problem}")
    if checkpoint.partition != int(where[1:]):
        problems.append(f"{where}: {log} checkpoint is of p{checkpoint.partition}")
    head = GENESIS_HASH
    for event_hash in hashes:
        head = partition_chain(head, event_hash, suite)
    last = offsets[-1] if offsets else -1
    if (checkpoint.count, checkpoint.head, checkpoint.offset) != (len(hashes), head, last):
        problems.append(
            f"{where}: the {side} hashes, chained, are not what {log} signed checkpoint covers"
            f" ({len(hashes)} events through offset {last}; it signed {checkpoint.count}"
            f" through offset {checkpoint.offset})"
        )
    return problems


def pairs_match_log(
    pairs: Sequence[Pair], records: Sequence[tuple[int, bytes]], side: str
) -> list[str]:
    """Whether a partition of a log (its records as (offset, raw value), in offset order)
    begins with exactly the events of ``pairs`` on ``side`` ("old" or "new"): same offsets,
    same hashes, same event ids. The problems, one line each."""
    problems = []
    if len(records) < len(pairs):
        return [f"the {side} log holds {len(records)} events, the record lists {len(pairs)}"]
    for pair, (offset, raw) in zip(pairs, records, strict=False):
        fields = json.loads(raw)
        expected = (
            (pair.old_offset, pair.old_hash) if side == "old" else (pair.new_offset, pair.new_hash)
        )
        if (offset, fields.get("hash")) != expected or fields.get("event_id") != pair.event_id:
            problems.append(
                f"p{pair.partition}@{offset} of the {side} log is not event {pair.event_id}"
                f" with hash {expected[1][:12]}… at offset {expected[0]}"
            )
            break
    return problems
