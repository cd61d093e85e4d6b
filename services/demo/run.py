"""``casetrail demo``: local servers, every service, the demo's data, and the URLs to open."""

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from events.suite import Suite
from projections import builds
from projections.catalog import PROJECTIONS
from projections.db import connect
from services import tokens
from services.adapters.kafka import create_topics
from services.demo import demo_settings
from services.demo.petitions import OFFICER, load_petitions
from services.demo.year import load as load_year
from services.infra import InfraError, answers, bring_up, components, stop_started, wait_until
from services.infra.processes import SERVICES, start_service, stop_all
from services.integrity.keyring import ensure_dev_keys
from services.integrity.signing import ensure_dev_signing_keys
from services.progress import Say
from services.projector.rebuild import rebuild
from services.settings import Settings, with_database
from services.tokens import TokenRole


async def demo_token(settings: Settings, role: TokenRole = TokenRole.DEPARTMENT) -> str:
    """A fresh token for the demo: the petition office's, or another role's."""
    departments = [OFFICER["department"]] if role is TokenRole.DEPARTMENT else []
    async with connect(settings.postgres_dsn) as conn:
        _, secret = await tokens.create(conn, role, departments, f"demo {role}")
    return secret


def start_services(settings: Settings, say: Say) -> list[subprocess.Popen[bytes]]:
    for port in (settings.gateway_port, settings.query_port):
        if answers("127.0.0.1", port):
            raise InfraError(f"port {port} is in use: is another demo running?")
    processes = []
    for name in SERVICES:
        log = settings.state_dir / "logs" / f"{name}.log"
        processes.append(start_service(name, settings, log))
        say(f"service {name}: pid {processes[-1].pid}, log {log}")
    return processes


async def rebuild_outdated(settings: Settings, say: Say) -> None:
    """Rebuild, from the log, each projection an earlier release built (its tables are not this
    release's): what the README tells an operator to do on upgrade, done for the demo's data."""
    async with connect(settings.postgres_dsn) as conn:
        found = await builds.outdated(conn, PROJECTIONS.values())
    for name, version in found:
        say(f"projection {name}: built by an earlier release (schema {version}); rebuilding it")
        await rebuild(settings, name, say)


def _status(query_url: str, case_id: str, bearer: dict[str, str]) -> str | None:
    """The case's status as the query service answers it; None while it cannot."""
    try:
        answer = httpx.get(f"{query_url}/cases/{case_id}", headers=bearer, timeout=5)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    status: str | None = answer.json().get("status")
    return status


def wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    def healthy() -> bool:
        for name, process in zip(SERVICES, processes, strict=True):
            if process.poll() is not None:
                raise InfraError(f"service {name} exited; see {logs / f'{name}.log'}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 60, url)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def log_of_its_suite(settings: Settings) -> Settings:
    """The demo's log and database for the settings' suite. One suite per log: a guomi demo on
    the default topics and database would meet the international demo's log there (and its
    decider would refuse it), so it gets its own, '<prefix>-guomi' and '<database>_guomi'; a
    prefix set explicitly is left as it is."""
    suite = settings.crypto_suite
    if suite is Suite.INTERNATIONAL or settings.topic_prefix != DEFAULT_PREFIX:
        return settings
    database = urlsplit(settings.postgres_dsn).path.lstrip("/")
    return settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix}-{suite.value}",
            "postgres_dsn": with_database(settings.postgres_dsn, f"{database}_{suite.value}"),
        }
    )


DEFAULT_PREFIX = Settings.model_fields["topic_prefix"].default
DEFAULT_DSN = Settings.model_fields["postgres_dsn"].default


