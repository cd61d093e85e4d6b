"""Which event ids the log has shown so far, kept on disk: ``casetrail verify`` must tell every
duplicate on a log of any length, and a set of every id in memory would grow with the log
(10 million ids: about a gigabyte), where this file's pages stay in a small cache.

Two readings of an id are kept: the ``event_id`` as written (``log_check.event_key``: the log
check names an event that repeats it), and the id as the projector reads it (a UUID: the audit
trail's rows are paired with the first event holding theirs). They are one key whenever the id
is written the canonical way, as the decider writes every id, so an intact log costs one row per
event.
"""

import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from services.integrity.checkpoints import Checkpoint
from services.integrity.log_check import Signed

Position = tuple[int, int]

_CHUNK = 5_000
"""Keys per query (SQLite allows 32766 parameters)."""

Entry = list[int | None]
"""[whether the log check saw the key, partition, offset of the first readable event]."""


def _key(event_id: uuid.UUID) -> bytes:
    return b"\x00" + event_id.bytes


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""An id written as ``str(uuid)`` writes it: the one spelling that is the same key as the UUID."""


def _text_key(written: str) -> bytes:
    if _CANONICAL.fullmatch(written):
        return b"\x00" + bytes.fromhex(written.replace("-", ""))
    return b"\x01" + written.encode("utf-8", "surrogatepass")


class IdBook:
    """A temporary SQLite file of ids, written one batch of events at a time."""

    def __init__(self, directory: Path | None = None, cache_mib: int = 16):
        self._directory = tempfile.TemporaryDirectory(prefix="casetrail-verify-", dir=directory)
        self._db = sqlite3.connect(Path(self._directory.name) / "ids.sqlite", isolation_level=None)
        # A scratch file, deleted afterwards: no journal, no fsync.
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            f"cache_size = {-1024 * cache_mib}",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(
            "CREATE TABLE ids (key BLOB PRIMARY KEY, seen INTEGER NOT NULL,"
            " partition INTEGER, offset INTEGER) WITHOUT ROWID"
        )
        self._db.execute(
            "CREATE TABLE checkpoints (partition INTEGER, count INTEGER, seq INTEGER,"
            " offset INTEGER NOT NULL, head BLOB NOT NULL, PRIMARY KEY (partition, count, seq))"
            " WITHOUT ROWID"
        )
        self._db.execute("BEGIN")

    def __enter__(self) -> "IdBook":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._directory.cleanup()

    def _entries(self, keys: Iterable[bytes]) -> dict[bytes, Entry]:
        found: dict[bytes, Entry] = {}
        wanted = list(keys)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, seen, partition, offset in self._db.execute(
                f"SELECT key, seen, partition, offset FROM ids WHERE key IN ({marks})", chunk
            ):
                found[key] = [seen, partition, offset]
        return found

    def note(
        self, batch: Sequence[tuple[str | None, uuid.UUID | None, Position]]
    ) -> list[tuple[bool, bool]]:
        """Events in log order, each as (its event_key, None if the log check cannot read it;
        its id as the projector reads it, None if it cannot; its place). Returns for each
        whether an event before it had the same event_key, and whether it is the first event
        the projector can read with its id."""
        keyed = [
            (None if text is None else _text_key(text), None if ident is None else _key(ident))
            for text, ident, _ in batch
        ]
        entries = self._entries({k for pair in keyed for k in pair if k is not None})
        changed: set[bytes] = set()
        out = []
        for (text_key, key), (_, _, (partition, offset)) in zip(keyed, batch, strict=True):
            duplicate = first = False
            if text_key is not None:
                entry = entries.get(text_key)
                if entry is None:
                    entries[text_key] = [1, None, None]
                    changed.add(text_key)
                elif entry[0]:
                    duplicate = True
                else:
                    entry[0] = 1
                    changed.add(text_key)
            if key is not None:
                entry = entries.get(key)
                if entry is None:
                    entries[key] = [0, partition, offset]
                    changed.add(key)
                    first = True
                elif entry[1] is None:
                    entry[1], entry[2] = partition, offset
                    changed.add(key)
                    first = True
            out.append((duplicate, first))
        self._db.executemany(
            "INSERT INTO ids VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
            " seen = excluded.seen, partition = excluded.partition, offset = excluded.offset",
            [(key, *entries[key]) for key in changed],
        )
        return out

    def signed(self, partition: int) -> Signed:
        """Where ``LogCheck`` keeps a partition's trusted checkpoints: this file."""
        return SignedOnDisk(self._db, partition)

    def first(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Position]:
        """Where the first event the projector can read with each of ``ids`` is."""
        by_key = {_key(i): i for i in ids}
        return {
            by_key[key]: (partition, offset)
            for key, (_, partition, offset) in self._entries(by_key).items()
            if partition is not None and offset is not None
        }


class SignedOnDisk(Signed):
    """A partition's trusted checkpoints in the id book's file, read back in count order as
    the partition's events are checked: a log with a checkpoint per event keeps none of them
    in memory."""

    def __init__(self, db: sqlite3.Connection, partition: int):
        super().__init__(partition)
        self._db = db
        self._pending: list[tuple[int, int, int, int, bytes]] = []

    def _flush(self) -> None:
        self._db.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?)", self._pending)
        self._pending = []

    def _keep(self, checkpoint: Checkpoint, index: int) -> None:
        head = bytes.fromhex(checkpoint.head)  # the model's pattern: 64 hex digits
        self._pending.append((self.partition, checkpoint.count, index, checkpoint.offset, head))
        if len(self._pending) >= _CHUNK:
            self._flush()

    def _by_count(self) -> Iterator[tuple[int, int, bytes, int]]:
        self._flush()
        cursor = self._db.execute(
            "SELECT count, offset, head, seq FROM checkpoints WHERE partition = ?"
            " ORDER BY count, seq",
            (self.partition,),
        )
        while rows := cursor.fetchmany(1_000):
            yield from rows
