"""Writes tests/vectors/partition_chain.json (and checkpoint_ring.json): one partition of the
events topic in offset order, the head of its chain after every event, and two checkpoints
signed over it with a fixed key, which the ring file pins.

Run once when the partition chain or the checkpoint format changes on purpose:
`python -m tests.vectors.make_partition_vectors` (and with `guomi`: guomi/, chained with SM3 and
signed with SM2; an SM2 signature is randomised, so there the tests check that the committed
signatures verify, and that the code writes everything else byte for byte).

The events are those of hash_chain.json and sealed_chain.json (three cases), interleaved as a
partition holds them; the offsets skip where Kafka puts a transaction's commit marker. The
partition chain's rule (``events.hashing.partition_chain``): head_0 is 64 zeros, head_n is the
hex digest of the hash over the ASCII text head_(n-1) followed by the n-th event's hash. A
checkpoint signs (partition, offset of the last event it covers, count, head) with the
decider's key; ``verify_chain.mjs --ring`` checks both in JavaScript, and
``tests/unit/test_partition_vectors.py`` in Python, each against these bytes.
"""

import hashlib
import json
import sys
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event
from events.suite import Suite
from services.integrity.algorithms import SM2_ORDER, PrivateKey, SM2PrivateKey
from services.integrity.checkpoints import sign
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey, key_id
from tests.vectors import make_hash_vectors, make_sealed_vectors
from tests.vectors.make_hash_vectors import folder

PARTITION = 0
SEED = hashlib.sha256(b"CaseTrail checkpoint vector").digest()
KEY_VALID_FROM = datetime(2020, 1, 1, tzinfo=UTC)
OFFSETS = [0, 2, 4, 5, 7, 9, 11, 12]
"""Where each event sits: a transaction's commit marker takes an offset too (after offsets 0,
2, 5, 7, 9 and 12 here), so offsets and counts differ, and a checkpoint names both."""
CHECKPOINTS = [
    (5, datetime(2021, 4, 7, 1, 0, 0, tzinfo=UTC)),
    (8, datetime(2021, 4, 8, 1, 0, 0, tzinfo=UTC)),
]
"""(how many events the checkpoint covers, when it was signed)."""


def private_key(suite: Suite) -> PrivateKey:
    """The fixed checkpoint key of the suite's vectors (a test key: it signs nothing else)."""
    if suite is Suite.GUOMI:
        return SM2PrivateKey.from_private_value(int.from_bytes(SEED) % (SM2_ORDER - 1) + 1)
    return Ed25519PrivateKey.from_private_bytes(SEED)


def partition_events(suite: Suite = Suite.INTERNATIONAL) -> list[Event]:
    """The three cases' events as one partition holds them: each case in its own order."""
    complaint = make_hash_vectors.chain(suite)  # TS-2020-0001 v1..v4
    sealed, _ = make_sealed_vectors.chain({}, suite)  # TS-2021-0007 v1, v2; XF-2021-0042 v1, v2
    order = [complaint[0], sealed[0], complaint[1], sealed[2]]
    order += [complaint[2], sealed[1], complaint[3], sealed[3]]
    return order


def ring_key(suite: Suite = Suite.INTERNATIONAL) -> RingKey:
    public = private_key(suite).public_key()
    return RingKey(key_id(public), KeyPurpose.CHECKPOINT, public, KEY_VALID_FROM, note="vector")


def vectors(suite: Suite = Suite.INTERNATIONAL) -> dict[str, Any]:
    key = private_key(suite)
    records, heads = [], []
    head = GENESIS_HASH
    for offset, event in zip(OFFSETS, partition_events(suite), strict=True):
        head = partition_chain(head, event.hash, suite)
        heads.append(head)
        records.append({"offset": offset, "event": event.model_dump(mode="json"), "head": head})
    checkpoints = []
    for count, at in CHECKPOINTS:
        checkpoint = sign(key, PARTITION, OFFSETS[count - 1], count, heads[count - 1], at)
        checkpoints.append(
            {
                "record": json.loads(checkpoint.record()),
                "signed_bytes": checkpoint.signed_bytes().decode(),
            }
        )
    return {
        "about": (
            "One partition of casetrail.events in offset order, the head of the partition chain"
            " after each event, and checkpoints signed over it (their records as on"
            " casetrail.checkpoints). Written by tests/vectors/make_partition_vectors.py;"
            " checked by tests/unit/test_partition_vectors.py and, in JavaScript, by"
            " verify_chain.mjs --ring checkpoint_ring.json."
        ),
        "partition": PARTITION,
        "genesis": GENESIS_HASH,
        "records": records,
        "checkpoints": checkpoints,
        "private_key_seed_hex": SEED.hex(),
    }


def ring(suite: Suite = Suite.INTERNATIONAL) -> dict[str, Any]:
    return KeyRing((ring_key(suite),)).as_json()


if __name__ == "__main__":
    suite = Suite(sys.argv[1]) if len(sys.argv) > 1 else Suite.INTERNATIONAL
    here = folder(suite)
    written = (("partition_chain.json", vectors(suite)), ("checkpoint_ring.json", ring(suite)))
    for name, data in written:
        path = here / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"wrote {path}")
