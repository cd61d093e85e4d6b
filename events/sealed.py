"""Sealed values: personal data as the log stores it (docs/privacy.md).

Where a payload had a personal value, the event on the log holds
``{"alg": …, "subject": …, "ciphertext": …}``: the value encrypted with the key of its data
subject. Nothing here decrypts: folding, the read models and masking only need to recognise a
sealed value and stand something else in for it.
"""

import json
from functools import cache
from typing import Any

from events.lifecycles import EVENT_PAYLOADS

SEALED_FIELDS = frozenset({"alg", "subject", "ciphertext"})
"""The keys of a sealed value (``{"alg": …, "subject": …, "ciphertext": …}``): what the log
holds where a payload had a personal value (docs/privacy.md)."""
SEALED_PLACEHOLDER = "〔加密〕"
"""What folding and the read models see for a sealed value: they never need the person."""
ERASED = "〔已删除 / erased〕"
"""What a reader who may see personal data is shown where the data subject's key is destroyed."""

Pointer = tuple[str | int, ...]
"""Where a value sits in a payload: keys and list indexes from the top."""


@cache
def may_hold_sealed(event_type: str) -> bool:
    """Whether events of this type can hold personal data, sealed: their payload's schema
    marks a personal field (an unknown type might). The others are never looked through: this
    is on the decider's hot path."""
    model = EVENT_PAYLOADS.get(event_type)
    return model is None or "x-personal-data" in json.dumps(model.model_json_schema())


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == SEALED_FIELDS


def replaced(payload: Any, values: dict[Pointer, Any], where: Pointer = ()) -> Any:
    """``payload`` with the value at each pointer of ``values`` replaced (a new structure)."""
    if where in values:
        return values[where]
    if isinstance(payload, dict):
        return {key: replaced(item, values, (*where, key)) for key, item in payload.items()}
    if isinstance(payload, list):
        return [replaced(item, values, (*where, index)) for index, item in enumerate(payload)]
    return payload


def sealed_values(payload: Any, where: Pointer = ()) -> list[tuple[Pointer, dict[str, str]]]:
    """Every sealed value of a stored payload, with where it sits."""
    if is_sealed(payload):
        return [(where, payload)]
    if isinstance(payload, dict):
        return [found for k, v in payload.items() for found in sealed_values(v, (*where, k))]
    if isinstance(payload, list):
        return [found for i, v in enumerate(payload) for found in sealed_values(v, (*where, i))]
    return []


def subjects_in(payload: Any) -> frozenset[str]:
    """The data subjects a stored payload holds sealed values of."""
    return frozenset(str(value["subject"]) for _, value in sealed_values(payload))


def without_sealed(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with each sealed value as ``SEALED_PLACEHOLDER``: what folding validates
    (no rule of a lifecycle reads a person's name, number or address)."""
    found = sealed_values(payload)
    if not found:
        return payload
    result: dict[str, Any] = replaced(payload, {where: SEALED_PLACEHOLDER for where, _ in found})
    return result
