"""Schema evolution: events on the log never change, so old payloads are upgraded when read.

Every event carries ``schema_version``. When a payload's shape changes, its model describes the
new version, ``CURRENT_VERSIONS`` names that version, and an upcaster turns a payload of version
n into version n + 1. Hashes are always computed over the event as it was stored, never over an
upcast payload.

Personal values are sealed on the log (``events.sealed``) from the version current when sealing
began: an upcaster of such a version moves a sealed value as a whole and never reads it (it
cannot: only the query service holds keys). ``typed_payload`` stands a placeholder in for each
before upcasting, so that folding validates; a log written in plaintext before that is upcast
once, then sealed, by ``casetrail migrate seal-log`` (docs/privacy-migration.md).

The changes made so far:

- ``complaint.registered`` version 1 held the complainant as one free-text field, "name phone" as
  written on the old paper form; version 2 splits it into a ``Person``; version 3 makes the
  complainant optional, with an explicit ``anonymous`` flag (every earlier complaint was named).
- ``petition.review_requested`` version 1 held only the reason: the handling office recorded the
  review itself. Version 2 names the reviewing body, the authority above; a version-1 request
  names none (``NOT_NAMED``), and its review stays with the office that recorded it.
- ``enforcement.evidence_collected`` version 2 names the other officers present (行政处罚法
  第四十二条); version 1 named none, and reads as naming none: the rule binds new steps only.
- ``enforcement.reviewed`` version 2 says whether the case is complex (情节复杂); version 1 did
  not ask, and reads as not complex.
- ``mediation.accepted`` version 2 may record a referral from another body (``referral``, 诉调、
  访调、警调对接); a version 1 acceptance was nobody's referral.
"""

import re
from collections.abc import Callable
from typing import Any

from events.lifecycles import EVENT_PAYLOADS
from events.model import Event, Frozen
from events.payloads import NOT_NAMED
from events.sealed import may_hold_sealed, without_sealed

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_PHONE = re.compile(r"^\+?[0-9][0-9-]{6,14}$")
"""At most 15 digits (E.164): an 18-character ID number is never taken for a phone."""


def _split_complainant(payload: dict[str, Any]) -> dict[str, Any]:
    """complaint.registered v1 → v2: "王五 13800000000" → {"name": "王五", "phone": "138…"}."""
    words = [w for w in re.split(r"[\s,，;；]+", str(payload["complainant"]).strip()) if w]
    phone = next((w for w in words if _PHONE.match(w)), None)
    name = " ".join(w for w in words if w != phone)  # "王 五" stays one name
    person: dict[str, Any] = {"name": name or "(unknown)"}
    if phone is not None:
        person["phone"] = phone
    return {**payload, "complainant": person}


def _named_complaint(payload: dict[str, Any]) -> dict[str, Any]:
    """complaint.registered v2 → v3: every v2 complaint named its complainant."""
    return {**payload, "anonymous": False}


def _unnamed_reviewer(payload: dict[str, Any]) -> dict[str, Any]:
    """petition.review_requested v1 → v2: the request named no reviewing body."""
    return {**payload, "reviewing_department": NOT_NAMED}


def _no_other_officers(payload: dict[str, Any]) -> dict[str, Any]:
    """enforcement.evidence_collected v1 → v2: nobody else was recorded, so nobody is named."""
    return {**payload, "officers": []}


def _not_complex(payload: dict[str, Any]) -> dict[str, Any]:
    """enforcement.reviewed v1 → v2: a review that did not ask found nothing complex."""
    return {**payload, "complex": False}


def _no_referral(payload: dict[str, Any]) -> dict[str, Any]:
    """mediation.accepted v1 → v2: no referral was recorded before there was a field for it."""
    return {**payload, "referral": None}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("complaint.registered", 1): _split_complainant,
    ("complaint.registered", 2): _named_complaint,
    ("petition.review_requested", 1): _unnamed_reviewer,
    ("enforcement.evidence_collected", 1): _no_other_officers,
    ("enforcement.reviewed", 1): _not_complex,
    ("mediation.accepted", 1): _no_referral,
}
CURRENT_VERSIONS: dict[str, int] = {
    "complaint.registered": 3,
    "petition.review_requested": 2,
    "enforcement.evidence_collected": 2,
    "enforcement.reviewed": 2,
    "mediation.accepted": 2,
}


def upcast(event_type: str, schema_version: int, payload: dict[str, Any]) -> dict[str, Any]:
    current = CURRENT_VERSIONS.get(event_type, 1)
    if schema_version > current:
        raise ValueError(
            f"{event_type} schema_version {schema_version} is newer than this code ({current})"
        )
    for version in range(schema_version, current):
        payload = UPCASTERS[(event_type, version)](payload)
    return payload


def typed_payload(event: Event) -> Frozen:
    """The event's payload as its current model, upgraded from whatever version it was stored in,
    each sealed personal value standing as a placeholder (no rule reads a person's data)."""
    model: type[Frozen] = EVENT_PAYLOADS[event.type]
    payload = without_sealed(event.payload) if may_hold_sealed(event.type) else event.payload
    return model.model_validate(upcast(event.type, event.schema_version, payload))
