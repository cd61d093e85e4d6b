"""What verification finds: each problem names its kind and where on the log it is."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

Record = tuple[int, int, bytes]
"""A record of a topic as stored: (partition, offset, value)."""


class ProblemKind(StrEnum):
    """Every kind of problem; the values are what ``casetrail verify`` prints and its JSON says."""

    # Of the log:
    # an event's content does not match its own hash
    ALTERED_EVENT = "altered_event"
    # a record of the events topic has no readable hash, case_id and version
    UNREADABLE_EVENT = "unreadable_event"
    # a case's version does not follow the version before it on the log
    VERSION_GAP = "version_gap"
    # an event's prev_hash is not the hash of its case's event before it
    BROKEN_CASE_CHAIN = "broken_case_chain"
    # the same event_id is on the log twice
    DUPLICATE_EVENT = "duplicate_event"
    # a case has events on more than one partition
    CASE_ON_TWO_PARTITIONS = "case_on_two_partitions"
    # a checkpoint's signature does not verify with the key of the ring it names
    FORGED_CHECKPOINT = "forged_checkpoint"
    # a checkpoint names a key the pinned ring does not hold as a checkpoint key
    UNKNOWN_CHECKPOINT_KEY = "unknown_checkpoint_key"
    # the log is of another cryptographic suite than the verifier is set to (one problem, and
    # nothing else checked); a checkpoint made under another suite than the log's, or signed, as
    # a suite declaration, with a key of another suite's algorithm: a log has one suite
    SUITE_MISMATCH = "suite_mismatch"
    # a trusted suite declaration of another suite than the log's first one (which fixed it)
    SUITE_DECLARATION_CONFLICT = "suite_declaration_conflict"
    # a checkpoint was signed (created_at) outside its key's validity period in the ring
    CHECKPOINT_KEY_NOT_VALID = "checkpoint_key_not_valid"
    # a record of the checkpoints topic is not a checkpoint
    UNREADABLE_CHECKPOINT = "unreadable_checkpoint"
    # a record of the outcomes topic is not an outcome (only the decider writes there)
    UNREADABLE_OUTCOME = "unreadable_outcome"
    # a partition's chain, or its offset, after a checkpoint's count is not the one signed
    LOG_DIFFERS_FROM_CHECKPOINT = "log_differs_from_checkpoint"
    # a checkpoint covers more events than its partition holds
    TRUNCATED_AFTER_CHECKPOINT = "truncated_after_checkpoint"
    # an event older than the grace period that no trusted checkpoint covers: the decider signs
    # a checkpoint in the transaction of every event it writes, so no decider wrote it
    UNCOVERED_EVENT = "uncovered_event"
    # events older than the grace period are on the log, and not one checkpoint
    NO_CHECKPOINTS = "no_checkpoints"
    # Of the audit trail against the log:
    # a row differs from the event it claims to be in some envelope field
    AUDIT_ROW_ALTERED = "audit_row_altered"
    # an event the projection has already applied has no row
    AUDIT_ROW_MISSING = "audit_row_missing"
    # a row claims no event on the log, or is a second row of one
    AUDIT_ROW_EXTRA = "audit_row_extra"
    # a row names another place on the log than its event's
    AUDIT_ROW_MOVED = "audit_row_moved"
    # rows trade places (or versions) among themselves
    AUDIT_ROWS_REORDERED = "audit_rows_reordered"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    where: str
    detail: str
    case_id: str | None = None
    """The case it touches; None for a problem of a whole partition (checkpoints, chain)."""
    partition: int | None = None
    offset: int | None = None

    def __str__(self) -> str:
        return f"{self.kind.value} at {self.where}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "where": self.where,
            "detail": self.detail,
            "case_id": self.case_id,
            "partition": self.partition,
            "offset": self.offset,
        }


def order(problem: Problem) -> tuple[int, int, str, str]:
    """Sort key: log order (partition, then offset), problems without a place first."""
    return (
        -1 if problem.partition is None else problem.partition,
        -1 if problem.offset is None else problem.offset,
        problem.kind.value,
        problem.where,
    )
