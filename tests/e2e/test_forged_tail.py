"""A correctly chained forgery at the tail of the log (DESIGN.md, guarantee 5): an event for an
existing case with the next version, the right prev_hash and a recomputed hash, produced
straight to the partition by someone who can write to Kafka.

``casetrail verify`` names it once older than the grace period; a restarted decider refuses
its partition (503 on /health, nothing decided or signed there) while it serves the others, and
serves it again, without a restart, once an operator has adopted the event after investigation
(``casetrail checkpoints accept``)."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.hashing import chain_hash
from services.adapters.kafka import partitioner
from services.bench.workload import submissions
from services.infra.servers import free_port
from services.integrity.declaration import read_declaration
from services.integrity.shell import verify_system
from services.settings import Settings
from tests.e2e.test_verify import append
from tests.signing import SUITE
from tests.support import (
    Service,
    all_outcomes,
    casetrail,
    eventually,
    own_topics,
    publish,
    submission_ids,
    whole_topic,
)


@pytest.fixture
async def own(servers: Settings) -> AsyncIterator[Settings]:
    """Topics of their own (two partitions), a decider health port, quick re-checks."""
    async with own_topics(
        servers,
        "forged",
        partitions=2,
        decider_health_port=free_port(),
        decider_refusal_retry_s=2.0,
        decider_session_timeout_ms=6000,
    ) as settings:
        yield settings


def health(settings: Settings) -> tuple[int, dict[str, Any]] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{settings.decider_health_port}/health", timeout=2)
    except httpx.HTTPError:
        return None
    return response.status_code, response.json()


def on(settings: Settings, partition: int, tag: str) -> tuple[str, bytes]:
    """A registration of a new case that lives on ``partition``."""
    where = partitioner(settings.partitions)
    for case_id, value in submissions(400, 1, tag):
        if where(case_id) == partition:
            return case_id, value
    raise AssertionError(f"no case on partition {partition}")


def forged_next(last: dict[str, Any]) -> dict[str, Any]:
    """The next event of ``last``'s case, chained and hashed as the decider would."""
    forged = {
        **last,
        "event_id": str(uuid.uuid4()),
        "version": last["version"] + 1,
        "prev_hash": last["hash"],
        "recorded_at": datetime.now(UTC).isoformat(),
        "submission_id": str(uuid.uuid4()),
        "payload": {"record": "伪造的办理记录：已办结"},
    }
    forged["hash"] = chain_hash(forged, suite=SUITE)
    return forged


async def on_partition(settings: Settings, topic: str, partition: int) -> list[bytes]:
    return [value for p, _, value in await whole_topic(settings, topic) if p == partition]


