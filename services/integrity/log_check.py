"""Verifying the log itself: per-case chains, the per-partition chain and its signed checkpoints.

Works on the records as stored (raw JSON), never on re-serialised models, so that what is
verified is exactly what is on the log. Only checkpoints signed with a key of the pinned ring,
for checkpoints, valid when signed, vouch for anything (``trusted_checkpoints``).

``PartitionAudit`` is one partition's chain against its trusted checkpoints: ``verify_log`` runs
one per partition, and the decider runs one before it serves a partition (``refusal``).
"""

import json
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from events.suite import Suite
from services.integrity.algorithms import SIGNATURE_ALGORITHM
from services.integrity.checkpoints import Checkpoint, SignedRecord, signature_valid
from services.integrity.keyring import KeyPurpose, KeyRing
from services.integrity.problems import Problem, ProblemKind, Record


@dataclass(frozen=True)
class Uncovered:
    """An event that no trusted checkpoint covers."""

    partition: int
    offset: int
    case_id: str
    version: int
    type: str
    recorded_at: datetime | None
    """As the event says (None when it cannot be read): whoever wrote it chose it."""


@dataclass
class LogReport:
    events: int = 0
    cases: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    recent: list[Uncovered] = field(default_factory=list)
    """Events no trusted checkpoint covers yet, recorded within the grace period: a note, not
    a problem (the checkpoint of the same transaction may not have been read yet)."""
    adopted: list[Checkpoint] = field(default_factory=list)
    """Trusted checkpoints an operator signed to adopt events no decider wrote."""

    @property
    def intact(self) -> bool:
        return not self.problems


def read_event(raw: bytes) -> dict[str, Any]:
    """The fields of an event as stored; raises ValueError, KeyError or TypeError when it has
    no readable hash, case_id and version."""
    fields = json.loads(raw)
    if not isinstance(fields, dict):
        raise TypeError("not a JSON object")
    event_hash, case_id, version = fields["hash"], fields["case_id"], fields["version"]
    if not (isinstance(event_hash, str) and isinstance(case_id, str)):
        raise TypeError("hash and case_id must be strings")
    if type(version) is not int:
        raise TypeError("version must be an integer")
    return fields


def _where(checkpoint: Checkpoint) -> str:
    return f"checkpoint p{checkpoint.partition} count {checkpoint.count}"


def key_problem(signed: SignedRecord, ring: KeyRing) -> tuple[ProblemKind, str] | None:
    """Why what the decider signs (a checkpoint, a suite declaration) vouches for nothing by
    its key and signature, or None: its key must be in the pinned ring as a checkpoint key,
    its signature verify with it, and the key have been valid when it signed."""
    kid = signed.key_id
    key = ring.get(kid, KeyPurpose.CHECKPOINT)
    if key is None:
        other = [k.purpose.value for k in ring.keys if k.key_id == kid]
        held = f"holds it for {', '.join(other)} only" if other else "does not hold it"
        return (
            ProblemKind.UNKNOWN_CHECKPOINT_KEY,
            f"signed with key {kid}: the pinned key ring {held} (not a checkpoint key)",
        )
    if not signature_valid(signed, key.public_key):
        return ProblemKind.FORGED_CHECKPOINT, f"its signature does not verify with key {kid}"
    if not key.valid_at(signed.created_at):
        until = key.valid_until.isoformat() if key.valid_until else "open"
        return (
            ProblemKind.CHECKPOINT_KEY_NOT_VALID,
            f"signed at {signed.created_at.isoformat()} with key {kid}, valid from"
            f" {key.valid_from.isoformat()} until {until}",
        )
    return None


