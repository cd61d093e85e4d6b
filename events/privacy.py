"""Personal data, found by its mark: every field typed ``PersonalData`` carries
``x-personal-data`` in the JSON Schema, so masking (and, later, per-subject encryption) needs no
list of fields to keep up to date."""

from functools import cache
from typing import Any

from events.lifecycles import EVENT_PAYLOADS

MASK = "***"


@cache
def _schema(event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = EVENT_PAYLOADS[event_type].model_json_schema()
    return schema


def _personal(spec: dict[str, Any]) -> bool:
    return bool(spec.get("x-personal-data")) or any(
        _personal(option) for option in spec.get("anyOf", ())
    )


def _walk(value: Any, spec: dict[str, Any], defs: dict[str, Any]) -> tuple[Any, bool]:
    if "$ref" in spec:
        spec = defs[spec["$ref"].rsplit("/", 1)[-1]]
    if _personal(spec):
        return (MASK if value is not None else None), value is not None
    options = [o for o in spec.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        return _walk(value, options[0], defs)
    if isinstance(value, dict) and "properties" in spec:
        masked, found = {}, False
        for key, item in value.items():
            masked[key], here = _walk(item, spec["properties"].get(key, {}), defs)
            found = found or here
        return masked, found
    if isinstance(value, list) and "items" in spec:
        pairs = [_walk(item, spec["items"], defs) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def mask_personal(event_type: str, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The payload with every personal value replaced by ``***``, and whether there was any."""
    schema = _schema(event_type)
    masked, found = _walk(payload, schema, schema.get("$defs", {}))
    return masked, found
