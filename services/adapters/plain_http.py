"""A few lines of HTTP on asyncio for the processes that serve no other HTTP (the decider's
``/health`` and ``/metrics``, the projector's ``/metrics``): no web framework and no second
event loop. GET and HEAD of the paths given, nothing else; whatever is not HTTP, too long or too
slow is closed without a word."""

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Mapping

Answer = tuple[int, str, bytes]
"""The status code, the content type and the body."""

Route = Callable[[], Answer | Awaitable[Answer]]

REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
JSON = "application/json"


class CannotListen(RuntimeError):
    """The endpoint cannot listen where the settings say."""


async def serve(host: str, port: int, routes: Mapping[str, Route]) -> asyncio.Server:
    """Listen on ``host``:``port`` (0: any free port) until the returned server is closed."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):  # a client that never finishes its request
                request = await reader.readuntil(b"\r\n\r\n")
                method, target, _ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
                route = routes.get(target.split("?", 1)[0])
                code, content_type, body = 404, JSON, b'{"error": "not_found"}'
                if route is not None and method not in ("GET", "HEAD"):
                    code, body = 405, b"{}"
                elif route is not None:
                    answer = route()
                    code, content_type, body = (
                        await answer if inspect.isawaitable(answer) else answer
                    )
            head = (
                f"HTTP/1.1 {code} {REASONS[code]}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (body if method != "HEAD" else b""))
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
        raise CannotListen(f"cannot listen on {host}:{port}: {error}") from error


def port_of(server: asyncio.Server) -> int:
    """The port the server listens on (the one the system chose, for port 0)."""
    port: int = server.sockets[0].getsockname()[1]
    return port