def untrusted(checkpoint: Checkpoint, ring: KeyRing, suite: Suite) -> Problem | None:
    """Why ``checkpoint`` vouches for nothing, or None if it does: its key and signature
    (``key_problem``) first, so that a forgery is named as one whatever suite it claims; then
    it must be of the log's ``suite``, signed with that suite's algorithm."""
    found = key_problem(checkpoint, ring)
    if found is None:
        algorithm = SIGNATURE_ALGORITHM[suite]
        key = ring.get(checkpoint.key_id, KeyPurpose.CHECKPOINT)
        if checkpoint.log_suite is not suite:
            found = (
                ProblemKind.SUITE_MISMATCH,
                f"made under the {checkpoint.log_suite.value} suite, and this log's is"
                f" {suite.value}: a log has one suite",
            )
        elif key is not None and key.algorithm is not algorithm:
            found = (
                ProblemKind.SUITE_MISMATCH,
                f"signed with the {key.algorithm.value} key {checkpoint.key_id}: the"
                f" {suite.value} suite signs with {algorithm.value} only",
            )
    if found is None:
        return None
    kind, detail = found
    partition, offset = checkpoint.partition, checkpoint.offset
    return Problem(kind, _where(checkpoint), detail, partition=partition, offset=offset)


def trusted_checkpoints(
    checkpoints: Iterable[Checkpoint], ring: KeyRing, suite: Suite
) -> tuple[list[Checkpoint], list[Problem]]:
    """The checkpoints that vouch for the log, and a problem for each of the others."""
    trusted, problems = [], []
    for checkpoint in checkpoints:
        problem = untrusted(checkpoint, ring, suite)
        if problem is None:
            trusted.append(checkpoint)
        else:
            problems.append(problem)
    return trusted, problems


class Signed:
    """The trusted checkpoints of one partition, as little as checking the log against them
    needs: count, offset and head of each (48 bytes, not a model), in count order; the latest
    (the one covering the most events, the first on the log of several) kept whole. A partition
    gets a checkpoint per transaction (per event, when they come one at a time), so a long log
    has many: ``id_book.SignedOnDisk`` keeps them in a file instead."""

    def __init__(self, partition: int, trusted: Iterable[Checkpoint] = ()):
        self.partition = partition
        self.latest: Checkpoint | None = None
        self._latest = -1
        self._added = 0
        self._counts = array("q")
        self._offsets = array("q")
        self._heads = bytearray()
        self._in_order = True
        for checkpoint in trusted:
            if checkpoint.partition == partition:
                self.add(checkpoint)

    def add(self, checkpoint: Checkpoint) -> None:
        """A trusted checkpoint of this partition, in the order of the checkpoints topic."""
        if self.latest is None or checkpoint.count > self.latest.count:
            self.latest, self._latest = checkpoint, self._added
        self._keep(checkpoint, self._added)
        self._added += 1

    def __len__(self) -> int:
        return self._added

    def _keep(self, checkpoint: Checkpoint, index: int) -> None:
        if self._counts and checkpoint.count < self._counts[-1]:
            self._in_order = False
        self._counts.append(checkpoint.count)
        self._offsets.append(checkpoint.offset)
        self._heads += bytes.fromhex(checkpoint.head)  # the model's pattern: 64 hex digits

    def _by_count(self) -> Iterator[tuple[int, int, bytes, int]]:
        """(count, offset, head, index) of each kept, by count, then index."""
        indices: Iterable[int] = range(len(self._counts))
        if not self._in_order:  # only ever so on a log someone wrote checkpoints to by hand
            indices = sorted(indices, key=self._counts.__getitem__)  # stable
        for i in indices:
            yield self._counts[i], self._offsets[i], bytes(self._heads[32 * i : 32 * i + 32]), i

    def in_count_order(self) -> Iterator[tuple[int, int, bytes, bool]]:
        """(count, offset, head, whether it is the latest) of each, by count; of several at the
        same count, in the order of the topic."""
        for count, offset, head, index in self._by_count():
            yield count, offset, head, index == self._latest


