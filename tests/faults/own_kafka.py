"""A Kafka of a test's own, to stop, kill and start at will: one broker or a cluster, in a
scratch directory, on free ports, with the same code as ``casetrail infra``. The shared broker
(127.0.0.1:9092) that every other test uses is never touched."""

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.adapters.kafka import create_topics
from services.infra.kafka_server import local_kafka
from services.infra.servers import LocalServer
from services.progress import quiet
from services.settings import Settings
from tests.faults.cluster import link_jars
from tests.support import free_port_block


@contextmanager
def own_kafka(
    base: Settings, brokers: int = 1, tls: bool = False
) -> Iterator[tuple[Settings, LocalServer]]:
    """``base`` with a Kafka of its own (``brokers`` nodes, over TLS if ``tls``, its own users
    and passwords, the topics created), started; stopped and removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="casetrail-own-kafka-", dir="/tmp"))
    first = free_port_block(2 * brokers)
    settings = base.model_copy(
        update={
            "state_dir": scratch,
            "kafka_bootstrap": ",".join(f"127.0.0.1:{first + i}" for i in range(brokers)),
            "kafka_brokers": brokers,
            "kafka_tls": tls,
            "signing_key_file": base.signing_key_path,
            # And the key ring, the gateway's key and the departments' beside it: the same.
            "key_ring_file": base.key_ring_path,
            "gateway_signing_key_file": base.gateway_signing_key_path,
        }
    )
    link_jars(scratch / "kafka")
    # The same keys (the departments' development keys live under the state directory); its
    # own Kafka users and passwords, made when its broker is formatted.
    (scratch / "keys").symlink_to((base.state_dir / "keys").resolve())
    # The same key store's and case store's passwords (the master key is among the keys above).
    (scratch / "secrets").mkdir()
    for path in (base.keystore_password_path, base.decider_store_password_path):
        (scratch / "secrets" / path.parent.name).symlink_to(path.parent.resolve())
    server = local_kafka(settings)
    try:
        server.up(quiet)
        asyncio.run(create_topics(settings, quiet))
        yield settings, server
    finally:
        try:
            server.down(quiet)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
