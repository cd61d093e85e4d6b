"""``casetrail bench write``: the decider's throughput and latency, against raw aiokafka.

N submissions are published straight to Kafka, the decider (a separate process, as in
production) decides them, and every outcome is read back. Two baselines move the same messages
through the same broker: raw aiokafka producing and consuming one topic, and raw aiokafka doing
the decider's exactly-once loop with no domain code (``services.bench.relay``: consume, produce
a reply per record and send the offsets in one transaction per batch). The ratio says what
CaseTrail's guarantees cost: transactions, state, validation, hashing, and checking who vouched
for each submission: by default every submission is signed with its department's development
key and the decider verifies it; ``--unsigned`` measures the same without signatures (the
decider runs with CASETRAIL_REQUIRE_SIGNATURES=false). Either way the report adds what signing
and verifying cost per submission, measured in this process without Kafka. ``--misplaced`` adds
the same rounds with every submission published to another partition than its case's (as a
client partitioning by another hash may): what the decider's forward costs, in the same run.
"""

import asyncio
import base64
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from events.model import VouchedBy
from events.signing import signed_bytes
from events.submissions import SubmissionBase, parse_submission
from events.suite import Suite
from services.adapters.kafka import (
    client_options,
    create_topic,
    create_topics,
    delete_topics,
    partitioner,
)
from services.bench.figures import Figures, figures
from services.bench.workload import submissions
from services.decider.officers import load_officers
from services.decider.partition import PartitionState
from services.demo import demo_settings
from services.infra.processes import start_python, start_service, stop
from services.infra.servers import free_port
from services.integrity.keyring import KeyRing, ensure_dev_keys, load_ring
from services.integrity.signing import (
    DepartmentSigners,
    SubmissionVerifier,
    ensure_dev_signing_keys,
)
from services.privacy.sealing import Sealer, open_payload
from services.progress import Say, quiet
from services.settings import KafkaRole, Settings