class PartitionAudit:
    """One partition's chain, fed its events in offset order, against the trusted checkpoints
    of that partition: where the log differs from one, the latest one (the one covering the
    most events) and the events after it, which no decider wrote."""

    def __init__(
        self,
        partition: int,
        trusted: Iterable[Checkpoint] | Signed,
        start: tuple[str, int, int] = (GENESIS_HASH, 0, -1),
        *,
        suite: Suite,
    ):
        """``start``: the chain (head, count, last offset) before the first event fed, when the
        events before it were checked already (a decider's snapshot). ``suite``: the log's,
        whose hash chains the events."""
        self.partition = partition
        self.suite = suite
        signed = trusted if isinstance(trusted, Signed) else Signed(partition, trusted)
        self.latest: Checkpoint | None = signed.latest
        self._signed = signed.in_count_order()
        self._next = next(self._signed, None)
        self.head, self.count, self.last_offset = start
        self.problems: list[Problem] = []
        """The log differs from a checkpoint; records that are no event."""
        self.uncovered: list[Uncovered] = []
        self._latest_differs: Problem | None = None
        self._unreadable_after: Problem | None = None
        self._altered: Problem | None = None
        """The first event whose content does not match its own hash: a decider must not fold
        it into a case, whatever the checkpoints say (``verify`` reports it on its own)."""
        self.last_intact = True
        """Whether the content of the last event chained matches its hash (``verify_log``
        reports each one that does not)."""

    def event(
        self, offset: int, raw: bytes, read: dict[str, Any] | Exception | None = None
    ) -> dict[str, Any] | None:
        """Chain the record at ``offset``; its fields, or None if it is no event. ``read``:
        what ``readable(raw)`` gave, when the caller has read it already."""
        where = f"p{self.partition}@{offset}"
        fields = readable(raw) if read is None else read
        if isinstance(fields, Exception):
            error = fields
            problem = Problem(
                ProblemKind.UNREADABLE_EVENT,
                where,
                str(error),
                partition=self.partition,
                offset=offset,
            )
            self.problems.append(problem)
            if self._unreadable_after is None and (
                self.latest is None or offset > self.latest.offset
            ):
                self._unreadable_after = problem
            return None
        self.last_intact = chain_hash(fields, self.suite) == fields["hash"]
        if self._altered is None and not self.last_intact:
            self._altered = Problem(
                ProblemKind.ALTERED_EVENT,
                where,
                f"{fields['case_id']} v{fields['version']}: content does not match its hash",
                fields["case_id"],
                self.partition,
                offset,
            )
        self.head = partition_chain(self.head, fields["hash"], self.suite)
        self.count += 1
        self.last_offset = offset
        # Counts go up by one an event: the checkpoints at this count are the next ones.
        while self._next is not None and self._next[0] <= self.count:
            count, signed_offset, head, latest = self._next
            self._next = next(self._signed, None)
            if count < self.count:
                continue  # cannot be: checkpoints count one event at least
            if head != bytes.fromhex(self.head) or signed_offset != offset:
                problem = Problem(
                    ProblemKind.LOG_DIFFERS_FROM_CHECKPOINT,
                    where,
                    f"the chain of p{self.partition} after {self.count} events is not the one"
                    f" signed at offset {signed_offset}",
                    partition=self.partition,
                    offset=offset,
                )
                self.problems.append(problem)
                if latest:
                    self._latest_differs = problem
        if self.latest is None or self.count > self.latest.count:
            self.uncovered.append(
                Uncovered(
                    self.partition,
                    offset,
                    fields["case_id"],
                    fields["version"],
                    str(fields.get("type")),
                    _instant(fields.get("recorded_at")),
                )
            )
        return fields

    @property
    def truncated(self) -> Problem | None:
        """The latest checkpoint covers more events than the partition holds (call after the
        last event)."""
        if self.latest is None or self.latest.count <= self.count:
            return None
        return Problem(
            ProblemKind.TRUNCATED_AFTER_CHECKPOINT,
            f"p{self.partition}",
            f"a checkpoint covers {self.latest.count} events but the log holds {self.count}",
            partition=self.partition,
        )

    def damage(self) -> Problem | None:
        """What no operator may adopt: the log differs from the latest trusted checkpoint (an
        event put in or taken out before it), or an event's content does not match its hash."""
        return self._latest_differs or self._altered

    def refusal(self) -> Problem | None:
        """Why a decider must not serve this partition (call after the last event), or None:
        the log must end as the latest checkpoint says, with nothing after it. What differs
        from an earlier checkpoint only is history, which ``casetrail verify`` keeps naming."""
        damage = self.damage()
        if damage is not None:
            return damage
        if self.truncated is not None:
            return self.truncated
        if self._unreadable_after is not None:
            return self._unreadable_after
        if not self.uncovered:
            return None
        first, last = self.uncovered[0], self.uncovered[-1]
        events, them = "1 event", "it"
        if last is not first:
            span = f"p{self.partition}@{first.offset} to p{self.partition}@{last.offset}"
            events, them = f"{len(self.uncovered)} events ({span})", "them"
        if self.latest is None:
            return Problem(
                ProblemKind.NO_CHECKPOINTS,
                f"p{self.partition}@{first.offset}",
                f"{events} and no checkpoint signed with a key of the ring: no decider wrote"
                f" {them}",
                partition=self.partition,
                offset=first.offset,
            )
        return Problem(
            ProblemKind.UNCOVERED_EVENT,
            f"p{self.partition}@{first.offset}",
            f"{events} after the last signed checkpoint (count {self.latest.count}, offset"
            f" {self.latest.offset}): no decider wrote {them}",
            partition=self.partition,
            offset=first.offset,
        )


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


