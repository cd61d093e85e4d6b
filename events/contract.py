"""The published contract, generated from the code: JSON Schemas of every submission and event,
and a description of each lifecycle as data, a table or a Mermaid state diagram."""

from typing import Annotated, Any, Literal, Union, cast

from pydantic import Field, TypeAdapter, create_model

from events.deadlines import DEFAULT_RULES, ClockRule
from events.lifecycles import EVENT_PAYLOADS, LIFECYCLES, Lifecycle, Step
from events.model import Event
from events.submissions import Submission
from events.upcasting import CURRENT_VERSIONS


def submission_schema() -> dict[str, Any]:
    """JSON Schema of a submission: one of the step models, chosen by "type"."""
    return TypeAdapter(Submission).json_schema()


def _event_model(event_type: str, payload: type) -> type[Event]:
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + "Event"
    return cast(
        type[Event],
        create_model(
            name,
            __base__=Event,
            type=(cast(Any, Literal)[event_type], Field(examples=[event_type])),
            schema_version=(int, Field(default=CURRENT_VERSIONS.get(event_type, 1), ge=1)),
            payload=(payload, ...),
        ),
    )


SEALED_VALUE: dict[str, Any] = {
    "type": "object",
    "title": "SealedValue",
    "description": "加密的个人信息 / A personal value as the log stores it: AES-256-GCM (A256GCM;"
    " SM4GCM, SM4 in GCM mode, on a log of the guomi suite) under the key of its data subject"
    " (one per person, party or consulted body of a case), kept"
    " in the key store, never on the log. ciphertext is base64 of the 12-byte nonce followed"
    " by the ciphertext and its 16-byte tag; the associated data is the UTF-8 of"
    " 'casetrail/personal-data/v1', case_id, event_id, the value's JSON Pointer in the payload"
    " and subject, joined by newlines. Once the subject's key is destroyed it opens nowhere,"
    " and the event's hash (over the ciphertext) still verifies (docs/privacy.md).",
    "properties": {
        "alg": {"enum": ["A256GCM", "SM4GCM"]},
        "subject": {"type": "string", "format": "uuid", "description": "数据主体 / Data subject"},
        "ciphertext": {"type": "string", "contentEncoding": "base64"},
    },
    "required": ["alg", "subject", "ciphertext"],
    "additionalProperties": False,
}


def _sealed(spec: Any) -> Any:
    """``spec`` with every value marked personal as a sealed value or (written before
    sealing) the plaintext."""
    if isinstance(spec, list):
        return [_sealed(item) for item in spec]
    if not isinstance(spec, dict):
        return spec
    if spec.get("x-personal-data") is True:
        plain = {k: v for k, v in spec.items() if k not in ("x-personal-data", "description")}
        described = {"description": spec["description"]} if "description" in spec else {}
        return {
            **described,
            "anyOf": [{"$ref": "#/$defs/SealedValue"}, plain],
            "x-personal-data": "sealed",
        }
    return {key: _sealed(value) for key, value in spec.items()}


def event_schema() -> dict[str, Any]:
    """JSON Schema of an event on the log: the envelope with each type's payload, in which
    every personal value is sealed (``x-personal-data: "sealed"``; plaintext only in events
    appended before sealing or with it switched off)."""
    models = tuple(_event_model(t, p) for t, p in sorted(EVENT_PAYLOADS.items()))
    union: Any = Annotated[cast(Any, Union)[models], Field(discriminator="type")]
    schema: dict[str, Any] = _sealed(TypeAdapter(union).json_schema())
    schema.setdefault("$defs", {})["SealedValue"] = SEALED_VALUE
    return schema


# --- lifecycles ----------------------------------------------------------------------------


def _targets(step: Step) -> list[str]:
    if isinstance(step.to_status, str):
        return [step.to_status]
    if step.to_status is None:
        return []
    return list(step.leads_to) or ["(previous status)"]


def _from(lifecycle: Lifecycle, step: Step) -> list[str]:
    return [s for s in lifecycle.statuses if s in step.allowed_from]


def _from_label(lifecycle: Lifecycle, step: Step) -> str:
    """Short words for the sets the shared steps use, so the table stays readable."""
    open_ = lifecycle.open_statuses()
    named = {
        frozenset(): "(opens the case)",
        open_: "(any open status)",
        open_ | {"suspended"}: "(any open or suspended status)",
        frozenset(lifecycle.statuses): "(any status)",
    }
    return named.get(step.allowed_from) or ", ".join(_from(lifecycle, step))


def _who(lifecycle: Lifecycle, step: Step) -> dict[str, Any]:
    roles = sorted(lifecycle.roles_for(step))
    return {
        "roles": roles,
        "certificate": lifecycle.needs_certificate and lifecycle.working_role in roles,
        "owning_department_only": step.owner_only and step.acting_department is None,
        "acting_department": step.acting_department_is or None,
    }


