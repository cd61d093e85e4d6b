"""A few petitions of 2021 that the demo submits through the HTTP gateway, as a department's
system would (the demo year 2019-2020 goes straight to Kafka: ``services.demo.year``)."""

import uuid
from datetime import datetime, timedelta
from typing import Any

from client import CaseTrailClient, CaseTrailError
from events.calendar import CHINA
from services.progress import Say

DEMO_NAMESPACE = uuid.UUID("6f1c1f0e-4a43-4c1e-9d0e-2b1d7a0c2020")
OFFICER = {"officer_id": "DY-XF-01", "role": "officer", "department": "信访办"}

PETITIONS = [
    ("visit", 3, "厂房噪音扰民，要求整改"),
    ("letter", 1, "宅基地界址纠纷，请求核实"),
    ("online", 1, "复工复产补贴发放进度咨询"),
    ("visit", 5, "工资拖欠，请求协调支付"),
    ("hotline_12345", 1, "道路积水影响出行"),
    ("online", 2, "村集体资产处置信息公开"),
]


def demo_submissions() -> list[dict[str, Any]]:
    """Register every demo petition and accept all but the last, with fixed ids so that running
    the demo again re-sends the same submissions (and gets the same outcomes back)."""
    bodies: list[dict[str, Any]] = []
    for number, (channel, persons, summary) in enumerate(PETITIONS, start=1):
        case_id = f"XF-2021-{number:04d}"
        registered = datetime(2021, 3, number * 2, 9, 30, tzinfo=CHINA)
        bodies.append(
            {
                "type": "petition.register",
                "submission_id": str(uuid.uuid5(DEMO_NAMESPACE, f"{case_id}/register")),
                "case_id": case_id,
                "actor": OFFICER,
                "occurred_at": registered.isoformat(),
                "payload": {"channel": channel, "persons": persons, "summary": summary},
            }
        )
        if number < len(PETITIONS):
            bodies.append(
                {
                    "type": "petition.accept",
                    "submission_id": str(uuid.uuid5(DEMO_NAMESPACE, f"{case_id}/accept")),
                    "case_id": case_id,
                    "actor": OFFICER,
                    "expected_version": 1,
                    "occurred_at": (registered + timedelta(days=3)).isoformat(),
                    "payload": {"note": "符合受理条件"},
                }
            )
    # One step the lifecycle refuses, to show a rejected outcome and its code.
    bodies.append(
        {
            "type": "petition.accept",
            "submission_id": str(uuid.uuid5(DEMO_NAMESPACE, "XF-2021-9999/accept")),
            "case_id": "XF-2021-9999",
            "actor": OFFICER,
            "occurred_at": datetime(2021, 4, 1, 10, 0, tzinfo=CHINA).isoformat(),
        }
    )
    return bodies


def load_petitions(gateway_url: str, token: str, say: Say) -> None:
    """Submit the demo petitions through the gateway with the departments' client, and print
    each outcome (a rejection with its HTTP status and code)."""
    with CaseTrailClient(gateway_url, token=token) as client:
        for body in demo_submissions():
            try:
                outcome = client.submit(body)
                detail = f"{outcome.status} (version {outcome.version})"
            except CaseTrailError as error:
                detail = " ".join(str(part) for part in (error.status, error.code) if part)
            say(f"{body['case_id']} {body['type']:<18} → {detail}")
