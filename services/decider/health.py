"""The decider's ``GET /health`` (and ``GET /metrics``, for Prometheus) on one port, served by
``services.adapters.plain_http``: the decider serves no other HTTP. ``/health`` answers with
what the decider says about itself (``status``): partitions and their states, never a
payload."""

import asyncio
import json
from collections.abc import Callable
from typing import Any

from services.adapters import plain_http

Status = Callable[[], tuple[int, dict[str, Any]]]
"""The HTTP status code and the JSON body of ``GET /health``."""


class HealthUnavailable(RuntimeError):
    """The health endpoint cannot listen where the settings say."""


async def serve(
    host: str, port: int, status: Status, metrics: plain_http.Route | None = None
) -> asyncio.Server:
    """Listen on ``host``:``port`` (0: any free port) until the returned server is closed."""

    def health() -> plain_http.Answer:
        code, body = status()
        return code, plain_http.JSON, json.dumps(body, ensure_ascii=False).encode()

    routes: dict[str, plain_http.Route] = {"/health": health}
    if metrics is not None:
        routes["/metrics"] = metrics
    try:
        return await plain_http.serve(host, port, routes)
    except plain_http.CannotListen as error:
        raise HealthUnavailable(
            f"the decider's GET /health {error}"
            " (CASETRAIL_DECIDER_HEALTH_HOST, CASETRAIL_DECIDER_HEALTH_PORT)"
        ) from error