def _rule(rule: ClockRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "title": rule.title,
        "length": rule.length,
        "unit": rule.unit.value,
        "starts_on": rule.starts_on,
        "stops_on": sorted(rule.stops_on),
        "extendable_by": rule.extendable_by,
        "further_extension_on": rule.further_extension_on,
        "restarts_on": sorted(rule.restarts_on),
        "warn_within_working_days": rule.warn_within,
        "source": rule.source,
        "pauses": [{"on": pause.on, "until": pause.until} for pause in rule.pauses],
        "per_event": rule.per_event,
        "due_from": rule.due_from,
        "follows_case": rule.follows_case,
        "judges_handling": rule.judges_handling,
    }


def describe(lifecycle: Lifecycle, rules: tuple[ClockRule, ...] = DEFAULT_RULES) -> dict[str, Any]:
    return {
        "case_type": lifecycle.case_type.value,
        "title": lifecycle.title,
        "statuses": list(lifecycle.statuses),
        "status_titles": dict(lifecycle.status_titles),
        "terminal": sorted(lifecycle.terminal),
        "refused": sorted(lifecycle.refused),
        "awaiting": sorted(lifecycle.awaiting),
        "steps": [
            {
                "submission": step.submission,
                "event": step.event,
                "title": step.title,
                "from": _from(lifecycle, step),
                "to": _targets(step),
                **_who(lifecycle, step),
            }
            for step in lifecycle.steps
        ],
        "deadlines": [_rule(r) for r in rules if r.applies_to(lifecycle.case_type)],
    }


def describe_all() -> list[dict[str, Any]]:
    return [describe(lifecycle) for lifecycle in LIFECYCLES.values()]


def mermaid(lifecycle: Lifecycle) -> str:
    """A state diagram of the lifecycle's own steps; the steps every case shares (suspension,
    transfer, documents…) are summed up in a note rather than drawn from every status."""
    lines = ["stateDiagram-v2"]
    for step in lifecycle.steps:
        if step.submission.startswith("case.") and step.submission != "case.reopen":
            continue
        label = step.title.split(" / ")[0] + " " + step.submission
        sources = (
            ["[*]"]
            if step.opens_case
            else [s for s in lifecycle.statuses if s in step.allowed_from]
        )
        for source in sources:
            for target in _targets(step):
                lines.append(f"    {source} --> {target}: {label}")
    for terminal in sorted(lifecycle.terminal):
        lines.append(f"    {terminal} --> [*]")
    lines.append(
        "    note right of suspended: 任何办理中状态均可中止/恢复、转办、延期、督办、附件；"
        "任何状态均可关联案件 / any open status: suspend and resume, transfer, extend,"
        " supervise, attach; any status: link to another case"
    )
    return "\n".join(lines) + "\n"


def table(lifecycle: Lifecycle, rules: tuple[ClockRule, ...] = DEFAULT_RULES) -> str:
    description = describe(lifecycle, rules)
    rows = [f"{lifecycle.title} ({lifecycle.case_type.value})", ""]
    rows.append(f"{'step':<32} {'from':<42} {'to':<32} who")
    for step, described in zip(lifecycle.steps, description["steps"], strict=True):
        who = ", ".join(described["roles"]) + (" + certificate" if described["certificate"] else "")
        if described["acting_department"]:
            who += f" ({described['acting_department']})"
        elif not described["owning_department_only"]:
            who += " (any department)"
        rows.append(
            f"{step.submission:<32} {_from_label(lifecycle, step):<42}"
            f" {', '.join(described['to']) or '(unchanged)':<32} {who}"
        )
    if description["deadlines"]:
        rows += ["", "deadlines:"]
        for rule in description["deadlines"]:
            extension = f", extendable by {rule['extendable_by']}" if rule["extendable_by"] else ""
            if rule["further_extension_on"]:
                extension += f", further on {rule['further_extension_on']}"
            paused = "".join(
                f", not counting {pause['on']} to {pause['until']}" for pause in rule["pauses"]
            )
            starts = " or ".join([rule["starts_on"], *rule["restarts_on"]])
            unit = "months" if rule["unit"] == "month" else f"{rule['unit']} days"
            if rule["due_from"]:
                extension += f", or to the day its {rule['due_from']} names"
            if rule["per_event"]:
                extension += (
                    f", one clock per event (stopped by the one its {rule['per_event']} names)"
                )
            if not rule["follows_case"]:
                extension += ", not paused by suspension nor stopped by closing"
            if not rule["judges_handling"]:
                extension += ", not counted against on-time closing"
            rows.append(
                f"  {rule['name']}: {rule['length']} {unit} from {starts}{extension}{paused}"
                f" — {rule['source']}"
            )
    return "\n".join(rows) + "\n"
