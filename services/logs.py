"""How the long-running services log: one line per record, and the same complaint at most once
every few seconds.

During an outage Kafka's client logs every failed reconnect, hundreds a second (the decider's
producers retry every 10 ms): an operator needs to see that it still fails and how often, not a
log that fills the disk."""

import logging
import time

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


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


def configure(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    repeats = Repeats()
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeats)
