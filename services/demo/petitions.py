"""A few petitions of 2021 that the demo submits through the HTTP gateway, as a department's
system would (the demo year 2019-2020 goes straight to Kafka: ``services.demo.year``)."""

import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx

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


def submit(client: httpx.Client, body: dict[str, Any], timeout: float = 60) -> httpx.Response:
    """POST a submission; when the gateway answers 202, ask its status URL until decided."""
    response = client.post("/submissions", json=body)
    deadline = time.monotonic() + timeout
    while response.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.5)
        response = client.get(response.json()["status_url"])
        if response.status_code == 404 and response.json().get("code") == "unknown_submission":
            response = httpx.Response(
                202, json={"status_url": f"/submissions/{body['submission_id']}"}
            )
    return response


def load_petitions(gateway_url: str, token: str, say: Say) -> None:
    """Submit the demo petitions through the gateway and print each outcome."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway_url, timeout=30, headers=headers) as client:
        for body in demo_submissions():
            response = submit(client, body)
            answer = response.json()
            detail = answer.get("code") or answer.get("status")
            say(f"{body['case_id']} {body['type']:<18} → {response.status_code} {detail}")
