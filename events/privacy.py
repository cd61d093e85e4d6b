"""Personal data, found by its mark: every field typed ``PersonalData`` carries
``x-personal-data`` in the JSON Schema, so masking (and, later, per-subject encryption) needs no
list of fields to keep up to date.

The marks belong to the current schema, while the log keeps every payload as it was stored, at
whatever ``schema_version`` it was written. So a payload is first upcast to the current schema
and masked there: a version-1 ``complaint.registered`` held its complainant as one free-text
string ("王五 13800000000"), which no mark would have matched as stored.

Unknown means personal. Whatever the current schema cannot vouch for is masked: a field it does
not know, a value of another shape than the schema says (an object where it expects a string), a
payload of an unknown type or of a schema version this code has no upcaster for. A mark missed
shows a person's name to the unit they complained about; a field masked for nothing costs a
reader one look at the full record, which the roles that need it have (and which is logged).
"""

from functools import cache
from typing import Any, NamedTuple

from events.lifecycles import EVENT_PAYLOADS
from events.sealed import Pointer
from events.upcasting import CURRENT_VERSIONS, upcast

MASK = "***"

_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
"""The JSON Schema types whose values are shown when unmarked, and the Python types they take."""


@cache
def _schema(event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = EVENT_PAYLOADS[event_type].model_json_schema()
    return schema


def _personal(spec: dict[str, Any]) -> bool:
    return bool(spec.get("x-personal-data")) or any(
        _personal(option) for option in spec.get("anyOf", ())
    )


def _unknown(value: Any) -> tuple[Any, bool]:
    """A value the schema cannot vouch for: masked whole, and counted as personal data."""
    return (MASK, True) if value is not None else (None, False)


def _scalar_of(value: Any, spec: dict[str, Any]) -> bool:
    kinds = _SCALARS.get(spec.get("type", ""), ())
    # bool is an int to Python, not to JSON Schema: True is no integer here.
    return isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)


def _walk(value: Any, spec: dict[str, Any], defs: dict[str, Any]) -> tuple[Any, bool]:
    if value is None:
        return None, False
    if "$ref" in spec:
        spec = defs[spec["$ref"].rsplit("/", 1)[-1]]
    if _personal(spec):
        return MASK, True
    options = [o for o in spec.get("anyOf", ()) if o.get("type") != "null"]
    if options:
        # One option is "X or null"; a true union (none today) would need the value's own
        # branch to be known: until one exists, it is unknown.
        return _walk(value, options[0], defs) if len(options) == 1 else _unknown(value)
    if isinstance(value, dict) and spec.get("type") == "object" and "properties" in spec:
        masked, found = {}, False
        for key, item in value.items():
            known = spec["properties"].get(key)
            masked[key], here = _walk(item, known, defs) if known else _unknown(item)
            found = found or here
        return masked, found
    if isinstance(value, list) and spec.get("type") == "array" and "items" in spec:
        pairs = [_walk(item, spec["items"], defs) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    if _scalar_of(value, spec):
        return value, False
    return _unknown(value)


class Masked(NamedTuple):
    payload: dict[str, Any]
    """The payload with every personal value (and every value not vouched for) as ``***``."""
    personal: bool
    """Whether any value was masked: a reader shown the unmasked payload read personal data."""
    schema_version: int
    """The version of ``payload``'s shape: the current one once upcast, else the stored one."""


def mask_personal(event_type: str, schema_version: int, payload: dict[str, Any]) -> Masked:
    """The payload upcast from ``schema_version`` to the current schema with every personal
    value replaced by ``***``. A payload this code cannot read in the current schema keeps its
    stored shape with every value masked."""
    try:
        if event_type not in EVENT_PAYLOADS or schema_version < 1:
            raise LookupError(f"no schema for {event_type} version {schema_version}")
        current = upcast(event_type, schema_version, dict(payload))
        schema = _schema(event_type)
    except Exception:
        # An upcaster is code over data written years ago: whichever way it fails (a version
        # newer than this code, a field missing, a value of another type), the answer is the
        # same: nothing of this payload is vouched for.
        pairs = {key: _unknown(value) for key, value in payload.items()}
        masked = {key: pair[0] for key, pair in pairs.items()}
        return Masked(masked, any(pair[1] for pair in pairs.values()), schema_version)
    shown, found = _walk(current, schema, schema.get("$defs", {}))
    return Masked(shown, found, CURRENT_VERSIONS.get(event_type, 1))


# --- Where a payload holds personal data (to seal it) ------------------------------------


class PersonalField(NamedTuple):
    where: Pointer
    holder: Pointer
    """The object that holds it: one data subject (a person, a party, a consulted body)."""
    value: str


def personal_fields(event_type: str, payload: dict[str, Any]) -> list[PersonalField]:
    """Every personal value of a payload in the current schema of ``event_type``, in document
    order. The payload must be one this code just validated (the decider's own event): anything
    the schema does not describe is not looked for."""
    schema = _schema(event_type)
    found: list[PersonalField] = []

    def walk(value: Any, spec: dict[str, Any], where: Pointer, holder: Pointer) -> None:
        if value is None:
            return
        if "$ref" in spec:
            spec = schema["$defs"][spec["$ref"].rsplit("/", 1)[-1]]
        if _personal(spec):
            if isinstance(value, str):
                found.append(PersonalField(where, holder, value))
            return
        options = [o for o in spec.get("anyOf", ()) if o.get("type") != "null"]
        if len(options) == 1:
            walk(value, options[0], where, holder)
        elif isinstance(value, dict) and "properties" in spec:
            for key, item in value.items():
                if key in spec["properties"]:
                    walk(item, spec["properties"][key], (*where, key), where)
        elif isinstance(value, list) and "items" in spec:
            for index, item in enumerate(value):
                walk(item, spec["items"], (*where, index), holder)

    walk(payload, schema, (), ())
    return found


def pointer_text(where: Pointer) -> str:
    """JSON Pointer (RFC 6901) of ``where``: bound into each sealed value's ciphertext."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in where)
