"""Checking the log itself: per-case chains, the per-partition chain and its signed checkpoints.

Works on the records as stored (raw JSON), never on re-serialised models, so that what is
verified is exactly what is on the log. Each problem names where it is.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events.hashing import GENESIS_HASH, chain_hash, partition_chain
from services.checkpoints import Checkpoint, signature_valid


@dataclass(frozen=True)
class Problem:
    kind: str
    """altered_event, unreadable_event, version_gap, broken_case_chain, duplicate_event,
    case_on_two_partitions, forged_checkpoint, log_differs_from_checkpoint,
    truncated_after_checkpoint"""
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.where}: {self.detail}"


@dataclass
class LogReport:
    events: int = 0
    cases: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


@dataclass
class _Case:
    partition: int
    version: int
    hash: str


def verify_log(
    events: Iterable[tuple[int, int, bytes]],
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
                    "forged_checkpoint",
                    f"checkpoint p{checkpoint.partition} count {checkpoint.count}",
                    "its signature does not verify with the key",
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
            fields: dict[str, Any] = json.loads(raw)
            event_hash, case_id, version = fields["hash"], fields["case_id"], fields["version"]
        except (ValueError, KeyError, TypeError) as error:
            report.problems.append(Problem("unreadable_event", where, str(error)))
            continue
        report.events += 1
        head, count = heads.get(partition, (GENESIS_HASH, 0))
        head, count = partition_chain(head, event_hash), count + 1
        heads[partition] = (head, count)
        covering = wanted.get(partition, {}).get(count)
        if covering is not None and (covering.head != head or covering.offset != offset):
            report.problems.append(
                Problem(
                    "log_differs_from_checkpoint",
                    where,
                    f"the chain of p{partition} after"
                    f" {count} events is not the one signed at offset {covering.offset}",
                )
            )
        if chain_hash(fields) != event_hash:
            report.problems.append(
                Problem(
                    "altered_event", where, f"{case_id} v{version}: content does not match its hash"
                )
            )
        if fields.get("event_id") in seen_ids:
            report.problems.append(
                Problem("duplicate_event", where, f"event {fields.get('event_id')} twice")
            )
        seen_ids.add(str(fields.get("event_id")))
        _check_case(report, cases, fields, partition, where)
    report.cases = len(cases)
    for partition, by_count in wanted.items():
        _, count = heads.get(partition, (GENESIS_HASH, 0))
        beyond = [c for c in by_count if c > count]
        if beyond:
            report.problems.append(
                Problem(
                    "truncated_after_checkpoint",
                    f"p{partition}",
                    f"a checkpoint covers {max(beyond)} events but the log holds {count}",
                )
            )
    return report


def _check_case(
    report: LogReport, cases: dict[str, _Case], fields: dict[str, Any], partition: int, where: str
) -> None:
    case_id, version = fields["case_id"], fields["version"]
    known = cases.get(case_id)
    expected_version = known.version + 1 if known else 1
    expected_prev = known.hash if known else GENESIS_HASH
    if known is not None and known.partition != partition:
        report.problems.append(
            Problem("case_on_two_partitions", where, f"{case_id} is also on p{known.partition}")
        )
    if version != expected_version:
        report.problems.append(
            Problem("version_gap", where, f"{case_id} v{version} follows v{expected_version - 1}")
        )
    if fields.get("prev_hash") != expected_prev:
        report.problems.append(
            Problem(
                "broken_case_chain",
                where,
                f"{case_id} v{version}: prev_hash is not the hash of the event before it",
            )
        )
    cases[case_id] = _Case(partition, version, fields["hash"])
