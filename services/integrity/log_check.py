"""Verifying the log itself: per-case chains, the per-partition chain and its signed checkpoints.

Works on the records as stored (raw JSON), never on re-serialised models, so that what is
verified is exactly what is on the log. Only checkpoints signed with a key of the pinned ring,
for checkpoints, valid when signed, vouch for anything (``trusted_checkpoints``).

``PartitionAudit`` is one partition's chain against its trusted checkpoints: ``verify_log`` runs
one per partition, and the decider runs one before it serves a partition (``refusal``).
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from services.integrity.checkpoints import Checkpoint, signature_valid
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


@dataclass
class _Case:
    partition: int
    version: int
    hash: str


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


def untrusted(checkpoint: Checkpoint, ring: KeyRing) -> Problem | None:
    """Why ``checkpoint`` vouches for nothing, or None if it does: its key must be in the ring
    as a checkpoint key, verify its signature, and have been valid when it was signed."""

    def problem(kind: ProblemKind, detail: str) -> Problem:
        partition, offset = checkpoint.partition, checkpoint.offset
        return Problem(kind, _where(checkpoint), detail, partition=partition, offset=offset)

    kid = checkpoint.key_id
    key = ring.get(kid, KeyPurpose.CHECKPOINT)
    if key is None:
        other = [k.purpose.value for k in ring.keys if k.key_id == kid]
        held = f"holds it for {', '.join(other)} only" if other else "does not hold it"
        return problem(
            ProblemKind.UNKNOWN_CHECKPOINT_KEY,
            f"signed with key {kid}: the pinned key ring {held} (not a checkpoint key)",
        )
    if not signature_valid(checkpoint, key.public_key):
        return problem(
            ProblemKind.FORGED_CHECKPOINT, f"its signature does not verify with key {kid}"
        )
    if not key.valid_at(checkpoint.created_at):
        until = key.valid_until.isoformat() if key.valid_until else "open"
        return problem(
            ProblemKind.CHECKPOINT_KEY_NOT_VALID,
            f"signed at {checkpoint.created_at.isoformat()} with key {kid}, valid from"
            f" {key.valid_from.isoformat()} until {until}",
        )
    return None


def trusted_checkpoints(
    checkpoints: Iterable[Checkpoint], ring: KeyRing
) -> tuple[list[Checkpoint], list[Problem]]:
    """The checkpoints that vouch for the log, and a problem for each of the others."""
    trusted, problems = [], []
    for checkpoint in checkpoints:
        problem = untrusted(checkpoint, ring)
        if problem is None:
            trusted.append(checkpoint)
        else:
            problems.append(problem)
    return trusted, problems


class PartitionAudit:
    """One partition's chain, fed its events in offset order, against the trusted checkpoints
    of that partition: where the log differs from one, the latest one (the one covering the
    most events) and the events after it, which no decider wrote."""

    def __init__(
        self,
        partition: int,
        trusted: Iterable[Checkpoint],
        start: tuple[str, int, int] = (GENESIS_HASH, 0, -1),
    ):
        """``start``: the chain (head, count, last offset) before the first event fed, when the
        events before it were checked already (a decider's snapshot)."""
        self.partition = partition
        self.signed: dict[int, list[Checkpoint]] = {}
        for checkpoint in trusted:
            if checkpoint.partition == partition:
                self.signed.setdefault(checkpoint.count, []).append(checkpoint)
        self.latest: Checkpoint | None = None
        if self.signed:
            # Of several at the same count (which cannot all match), the first on the log.
            self.latest = self.signed[max(self.signed)][0]
        self.head, self.count, self.last_offset = start
        self.problems: list[Problem] = []
        """The log differs from a checkpoint; records that are no event."""
        self.uncovered: list[Uncovered] = []
        self._latest_differs: Problem | None = None
        self._unreadable_after: Problem | None = None
        self._altered: Problem | None = None
        """The first event whose content does not match its own hash: a decider must not fold
        it into a case, whatever the checkpoints say (``verify`` reports it on its own)."""

    def event(self, offset: int, raw: bytes) -> dict[str, Any] | None:
        """Chain the record at ``offset``; its fields, or None if it is no event."""
        where = f"p{self.partition}@{offset}"
        try:
            fields = read_event(raw)
        except (ValueError, KeyError, TypeError) as error:
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
        if self._altered is None and chain_hash(fields) != fields["hash"]:
            self._altered = Problem(
                ProblemKind.ALTERED_EVENT,
                where,
                f"{fields['case_id']} v{fields['version']}: content does not match its hash",
                fields["case_id"],
                self.partition,
                offset,
            )
        self.head = partition_chain(self.head, fields["hash"])
        self.count += 1
        self.last_offset = offset
        for checkpoint in self.signed.get(self.count, []):
            if checkpoint.head != self.head or checkpoint.offset != offset:
                problem = Problem(
                    ProblemKind.LOG_DIFFERS_FROM_CHECKPOINT,
                    where,
                    f"the chain of p{self.partition} after {self.count} events is not the one"
                    f" signed at offset {checkpoint.offset}",
                    partition=self.partition,
                    offset=offset,
                )
                self.problems.append(problem)
                if checkpoint is self.latest:
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


def verify_log(
    events: Iterable[Record],
    checkpoints: Iterable[Checkpoint],
    ring: KeyRing,
    now: datetime,
    grace: timedelta,
) -> LogReport:
    """``events``: (partition, offset, raw value) in offset order within each partition.
    Events that no trusted checkpoint covers are a problem once older than ``grace`` (by
    their recorded_at against ``now``), and a note before."""
    report = LogReport()
    signed = list(checkpoints)
    report.checkpoints = len(signed)
    trusted, report.problems = trusted_checkpoints(signed, ring)
    report.adopted = [c for c in trusted if c.operator_reason is not None]

    by_partition: dict[int, list[Checkpoint]] = {}
    for checkpoint in trusted:
        by_partition.setdefault(checkpoint.partition, []).append(checkpoint)
    audits = {p: PartitionAudit(p, signed_there) for p, signed_there in by_partition.items()}
    cases: dict[str, _Case] = {}
    seen_ids: set[str] = set()
    for partition, offset, raw in events:
        audit = audits.get(partition)
        if audit is None:
            audit = audits[partition] = PartitionAudit(partition, ())
        fields = audit.event(offset, raw)
        if fields is None:
            continue
        where = f"p{partition}@{offset}"
        event_hash, case_id, version = fields["hash"], fields["case_id"], fields["version"]
        report.events += 1
        if chain_hash(fields) != event_hash:
            report.problems.append(
                Problem(
                    ProblemKind.ALTERED_EVENT,
                    where,
                    f"{case_id} v{version}: content does not match its hash",
                    case_id,
                    partition,
                    offset,
                )
            )
        event_id = str(fields.get("event_id"))
        if event_id in seen_ids:
            report.problems.append(
                Problem(
                    ProblemKind.DUPLICATE_EVENT,
                    where,
                    f"event {event_id} twice",
                    case_id,
                    partition,
                    offset,
                )
            )
        seen_ids.add(event_id)
        _check_case(report, cases, fields, partition, offset)
    report.cases = len(cases)

    old: list[Uncovered] = []
    for audit in audits.values():
        report.problems += audit.problems
        if audit.truncated is not None:
            report.problems.append(audit.truncated)
        for event in audit.uncovered:
            (report.recent if recent(event, now, grace) else old).append(event)
    for event in old:
        recorded = event.recorded_at.isoformat() if event.recorded_at else "at an unreadable time"
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
    if old and not signed:
        report.problems.append(
            Problem(
                ProblemKind.NO_CHECKPOINTS,
                "the checkpoints topic",
                f"{report.events} events on the log and not one checkpoint: nothing vouches"
                " for them",
            )
        )
    return report


def _check_case(
    report: LogReport, cases: dict[str, _Case], fields: dict[str, Any], partition: int, offset: int
) -> None:
    case_id: str = fields["case_id"]
    version: int = fields["version"]
    where = f"p{partition}@{offset}"
    at = (case_id, partition, offset)
    known = cases.get(case_id)
    expected_version = known.version + 1 if known else 1
    expected_prev = known.hash if known else GENESIS_HASH
    if known is not None and known.partition != partition:
        report.problems.append(
            Problem(
                ProblemKind.CASE_ON_TWO_PARTITIONS,
                where,
                f"{case_id} is also on p{known.partition}",
                *at,
            )
        )
    if version != expected_version:
        report.problems.append(
            Problem(
                ProblemKind.VERSION_GAP,
                where,
                f"{case_id} v{version} follows v{expected_version - 1}",
                *at,
            )
        )
    if fields.get("prev_hash") != expected_prev:
        report.problems.append(
            Problem(
                ProblemKind.BROKEN_CASE_CHAIN,
                where,
                f"{case_id} v{version}: prev_hash is not the hash of the event before it",
                *at,
            )
        )
    cases[case_id] = _Case(partition, version, fields["hash"])


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
) -> tuple[PartitionAudit, list[str]]:
    """What ``casetrail checkpoints accept`` would sign: the chain of ``partition``'s events
    (offset, raw value, in offset order) through offset ``through``, and why it must not (an
    empty list: it may). The events adopted, those after the latest trusted checkpoint, must be
    well formed in their cases' chains; the events after ``through`` stay uncovered. What
    differs from an earlier checkpoint stays on the log, and verify keeps naming it."""
    records = [(partition, offset, raw) for offset, raw in events if offset <= through]
    signed = [c for c in checkpoints if c.partition == partition]
    trusted, _ = trusted_checkpoints(signed, ring)
    audit = PartitionAudit(partition, trusted)
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
    report = verify_log(records, signed, ring, now, timedelta(0))
    why += [
        str(problem)
        for problem in report.problems
        if problem.kind in NOT_ADOPTABLE and (problem.offset or 0) > after
    ]
    return audit, why
