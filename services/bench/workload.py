"""The benchmarks' workload: petitions with long histories, as a department's client sends them."""

import json
import uuid

ACTOR = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}
PETITIONERS = [
    {
        "name": "李四",
        "id_number": "442000198001011234",
        "phone": "13900000000",
        "address": "南文村",
    },
    {"name": "王五", "phone": "13800000000"},
]
"""Two persons on every registration: six personal values to seal, two data subjects."""


def submissions(
    count: int, per_case: int, run: str, personal: bool = True
) -> list[tuple[str, bytes]]:
    """(case_id, JSON) for ``count`` submissions: each case is registered (with two
    petitioners, unless not ``personal``), accepted, then handled again and again, so that cases
    grow long histories as real ones do."""
    out: list[tuple[str, bytes]] = []
    case = 0
    while len(out) < count:
        out += case_submissions(case, min(per_case, count - len(out)), run, personal)
        case += 1
    return out


def case_id(run: str, case: int) -> str:
    return f"BENCH-{run}-{case:06d}"


def case_submissions(
    case: int, count: int, run: str, personal: bool = True
) -> list[tuple[str, bytes]]:
    """The first ``count`` submissions of case number ``case`` of ``submissions``: a large
    workload is made one case at a time, never held whole."""
    out = []
    case_id_ = case_id(run, case)
    for index in range(count):
        kind, payload = _step(index, personal)
        body = {
            "type": kind,
            "submission_id": str(uuid.uuid4()),
            "case_id": case_id_,
            "actor": ACTOR,
            "occurred_at": "2020-06-01T09:00:00+08:00",
            "payload": payload,
        }
        out.append((case_id_, json.dumps(body, ensure_ascii=False).encode()))
    return out


def _step(index: int, personal: bool) -> tuple[str, dict[str, object]]:
    if index == 0:
        return "petition.register", {
            "channel": "visit",
            "persons": 2,
            "summary": "基准测试",
            "petitioners": PETITIONERS if personal else [],
        }
    if index == 1:
        return "petition.accept", {"note": "受理"}
    return "petition.handle", {"record": f"第{index - 1}次办理：走访核实情况"}
