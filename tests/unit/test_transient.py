"""Failures that pass and failures that do not (``projections.transient``): the projector retries
the first kind forever and stops a partition only for the second, so each SQLSTATE class and
each client-side error the classification knows is pinned here."""

import asyncio
import logging

import asyncpg
import pydantic
import pytest

from projections.transient import Backoff, is_transient, keep_trying


def postgres(sqlstate: str) -> asyncpg.PostgresError:
    """The exception asyncpg raises for a server error with this SQLSTATE."""
    return asyncpg.PostgresError.new({"C": sqlstate, "M": f"error {sqlstate}"})


@pytest.mark.parametrize(
    ("sqlstate", "why"),
    [
        ("08000", "connection exception"),
        ("08003", "connection does not exist"),
        ("08006", "connection failure"),
        ("08001", "the client could not connect"),
        ("08004", "the server rejected the connection"),
        ("08P01", "protocol violation on a broken connection"),
        ("40001", "serialization failure"),
        ("40P01", "deadlock detected"),
        ("40003", "statement completion unknown"),
        ("53000", "insufficient resources"),
        ("53100", "disk full"),
        ("53200", "out of memory"),
        ("53300", "too many connections"),
        ("55P03", "lock not available (lock_timeout)"),
        ("57014", "query canceled (statement_timeout)"),
        ("57P01", "admin shutdown, pg_terminate_backend"),
        ("57P02", "crash shutdown"),
        ("57P03", "cannot connect now: starting up or shutting down"),
        ("57P05", "idle session timeout"),
        ("25P03", "idle in transaction session timeout"),
        ("25006", "read-only transaction: a failover left us on a standby"),
    ],
)
def test_failures_that_pass(sqlstate: str, why: str) -> None:
    assert is_transient(postgres(sqlstate)), why


@pytest.mark.parametrize(
    ("sqlstate", "why"),
    [
        ("23505", "unique violation: the data"),
        ("23503", "foreign key violation"),
        ("23502", "not null violation"),
        ("23514", "check violation"),
        ("22P02", "invalid text representation"),
        ("22003", "numeric value out of range"),
        ("42P01", "undefined table: a bug"),
        ("42703", "undefined column: a bug"),
        ("42601", "syntax error: a bug"),
        ("40002", "a constraint checked at commit: the data"),
        ("57P04", "the database was dropped"),
        ("28P01", "wrong password: configuration"),
        ("3D000", "no such database: configuration"),
        ("XX000", "internal error"),
        ("P0001", "raised by a function"),
    ],
)
def test_errors_that_would_fail_again(sqlstate: str, why: str) -> None:
    assert not is_transient(postgres(sqlstate)), why


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(32, "Broken pipe"),
        OSError("Multiple exceptions: [Errno 111] Connect call failed"),
        TimeoutError("a connect or a command timed out"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InterfaceError(
            "cannot call Transaction.__aexit__(): the underlying connection is closed"
        ),
        asyncpg.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    ],
    ids=repr,
)
def test_client_side_connection_failures_pass(error: BaseException) -> None:
    assert is_transient(error)


def _validation_error() -> pydantic.ValidationError:
    try:
        pydantic.TypeAdapter(int).validate_python("not a number")
    except pydantic.ValidationError as error:
        return error
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "error",
    [
        _validation_error(),
        ValueError("a payload the projection does not understand"),
        KeyError("field"),
        TypeError("a bug"),
        AssertionError("a bug"),
        asyncpg.InterfaceError("pool is closed"),
        asyncpg.InterfaceError("cannot perform operation: another operation is cancelling"),
        asyncpg.InternalClientError("no decoder for OID 1234"),
        FileNotFoundError(2, "No such file"),
        PermissionError(13, "Permission denied"),
    ],
    ids=repr,
)
def test_everything_else_does_not(error: BaseException) -> None:
    assert not is_transient(error)


def test_backoff_doubles_from_a_fifth_of_a_second_up_to_five() -> None:
    backoff = Backoff()
    delays = [backoff.next_delay() for _ in range(8)]
    assert delays == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0])
    assert backoff.attempts == 8


async def test_keep_trying_waits_out_failures_that_pass_and_raises_the_others() -> None:
    log = logging.getLogger("test")
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise postgres("57P03")
        return "answered"

    assert await keep_trying(flaky, "flaky", log) == "answered"
    assert calls == 3

    async def broken() -> None:
        raise postgres("42P01")

    with pytest.raises(asyncpg.UndefinedTableError):
        await keep_trying(broken, "broken", log)

    stop = asyncio.Event()

    async def down() -> str:
        stop.set()
        raise ConnectionRefusedError(111, "Connect call failed")

    assert await keep_trying(down, "down", log, stop) is None
