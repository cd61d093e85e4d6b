r"""What a submission's signature covers, and whom it may vouch for: pure rules, no keys.

The signed bytes: the canonical JSON (``events.hashing.canonical_json``: keys sorted, no
whitespace, UTF-8, non-ASCII as itself) of the whole submission document as its author wrote
it, ``signature`` included but without ``signature.value``. So the signature covers the key id
and the department it names as well as every field of the step. It is computed over the
document as parsed from the JSON that was sent, not over CaseTrail's model of it, so that an
instant written as "2020-03-04T09:30:00+08:00" is signed and checked as written.

Numbers: a valid submission holds integers only (money is integer fen, at most 10^15). An
integer written with a fraction or an exponent ("1.0", "1e2") is canonicalised as the integer
("1", "100"), as RFC 8785 and JavaScript's JSON.stringify write it; a number that is no
integer cannot be signed. With integers only and ASCII keys, this canonical form is RFC 8785
(JCS): any JCS library, or the few lines of docs/signing.md, produce the same bytes.

Whom a signature may vouch for: the actor's department, and for the system clock (which
records deadline warnings and breaches on any department's cases) the reserved department
``system-clock``, which only the clock's own department key holds. The decider's checks are in
``services.integrity.signing``; the recipe for clients in docs/signing.md.
"""

from collections.abc import Mapping
from typing import Any

from events.hashing import canonical_json
from events.model import Actor
from events.officers import SYSTEM_CLOCK_ID, Role

SIGNATURE_FIELD = "signature"
CLOCK_DEPARTMENT = SYSTEM_CLOCK_ID
"""The department the system clock's submissions are vouched for: a department key registered
for ``system-clock`` is the clock's own, and nothing else vouches for the clock."""

_SAFE_INTEGER = 2**53 - 1


class Unsignable(ValueError):
    """The document has no canonical form to sign (a number that is no integer, say)."""


def vouched_department(actor: Actor) -> str:
    """The department a signature must vouch for when ``actor`` takes a step. Whoever claims to
    be the clock, by id or by role, is treated as the clock: posing as it needs its key."""
    if actor.role == Role.SYSTEM or actor.officer_id == SYSTEM_CLOCK_ID:
        return CLOCK_DEPARTMENT
    return actor.department


def signed_bytes(document: Mapping[str, Any]) -> bytes:
    """The bytes a submission's signature covers: its canonical JSON without
    ``signature.value`` (``document`` as parsed from the JSON sent, or about to be sent)."""
    claim = document.get(SIGNATURE_FIELD)
    if not isinstance(claim, Mapping):
        raise Unsignable('"signature" must be an object naming key_id and department')
    body = dict(document)
    body[SIGNATURE_FIELD] = {name: v for name, v in claim.items() if name != "value"}
    # Looking is cheaper than copying, and a float almost never comes: this runs for every
    # submission the decider checks.
    return canonical_json(_integers_only(body) if _holds_float(body) else body)


def _integers_only(value: Any) -> Any:
    """``value`` with integral floats as integers; Unsignable for any other float."""
    if isinstance(value, dict):
        return {key: _integers_only(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integers_only(item) for item in value]
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= _SAFE_INTEGER:
            return int(value)
        raise Unsignable(f"the number {value!r} is no integer: a submission holds integers only")
    return value


def _holds_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_float(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_float(item) for item in value)
    return isinstance(value, float)
