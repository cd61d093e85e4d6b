"""The query API's latency on the rebuild benchmark's data, against the same SQL through asyncpg."""

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from projections.db import Connection, connect
from projections.queries.statistics import Dimension, Period, figures
from services import tokens
from services.bench.figures import percentiles
from services.infra import answers, wait_until
from services.infra.processes import start_service, stop
from services.infra.servers import free_port
from services.progress import Say
from services.settings import Settings

Ask = tuple[Callable[[], str], Callable[[], Awaitable[Any]]]
"""An API path to GET, and the SQL it runs, through bare asyncpg."""


def _asks(conn: Connection, run: str, cases: int) -> dict[str, Ask]:
    pick = random.Random(1)

    def case() -> str:
        return f"BENCH-{run}-{pick.randrange(cases):06d}"

    return {
        "case": (
            lambda: f"/cases/{case()}",
            lambda: conn.fetchrow("SELECT * FROM case_summary WHERE case_id = $1", case()),
        ),
        "history": (
            lambda: f"/cases/{case()}/history",
            lambda: conn.fetch(
                "SELECT * FROM audit_trail WHERE case_id = $1 ORDER BY version", case()
            ),
        ),
        "filtered_list": (
            lambda: "/cases?case_type=petition&status=handled&limit=50",
            lambda: conn.fetch(
                "SELECT * FROM case_summary WHERE case_type = 'petition' AND status = 'handled'"
                " ORDER BY last_recorded_at DESC, case_id DESC LIMIT 51"
            ),
        ),
        "overview_statistics": (
            lambda: "/statistics?year=2020&by=case_type",
            lambda: figures(conn, Period.year(2020), [Dimension.CASE_TYPE]),
        ),
    }


async def query_latency(
    settings: Settings, run: str, cases: int, count: int, say: Say
) -> dict[str, Any]:
    """p50 and p99 of the query service's answers, and of the same SQL through bare asyncpg."""
    port = free_port()
    served = settings.model_copy(update={"query_port": port})
    service = start_service("query", served, settings.state_dir / "logs" / "bench-query.log")
    try:
        async with connect(settings.postgres_dsn) as conn:
            _, secret = await tokens.create(conn, tokens.TokenRole.AUDITOR, [], "bench")
            url = f"http://127.0.0.1:{port}"
            wait_until(lambda: answers("127.0.0.1", port), 60, url)
            result: dict[str, Any] = {}
            headers = {"Authorization": f"Bearer {secret}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
                for name, (path, sql) in _asks(conn, run, cases).items():
                    for _ in range(5):  # warm up
                        (await client.get(path())).raise_for_status()
                    api, bare = [], []
                    for _ in range(count):
                        started = time.perf_counter()
                        (await client.get(path())).raise_for_status()
                        api.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        await sql()
                        bare.append(time.perf_counter() - started)
                    result[name] = {"api": percentiles(api), "asyncpg_same_sql": percentiles(bare)}
                    say(f"{name}: {result[name]}")
            return result
    finally:
        stop(service, timeout=30)
