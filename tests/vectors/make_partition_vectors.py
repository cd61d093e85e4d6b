"""Writes tests/vectors/partition_chain.json (and checkpoint_ring.json): one partition of the
events topic in offset order, the head of its chain after every event, and two checkpoints
signed over it with a fixed key, which the ring file pins.

Run once when the partition chain or the checkpoint format changes on purpose:
`python -m tests.vectors.make_partition_vectors`.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events.hashing import GENESIS_HASH, partition_chain
from events.model import Event
from services.integrity.checkpoints import sign
from services.integrity.keyring import KeyPurpose, KeyRing, RingKey, key_id
from tests.vectors import make_hash_vectors, make_sealed_vectors

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


def partition_events() -> list[Event]:
    """The three cases' events as one partition holds them: each case in its own order."""
    complaint = make_hash_vectors.chain()  # TS-2020-0001 v1..v4
    sealed, _ = make_sealed_vectors.chain({})  # TS-2021-0007 v1, v2; XF-2021-0042 v1, v2
    order = [complaint[0], sealed[0], complaint[1], sealed[2]]
    order += [complaint[2], sealed[1], complaint[3], sealed[3]]
    return order


def ring_key() -> RingKey:
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    return RingKey(key_id(public), KeyPurpose.CHECKPOINT, public, KEY_VALID_FROM, note="vector")


def vectors() -> dict[str, Any]:
    key = Ed25519PrivateKey.from_private_bytes(SEED)
    records, heads = [], []
    head = GENESIS_HASH
    for offset, event in zip(OFFSETS, partition_events(), strict=True):
        head = partition_chain(head, event.hash)
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


def ring() -> dict[str, Any]:
    return KeyRing((ring_key(),)).as_json()


if __name__ == "__main__":
    here = Path(__file__).parent
    for name, data in (("partition_chain.json", vectors()), ("checkpoint_ring.json", ring())):
        path = here / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", "utf-8")
        print(f"wrote {path}")
