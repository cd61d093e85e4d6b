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
  unless the new log is of another cryptographic suite (``SuiteChange``, docs/suite-migration.md):
  then each of its sealed values is opened with its subject's key and sealed again under a new
  subject with a key of the new suite's cipher; a value whose key is destroyed (erased) is
  copied as it is, and stays erased;
- every other event keeps its payload and schema version;
- every event is chained again: ``prev_hash`` is the new hash of the case's event before it,
  ``hash`` is computed over the new content, with the new log's suite's hash.

The old chain is kept as evidence (``Evidence``): per partition, the source's last signed
checkpoint and the new log's, and for every event its old and its new hash, in log order, signed
with the new log's checkpoint key. ``check_evidence`` recomputes both partition chains from the
hashes alone: the old hashes are exactly the events the old signed checkpoint covers, the new
ones exactly those the new signed checkpoint covers, pair by pair the same event.
"""

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError

from events.hashing import GENESIS_HASH, canonical_json, partition_chain
from events.lifecycles import EVENT_PAYLOADS
from events.model import Event
from events.privacy import personal_fields, pointer_text
from events.sealed import replaced, sealed_values
from events.suite import Suite
from events.upcasting import CURRENT_VERSIONS, typed_payload, upcast
from services.integrity.algorithms import PrivateKey
from services.integrity.checkpoints import Checkpoint
from services.integrity.keyring import KeyPurpose, KeyRing, key_id
from services.integrity.log_check import untrusted
from services.privacy.cipher import KEY_BYTES, SealError, associated_data, open_value
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
class SuiteChange:
    """The new log is of another suite than the source: its sealed values move to the new
    suite's cipher. ``keys``: the source's data subjects' keys, as the key store gave them
    (None: destroyed; a subject missing: its key is unknown or does not unwrap)."""

    keys: Mapping[str, bytes | None]


def opened(source: Event, keys: Mapping[str, bytes | None]) -> tuple[dict[str, Any], set[str]]:
    """``source``'s payload with every sealed value whose key lives opened to its plaintext
    (those whose key is destroyed stay as they are: erased), and the subjects opened. Raises
    ``Unmigratable`` for a value that does not open: re-sealing it would lose it."""
    values: dict[Any, Any] = {}
    subjects: set[str] = set()
    for where, value in sealed_values(source.payload):
        subject = str(value.get("subject"))
        alg = str(value.get("alg"))
        if subject in keys and keys[subject] is None:
            continue
        key = keys.get(subject)
        aad = associated_data(source.case_id, str(source.event_id), pointer_text(where), subject)
        try:
            if key is None or alg not in KEY_BYTES:
                raise SealError(f"no key of subject {subject} for {alg!r}")
            values[where] = open_value(key, str(value.get("ciphertext")), aad, alg)
        except SealError as error:
            raise Unmigratable(
                f"{source.case_id} v{source.version}: the sealed value at"
                f" {pointer_text(where)} does not open ({error}; is the key store's master key"
                " the one that wrapped it?): sealing it again would lose it"
            ) from error
        subjects.add(subject)
    payload: dict[str, Any] = replaced(source.payload, values)
    return payload, subjects


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
    old_subjects: frozenset[str] = frozenset()
    """Subjects of the source whose values were opened and sealed again (``SuiteChange``)."""
    erased: int = 0
    """Sealed values whose key is destroyed, copied as they are (``SuiteChange``)."""


def reseal(
    source: Event,
    prev_hash: str,
    sealer: Sealer | None,
    suite: Suite,
    change: SuiteChange | None = None,
) -> Resealed:
    """``source`` for the new log (of ``suite``): upcast and sealed where it holds personal
    values in plaintext (with ``sealer``; None: counted only, for a dry run), its sealed values
    opened and sealed again first if ``change``, chained after ``prev_hash`` and hashed again.
    Raises ``Unmigratable``."""
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
    old_subjects: set[str] = set()
    if change is not None and sealed_values(source.payload):
        payload, old_subjects = opened(source, change.keys)
        source = source.model_copy(update={"payload": payload})
    kept_sealed = bool(sealed_values(source.payload)) and not old_subjects
    erased = len(sealed_values(source.payload)) if change is not None else 0
    payload, schema_version, upcast_now = source.payload, source.schema_version, False
    if not sealed_values(source.payload) and has_personal_fields(source.type):
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
    subjects = len({f.holder for f in found})
    return Resealed(
        event, subjects, len(found), upcast_now, kept_sealed, frozenset(old_subjects), erased
    )


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
    reopened: int = 0
    """Subjects of the source whose values were opened and sealed again (a suite change)."""
    erased: int = 0
    """Sealed values whose key was destroyed, copied as they were (a suite change)."""

    def line(self, dry_run: bool) -> str:
        verb = "would write" if dry_run else "wrote"
        resumed = f" ({self.done} already on the target)" if self.done else ""
        moved = (
            f"; {plural(self.reopened, 'old data subject')} opened and sealed again,"
            f" {plural(self.erased, 'erased value')} copied as they were"
            if self.reopened or self.erased
            else ""
        )
        return (
            f"p{self.partition}: {plural(self.events, 'event')}{resumed}; {verb}"
            f" {self.written}: {self.sealed_events} sealed now"
            f" ({plural(self.values, 'personal value')} of"
            f" {plural(self.subjects, 'data subject')}; {self.upcast} upcast to the current"
            f" schema first), {self.kept_sealed} sealed before (copied as they were){moved}"
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
    from_suite: Suite = Suite.INTERNATIONAL
    to_suite: Suite = Suite.INTERNATIONAL
    old_keys_destroyed: int = 0
    """Keys of the source's subjects destroyed once sealed again under new ones (a suite
    change; a dry run: would be)."""

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
        if self.from_suite is not self.to_suite:
            verb = "would destroy" if self.dry_run else "destroyed"
            lines.append(
                f"suite {self.from_suite} -> {self.to_suite}: chains, checkpoints and the record"
                f" under {self.to_suite}; {verb} the {plural(self.old_keys_destroyed, 'old key')}"
                " of the values sealed again (the old log's copies of them read as erased)"
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
            "from_suite": str(self.from_suite),
            "to_suite": str(self.to_suite),
            "old_keys_destroyed": self.old_keys_destroyed,
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


DIGEST_FIELD = {Suite.INTERNATIONAL: "sha256", Suite.GUOMI: "sm3"}
"""The trailer's field for the digest of the record, by the suite of the key that signs it."""