async def test_a_forged_tail_is_named_refused_and_served_again_once_adopted(
    own: Settings, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    decider = Service("decider", own, tmp_path)
    decider.start()
    # 8 cases of three steps, and a case on each partition: the 8 alone all land on partition 1
    # once in 256 runs, and the forger needs a step on partition 0 to extend.
    messages = [*submissions(24, 3, tag), on(own, 0, f"{tag}-0"), on(own, 1, f"{tag}-1")]
    await publish(own, messages, chunks=1)
    await all_outcomes(own, submission_ids(messages), 90)
    assert (await verify_system(own, audit_trail=False)).intact

    # The forger appends the next step of the last case on partition 0.
    (*_, last) = await on_partition(own, own.events_topic, 0)
    forged = forged_next(json.loads(last))
    (offset,) = await append(own, own.events_topic, [forged], partition=0)

    # verify: within the grace period a note, after it a problem naming the record.
    soon = await verify_system(own, audit_trail=False)
    assert soon.intact, soon.problems
    assert soon.recent_uncovered == 1
    strict = own.model_copy(update={"verify_grace_s": 0})
    named = await verify_system(strict, audit_trail=False)
    assert [(p.kind, p.where, p.case_id) for p in named.problems] == [
        ("uncovered_event", f"p0@{offset}", forged["case_id"])
    ]
    command = casetrail(strict, "verify", "--log-only")
    assert command.returncode == 1, command.stdout + command.stderr
    assert command.stdout.startswith(f"uncovered_event at p0@{offset}: ")

    # A restarted decider refuses partition 0 and serves partition 1.
    await asyncio.to_thread(decider.stop)
    decider.start()

    def refusing() -> dict[str, Any] | None:
        answer = health(own)
        if answer is None or answer[1]["partitions"].get("1", {}).get("state") != "serving":
            return None
        code, body = answer
        return body if code == 503 and body["status"] == "refusing" else None

    body = await asyncio.to_thread(eventually, refusing, 60, "the refusal")
    refused = body["partitions"]["0"]
    assert (refused["state"], refused["kind"]) == ("refused", "uncovered_event")
    assert f"p0@{offset}" in refused["reason"]
    assert "伪造" not in json.dumps(body, ensure_ascii=False)  # places, never contents
    decider.check_alive()

    events_before = await on_partition(own, own.events_topic, 0)
    checkpoints_before = await on_partition(own, own.checkpoints_topic, 0)
    waiting, served = on(own, 0, f"{tag}a"), on(own, 1, f"{tag}b")
    await publish(own, [waiting, served], chunks=1)
    await all_outcomes(own, submission_ids([served]), 60)
    await asyncio.sleep(3)  # partition 0 had every chance to be decided meanwhile
    answered = {o.submission_id for o in await all_outcomes(own, set(), 1)}
    assert uuid.UUID(json.loads(waiting[1])["submission_id"]) not in answered
    assert await on_partition(own, own.events_topic, 0) == events_before
    assert await on_partition(own, own.checkpoints_topic, 0) == checkpoints_before
    assert "REFUSED" in decider.log.read_text()

    # Adopting anything but that event is refused; adopting it lets the decider go on.
    wrong = casetrail(
        own, "checkpoints", "accept", "--partition", "0", "--through", "0", "--reason", "x"
    )
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "a signed checkpoint covers p0 through offset 0 already" in wrong.stderr
    reason = "测试：核实后接受 / adopted by the test"
    accepted = casetrail(
        own,
        "checkpoints",
        "accept",
        "--partition",
        "0",
        "--through",
        str(offset),
        "--reason",
        reason,
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert f"p0: 1 event adopted through offset {offset}" in accepted.stdout

    await all_outcomes(own, submission_ids([waiting]), 60)  # without a restart

    def healthy() -> dict[str, Any] | None:
        answer = health(own)
        return answer[1] if answer is not None and answer[0] == 200 else None

    ok = await asyncio.to_thread(eventually, healthy, 30, "health ok")
    assert ok["status"] == "ok"
    assert {p["state"] for p in ok["partitions"].values()} == {"serving"}
    after = await verify_system(strict, audit_trail=False)
    assert after.intact, after.problems
    assert [a["reason"] for a in after.adopted] == [reason]
    decider.check_alive()
    await asyncio.to_thread(decider.stop)


async def test_a_forgery_while_the_decider_runs_is_never_signed(
    own: Settings, tmp_path: Path
) -> None:
    """The decider foresees where its events land (it is the partition's only writer) and
    signs the checkpoint before the broker says. A record someone slipped in meanwhile moves
    them: the transaction aborts, the batch is decided again after it, and no checkpoint covers
    the forgery, which ``casetrail verify`` names."""
    tag = uuid.uuid4().hex[:6]
    decider = Service("decider", own, tmp_path)
    decider.start()
    first = on(own, 0, f"{tag}x")
    await publish(own, [first], chunks=1)
    await all_outcomes(own, submission_ids([first]), 60)
    (*_, last) = await on_partition(own, own.events_topic, 0)
    forged = forged_next(json.loads(last))
    (offset,) = await append(own, own.events_topic, [forged], partition=0)

    after = on(own, 0, f"{tag}y")
    await publish(own, [after], chunks=1)
    (outcome,) = [
        o
        for o in await all_outcomes(own, submission_ids([after]), 60)
        if str(o.submission_id) == json.loads(after[1])["submission_id"]
    ]
    assert outcome.status == "accepted"
    assert "deciding the batch again" in decider.log.read_text()
    report = await verify_system(own, audit_trail=False)
    assert not report.intact
    assert any(
        p.partition == 0 and p.offset is not None and p.offset >= offset for p in report.problems
    )
    on_topic = await on_partition(own, own.checkpoints_topic, 0)
    signed = [json.loads(c) for c in on_topic if read_declaration(c) is None]
    assert all(c["head"] != forged["hash"] for c in signed)
    decider.check_alive()
    await asyncio.to_thread(decider.stop)
