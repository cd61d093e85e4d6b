"""What a decider checks before it serves a partition (``PartitionAudit.refusal``), and what an
operator may adopt (``adoption``): pure, on records as stored."""

import json
from datetime import timedelta

import pytest

from services.integrity.checkpoints import Checkpoint, sign
from services.integrity.log_check import PartitionAudit, adoption, untrusted
from tests.signing import SUITE
from tests.unit.test_verify import KEY, LATER, NOW, RING, Records, forged_tail, logged, resigned


def audit(records: Records, checkpoints: list[Checkpoint]) -> PartitionAudit:
    audited = PartitionAudit(0, checkpoints, suite=SUITE)
    for _, offset, raw in records:
        audited.event(offset, raw)
    return audited


def refusal(records: Records, checkpoints: list[Checkpoint]) -> tuple[str, str] | None:
    problem = audit(records, checkpoints).refusal()
    return None if problem is None else (problem.kind.value, problem.where)


def test_a_log_that_ends_at_its_latest_checkpoint_is_served() -> None:
    records, checkpoints = logged()
    served = audit(records, checkpoints)
    assert served.refusal() is None
    assert (served.count, served.last_offset, served.head) == (12, 22, checkpoints[-1].head)
    assert refusal([], []) is None  # a new partition


def test_an_event_after_the_latest_checkpoint_is_refused() -> None:
    records, checkpoints = logged()
    problem = audit(forged_tail(records, NOW), checkpoints).refusal()
    assert problem is not None
    assert (problem.kind, problem.where) == ("uncovered_event", "p0@24")
    assert "1 event after the last signed checkpoint (count 12, offset 22)" in str(problem)
    assert "伪造" not in str(problem)  # places, never contents (it goes to /health)


def test_events_and_no_checkpoint_are_refused() -> None:
    records, _ = logged()
    assert refusal(records, []) == ("no_checkpoints", "p0@0")
    # A checkpoint of another partition vouches for nothing here.
    records, checkpoints = logged()
    elsewhere = [c.model_copy(update={"partition": 1}) for c in checkpoints]
    assert refusal(records, elsewhere) == ("no_checkpoints", "p0@0")


def test_a_log_that_differs_from_the_latest_checkpoint_is_refused() -> None:
    records, checkpoints = logged()
    partition, offset, raw = records[11]
    records[11] = (partition, offset, json.dumps({**json.loads(raw), "hash": "0" * 64}).encode())
    assert refusal(records, checkpoints) == ("log_differs_from_checkpoint", "p0@22")


def test_an_event_altered_under_its_own_hash_is_refused_though_the_chain_matches() -> None:
    """Someone who rewrote a payload and kept every hash field (so the chain and the
    checkpoints still match) must not have the decider fold the new content into the case."""
    records, checkpoints = logged()
    partition, offset, raw = records[3]
    fields = json.loads(raw)
    fields["occurred_at"] = "2001-01-01T00:00:00Z"
    records[3] = (partition, offset, json.dumps(fields).encode())
    assert refusal(records, checkpoints) == ("altered_event", f"p0@{offset}")


def test_a_truncated_log_is_refused() -> None:
    records, checkpoints = logged()
    assert refusal(records[:10], checkpoints) == ("truncated_after_checkpoint", "p0")


def test_junk_after_the_latest_checkpoint_is_refused_and_before_it_is_history() -> None:
    records, checkpoints = logged()
    assert refusal([*records, (0, 30, b"junk")], checkpoints) == ("unreadable_event", "p0@30")
    before = [*records[:11], (0, 21, b"junk"), records[11]]
    history = audit(before, checkpoints)
    assert history.refusal() is None
    assert [p.kind for p in history.problems] == ["unreadable_event"]


def test_an_earlier_checkpoint_that_differs_is_history_once_a_later_one_covers_all() -> None:
    """A record appended while a decider served the partition: its next checkpoint (over its
    own chain) differs from the log. An operator's checkpoint over the log as it is lets the
    decider go on; the earlier one stays named."""
    records, checkpoints = logged()
    tail = forged_tail(records[:6], NOW)[-1]
    interleaved = [*records[:6], tail, *((p, o + 10, r) for p, o, r in records[6:])]
    assert refusal(interleaved, checkpoints) == ("log_differs_from_checkpoint", "p0@30")
    (adopted,) = resigned(interleaved, KEY)
    served = audit(interleaved, [*checkpoints, adopted])
    assert served.refusal() is None
    assert {p.kind for p in served.problems} == {"log_differs_from_checkpoint"}


# --- an operator's adoption ---------------------------------------------------------------------


def partition_events(records: Records) -> list[tuple[int, bytes]]:
    return [(offset, raw) for _, offset, raw in records]


def test_a_correctly_chained_tail_may_be_adopted() -> None:
    records, checkpoints = logged()
    records = forged_tail(records, NOW)
    adopted, why = adoption(0, partition_events(records), checkpoints, RING, 24, LATER, suite=SUITE)
    assert why == []
    assert (adopted.count, adopted.last_offset) == (13, 24)
    signed = sign(KEY, 0, 24, adopted.count, adopted.head, LATER, "事后核实 / checked")
    assert refusal(records, [*checkpoints, signed]) is None


@pytest.mark.parametrize(
    ("through", "why"),
    [
        (23, "p0@23 is not an event of the partition"),
        (22, "a signed checkpoint covers p0 through offset 22 already"),
    ],
)
def test_only_uncovered_events_are_adopted(through: int, why: str) -> None:
    records, checkpoints = logged()
    records = forged_tail(records, NOW)
    _, reasons = adoption(
        0, partition_events(records), checkpoints, RING, through, LATER, suite=SUITE
    )
    assert reasons == [why]


def test_an_event_out_of_its_cases_chain_is_never_adopted() -> None:
    records, checkpoints = logged()
    records = forged_tail(records, NOW)
    partition, offset, raw = records[-1]
    fields = json.loads(raw)
    records[-1] = (partition, offset, json.dumps({**fields, "version": 9}).encode())
    _, reasons = adoption(0, partition_events(records), checkpoints, RING, 24, LATER, suite=SUITE)
    assert any(reason.startswith("altered_event at p0@24") for reason in reasons), reasons
    assert any(reason.startswith("version_gap at p0@24") for reason in reasons), reasons


def test_an_operators_reason_is_signed() -> None:
    records, checkpoints = logged()
    adopted = sign(KEY, 0, 22, 12, checkpoints[-1].head, NOW + timedelta(minutes=1), "核实")
    assert json.loads(adopted.record())["operator_reason"] == "核实"
    assert "operator_reason" not in json.loads(checkpoints[-1].record())
    changed = adopted.model_copy(update={"operator_reason": "另一个理由"})
    assert audit(records, [changed]).refusal() is None  # the audit trusts what it is given…
    assert (
        untrusted(changed, RING, suite=SUITE) is not None
    )  # …and the ring does not trust this one
    assert untrusted(adopted, RING, suite=SUITE) is None


def test_nothing_is_adopted_over_a_log_that_differs_from_its_latest_checkpoint() -> None:
    """An event slipped in before the latest checkpoint (the log no longer is what was signed)
    must not be covered by an operator's adoption of a later tail."""
    records, checkpoints = logged()
    records = forged_tail(records, NOW)
    partition, offset, raw = records[5]
    records[5] = (partition, offset, json.dumps({**json.loads(raw), "hash": "0" * 64}).encode())
    _, reasons = adoption(0, partition_events(records), checkpoints, RING, 24, LATER, suite=SUITE)
    assert any("log_differs_from_checkpoint" in reason for reason in reasons), reasons
