"""Verifying the log itself: per-case chains, the per-partition chain and its signed checkpoints.

Works on the records as stored (raw JSON), never on re-serialised models, so that what is
verified is exactly what is on the log.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from services.integrity.checkpoints import Checkpoint, signature_valid
from services.integrity.problems import Problem, ProblemKind, Record


@dataclass
class LogReport:
    events: int = 0
    cases: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    sealed: dict[int, int] = field(default_factory=dict)
    """Per partition, how many of its first events the latest valid checkpoint on the log
    covers; the events after them are vouched for by their hash chains alone."""

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


def verify_log(
    events: Iterable[Record],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey | None,
) -> LogReport:
    """``events``: (partition, offset, raw value) in offset order within each partition."""
    report = LogReport()
    signed = list(checkpoints)
    report.checkpoints = len(signed)
    wanted: dict[int, dict[int, Checkpoint]] = {}
    for checkpoint in signed:
        if public_key is not None and not signature_valid(checkpoint, public_key):
            report.problems.append(
                Problem(
                    ProblemKind.FORGED_CHECKPOINT,
                    f"checkpoint p{checkpoint.partition} count {checkpoint.count}",
                    "its signature does not verify with the key",
                    partition=checkpoint.partition,
                    offset=checkpoint.offset,
                )
            )
            continue
        wanted.setdefault(checkpoint.partition, {})[checkpoint.count] = checkpoint

    cases: dict[str, _Case] = {}
    seen_ids: set[str] = set()
    heads: dict[int, tuple[str, int]] = {}  # partition -> (head, count)
    for partition, offset, raw in events:
        where = f"p{partition}@{offset}"
        try:
            fields = read_event(raw)
        except (ValueError, KeyError, TypeError) as error:
            report.problems.append(
                Problem(
                    ProblemKind.UNREADABLE_EVENT,
                    where,
                    str(error),
                    partition=partition,
                    offset=offset,
                )
            )
            continue
        event_hash, case_id, version = fields["hash"], fields["case_id"], fields["version"]
        report.events += 1
        head, count = heads.get(partition, (GENESIS_HASH, 0))
        head, count = partition_chain(head, event_hash), count + 1
        heads[partition] = (head, count)
        covering = wanted.get(partition, {}).get(count)
        if covering is not None and (covering.head != head or covering.offset != offset):
            report.problems.append(
                Problem(
                    ProblemKind.LOG_DIFFERS_FROM_CHECKPOINT,
                    where,
                    f"the chain of p{partition} after"
                    f" {count} events is not the one signed at offset {covering.offset}",
                    partition=partition,
                    offset=offset,
                )
            )
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
    for partition, by_count in wanted.items():
        _, count = heads.get(partition, (GENESIS_HASH, 0))
        report.sealed[partition] = max((c for c in by_count if c <= count), default=0)
        beyond = [c for c in by_count if c > count]
        if beyond:
            report.problems.append(
                Problem(
                    ProblemKind.TRUNCATED_AFTER_CHECKPOINT,
                    f"p{partition}",
                    f"a checkpoint covers {max(beyond)} events but the log holds {count}",
                    partition=partition,
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
