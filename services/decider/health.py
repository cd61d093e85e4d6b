"""The decider's ``GET /health``: a few lines of HTTP on asyncio, so that the decider, which
serves no other HTTP, needs no web framework and no second event loop. It answers with what
the decider says about itself (``status``): partitions and their states, never a payload."""

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

Status = Callable[[], tuple[int, dict[str, Any]]]
"""The HTTP status code and the JSON body of ``GET /health``."""

REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthUnavailable(RuntimeError):
    """The health endpoint cannot listen where the settings say."""


async def serve(host: str, port: int, status: Status) -> asyncio.Server:
    """Listen on ``host``:``port`` (0: any free port) until the returned server is closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):  # a client that never finishes its request
                request = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            code, body = (404, {"error": "not_found"})
            if target.split("?", 1)[0] == "/health":
                code, body = status() if method in ("GET", "HEAD") else (405, {})
            payload = json.dumps(body, ensure_ascii=False).encode()
            head = (
                f"HTTP/1.1 {code} {REASONS[code]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (payload if method != "HEAD" else b""))
            await writer.drain()
        except (
            TimeoutError,
            ValueError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # not HTTP, too long, or gone: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    try:
        return await asyncio.start_server(handle, host, port, limit=16 * 1024)
    except OSError as error:
        raise HealthUnavailable(
            f"the decider's GET /health cannot listen on {host}:{port}: {error}"
            " (CASETRAIL_DECIDER_HEALTH_HOST, CASETRAIL_DECIDER_HEALTH_PORT)"
        ) from error
