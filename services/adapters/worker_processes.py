"""Jobs run in worker processes of their own, one a core, for the work the GIL would otherwise
serialise (a projection's bulk load, a benchmark's log)."""

import asyncio
import multiprocessing
from collections.abc import Callable, Coroutine
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from projections.transient import describe

J = TypeVar("J")
R = TypeVar("R")


async def in_processes(
    work: Callable[[J], Coroutine[Any, Any, R]], jobs: list[J], what: str
) -> list[R]:
    """``work(job)`` for each job, each in a process of its own (``work`` a module-level
    coroutine function); their results, or the first error raised (``what``: the workers, as
    an error names them). However this ends (an error, or the caller cancelled), no worker
    outlives it."""
    # spawn, not fork: a forked child would inherit this process's event loop and sockets.
    context = multiprocessing.get_context("spawn")
    workers: list[tuple[BaseProcess, Connection]] = []
    try:
        for job in jobs:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_run, args=(work, job, sender), daemon=True)
            process.start()
            sender.close()  # the worker holds the only sending end: EOF when it dies
            workers.append((process, receiver))
        results = (asyncio.to_thread(_result, p, r, what) for p, r in workers)
        done: list[R] = list(await asyncio.gather(*results))
        return done
    finally:
        for worker, _ in workers:
            if worker.is_alive():
                worker.terminate()
            await asyncio.to_thread(worker.join)


def _run(work: Callable[[Any], Coroutine[Any, Any, Any]], job: Any, sender: Connection) -> None:
    """A worker process: the job's result, or its error, sent back."""
    try:
        sender.send((asyncio.run(work(job)), None))
    except Exception as error:
        try:
            sender.send((None, error))
        except Exception:  # an error that does not pickle: its description then
            sender.send((None, RuntimeError(describe(error))))
    finally:
        sender.close()


def _result(process: BaseProcess, receiver: Connection, what: str) -> Any:
    try:
        result, error = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"{what} exited with code {process.exitcode}") from None
    if error is not None:
        raise error
    return result
