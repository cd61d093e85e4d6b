r"""Canonical serialisation and the per-case hash chain.

The chain rule: an event's ``hash`` is the hash of the log's suite (``events.suite``: SHA-256
under ``international``, SM3 under ``guomi``; lower-case hex) of the canonical JSON of the
event as stored on the log, with the ``hash`` field left out; ``prev_hash`` (which that JSON
includes) is the previous event's ``hash``, or GENESIS_HASH (64 zeros) for a case's first event.

Canonical JSON: object keys sorted, no whitespace between tokens, encoded as UTF-8 with
non-ASCII characters written as themselves; strings escape only '"', '\\' and control
characters (\b \f \n \r \t, others as lower-case \u00XX). Envelopes hold only strings,
integers, booleans and null (money is integer fen, instants are ISO 8601 strings in UTC), so this
is RFC 8785 (JCS) for every value that can occur. To verify in another language: parse the stored
JSON, drop "hash", serialise canonically, hash. ``tests/vectors/hash_chain.json`` (and
``guomi/hash_chain.json``) hold fixed vectors, and ``tests/vectors/verify_chain.mjs`` does exactly
this in JavaScript.
"""

from typing import Any

import orjson

from events.suite import Suite

GENESIS_HASH = "0" * 64


def canonical_json(data: dict[str, Any]) -> bytes:
    # orjson with sorted keys writes exactly this form (checked against the standard library's
    # json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) in the tests), ten
    # times faster: it is on the decider's hot path.
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def partition_chain(head: str, event_hash: str, suite: Suite) -> str:
    """The next head of a partition's chain: every event of a partition of the log, in offset
    order, extends it, so that removing or reordering whole cases shows too (DESIGN.md). The
    hash of the ASCII text of the head followed by the event's hash (tests/vectors pin it)."""
    return suite.hexdigest(f"{head}{event_hash}".encode())


def chain_hash(event_fields: dict[str, Any], suite: Suite) -> str:
    """Hash of an event given as JSON-ready fields; a ``hash`` key, if present, is ignored."""
    without_hash = {key: value for key, value in event_fields.items() if key != "hash"}
    return suite.hexdigest(canonical_json(without_hash))
