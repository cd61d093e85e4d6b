"""The demo: local servers, every service, a few petitions from the town's 2020 report."""

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import typer

from services import demo_year, tokens
from services.checkpoints import ensure_dev_key
from services.cli import infra
from services.settings import Settings
from services.tokens import TokenRole

SERVICES = ("decider", "projector", "gateway", "query")
DEMO_NAMESPACE = uuid.UUID("6f1c1f0e-4a43-4c1e-9d0e-2b1d7a0c2020")
CHINA = timezone(timedelta(hours=8))
OFFICER = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}

# A few petitions of 2021 through the HTTP gateway, as a department's system would send them;
# the demo year 2019-2020 goes straight to Kafka (services/demo_year.py).
PETITIONS = [
    ("visit", 3, "厂房噪音扰民，要求整改"),
    ("letter", 1, "宅基地界址纠纷，请求核实"),
    ("online", 1, "复工复产补贴发放进度咨询"),
    ("visit", 5, "工资拖欠，请求协调支付"),
    ("phone", 1, "道路积水影响出行"),
    ("online", 2, "村集体资产处置信息公开"),
]


def demo_submissions() -> list[dict[str, Any]]:
    """Register every demo petition and accept all but the last, with fixed ids so that running
    the demo again re-sends the same submissions (and gets the same outcomes back)."""
    bodies: list[dict[str, Any]] = []
    for number, (channel, persons, summary) in enumerate(PETITIONS, start=1):
        case_id = f"XF-2021-{number:04d}"
        registered = datetime(2021, 3, number * 2, 9, 30, tzinfo=CHINA)
        bodies.append(
            {
                "type": "petition.register",
                "submission_id": str(uuid.uuid5(DEMO_NAMESPACE, f"{case_id}/register")),
                "case_id": case_id,
                "actor": OFFICER,
                "occurred_at": registered.isoformat(),
                "payload": {"channel": channel, "persons": persons, "summary": summary},
            }
        )
        if number < len(PETITIONS):
            bodies.append(
                {
                    "type": "petition.accept",
                    "submission_id": str(uuid.uuid5(DEMO_NAMESPACE, f"{case_id}/accept")),
                    "case_id": case_id,
                    "actor": OFFICER,
                    "expected_version": 1,
                    "occurred_at": (registered + timedelta(days=3)).isoformat(),
                    "payload": {"note": "符合受理条件"},
                }
            )
    # One step the lifecycle refuses, to show a rejected outcome and its code.
    bodies.append(
        {
            "type": "petition.accept",
            "submission_id": str(uuid.uuid5(DEMO_NAMESPACE, "XF-2021-9999/accept")),
            "case_id": "XF-2021-9999",
            "actor": OFFICER,
            "occurred_at": datetime(2021, 4, 1, 10, 0, tzinfo=CHINA).isoformat(),
        }
    )
    return bodies


def submit(client: httpx.Client, body: dict[str, Any], timeout: float = 60) -> httpx.Response:
    """POST a submission; when the gateway answers 202, ask its status URL until decided."""
    response = client.post("/submissions", json=body)
    deadline = time.monotonic() + timeout
    while response.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        response = client.get(response.json()["status_url"])
        if response.status_code == 404 and response.json().get("code") == "unknown_submission":
            response = httpx.Response(
                202, json={"status_url": f"/submissions/{body['submission_id']}"}
            )
    return response


async def demo_token(settings: Settings, role: TokenRole = TokenRole.DEPARTMENT) -> str:
    """A fresh token for the demo: the petition office's, or another role's."""
    departments = [OFFICER["department"]] if role is TokenRole.DEPARTMENT else []
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        _, secret = await tokens.create(conn, role, departments, f"demo {role}")
    finally:
        await conn.close()
    return secret


def load_demo(gateway_url: str, token: str) -> None:
    """Submit the demo petitions through the gateway and print each outcome."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway_url, timeout=30, headers=headers) as client:
        for body in demo_submissions():
            response = submit(client, body)
            answer = response.json()
            detail = answer.get("code") or answer.get("status")
            typer.echo(f"{body['case_id']} {body['type']:<18} → {response.status_code} {detail}")


def start_services(settings: Settings) -> list[subprocess.Popen[bytes]]:
    for port in (settings.gateway_port, settings.query_port):
        if infra.answers("127.0.0.1", port):
            raise infra.InfraError(f"port {port} is in use: is another demo running?")
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes = []
    for name in SERVICES:
        log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli", name],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        )
        typer.echo(f"service {name}: pid {processes[-1].pid}, log {logs / f'{name}.log'}")
    return processes


def wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    def healthy() -> bool:
        for name, process in zip(SERVICES, processes, strict=True):
            if process.poll() is not None:
                raise infra.InfraError(f"service {name} exited; see {logs / f'{name}.log'}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    infra.wait_until(healthy, 60, url)


def stop_services(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(settings: Settings, keep_running: bool) -> None:
    # Explicit handlers: a demo started in the background inherits SIGINT ignored, and a
    # process manager stops it with SIGTERM; either way the services must be stopped.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    for server in infra.components(settings).values():
        server.up(typer.echo)
    asyncio.run(infra.create_topics(settings, typer.echo))
    ensure_dev_key(settings.signing_key_path)
    gateway_url = f"http://127.0.0.1:{settings.gateway_port}"
    query_url = f"http://127.0.0.1:{settings.query_port}"
    processes = start_services(settings)
    try:
        for url in (gateway_url, query_url):
            wait_healthy(url, processes, settings.state_dir / "logs")
        load_demo(gateway_url, asyncio.run(demo_token(settings)))
        counts = asyncio.run(demo_year.load(settings, typer.echo))
        typer.echo(f"the demo year: {counts}")
        last_case = "XF-2020-0001"  # accepted and never answered: a red light
        supervisor = asyncio.run(demo_token(settings, TokenRole.SUPERVISOR))
        bearer = {"Authorization": f"Bearer {supervisor}"}
        infra.wait_until(
            lambda: (
                httpx.get(f"{query_url}/cases/{last_case}", headers=bearer).json().get("status")
                == "accepted"
            ),
            60,
            "the projections",
        )
        typer.echo("")
        typer.echo(f"Open {query_url}/#token={supervisor}")
        typer.echo(f"     督查总览 / the dashboard as a supervisor; the API: {query_url}/docs, or:")
        typer.echo(f'     curl -H "Authorization: Bearer {supervisor}" {query_url}/cases')
        typer.echo(f"     … {query_url}/cases/{last_case}/history   办理过程 / a case's history")
        typer.echo(f"     … {query_url}/deadlines?light=red          红灯 / red lights")
        typer.echo(f"     … {query_url}/statistics?by=channel        统计 / statistics")
        typer.echo(f"     {gateway_url}/docs              提交接口 / submission API")
        if keep_running:
            typer.echo(
                "Services run until Ctrl-C; 'casetrail infra down' stops Kafka and PostgreSQL."
            )
            while all(process.poll() is None for process in processes):
                time.sleep(1)
            typer.echo("a service exited; see the logs in " + str(settings.state_dir / "logs"))
    except KeyboardInterrupt:
        typer.echo("stopping the services")
    finally:
        stop_services(processes)
