"""What each field of a step's payload is, for screens: its "中文 / English" label and how to
show its value, generated from the payload models' JSON Schemas (the descriptions departments
read in the published contract), never written by hand a second time.

A field's ``kind`` tells a screen how to show the value: ``fen`` (money in integer fen, shown in
yuan), ``enum`` (a coded value, labelled through ``events.titles``; ``enum`` names the class),
``hash`` (a SHA-256, shortened), ``clock`` (a deadline's name), ``officer`` (an officer id, named
from the directory), ``case`` (another case's id), ``bool``, ``date``, ``datetime``, ``number``,
``object`` and ``list`` (with the ``fields`` of their members), else ``text``. ``personal``
marks personal data: readers who may not see it get ``***`` there, and the screen says so.

Which fields a case can be searched by (``SEARCHABLE``) is here too: only fields that are never
personal data, so that a reader who is shown ``***`` cannot find a case by what it hides.
"""

import re
from functools import cache
from typing import Any

from events.lifecycles import EVENT_PAYLOADS
from events.model import Frozen

SEARCHABLE = frozenset(
    {
        "subject",
        "summary",
        "cause",
        "dispute",
        "information",
        "case_number",
        "decision_number",
        "ruling_number",
    }
)
"""Fields (of any step's payload, at its top level) whose text a case is found by: what it is
about and the numbers it is known by. Free-text records of what was done (findings, replies,
opinions) are left out: they are where a name is most often written in passing."""

_REFERENCES = (
    ("_fen", "fen"),
    ("case_id", "case"),
    ("officer_id", "officer"),
    ("officer_ids", "officer"),
    ("mediator_id", "officer"),
)
"""A field named so holds an amount or names something a screen can look up (by suffix)."""

_FORMATS = {"date": "date", "date-time": "datetime"}
_TYPES = {"boolean": "bool", "integer": "number", "number": "number"}


def _ref(spec: dict[str, Any]) -> str | None:
    """The name of the definition ``spec`` refers to, directly or as "X or null"."""
    options = [o for o in spec.get("anyOf", ()) if o.get("type") != "null"]
    target = spec.get("$ref") or (options[0].get("$ref") if len(options) == 1 else None)
    return str(target).rsplit("/", 1)[-1] if target else None


def _resolve(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The spec itself: a reference followed, "X or null" taken as X."""
    if "$ref" in spec:
        return {**spec, **defs[spec["$ref"].rsplit("/", 1)[-1]]}
    options = [o for o in spec.get("anyOf", ()) if o.get("type") != "null"]
    if len(options) == 1:
        return {**spec, **_resolve(options[0], defs)}
    return spec


def _personal(spec: dict[str, Any]) -> bool:
    return bool(spec.get("x-personal-data")) or any(
        _personal(option) for option in spec.get("anyOf", ())
    )


def _in_yuan(title: str) -> str:
    """A money field's label without its unit: screens show the amount in yuan, not in fen."""
    chinese, _, english = title.partition("/")
    chinese = chinese.replace("（分）", "").strip()
    english = re.sub(r",? *\(?\bfen\b\)?", "", english).strip()
    return f"{chinese} / {english}" if english else chinese


def _field(name: str, spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    resolved = _resolve(spec, defs)
    described: dict[str, Any] = {"title": spec.get("description") or resolved.get("description")}
    if _personal(spec) or _personal(resolved):
        described["personal"] = True
    named = next((kind for suffix, kind in _REFERENCES if name.endswith(suffix)), None)
    if name == "clock":
        named = "clock"
    if named == "fen" and described["title"]:
        described["title"] = _in_yuan(described["title"])
    if "enum" in resolved:
        described.update(kind="enum", enum=_ref(spec))
    elif named is not None:
        described["kind"] = named
    elif resolved.get("type") == "object" and "properties" in resolved:
        described.update(kind="object", fields=_members(resolved, defs))
    elif resolved.get("type") == "array":
        items = _resolve(resolved.get("items", {}), defs)
        described["kind"] = "list"
        if items.get("type") == "object" and "properties" in items:
            described["fields"] = _members(items, defs)
    elif resolved.get("pattern") == r"^[0-9a-f]{64}$":
        described["kind"] = "hash"
    elif resolved.get("format") in _FORMATS:
        described["kind"] = _FORMATS[resolved["format"]]
    else:
        described["kind"] = _TYPES.get(resolved.get("type", ""), "text")
    return described


def _members(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return {name: _field(name, item, defs) for name, item in spec.get("properties", {}).items()}


def describe_payload(model: type[Frozen]) -> dict[str, Any]:
    """Every field of ``model`` (nested ones under ``fields``), in the model's own order."""
    schema = model.model_json_schema()
    return _members(schema, schema.get("$defs", {}))


@cache
def payload_fields() -> dict[str, dict[str, Any]]:
    """Event type → its payload's fields, as ``describe_payload`` gives them."""
    return {event: describe_payload(model) for event, model in sorted(EVENT_PAYLOADS.items())}


def search_texts(event_type: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, text) of ``payload`` (upcast to the current schema) that its case is found by:
    the ``SEARCHABLE`` fields its type has, never one marked as personal data."""
    fields = payload_fields().get(event_type, {})
    found = []
    for name in sorted(SEARCHABLE & fields.keys()):
        value = payload.get(name)
        if not fields[name].get("personal") and isinstance(value, str) and value.strip():
            found.append((name, value.strip()))
    return found
