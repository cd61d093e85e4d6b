"""Progress on long work (a rebuild, loading the demo year): one line with a bar and a rate."""

import resource
import sys
import time
from collections.abc import Callable

Say = Callable[[str], None]
"""Where a command's lines go: ``typer.echo``, a logger, or nowhere."""


def quiet(_: str) -> None:
    """A ``Say`` that says nothing."""


def on_stderr(line: str) -> None:
    """A ``Say`` for a command whose output is on stdout: on a terminal the progress line
    rewrites itself; in a log, one line a second."""
    if sys.stderr.isatty() and line.startswith("["):
        sys.stderr.write("\r" + line)
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def peak_memory_mib() -> float:
    """The most memory this program has held at once (its peak resident set), in MiB: what a
    machine must have for the work it did. On Linux the high-water mark of this program's own
    memory (VmHWM): ``getrusage``'s ru_maxrss also counts what the process held before it ran
    this program, so a child of a large process would report its parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux counts it in KiB, macOS in bytes.
    return peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)


class Progress:
    """Counts work done and says so at most once a second: bar, count, rate, time left."""

    def __init__(self, total: int, say: Say, unit: str = "events"):
        self.total, self.say, self.unit = max(total, 1), say, unit
        self.done = 0
        self.started = self.shown = time.monotonic()

    def add(self, count: int) -> None:
        self.set(self.done + count)

    def set(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if now - self.shown >= 1 or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            left = max(self.total - self.done, 0) / rate if rate else 0
            bar = "#" * int(min(self.done / self.total, 1) * 30)
            self.say(
                f"[{bar:<30}] {self.done}/{self.total} {self.unit}, {rate:,.0f}/s,"
                f" {left:,.0f} s left"
            )
