"""How the long-running services log: one line per record (plain text, or with
``CASETRAIL_LOG_FORMAT=json`` one JSON object, with the correlation_id and submission_id of the
submission the record is about where known, and the trace's ids when traces are on), and the
same complaint at most once every few seconds.

During an outage Kafka's client logs every failed reconnect, hundreds a second (the decider's
producers retry every 10 ms): an operator needs to see that it still fails and how often, not a
log that fills the disk."""

import logging
import time
from contextvars import ContextVar

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from services.settings import LogFormat, Settings

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"

_bound: ContextVar[dict[str, str]] = ContextVar("casetrail_log_ids", default={})  # noqa: B039


def bind(**ids: str) -> None:
    """Name what the current task works on (``correlation_id``, ``submission_id``): every
    record it logs from now on carries them (JSON logs). A task's binding ends with it (each
    HTTP request is a task of its own)."""
    _bound.set({**_bound.get(), **ids})


class Ids(logging.Filter):
    """Adds the bound ids, and the current span's trace and span ids, to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _bound.get().items():
            record.__dict__.setdefault(name, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


class Repeats(logging.Filter):
    """Lets a warning or error through once per ``every`` seconds for each logger and message
    template; the next one that passes says how many were held back meanwhile."""

    def __init__(self, every: float = 10.0, capacity: int = 1000):
        super().__init__()
        self.every, self.capacity = every, capacity
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        last, held = self.seen.get(key, (None, 0))
        if last is not None and now - last < self.every:
            self.seen[key] = (last, held + 1)
            return False
        if len(self.seen) >= self.capacity:
            self.seen.clear()  # templates are few; this only guards against unbounded variety
        self.seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {now - last:.0f} s]"  # type: ignore[operator]
        return True


def configure(level: int = logging.INFO, log_format: LogFormat | None = None) -> None:
    """The root logger on standard error, in ``log_format`` (by default the setting's)."""
    logging.basicConfig(level=level, format=FORMAT)
    repeats, ids = Repeats(), Ids()
    json = (log_format or Settings().log_format) is LogFormat.JSON
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeats)
        if json:
            handler.addFilter(ids)
            handler.setFormatter(
                JsonFormatter(
                    FORMAT,
                    rename_fields={"asctime": "time", "name": "logger", "levelname": "level"},
                    json_ensure_ascii=False,
                )
            )