def recent(event: Uncovered, now: datetime, grace: timedelta) -> bool:
    """Recorded within ``grace`` of ``now``, either way: a forger who dates an event in the
    future gains nothing."""
    at = event.recorded_at
    return at is not None and now - grace <= at <= now + grace


class LogCheck:
    """``verify_log`` fed one record at a time, so that a log of any length is checked in
    bounded memory: per case, its partition, version and the hash of its last event; per
    partition, its chain and compact trusted checkpoints; and what is found. Whether an event
    id was seen before is the caller's to say (``event``'s ``duplicate``): a set of every id
    would grow with the log.

    Feed every checkpoint (``checkpoint``) before the first event, the events of each partition
    in offset order, then ``finish``."""

    def __init__(
        self,
        ring: KeyRing,
        signed: Callable[[int], Signed] = Signed,
        *,
        suite: Suite,
    ):
        """``signed``: where a partition's trusted checkpoints are kept (in memory unless
        said otherwise); ``suite``: the log's (``CASETRAIL_CRYPTO_SUITE``)."""
        self.ring, self._new_signed, self.suite = ring, signed, suite
        self.report = LogReport()
        self._trust_problems: list[Problem] = []
        self._signed: dict[int, Signed] = {}
        self._audits: dict[int, PartitionAudit] = {}
        self._event_problems: list[Problem] = []
        self._cases: dict[str, tuple[int, int, str]] = {}
        """Per case: its partition, its last version and that event's hash."""

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        self.report.checkpoints += 1
        problem = untrusted(checkpoint, self.ring, self.suite)
        if problem is not None:
            self._trust_problems.append(problem)
            return
        signed = self._signed.get(checkpoint.partition)
        if signed is None:
            signed = self._signed[checkpoint.partition] = self._new_signed(checkpoint.partition)
        signed.add(checkpoint)
        if checkpoint.operator_reason is not None:
            self.report.adopted.append(checkpoint)

    def _start(self) -> None:
        """Once every checkpoint is in: the partitions with trusted ones first, in the order of
        their first (so that problems are listed as they always were), each a chain."""
        if not self._audits:
            for partition, signed in self._signed.items():
                self._audits[partition] = PartitionAudit(partition, signed, suite=self.suite)

    def _audit(self, partition: int) -> PartitionAudit:
        audit = self._audits.get(partition)
        if audit is None:
            self._start()
            audit = self._audits.get(partition)
            if audit is None:
                audit = PartitionAudit(partition, (), suite=self.suite)
                self._audits[partition] = audit
        return audit

    def event(
        self,
        partition: int,
        offset: int,
        raw: bytes,
        read: dict[str, Any] | Exception | None = None,
        duplicate: bool = False,
    ) -> dict[str, Any] | None:
        """Check the record at ``partition``@``offset``; its fields, or None if it is no event.
        ``read``: what ``readable(raw)`` gave, if the caller has it; ``duplicate``: whether
        an event before it (one ``readable`` reads) had the same ``event_key``."""
        audit = self._audit(partition)
        fields = audit.event(offset, raw, read)
        if fields is None:
            return None
        where = f"p{partition}@{offset}"
        case_id, version = fields["case_id"], fields["version"]
        self.report.events += 1
        if not audit.last_intact:
            self._event_problems.append(
                Problem(
                    ProblemKind.ALTERED_EVENT,
                    where,
                    f"{case_id} v{version}: content does not match its hash",
                    case_id,
                    partition,
                    offset,
                )
            )
        if duplicate:
            self._event_problems.append(
                Problem(
                    ProblemKind.DUPLICATE_EVENT,
                    where,
                    f"event {event_key(fields)} twice",
                    case_id,
                    partition,
                    offset,
                )
            )
        self._check_case(fields, partition, offset)
        return fields

    def _check_case(self, fields: dict[str, Any], partition: int, offset: int) -> None:
        case_id: str = fields["case_id"]
        version: int = fields["version"]
        where = f"p{partition}@{offset}"
        at = (case_id, partition, offset)
        known = self._cases.get(case_id)
        expected_version = known[1] + 1 if known else 1
        expected_prev = known[2] if known else GENESIS_HASH
        problems = self._event_problems
        if known is not None and known[0] != partition:
            problems.append(
                Problem(
                    ProblemKind.CASE_ON_TWO_PARTITIONS,
                    where,
                    f"{case_id} is also on p{known[0]}",
                    *at,
                )
            )
        if version != expected_version:
            problems.append(
                Problem(
                    ProblemKind.VERSION_GAP,
                    where,
                    f"{case_id} v{version} follows v{expected_version - 1}",
                    *at,
                )
            )
        if fields.get("prev_hash") != expected_prev:
            problems.append(
                Problem(
                    ProblemKind.BROKEN_CASE_CHAIN,
                    where,
                    f"{case_id} v{version}: prev_hash is not the hash of the event before it",
                    *at,
                )
            )
        self._cases[case_id] = (partition, version, fields["hash"])

    def finish(self, now: datetime, grace: timedelta) -> LogReport:
        """What was found. Events that no trusted checkpoint covers are a problem once older
        than ``grace`` (by their recorded_at against ``now``), and a note before."""
        report = self.report
        report.cases = len(self._cases)
        report.problems = [*self._trust_problems, *self._event_problems]
        self._start()  # a partition with checkpoints and no event is truncated
        old: list[Uncovered] = []
        for audit in self._audits.values():
            report.problems += audit.problems
            if audit.truncated is not None:
                report.problems.append(audit.truncated)
            for event in audit.uncovered:
                (report.recent if recent(event, now, grace) else old).append(event)
        for event in old:
            recorded = (
                event.recorded_at.isoformat() if event.recorded_at else "at an unreadable time"
            )
            report.problems.append(
                Problem(
                    ProblemKind.UNCOVERED_EVENT,
                    f"p{event.partition}@{event.offset}",
                    f"{event.case_id} v{event.version} ({event.type}), recorded {recorded}: no"
                    " checkpoint signed with a key of the ring covers it, so no decider wrote it",
                    event.case_id,
                    event.partition,
                    event.offset,
                )
            )
        if old and not report.checkpoints:
            report.problems.append(
                Problem(
                    ProblemKind.NO_CHECKPOINTS,
                    "the checkpoints topic",
                    f"{report.events} events on the log and not one checkpoint: nothing vouches"
                    " for them",
                )
            )
        return report


