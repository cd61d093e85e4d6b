"""Failures that pass: telling them from errors that do not, and waiting them out.

A write that fails because PostgreSQL went away, restarts, is out of connections or chose this
transaction as a deadlock victim will succeed if it is simply tried again; an event the projection
cannot apply (a bug, a constraint the data breaks, a payload it does not understand) fails the
same way every time. ``is_transient`` is the one place that tells them apart; the projector
retries the first kind forever with a capped exponential ``Backoff`` and stops a partition only
for the second. ``keep_trying`` waits out the first kind where nothing else can go on meanwhile
(connecting at start-up).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")

TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "53"})
"""Whole SQLSTATE classes that pass: 08 connection exception (lost, refused, reset, the server
rejected the connection) and 53 insufficient resources (disk full, out of memory, too many
connections)."""

TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40003",  # statement_completion_unknown
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout, or pg_cancel_backend)
        "57P01",  # admin_shutdown (also pg_terminate_backend)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, shutting down, in recovery)
        "57P05",  # idle_session_timeout
        "25P03",  # idle_in_transaction_session_timeout
        "25006",  # read_only_sql_transaction: a failover left us on a standby for now
    }
)
"""Single SQLSTATEs that pass, from classes that otherwise do not: 40002 (a constraint checked
at commit) and 57P04 (the database was dropped) are not among them."""

_FILE_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def is_transient(error: BaseException) -> bool:
    """True when ``error`` says nothing about the work itself: the same work, tried again later,
    may well succeed (the connection or the server failed, or PostgreSQL rolled the transaction
    back to break a deadlock or a serialization conflict). False for everything else, which
    would fail again the same way: the caller must not retry it blindly."""
    if isinstance(error, asyncpg.PostgresError):
        state = error.sqlstate or ""
        return state in TRANSIENT_SQLSTATES or state[:2] in TRANSIENT_SQLSTATE_CLASSES
    if isinstance(error, asyncpg.InterfaceError):
        # The client's own complaint about a connection the server or the network closed, or
        # one whose last operation never finished because the server's goodbye (57P01) came
        # between two statements: CaseTrail never shares a connection between tasks (every
        # use acquires its own), so "another operation is in progress" means just that. A
        # closed pool or another misuse of the API is a bug, not a passing failure.
        message = str(error)
        return "connection is closed" in message or "another operation is in progress" in message
    if isinstance(error, asyncpg.InternalClientError):
        # The protocol's state machine tripped over a connection that died under it (the
        # server's goodbye arrived between two statements); a codec error is a bug.
        return str(error).startswith("cannot switch to state")
    # Refused, reset, timed out (TimeoutError is an OSError), unreachable: the network or the
    # server. A file-system error is not one of those.
    return isinstance(error, OSError) and not isinstance(error, _FILE_ERRORS)


def describe(error: BaseException) -> str:
    """One line for logs and for the operator: the error's type and message."""
    return f"{type(error).__name__}: {error}"[:2000]


class Backoff:
    """Delays that start at ``first`` seconds and double up to ``cap``, for as long as it takes.
    Counts the attempts, and knows since when (monotonic) it has been retrying."""

    def __init__(self, first: float = 0.2, cap: float = 5.0):
        self.first, self.cap = first, cap
        self.attempts = 0
        self.started = time.monotonic()

    def next_delay(self) -> float:
        """Count one more failed attempt; the delay before the next one."""
        delay = min(self.cap, self.first * 2.0**self.attempts)
        self.attempts += 1
        return delay

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


async def keep_trying(
    attempt: Callable[[], Awaitable[T]],
    what: str,
    log: logging.Logger,
    stop: asyncio.Event | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
    backoff: Backoff | None = None,
) -> T | None:
    """``attempt()`` until it succeeds, waiting out failures that pass (``transient``: by
    default PostgreSQL's; the services pass Kafka's) with a ``Backoff`` and a warning each time;
    any other error is raised at once. None if ``stop`` is set before it succeeds."""
    backoff = backoff or Backoff()
    while True:
        try:
            result = await attempt()
        except Exception as error:
            if not transient(error):
                raise
            delay = backoff.next_delay()
            log.warning(
                "%s: %s; trying again in %.1f s (retrying for %.1f s, %d attempts)",
                what,
                describe(error),
                delay,
                backoff.elapsed,
                backoff.attempts,
            )
            if stop is None:
                await asyncio.sleep(delay)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    return None
                except TimeoutError:
                    pass
            continue
        if backoff.attempts:
            log.info("%s: succeeded after %.1f s of retrying", what, backoff.elapsed)
        return result