async def bench_write(
    base: Settings,
    count: int,
    per_case: int,
    lone: int,
    say: Say,
    signed: bool = True,
    sealed: bool = True,
    deciders: int = 1,
    misplaced: bool = False,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    settings = demo_settings(base.isolated(f"bench-{run}"))
    # Its GET /health on any free port: a demo's decider may hold the usual one.
    settings = settings.model_copy(
        update={
            "decider_health_port": 0,
            "require_signatures": signed,
            "seal_personal_data": sealed,
        }
    )
    ensure_dev_signing_keys(settings, say)
    signers = DepartmentSigners.load(settings)

    def sign(messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        # Before the clock starts: signing is the department's work, not the decider's.
        if not signed:
            return messages
        return [(case_id, signers.sign_json(value)) for case_id, value in messages]

    await create_topics(settings, quiet)
    baseline_topic = f"{settings.topic_prefix}.baseline"
    await create_topic(settings, baseline_topic, settings.partitions)
    ensure_dev_keys(settings.key_ring_path, settings.signing_key_path, settings.crypto_suite)
    # One decider process per core is how CaseTrail spreads the pure work of deciding: the
    # partitions are shared out among them as among deciders on several machines.
    logs = settings.state_dir / "logs"
    ports = [free_port() for _ in range(deciders)]
    processes = [
        start_service(
            "decider",
            settings.model_copy(update={"decider_health_port": port}),
            logs / f"bench-decider-{n}.log",
        )
        for n, port in enumerate(ports)
    ]
    # Both sides sign in (SASL/SCRAM): CaseTrail's as a department, the baseline's as admin,
    # the only user allowed on its topic.
    department, admin = (settings.as_kafka_user(r) for r in (KafkaRole.DEPARTMENT, KafkaRole.ADMIN))
    into, out_of = settings.submissions_topic, settings.outcomes_topic
    forwarded: dict[str, Any] = {}
    try:
        await _all_served(ports, settings.partitions)
        warm_up = sign(submissions(per_case, per_case, f"{run}w"))
        await _round_trip(department, into, out_of, warm_up, True)
        say(f"decider ready; publishing {count} submissions")
        messages = sign(submissions(count, per_case, run))
        bulk = figures(count, *await _round_trip(department, into, out_of, messages, False))
        say(f"casetrail: {bulk.per_second} submissions/s; now {lone} one at a time")
        singles = sign(submissions(lone, 2, f"{run}l"))
        single = figures(lone, *await _round_trip(department, into, out_of, singles, True))
        if misplaced:
            home = partitioner(settings.partitions)

            def elsewhere(case_id: str) -> int:
                return (home(case_id) + 1) % settings.partitions

            say("the same, every submission published to another partition than its case's")
            moved = sign(submissions(count, per_case, f"{run}m"))
            moved_bulk = await _round_trip(department, into, out_of, moved, False, elsewhere)
            moved_singles = sign(submissions(lone, 2, f"{run}ml"))
            moved_lone = await _round_trip(department, into, out_of, moved_singles, True, elsewhere)
            forwarded = {
                "bulk": asdict(figures(count, *moved_bulk)),
                "lone": asdict(figures(lone, *moved_lone)),
            }
    finally:
        for decider in processes:
            stop(decider, timeout=30)
    say("baseline: raw aiokafka, the same messages through one topic")
    raw = baseline_topic
    raw_bulk = figures(count, *await _round_trip(admin, raw, raw, messages, False))
    raw_single = figures(lone, *await _round_trip(admin, raw, raw, singles, True))
    say("transactional baseline: raw aiokafka consume → produce → send offsets, no domain code")
    exact_bulk, exact_single = await _transactional_baseline(settings, messages, singles, per_case)
    await delete_topics(settings)
    size = statistics.mean(len(value) for _, value in messages)
    result: dict[str, Any] = {
        "submissions": count,
        "signed": signed,
        "suite": settings.crypto_suite.value,
        "signature_costs_us": signature_costs(settings, signers),
        "sealed": sealed,
        "sealing_costs_us": sealing_costs(settings.crypto_suite),
        "per_case": per_case,
        "partitions": settings.partitions,
        "decider_processes": deciders,
        "mean_message_bytes": round(size),
        "casetrail": {"bulk": asdict(bulk), "lone": asdict(single)},
        "baseline_aiokafka": {"bulk": asdict(raw_bulk), "lone": asdict(raw_single)},
        "throughput_ratio": round(bulk.per_second / raw_bulk.per_second, 3),
        "lone_p50_ratio": round(single.p50_ms / raw_single.p50_ms, 2),
        "baseline_transactional": {"bulk": asdict(exact_bulk), "lone": asdict(exact_single)},
        "transactional_throughput_ratio": round(bulk.per_second / exact_bulk.per_second, 3),
        "transactional_lone_p50_ratio": round(single.p50_ms / exact_single.p50_ms, 2),
    }
    if forwarded and settings.partitions > 1:
        result["casetrail_misplaced"] = forwarded
        result["misplaced_throughput_ratio"] = round(
            forwarded["bulk"]["per_second"] / bulk.per_second, 3
        )
        result["misplaced_lone_p50_added_ms"] = round(
            forwarded["lone"]["p50_ms"] - single.p50_ms, 2
        )
    return result


async def _all_served(ports: list[int], partitions: int, timeout_s: float = 120.0) -> None:
    """Wait until the deciders serve every partition between them (the group settled), so
    that no rebalance falls into the measurement."""
    async with httpx.AsyncClient(timeout=2) as client, asyncio.timeout(timeout_s):
        while True:
            served = 0
            for port in ports:
                try:
                    body = (await client.get(f"http://127.0.0.1:{port}/health")).json()
                except (httpx.HTTPError, ValueError):
                    continue
                states = [p["state"] for p in body.get("partitions", {}).values()]
                served += states.count("serving") if len(set(states)) == 1 else 0
            if served == partitions:
                return
            await asyncio.sleep(0.2)


async def _transactional_baseline(
    settings: Settings,
    messages: list[tuple[str, bytes]],
    singles: list[tuple[str, bytes]],
    per_case: int,
) -> tuple[Figures, Figures]:
    """The same messages through ``services.bench.relay`` (its own process, as the decider is):
    what exactly-once costs on this broker, bulk and one at a time."""
    source, sink = f"{settings.topic_prefix}.relay-in", f"{settings.topic_prefix}.relay-out"
    for topic in (source, sink):
        await create_topic(settings, topic, settings.partitions)
    admin = settings.as_kafka_user(KafkaRole.ADMIN)
    log = settings.state_dir / "logs" / "bench-relay.log"
    relay = start_python(["-m", "services.bench.relay", source, sink], settings, log)
    try:
        warm_up = submissions(per_case, per_case, f"relay{uuid.uuid4().hex[:6]}")
        await _round_trip(admin, source, sink, warm_up, True)
        bulk = figures(len(messages), *await _round_trip(admin, source, sink, messages, False))
        single = figures(len(singles), *await _round_trip(admin, source, sink, singles, True))
    finally:
        stop(relay, timeout=30)
    return bulk, single


async def _round_trip(
    kafka: Settings,
    send_topic: str,
    receive_topic: str,
    messages: list[tuple[str, bytes]],
    lone: bool,
    partition_of: Callable[[str], int] | None = None,
) -> tuple[float, list[float]]:
    """Send every message, read a reply for each; the seconds it took and each latency.
    ``partition_of``: where to send each case's messages (default: the key's partition)."""
    consumer = AIOKafkaConsumer(
        receive_topic,
        **client_options(kafka),
        isolation_level="read_committed",
        auto_offset_reset="latest",
        fetch_max_wait_ms=5,
    )
    producer = AIOKafkaProducer(
        **client_options(kafka),
        acks="all",
        enable_idempotence=True,
        linger_ms=0 if lone else 5,
    )
    await consumer.start()
    await producer.start()
    await consumer.seek_to_end()
    for tp in consumer.assignment():
        await consumer.position(tp)  # fix the starting point before anything is sent
    sent: dict[str, float] = {}
    latencies: list[float] = []
    waiting = {_submission_id(value) for _, value in messages}

    async def receive(until: int) -> None:
        while len(latencies) < until:
            batches = await consumer.getmany(timeout_ms=1000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    key = _submission_id(record.value or b"")
                    if key in waiting and key in sent:
                        waiting.discard(key)
                        latencies.append(now - sent[key])

    started = time.perf_counter()
    try:
        if lone:
            for count, (case_id, value) in enumerate(messages, start=1):
                sent[_submission_id(value)] = time.perf_counter()
                where = partition_of(case_id) if partition_of else None
                await producer.send_and_wait(
                    send_topic, value, key=case_id.encode(), partition=where
                )
                await asyncio.wait_for(receive(count), 30)
        else:
            receiver = asyncio.create_task(receive(len(messages)))
            for case_id, value in messages:
                sent[_submission_id(value)] = time.perf_counter()
                where = partition_of(case_id) if partition_of else None
                await producer.send(send_topic, value, key=case_id.encode(), partition=where)
            await producer.flush()
            await asyncio.wait_for(receiver, 600)
    finally:
        await producer.stop()
        await consumer.stop()
    return time.perf_counter() - started, latencies


def signature_costs(
    settings: Settings, signers: DepartmentSigners, count: int = 2000
) -> dict[str, float]:
    """What signing and verifying cost per submission (µs, medians of ``count``), in this
    process: a department signing its JSON (parse, canonicalise, sign, write); the decider's
    check (canonicalise what it parsed, look up the key, verify), of which the signature
    algorithm alone (Ed25519, or SM2 under the guomi suite: ``ed25519_verify`` keeps its name
    for both); and, to set them against, the decider's whole pure decision of a submission with
    and without the check (validation, domain rules, event and hash)."""
    suite = settings.crypto_suite
    run = uuid.uuid4().hex[:6]
    plain = submissions(count, 10, f"cost{run}")
    signed_values, sign_times = [], []
    for _, value in plain:
        began = time.perf_counter()
        signed_values.append(signers.sign_json(value))
        sign_times.append(time.perf_counter() - began)
    officers = load_officers(settings.officers_file)
    checking = SubmissionVerifier(load_ring(settings.key_ring_path), suite=suite)
    now = datetime.now(UTC)
    verify_times, ed25519_times = [], []
    for value in signed_values:
        submission = parse_submission(value)
        assert isinstance(submission, SubmissionBase)
        signature = submission.signature
        assert signature is not None
        began = time.perf_counter()
        vouched = checking.vouch(value, submission, now)
        verify_times.append(time.perf_counter() - began)
        assert isinstance(vouched, VouchedBy), vouched
        key = checking.keys[signature.key_id].public_key
        raw = base64.b64decode(signature.value)
        document = signed_bytes(json.loads(value))
        began = time.perf_counter()
        key.verify(raw, document)
        ed25519_times.append(time.perf_counter() - began)

    def deciding(verifier: SubmissionVerifier, values: list[bytes]) -> float:
        state, times = PartitionState(officers, verifier, suite=suite), []
        for value in values:
            began = time.perf_counter()
            state.decide_record(value, now)
            times.append(time.perf_counter() - began)
            state.commit()
        return _micros(times)

    unchecked = SubmissionVerifier(KeyRing(), required=False, suite=suite)
    return {
        "sign": _micros(sign_times),
        "verify": _micros(verify_times),
        "ed25519_verify": _micros(ed25519_times),
        "decide_with_check": deciding(checking, signed_values),
        "decide_without_check": deciding(unchecked, [value for _, value in plain]),
    }


def sealing_costs(suite: Suite = Suite.INTERNATIONAL, count: int = 2000) -> dict[str, float]:
    """What sealing costs per registration (two persons, six personal values: two new keys,
    six encryptions with the suite's cipher, the hash again) and what opening it again costs a
    reader (µs, medians of ``count``), in this process; the key store's write is in the bulk
    figure."""
    officers = load_officers(demo_settings(Settings()).officers_file)
    unsigned = SubmissionVerifier(KeyRing(), required=False, suite=suite)
    state = PartitionState(officers, unsigned, suite=suite)
    now = datetime.now(UTC)
    events = []
    for _, value in submissions(count * 2, 2, f"seal{uuid.uuid4().hex[:6]}")[::2]:
        decision = state.decide_record(value, now)
        state.commit()
        events += list(decision.events)
    sealer, seal_times, open_times = Sealer(suite), [], []
    for event in events:
        began = time.perf_counter()
        sealed = sealer.seal(event)
        seal_times.append(time.perf_counter() - began)
        keys = {k.subject: k.key for k in sealer.take()}
        began = time.perf_counter()
        open_payload(sealed.case_id, str(sealed.event_id), sealed.payload, keys)
        open_times.append(time.perf_counter() - began)
    return {"seal_registration": _micros(seal_times), "open_registration": _micros(open_times)}


def _micros(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1_000_000, 1)


def _submission_id(value: bytes) -> str:
    return str(json.loads(value)["submission_id"])


def report(result: dict[str, Any]) -> str:
    ours, raw = result["casetrail"], result["baseline_aiokafka"]
    exact = result["baseline_transactional"]
    lines = [
        f"{result['submissions']} submissions ({result['per_case']} per case, "
        f"{result['partitions']} partitions, {result['mean_message_bytes']} bytes each, "
        f"{result['decider_processes']} decider processes)",
        f"{'':<22}{'per second':>12}{'p50 ms':>10}{'p99 ms':>10}",
    ]
    for name, row in (
        ("casetrail, bulk", ours["bulk"]),
        ("aiokafka, bulk", raw["bulk"]),
        ("casetrail, one by one", ours["lone"]),
        ("aiokafka, one by one", raw["lone"]),
        ("transactional, bulk", exact["bulk"]),
        ("transactional, 1 by 1", exact["lone"]),
    ):
        lines.append(f"{name:<22}{row['per_second']:>12}{row['p50_ms']:>10}{row['p99_ms']:>10}")
    lines.append(
        f"throughput ratio casetrail/aiokafka: {result['throughput_ratio']}; "
        f"lone p50 ratio: {result['lone_p50_ratio']}"
    )
    lines.append(
        "casetrail/transactional (raw consume → produce → send offsets, no domain code):"
        f" throughput {result['transactional_throughput_ratio']};"
        f" lone p50 {result['transactional_lone_p50_ratio']}"
    )
    moved = result.get("casetrail_misplaced")
    if moved is not None:
        for name, row in (("misplaced, bulk", moved["bulk"]), ("misplaced, 1 by 1", moved["lone"])):
            lines.append(f"{name:<22}{row['per_second']:>12}{row['p50_ms']:>10}{row['p99_ms']:>10}")
        lines.append(
            "every submission on another partition than its case's, forwarded by the decider:"
            f" throughput {result['misplaced_throughput_ratio']} of placed ones;"
            f" lone p50 {result['misplaced_lone_p50_added_ms']:+} ms"
        )
    costs = result["signature_costs_us"]
    lines.append(
        (
            "signed by each department's key, verified by the decider"
            if result["signed"]
            else "unsigned (--unsigned: the decider requires no signature)"
        )
        + f"; per submission (µs, medians): sign {costs['sign']}, verify {costs['verify']}"
        f" ({'SM2' if result.get('suite') == 'guomi' else 'Ed25519'} alone"
        f" {costs['ed25519_verify']}); the decider's pure decision"
        f" {costs['decide_with_check']} with the check, {costs['decide_without_check']} without"
    )
    sealing = result["sealing_costs_us"]
    lines.append(
        (
            "personal data sealed per data subject"
            if result["sealed"]
            else "personal data in plaintext (--plaintext: the decider seals nothing)"
        )
        + f"; per registration of two persons (µs, medians): seal {sealing['seal_registration']},"
        f" open {sealing['open_registration']}"
    )
    return "\n".join(lines)
