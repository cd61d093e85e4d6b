"""One suite per log, fixed by a signed declaration (``services.integrity.declaration``) against
the real broker: two deciders of different suites started together on an empty log, one serves
and the other refuses; forged and junk records on the checkpoints topic neither stop the
log's decider nor let the other suite's start; verify under the wrong suite says so once.

Each decider has the development ring of its suite, which does not hold the other's key: the
other's declaration counts as a claim (self-signed) while no checkpoint its ring vouches for
is on the log."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.suite import Suite
from services.bench.workload import submissions
from services.infra.servers import free_port
from services.integrity.declaration import read_declaration
from services.integrity.keyring import ensure_dev_keys
from services.integrity.shell import verify_system
from services.settings import Settings
from tests.e2e.test_verify import append
from tests.signing import SUITE
from tests.support import (
    Service,
    all_outcomes,
    eventually,
    own_topics,
    publish,
    submission_ids,
    whole_topic,
)

OTHER = Suite.GUOMI if SUITE is Suite.INTERNATIONAL else Suite.INTERNATIONAL


@pytest.fixture
async def deployment(servers: Settings) -> AsyncIterator[dict[Suite, Settings]]:
    """Topics of their own (two partitions, no declaration yet), and settings of each suite,
    each with its development keys and ring (``<state dir>/keys/guomi/`` for guomi)."""
    async with own_topics(servers, "suite", partitions=2, decider_session_timeout_ms=6000) as own:
        each = {s: own.model_copy(update={"crypto_suite": s}) for s in (SUITE, OTHER)}
        other = each[OTHER]
        ensure_dev_keys(other.key_ring_path, other.signing_key_path, OTHER)
        yield {
            s: settings.model_copy(update={"decider_health_port": free_port()})
            for s, settings in each.items()
        }


def serving(settings: Settings) -> bool | None:
    try:
        url = f"http://127.0.0.1:{settings.decider_health_port}/health"
        answer = httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None
    return answer.status_code == 200 or None


def refused(decider: Service) -> str | None:
    """The decider's output once it has exited with its refusal to start (code 2)."""
    assert decider.process is not None
    code = decider.process.poll()
    if code is None:
        return None
    assert code == 2, decider.log.read_text()
    return decider.log.read_text()


async def test_two_deciders_of_different_suites_on_an_empty_log_one_serves(
    deployment: dict[Suite, Settings], tmp_path: Path
) -> None:
    deciders = {}
    for suite, settings in deployment.items():
        (tmp_path / suite.value).mkdir()
        deciders[suite] = Service("decider", settings, tmp_path / suite.value)
    try:
        for decider in deciders.values():
            decider.start()  # together: both find an empty log, both declare

        def outcome() -> tuple[Suite, str] | None:
            said = {s: refused(d) for s, d in deciders.items()}
            losers = [s for s, text in said.items() if text is not None]
            if len(losers) != 1:
                assert len(losers) < 2, said
                return None
            (loser,) = losers
            (winner,) = set(deciders) - {loser}
            if not serving(deployment[winner]):
                return None
            return winner, str(said[loser])

        winner, text = await asyncio.to_thread(eventually, outcome, 90, "one refusal, one serving")
        loser = OTHER if winner is SUITE else SUITE
        assert f"is of the suite {winner.value} (declared at p0@" in text
        assert f"CASETRAIL_CRYPTO_SUITE is {loser.value}" in text
        deciders[winner].check_alive()
    finally:
        for decider in deciders.values():
            await asyncio.to_thread(decider.stop)
    on_p0 = [
        v
        for p, _, v in await whole_topic(deployment[winner], deployment[winner].checkpoints_topic)
        if p == 0
    ]
    assert {d.suite for v in on_p0 if (d := read_declaration(v)) is not None} <= {winner, loser}
    # The log verifies under the winner (the loser's declaration, if it was written, is named:
    # its key is not in the winner's ring); under the loser's setting: one problem, what to set.
    result = await verify_system(deployment[winner], audit_trail=False)
    assert {p.kind for p in result.problems} <= {"unknown_checkpoint_key"}, result.problems
    wrong = await verify_system(deployment[loser], audit_trail=False)
    assert [p.kind for p in wrong.problems] == ["suite_mismatch"]
    assert f"set CASETRAIL_CRYPTO_SUITE={winner.value}" in wrong.problems[0].detail


def forged_suite_less_checkpoint(partition: int) -> dict[str, Any]:
    """A checkpoint without a suite (so: international) nobody signed."""
    return {
        "partition": partition,
        "offset": 0,
        "count": 1,
        "head": "ab" * 32,
        "created_at": "2026-01-01T00:00:00Z",
        "key_id": "0" * 16,
        "signature": "AAAA",
    }


async def test_forged_and_junk_checkpoints_neither_stop_nor_fool_a_decider(
    deployment: dict[Suite, Settings], tmp_path: Path
) -> None:
    ours = deployment[SUITE]
    decider = Service("decider", ours, tmp_path)
    decider.start()
    messages = submissions(4, 1, uuid.uuid4().hex[:6])
    await publish(ours, messages, chunks=1)
    await all_outcomes(ours, submission_ids(messages), 90)
    await asyncio.to_thread(decider.stop)

    # Someone who can write the topic: a forged declaration of the other suite and a forged
    # suite-less checkpoint at the head of every partition's tail, then 20 junk records each.
    forged = {"declares": "suite", "suite": OTHER.value, "created_at": "2026-01-01T00:00:00Z"}
    forged |= {"key_id": "0" * 16, "public_key": "AAAA", "signature": "AAAA"}
    for partition in (0, 1):
        junk: list[dict[str, Any]] = [{"junk": i} for i in range(20)]
        tail = [forged, forged_suite_less_checkpoint(partition), *junk]
        await append(ours, ours.checkpoints_topic, tail, partition=partition)

    # The log's decider still serves; the other suite's still refuses.
    decider.start()
    await asyncio.to_thread(eventually, lambda: serving(ours), 60, "the decider serving")
    other = Service("decider", deployment[OTHER], tmp_path / "other")
    (tmp_path / "other").mkdir()
    other.start()
    try:
        text = await asyncio.to_thread(eventually, lambda: refused(other), 60, "the refusal")
        assert f"is of the suite {SUITE.value} (declared at p0@0 with the key" in text
        decider.check_alive()
    finally:
        await asyncio.to_thread(other.stop)
        await asyncio.to_thread(decider.stop)
    # verify names the forgeries as such, not as another suite's, and finds no altered event.
    result = await verify_system(ours, audit_trail=False)
    kinds = [p.kind.value for p in result.problems]
    assert sorted(set(kinds)) == ["unknown_checkpoint_key", "unreadable_checkpoint"], kinds
    assert kinds.count("unknown_checkpoint_key") == 3  # the declaration, two checkpoints
    assert result.events == 4