def evidence_lines(
    from_prefix: str,
    to_prefix: str,
    partitions: Sequence[PartitionEvidence],
    pairs: Iterable[Pair],
    key: PrivateKey,
    at: datetime,
    suites: tuple[Suite, Suite],
) -> list[bytes]:
    """The migration record, JSON Lines (each line canonical JSON): a header naming both
    prefixes (and, unless both are international, the suites of the old and the new log) and,
    per partition, the source's last signed checkpoint and the new log's; one line per event
    (old and new place and hash); and last, the signature by the new log's checkpoint key, of
    its suite (Ed25519 or SM2), over the suite's hash (SHA-256 or SM3) of every line before it.
    ``suites``: the old log's and the new log's."""
    from_suite, to_suite = suites
    header: dict[str, Any] = {
        "kind": EVIDENCE_KIND,
        "from_prefix": from_prefix,
        "to_prefix": to_prefix,
        "created_at": at.isoformat(),
        "partitions": [p.as_json() for p in partitions],
    }
    if suites != (Suite.INTERNATIONAL, Suite.INTERNATIONAL):
        # Absent from international records: those written before suites stay as they were.
        header |= {"from_suite": str(from_suite), "to_suite": str(to_suite)}
    lines = [canonical_json(header), *(canonical_json(p.as_json()) for p in pairs)]
    digest = to_suite.hexdigest(b"".join(line + b"\n" for line in lines))
    signature = base64.b64encode(key.sign(_signed_message(digest))).decode()
    kid = key_id(key.public_key())
    trailer = {DIGEST_FIELD[to_suite]: digest, "key_id": kid, "signature": signature}
    lines.append(canonical_json(trailer))
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


def record_suites(header: Mapping[str, Any]) -> tuple[Suite, Suite]:
    """The suites of the old and the new log a record's header names (international where it
    names none: a record of a migration within the international suite)."""
    return (
        Suite(header.get("from_suite", Suite.INTERNATIONAL)),
        Suite(header.get("to_suite", Suite.INTERNATIONAL)),
    )


def check_evidence(data: bytes, rings: Mapping[Suite, KeyRing]) -> EvidenceCheck:
    """Check a migration record with the pinned key rings alone (``rings``: each suite's):
    its signature (a checkpoint key of the new log's suite's ring, valid when it was made);
    per partition, that the old hashes, chained under the old log's suite, give the head the
    source's signed checkpoint holds (so they are exactly the events of the old log it covers;
    that checkpoint checked with the old suite's ring), and the new hashes, under the new
    suite, the head of the new log's signed checkpoint; that no event, old hash or new hash is
    there twice."""
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
        from_suite, to_suite = record_suites(header)
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
    missing = [str(s) for s in (from_suite, to_suite) if s not in rings]
    if missing:
        check.problems.append(f"no pinned key ring of the suite {', '.join(missing)} to check with")
        return check

    digest = to_suite.hexdigest(b"".join(line + b"\n" for line in lines[:-1]))
    digest_field = DIGEST_FIELD[to_suite]
    key = rings[to_suite].get(str(trailer.get("key_id")), KeyPurpose.CHECKPOINT)
    if trailer.get(digest_field) != digest:
        check.problems.append(
            f"the record was changed after it was signed (its {digest_field.upper()} differs)"
        )
    elif key is None:
        check.problems.append(
            f"signed with key {trailer.get('key_id')}, not a checkpoint key of the pinned"
            f" {to_suite} ring"
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
        for side, checkpoint, hashes, offsets, suite in (
            ("old", source, [p.old_hash for p in pairs], [p.old_offset for p in pairs], from_suite),
            ("new", target, [p.new_hash for p in pairs], [p.new_offset for p in pairs], to_suite),
        ):
            check.problems += _chain_problems(
                where, side, checkpoint, hashes, offsets, rings[suite], suite
            )
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
