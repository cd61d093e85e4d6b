"""Canonical serialisation and the per-case hash chain.

The chain rule: an event's ``hash`` is the SHA-256 (lower-case hex) of the canonical JSON of the
event with the ``hash`` field left out; ``prev_hash`` (which that JSON includes) is the previous
event's ``hash``, or GENESIS_HASH for a case's first event. Canonical JSON: keys sorted, no
insignificant whitespace, UTF-8 without escaping non-ASCII characters.
"""

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(event_fields: dict[str, Any]) -> str:
    """Hash of an event given as JSON-ready fields; a ``hash`` key, if present, is ignored."""
    without_hash = {key: value for key, value in event_fields.items() if key != "hash"}
    return hashlib.sha256(canonical_json(without_hash)).hexdigest()
