"""A PostgreSQL server of a test's own, to stop and start at will: its own cluster in a scratch
directory, on a free port. The shared server (127.0.0.1:5432) that every other test uses is never
touched, so a test may take its own down mid-stream."""

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.infra import LocalPostgres
from services.settings import Settings
from tests.support import free_port_block


class OwnPostgres:
    """``LocalPostgres`` on a cluster of the test's own (the same code as ``casetrail infra``)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.server = LocalPostgres(settings)
        self.lines: list[str] = []

    def say(self, line: str) -> None:
        self.lines.append(line)

    def start(self) -> float:
        """Start it (creating the cluster and the database the first time); returns when it
        accepts connections, with how long that took."""
        began = time.monotonic()
        self.server.up(self.say)
        return time.monotonic() - began

    def stop(self) -> float:
        """Fast shutdown (SIGINT: open transactions are rolled back, clients disconnected);
        returns once the server has exited, with how long that took."""
        began = time.monotonic()
        self.server.down(self.say)
        return time.monotonic() - began


@contextmanager
def own_postgres(base: Settings) -> Iterator[OwnPostgres]:
    """``base`` with a PostgreSQL server of its own, started; stopped and removed afterwards.

    The scratch directory lies in /tmp and is opened to other users: as root, the cluster runs
    as the postgres user, who must reach it (pytest's own tmp_path is closed to others)."""
    scratch = Path(tempfile.mkdtemp(prefix="casetrail-own-pg-", dir="/tmp"))
    scratch.chmod(0o755)
    settings = base.model_copy(
        update={
            "state_dir": scratch,
            "postgres_dsn": f"postgresql://casetrail:casetrail@127.0.0.1:{free_port_block(1)}/casetrail",
            # The decider signs checkpoints with the key `infra up` made for the shared servers.
            "signing_key_file": base.signing_key_path,
            "key_ring_file": base.key_ring_path,
            "gateway_signing_key_file": base.gateway_signing_key_path,
        }
    )
    # Kafka and the keys as before: the same users and passwords, the same key ring and the
    # departments' development keys (all kept under the state directory).
    (scratch / "secrets").symlink_to(base.kafka_secrets_dir.resolve().parent)
    (scratch / "keys").symlink_to((base.state_dir / "keys").resolve())
    server = OwnPostgres(settings)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
