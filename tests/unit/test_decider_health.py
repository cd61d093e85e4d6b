"""The decider's GET /health, a few lines of HTTP on asyncio: what it answers, and that it
answers nothing else."""

import asyncio
import json
from typing import Any

import pytest

from services.decider import health


async def ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_health_answers_with_the_status_it_is_given() -> None:
    said: list[tuple[int, dict[str, Any]]] = [(200, {"status": "ok", "partitions": {}})]
    server = await health.serve("127.0.0.1", 0, lambda: said[0])
    port = server.sockets[0].getsockname()[1]
    try:
        answer = await ask(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert json.loads(body) == {"status": "ok", "partitions": {}}

        refused = {"state": "refused", "reason": "uncovered_event at p2@7: …"}
        said[0] = (503, {"status": "refusing", "partitions": {"2": refused}})
        answer = await ask(port, b"GET /health?x=1 HTTP/1.1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["partitions"]["2"] == refused

        assert (await ask(port, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        assert (await ask(port, b"POST /health HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405 ")
        assert await ask(port, b"junk\r\n\r\n") == b""  # not HTTP: closed without a word
        assert await ask(port, b"GET /" + b"x" * 20_000) == b""  # too long
    finally:
        server.close()
        await server.wait_closed()


async def test_a_port_in_use_is_a_clear_error() -> None:
    server = await health.serve("127.0.0.1", 0, lambda: (200, {}))
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(health.HealthUnavailable, match=f"cannot listen on 127.0.0.1:{port}"):
            await health.serve("127.0.0.1", port, lambda: (200, {}))
    finally:
        server.close()
        await server.wait_closed()