def event_key(fields: dict[str, Any]) -> str:
    """What makes two events of the log the same event: their event_id, as written."""
    return str(fields.get("event_id"))


def readable(raw: bytes) -> dict[str, Any] | Exception:
    """``read_event``'s fields, or the error that says why the record is no event."""
    try:
        return read_event(raw)
    except (ValueError, KeyError, TypeError) as error:
        return error


def verify_log(
    events: Iterable[Record],
    checkpoints: Iterable[Checkpoint],
    ring: KeyRing,
    now: datetime,
    grace: timedelta,
    suite: Suite,
) -> LogReport:
    """``events``: (partition, offset, raw value) in offset order within each partition.
    Events that no trusted checkpoint covers are a problem once older than ``grace`` (by
    their recorded_at against ``now``), and a note before."""
    check = LogCheck(ring, suite=suite)
    for checkpoint in checkpoints:
        check.checkpoint(checkpoint)
    seen: set[str] = set()
    for partition, offset, raw in events:
        read = readable(raw)
        key = None if isinstance(read, Exception) else event_key(read)
        check.event(partition, offset, raw, read, key in seen)
        if key is not None:
            seen.add(key)
    return check.finish(now, grace)


NOT_ADOPTABLE = frozenset(
    {
        ProblemKind.ALTERED_EVENT,
        ProblemKind.VERSION_GAP,
        ProblemKind.BROKEN_CASE_CHAIN,
        ProblemKind.DUPLICATE_EVENT,
        ProblemKind.CASE_ON_TWO_PARTITIONS,
    }
)
"""What no operator may sign over: an event that is not well formed in its case's chain (the
decider could not fold it; verify would name it under the signature)."""