def verify_command(settings: Settings) -> str:
    """How an auditor verifies the demo's log: 'casetrail verify' with whatever the demo chose
    for it (a guomi demo's suite, topics and database); a DSN someone set is never printed."""
    env = []
    if settings.crypto_suite is not Suite.INTERNATIONAL:
        env.append(f"CASETRAIL_CRYPTO_SUITE={settings.crypto_suite.value}")
    if settings.topic_prefix != DEFAULT_PREFIX:
        env.append(f"CASETRAIL_TOPIC_PREFIX={settings.topic_prefix}")
    database = urlsplit(settings.postgres_dsn).path.lstrip("/")
    command = "casetrail verify"
    if settings.postgres_dsn == with_database(DEFAULT_DSN, database) != DEFAULT_DSN:
        env.append(f"CASETRAIL_POSTGRES_DSN={settings.postgres_dsn}")
    elif settings.postgres_dsn != DEFAULT_DSN:
        command += f" (CASETRAIL_POSTGRES_DSN naming the database {database})"
    return " ".join([*env, command])


def run_demo(settings: Settings, keep_running: bool, say: Say) -> None:
    # Explicit handlers: a demo started in the background inherits SIGINT ignored, and a
    # process manager stops it with SIGTERM; either way the services must be stopped.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    settings = log_of_its_suite(demo_settings(settings))
    say(f"cryptographic suite: {settings.crypto_suite.label} (CASETRAIL_CRYPTO_SUITE)")
    started = bring_up(components(settings).values(), say)
    gateway_url = f"http://127.0.0.1:{settings.gateway_port}"
    query_url = f"http://127.0.0.1:{settings.query_port}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(create_topics(settings, say))
        asyncio.run(rebuild_outdated(settings, say))
        ensure_dev_keys(settings.key_ring_path, settings.signing_key_path, settings.crypto_suite)
        ensure_dev_signing_keys(settings, say)
        processes = start_services(settings, say)
        for url in (gateway_url, query_url):
            wait_healthy(url, processes, settings.state_dir / "logs")
        load_petitions(gateway_url, asyncio.run(demo_token(settings)), say)
        counts = asyncio.run(load_year(settings, say))
        say(f"the demo year: {counts}")
        if counts.get("rejected"):
            say(
                "  some demo submissions were refused: this broker holds the demo year of an"
                " earlier release, so the figures are not the report's. For a fresh one: Ctrl-C,"
                f" 'casetrail infra down', remove {settings.state_dir}/kafka/data and"
                f" {settings.state_dir}/postgres, run the demo again"
            )
        last_case = "XF-2020-0001"  # accepted and never answered: a red light
        supervisor = asyncio.run(demo_token(settings, TokenRole.SUPERVISOR))
        bearer = {"Authorization": f"Bearer {supervisor}"}
        wait_until(
            lambda: _status(query_url, last_case, bearer) == "accepted", 60, "the projections"
        )
        say("")
        say(f"Open {query_url}/#token={supervisor}")
        say(f"     督查总览 / the dashboard as a supervisor; the API: {query_url}/docs, or:")
        say(f'     curl -H "Authorization: Bearer {supervisor}" {query_url}/cases')
        say(f"     … {query_url}/cases/{last_case}/history   办理过程 / a case's history")
        say(f"     … {query_url}/deadlines?light=red          红灯 / red lights")
        say(f"     … {query_url}/statistics?by=channel        统计 / statistics")
        say(f"     {gateway_url}/docs              提交接口 / submission API")
        metrics = (
            f"{gateway_url}/metrics {query_url}/metrics"
            f" http://{settings.decider_health_host}:{settings.decider_health_port}/metrics"
            f" http://{settings.projector_metrics_host}:{settings.projector_metrics_port}/metrics"
        )
        say(f"     Prometheus: {metrics}")
        say(f"     {verify_command(settings)}   核验日志与审计记录 / verify the log")
        if keep_running:
            say("Services run until Ctrl-C; 'casetrail infra down' stops Kafka and PostgreSQL.")
            while all(process.poll() is None for process in processes):
                time.sleep(1)
            say("a service exited; see the logs in " + str(settings.state_dir / "logs"))
    except KeyboardInterrupt:
        say("stopping the services")  # Kafka and PostgreSQL stay up, as the demo said
    except Exception:
        # A demo that failed to start stops everything it started, servers included.
        stop_all(processes, timeout=15)
        processes = []
        stop_started(started, say)
        raise
    finally:
        stop_all(processes, timeout=15)
