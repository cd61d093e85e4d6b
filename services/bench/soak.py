"""``casetrail bench soak``: the interactive path under a steady, open-loop load.

A decider, a projector and a gateway of its own (own topics, own database) are started as
separate processes, as in production. Then new petitions are POSTed to the gateway, one HTTP
request each, at a fixed rate for a fixed time: each request is sent when its turn comes,
whether or not the earlier ones were answered (an open loop: a slow system meets the same
load, it cannot slow the load down), and each latency counts from the moment the request was
due, not from when it could be sent, so that a load generator held up by the system it
measures cannot hide the delay (coordinated omission). The loop stops by itself after
``seconds``, and talks to the loopback address only.

It reports what was offered and what was completed, the gateway's answers (how many of each
status) and latency, how long each accepted petition took to show in the case summary read
model (projection lag), each service process's memory over the run, and the CPU seconds per
completed submission of every process on the path: the decider, the projector, the gateway, the
Kafka broker and PostgreSQL (the broker and PostgreSQL are shared with whatever else runs on
the machine: their figures include it, and an idle window before the load measures how much).

``find_max`` steps the rate up on the same processes until a step is not sustained.
"""

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import orjson

from projections import builds
from projections.db import connect
from services import tokens
from services.adapters.kafka import create_topics, delete_topics
from services.bench.workload import ACTOR, PETITIONERS
from services.demo import demo_settings
from services.infra import components
from services.infra.postgres_server import LocalPostgres
from services.infra.processes import start_service, stop_all
from services.infra.servers import free_port
from services.integrity.keyring import ensure_dev_keys
from services.integrity.signing import ensure_dev_signing_keys
from services.progress import Say, quiet
from services.settings import Settings, with_database
from services.tokens import TokenRole

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVICES = ("decider", "projector", "gateway")
SAMPLE_EVERY_S = 5.0
"""How often memory is sampled during a run."""
POLL_EVERY_S = 0.025
"""How often the read model is asked which accepted petitions it shows (the projection lag's
resolution: a lag is counted up to the end of the query that first saw the row)."""
DRAIN_S = 30.0
"""After the load: how long answers and projections may still come in."""