def adoption(
    partition: int,
    events: Iterable[tuple[int, bytes]],
    checkpoints: Iterable[Checkpoint],
    ring: KeyRing,
    through: int,
    now: datetime,
    suite: Suite,
) -> tuple[PartitionAudit, list[str]]:
    """What ``casetrail checkpoints accept`` would sign: the chain of ``partition``'s events
    (offset, raw value, in offset order) through offset ``through``, and why it must not (an
    empty list: it may). The events adopted, those after the latest trusted checkpoint, must be
    well formed in their cases' chains; the events after ``through`` stay uncovered. What
    differs from an earlier checkpoint stays on the log, and verify keeps naming it."""
    records = [(partition, offset, raw) for offset, raw in events if offset <= through]
    signed = [c for c in checkpoints if c.partition == partition]
    trusted, _ = trusted_checkpoints(signed, ring, suite)
    audit = PartitionAudit(partition, trusted, suite=suite)
    for _, offset, raw in records:
        audit.event(offset, raw)
    why: list[str] = []
    after = -1 if audit.latest is None else audit.latest.offset
    if audit.last_offset != through:
        why.append(f"p{partition}@{through} is not an event of the partition")
    elif after >= through:
        why.append(f"a signed checkpoint covers p{partition} through offset {through} already")
    if audit.truncated is not None:
        why.append(str(audit.truncated))
    damage = audit.damage()
    if damage is not None:
        why.append(str(damage))
    # The grace does not matter: whether events are covered is what this is about.
    report = verify_log(records, signed, ring, now, timedelta(0), suite)
    why += [
        str(problem)
        for problem in report.problems
        if problem.kind in NOT_ADOPTABLE and (problem.offset or 0) > after
    ]
    return audit, why
