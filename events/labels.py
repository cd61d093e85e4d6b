"""One catalogue of every label the screens show, generated from the lifecycle tables.

Statuses, steps (by event type and by submission type), roles, deadlines, case types and every
coded answer carry a "中文 / English" title in the tables, and every payload field its description
(``events.fields``); ``catalogue()`` gathers them so the dashboard (``GET /labels``) and the
documents never show a raw code where a label exists.
"""

from typing import Any

from events.deadlines import DEFAULT_RULES, ClockRule, Light
from events.fields import payload_fields
from events.lifecycles import LIFECYCLES
from events.officers import ROLE_TITLES
from events.titles import ENUM_TITLES

LIGHT_TITLES = {
    Light.GREEN: "绿灯 / Green",
    Light.YELLOW: "黄灯 / Yellow",
    Light.RED: "红灯 / Red",
    Light.UNKNOWN: "无法计算 / Cannot be counted",
}


def catalogue(rules: tuple[ClockRule, ...] = DEFAULT_RULES) -> dict[str, Any]:
    return {
        "case_types": {lc.case_type.value: lc.title for lc in LIFECYCLES.values()},
        "statuses": {lc.case_type.value: dict(lc.status_titles) for lc in LIFECYCLES.values()},
        "events": {step.event: step.title for lc in LIFECYCLES.values() for step in lc.steps},
        "submissions": {
            step.submission: step.title for lc in LIFECYCLES.values() for step in lc.steps
        },
        "roles": {role.value: title for role, title in ROLE_TITLES.items()},
        "clocks": {rule.name: rule.title for rule in rules},
        "lights": {light.value: title for light, title in LIGHT_TITLES.items()},
        "values": {name: dict(titles) for name, titles in ENUM_TITLES.items()},
        "fields": payload_fields(),
    }