# --- processes: CPU and memory ---------------------------------------------------------------


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of a process so far (with ``children``: plus that of its children it
    has waited for, which PostgreSQL's backends become once they exit)."""
    fields = _stat(pid)
    # After the name: state is field 3 of proc(5), so utime (14) is index 11, cutime (16) 13.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def child_pids(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


@dataclass
class Watched:
    """A process whose CPU is counted: a service, the broker, or PostgreSQL with its backends
    (minus ``excluded``: this benchmark's own connection, whose queries are the measurement's)."""

    name: str
    pid: int
    tree: bool = False
    excluded: set[int] = field(default_factory=set)

    def cpu(self) -> float:
        """CPU seconds so far; for a tree, the exited children's too."""
        total = cpu_seconds(self.pid, children=self.tree)
        if self.tree:
            for child in child_pids(self.pid):
                if child not in self.excluded:
                    with contextlib.suppress(OSError, IndexError):
                        total += cpu_seconds(child)
        return total

    def excluded_cpu(self) -> float:
        total = 0.0
        for pid in self.excluded:
            with contextlib.suppress(OSError, IndexError):
                total += cpu_seconds(pid)
        return total

    def rss(self) -> float | None:
        """Memory of a service (not of the shared servers, whose size is not ours to judge)."""
        if self.tree or self.name in ("kafka", "postgres"):
            return None
        with contextlib.suppress(OSError):
            return rss_mb(self.pid)
        return None


def _by_command_line(marker: str) -> int | None:
    """A process whose command line holds ``marker`` and whose parent's does not (a
    postmaster, not one of its backends)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if marker in command:
                parent = int(_stat(int(entry.name))[1])
                mine = (Path(f"/proc/{parent}") / "cmdline").read_bytes()
                if marker.encode() not in mine.replace(b"\0", b" "):
                    return int(entry.name)
    return None


def server_pids(settings: Settings) -> dict[str, int | None]:
    """The Kafka broker's and PostgreSQL's (postmaster) pids: from the pid files 'casetrail
    infra up' keeps in the state directory, else from the command lines of running processes."""
    found: dict[str, int | None] = {}
    for name, server in components(settings).items():
        pids = [status.pid for status in server.statuses() if status.pid is not None]
        found[name] = pids[0] if pids else None
    if found.get("kafka") is None:
        found["kafka"] = _by_command_line("kafka.Kafka")
    if found.get("postgres") is None:
        found["postgres"] = _by_command_line("postgres -D")
    return found


class Meter:
    """CPU and memory of every watched process, between two instants."""

    def __init__(self, watched: list[Watched]):
        self.watched = watched
        self.memory: dict[str, list[float]] = {w.name: [] for w in watched if w.rss() is not None}

    def cpu(self) -> dict[str, float]:
        taken = {w.name: w.cpu() for w in self.watched}
        taken["load generator (this process)"] = cpu_seconds(os.getpid())
        return taken

    def sample_memory(self) -> None:
        for w in self.watched:
            rss = w.rss()
            if rss is not None:
                self.memory[w.name].append(rss)


# --- the load --------------------------------------------------------------------------------


def petition(run: str, number: int) -> tuple[str, str, bytes]:
    """(case_id, submission_id, JSON) of a new petition with two petitioners, unsigned: the
    gateway vouches for it, as for any department that submits with a token."""
    case_id = f"SOAK-{run}-{number:08d}"
    submission_id = str(uuid.uuid4())
    body = {
        "type": "petition.register",
        "submission_id": submission_id,
        "case_id": case_id,
        "actor": ACTOR,
        "occurred_at": "2020-06-01T09:00:00+08:00",
        "payload": {
            "channel": "visit",
            "persons": 2,
            "summary": "稳态压测",
            "petitioners": PETITIONERS,
        },
    }
    return case_id, submission_id, orjson.dumps(body)


class Http:
    """A minimal HTTP/1.1 client over keep-alive loopback connections: an idle connection is
    reused, a new one opened when all are busy (up to ``limit``). Much cheaper per request than
    a general client, so that the load generator leaves the machine's cores to what it
    measures."""

    def __init__(self, port: int, token: str, limit: int):
        self.port, self.limit = port, limit
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.open = 0
        self.head = (
            "POST /submissions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        ).encode()

    async def post(self, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """Status, headers and body; None when every connection is busy (the client's own
        limit: counted, never waited for, so that the loop stays open)."""
        if self.idle:
            reader, writer = self.idle.pop()
            try:
                return await self._exchange(reader, writer, body)
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as error:
                if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                    raise
                # The server closed this keep-alive connection while it was idle (uvicorn does
                # after 5 s): what any HTTP client does then, send again on a new one (a
                # submission may be sent twice: its submission_id makes that harmless).
        if self.open >= self.limit:
            return None
        self.open += 1
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            self.open -= 1
            raise
        return await self._exchange(reader, writer, body)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            content = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.open -= 1
            writer.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.open -= 1
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, headers, content

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


@dataclass
class Step:
    """One rate held for a while: what was sent, answered, and seen in the read model."""

    rate: float
    seconds: float
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Seconds from when each request was due to its answer, by status."""
    completed_in_time: int = 0
    """Accepted (201) with the answer inside the load window."""
    sent: int = 0
    client_busy: int = 0
    late_max_s: float = 0.0
    answers: list[tuple[float, int, float]] = field(default_factory=list)
    """(due, status, latency) of every answer, seconds from the step's start, for the
    timeline."""
    started: float = 0.0
    unanswered: int = 0
    """Requests still without an answer ``DRAIN_S`` after the load ended (then given up)."""
    """The most the generator sent a request after it was due (its own lag)."""
    retry_after: Counter[str] = field(default_factory=Counter)
    shed_codes: Counter[str] = field(default_factory=Counter)
    visible: list[float] = field(default_factory=list)
    """Seconds from a petition's due time to its row in the case summary."""
    unseen: int = 0


class ReadModelWatch:
    """Asks the case summary, every ``POLL_EVERY_S``, which of the accepted petitions it shows."""

    def __init__(self, conn: asyncpg.Connection, schema: str):
        self.conn, self.schema = conn, schema
        self.waiting: dict[str, tuple[float, Step]] = {}
        self.all_seen = asyncio.Event()
        """Set by a poll that leaves nothing waiting; cleared by each new petition."""

    def expect(self, case_id: str, due: float, step: Step) -> None:
        self.waiting[case_id] = (due, step)
        self.all_seen.clear()

    async def run(self, stop: asyncio.Event) -> None:
        sql = f'SELECT case_id FROM "{self.schema}".case_summary WHERE case_id = ANY($1::text[])'
        while not stop.is_set():
            if self.waiting:
                wanted = list(self.waiting)
                found: list[str] = []
                for start in range(0, len(wanted), 5000):
                    rows = await self.conn.fetch(sql, wanted[start : start + 5000])
                    found += [row["case_id"] for row in rows]
                now = time.perf_counter()
                for case_id in found:
                    due, step = self.waiting.pop(case_id)
                    step.visible.append(now - due)
                if not self.waiting:
                    self.all_seen.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_EVERY_S)


async def offer(
    http: Http, watch: ReadModelWatch, run: str, rate: float, seconds: float, first: int
) -> Step:
    """Send new petitions at ``rate`` per second for ``seconds``, each when it is due; wait
    for the answers (and the read model) up to ``DRAIN_S`` more."""
    step = Step(rate, seconds)
    pending: set[asyncio.Task[None]] = set()
    started = step.started = time.perf_counter()
    window_end = started + seconds

    async def one(number: int, due: float) -> None:
        case_id, _, body = petition(run, number)
        try:
            answer = await http.post(body)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            step.statuses[f"error {type(error).__name__}"] += 1
            return
        now = time.perf_counter()
        if answer is None:
            step.client_busy += 1
            return
        status, headers, content = answer
        key = str(status)
        step.statuses[key] += 1
        step.latencies.setdefault(key, []).append(now - due)
        step.answers.append((due - started, status, now - due))
        if status == 201 and now <= window_end:
            step.completed_in_time += 1
        if status in (201, 202):
            watch.expect(case_id, due, step)
        if status in (429, 503):
            step.retry_after[headers.get("retry-after", "absent")] += 1
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                step.shed_codes[str(orjson.loads(content).get("code"))] += 1

    count = int(rate * seconds)
    for index in range(count):
        due = started + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            step.late_max_s = max(step.late_max_s, -delay)
        task = asyncio.create_task(one(first + index, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        step.sent += 1
    if pending:
        await asyncio.wait(pending, timeout=DRAIN_S)
    step.unanswered = len(pending)
    for task in list(pending):
        task.cancel()
    if watch.waiting:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.all_seen.wait(), DRAIN_S)
    step.unseen = sum(1 for _, s in watch.waiting.values() if s is step)
    watch.waiting = {c: w for c, w in watch.waiting.items() if w[1] is not step}
    return step


# --- figures ---------------------------------------------------------------------------------


def _ms(seconds: list[float], share: float) -> float | None:
    if not seconds:
        return None
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000, 1)


def timeline(step: Step, buckets: int = 20) -> list[dict[str, Any]]:
    """The step in ``buckets`` slices of due time: what was answered how, and how fast (a
    steady system looks the same in each; a collapsing one gets slower slice by slice)."""
    width = step.seconds / buckets
    slices: list[list[tuple[float, int, float]]] = [[] for _ in range(buckets)]
    for answer in step.answers:
        slices[min(int(answer[0] / width), buckets - 1)].append(answer)
    return [
        {
            "from_s": round(index * width, 1),
            "accepted": sum(1 for _, status, _ in answers if status == 201),
            "shed": sum(1 for _, status, _ in answers if status in (429, 503)),
            "p50_ms": _ms([latency for _, _, latency in answers], 0.5),
            "p99_ms": _ms([latency for _, _, latency in answers], 0.99),
        }
        for index, answers in enumerate(slices)
    ]


def step_figures(step: Step) -> dict[str, Any]:
    answered = [s for latencies in step.latencies.values() for s in latencies]
    accepted = step.latencies.get("201", [])
    shed = step.statuses["429"] + step.statuses["503"]
    return {
        "offered_per_second": step.rate,
        "seconds": step.seconds,
        "sent": step.sent,
        "completed_per_second": round(step.completed_in_time / step.seconds, 1),
        "accepted": step.statuses["201"],
        "statuses": dict(step.statuses),
        "shed": shed,
        "shed_codes": dict(step.shed_codes),
        "retry_after": dict(step.retry_after),
        "unanswered": step.unanswered,
        "client_connections_busy": step.client_busy,
        "generator_late_max_ms": round(step.late_max_s * 1000, 1),
        "gateway_latency_ms": {
            "all": {"p50": _ms(answered, 0.5), "p99": _ms(answered, 0.99)},
            "accepted": {"p50": _ms(accepted, 0.5), "p99": _ms(accepted, 0.99)},
            "shed": {
                "p50": _ms(step.latencies.get("503", []) + step.latencies.get("429", []), 0.5),
                "p99": _ms(step.latencies.get("503", []) + step.latencies.get("429", []), 0.99),
            },
        },
        "timeline": timeline(step),
        "projection_lag_ms": {
            "p50": _ms(step.visible, 0.5),
            "p99": _ms(step.visible, 0.99),
            "max": _ms(step.visible, 1.0),
            "not_seen_within_drain": step.unseen,
        },
    }


def sustained(figures: dict[str, Any], p99_limit_ms: float) -> bool:
    """A step is sustained when at least 97% of what was offered was accepted within the load
    window, nothing was shed, and the accepted answers' p99 stayed under the limit."""
    p99 = figures["gateway_latency_ms"]["accepted"]["p99"]
    return (
        figures["completed_per_second"] >= 0.97 * figures["offered_per_second"]
        and figures["shed"] == 0
        and p99 is not None
        and p99 <= p99_limit_ms
    )


def cpu_figures(
    before: dict[str, float],
    after: dict[str, float],
    idle: dict[str, float],
    window_s: float,
    completed: int,
) -> dict[str, dict[str, float | None]]:
    """CPU seconds each process used over the window (load and drain), per completed
    submission (ms); ``idle`` is each one's CPU per second just before the load (other tenants
    of a shared server, timers, polling), and ``net`` takes that much off the window's."""
    out: dict[str, dict[str, float | None]] = {}
    for name, end in after.items():
        used = end - before[name]
        net = max(used - idle.get(name, 0.0) * window_s, 0.0)
        out[name] = {
            "cpu_s": round(used, 2),
            "idle_cpu_per_s": round(idle.get(name, 0.0), 3),
            "ms_per_submission": round(used / completed * 1000, 3) if completed else None,
            "net_ms_per_submission": round(net / completed * 1000, 3) if completed else None,
        }
    return out


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Rig:
    settings: Settings
    token: str
    processes: dict[str, Any]
    meter: Meter
    conn: asyncpg.Connection
    schema: str


async def _ready(settings: Settings, processes: dict[str, Any], say: Say) -> None:
    url = f"http://127.0.0.1:{settings.gateway_port}/health"
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {settings.state_dir / 'logs'}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the gateway did not become healthy within 120 s")
            await asyncio.sleep(0.5)


async def _live_schema(conn: asyncpg.Connection) -> str:
    deadline = time.monotonic() + 120
    while True:
        with contextlib.suppress(asyncpg.UndefinedTableError):
            build = await builds.live_build(conn, "cases")
            if build is not None:
                return builds.schema_of("cases", build)
        if time.monotonic() > deadline:
            raise RuntimeError("the projector made no live build of 'cases' within 120 s")
        await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def rig(base: Settings, say: Say) -> Any:
    """Topics, a database, the services and a department token of the benchmark's own; all
    removed afterwards."""
    run = uuid.uuid4().hex[:8]
    database = f"casetrail_soak_{run}"
    settings = demo_settings(base.isolated(f"soak-{run}", database))
    settings = settings.model_copy(
        update={
            "decider_health_port": 0,
            "projector_metrics_port": 0,
            "gateway_port": free_port(),
            "query_port": free_port(),
        }
    )
    await LocalPostgres(settings).ensure_database(quiet)
    await create_topics(settings, quiet)
    ensure_dev_keys(settings.key_ring_path, settings.signing_key_path, settings.crypto_suite)
    ensure_dev_signing_keys(settings, quiet)
    async with connect(settings.postgres_dsn) as conn:
        _, token = await tokens.create(conn, TokenRole.DEPARTMENT, [ACTOR["department"]], "soak")
    logs = settings.state_dir / "logs"
    processes = {
        name: start_service(name, settings, logs / f"soak-{name}.log") for name in SERVICES
    }
    say(f"services: {', '.join(f'{n} pid {p.pid}' for n, p in processes.items())}; logs in {logs}")
    try:
        async with connect(settings.postgres_dsn) as conn:
            await _ready(settings, processes, say)
            schema = await _live_schema(conn)
            servers = server_pids(settings)
            watched = [Watched(name, p.pid) for name, p in processes.items()]
            if (kafka := servers.get("kafka")) is not None:
                watched.append(Watched("kafka", kafka))
            if (postgres := servers.get("postgres")) is not None:
                watched.append(Watched("postgres", postgres, True, {conn.get_server_pid()}))
            missing = [name for name, pid in servers.items() if pid is None]
            if missing:
                say(f"no pid found for {', '.join(missing)}: their CPU is not counted")
            yield Rig(settings, token, processes, Meter(watched), conn, schema)
    finally:
        stop_all(list(processes.values()), timeout=30)
        await delete_topics(settings)
        async with connect(with_database(settings.postgres_dsn, "postgres")) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def measured_step(
    rig: Rig, http: Http, run: str, rate: float, seconds: float, first: int, say: Say
) -> dict[str, Any]:
    """One step with its CPU and memory: an idle window first, then the load."""
    idle_s = 5.0
    before_idle = rig.meter.cpu()
    await asyncio.sleep(idle_s)
    before = rig.meter.cpu()
    idle = {name: (before[name] - before_idle[name]) / idle_s for name in before}
    rig.meter.sample_memory()
    watch = ReadModelWatch(rig.conn, rig.schema)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch.run(stop))

    async def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
            rig.meter.sample_memory()
            for name, process in rig.processes.items():
                if process.poll() is not None:
                    say(f"{name} exited during the run (code {process.returncode})")

    sampler = asyncio.create_task(sample())
    postgres = next((w for w in rig.meter.watched if w.name == "postgres"), None)
    polling_before = postgres.excluded_cpu() if postgres else 0.0
    began = time.perf_counter()
    try:
        step = await offer(http, watch, run, rate, seconds, first)
    finally:
        stop.set()
        await watcher
        await sampler
    after = rig.meter.cpu()
    figures = step_figures(step)
    window = time.perf_counter() - began
    figures["window_s"] = round(window, 1)
    figures["cpu"] = cpu_figures(before, after, idle, window, step.statuses["201"])
    if postgres:
        figures["cpu"]["postgres"]["benchmark_polling_excluded_s"] = round(
            postgres.excluded_cpu() - polling_before, 2
        )
    return figures


async def bench_soak(
    base: Settings,
    rate: float,
    seconds: float,
    say: Say,
    find_max: bool = False,
    step_seconds: float = 30.0,
    max_rate: float = 2000.0,
    p99_limit_ms: float = 500.0,
    connections: int = 1000,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    async with rig(base, say) as ready:
        http = Http(ready.settings.gateway_port, ready.token, connections)
        result: dict[str, Any] = {
            # Its own, removed when it ends.
            "topic_prefix": ready.settings.topic_prefix,
            "database": urlsplit(ready.settings.postgres_dsn).path.lstrip("/"),
            "partitions": ready.settings.partitions,
            "cpus": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
        }
        try:
            # A few petitions first, so that every process has its connections and caches.
            await offer(http, ReadModelWatch(ready.conn, ready.schema), run + "w", 20, 2, 0)
            if find_max:
                result["steps"] = steps = []
                current, first = rate, 1_000
                while current <= max_rate:
                    say(f"offering {current:.0f}/s for {step_seconds:.0f} s")
                    figures = await measured_step(
                        ready, http, run, current, step_seconds, first, say
                    )
                    figures["sustained"] = sustained(figures, p99_limit_ms)
                    steps.append(figures)
                    say("  " + _line(figures))
                    first += int(current * step_seconds)
                    if not figures["sustained"]:
                        break
                    current = round(current * 1.25)
                good = [s["offered_per_second"] for s in steps if s["sustained"]]
                result["max_sustained_per_second"] = max(good) if good else None
                result["p99_limit_ms"] = p99_limit_ms
            else:
                say(f"offering {rate:.0f} new petitions/s for {seconds:.0f} s")
                result["run"] = await measured_step(ready, http, run, rate, seconds, 1_000, say)
        finally:
            await http.close()
        result["memory_mb"] = {
            name: {
                "start": samples[0] if samples else None,
                "end": samples[-1] if samples else None,
                "max": max(samples) if samples else None,
                "samples": samples,
            }
            for name, samples in ready.meter.memory.items()
        }
        result["load_average_at_end"] = list(os.getloadavg())
    return result


def _line(figures: dict[str, Any]) -> str:
    latency = figures["gateway_latency_ms"]["accepted"]
    lag = figures["projection_lag_ms"]
    return (
        f"offered {figures['offered_per_second']:.0f}/s, completed"
        f" {figures['completed_per_second']:.0f}/s, shed {figures['shed']},"
        f" gateway p50/p99 {latency['p50']}/{latency['p99']} ms,"
        f" projection lag p50/p99 {lag['p50']}/{lag['p99']} ms"
    )


def _cpu_lines(cpu: dict[str, dict[str, Any]]) -> Iterator[str]:
    yield f"  {'process':<31}{'CPU s':>8}{'ms/submission':>15}{'idle CPU/s':>12}{'net ms':>9}"
    for name, row in cpu.items():
        per, net = row["ms_per_submission"], row["net_ms_per_submission"]
        yield (
            f"  {name:<31}{row['cpu_s']:>8}{per if per is not None else '-':>15}"
            f"{row['idle_cpu_per_s']:>12}{net if net is not None else '-':>9}"
        )


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['cpus']} CPUs, {result['partitions']} partitions; load average"
        f" {result['load_average_at_start'][0]:.2f} at the start,"
        f" {result['load_average_at_end'][0]:.2f} at the end"
    ]
    runs = result.get("steps") or [result["run"]]
    for figures in runs:
        lines.append(_line(figures))
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(figures["statuses"].items()))
        lines.append(
            f"  answers {statuses}; unanswered {figures['unanswered']}; client connections busy"
            f" {figures['client_connections_busy']}; generator late by at most"
            f" {figures['generator_late_max_ms']} ms"
        )
        if figures["shed"]:
            lines.append(
                f"  shed: {figures['shed_codes']}, Retry-After {figures['retry_after']},"
                f" answered in p50/p99 {figures['gateway_latency_ms']['shed']['p50']}/"
                f"{figures['gateway_latency_ms']['shed']['p99']} ms"
            )
        lines += list(_cpu_lines(figures["cpu"]))
    if "max_sustained_per_second" in result:
        lines.append(
            f"highest sustained rate: {result['max_sustained_per_second']}/s (≥97% accepted in"
            f" time, nothing shed, p99 ≤ {result['p99_limit_ms']} ms)"
        )
    for name, memory in result["memory_mb"].items():
        lines.append(
            f"{name} RSS MB: start {memory['start']}, end {memory['end']}, max {memory['max']}"
        )
    return "\n".join(lines)
