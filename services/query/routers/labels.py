"""Labels: every code the screens show, in the officials' own words ("中文 / English").

Public, like the statistics: the catalogue is the published contract (docs/contract/labels.json),
generated from the lifecycle tables and payload models, and holds no case and no personal data.
So the dashboard can label its token prompt too, and any cache may keep it: it changes only with
a release of this code, and its ETag says which."""

import hashlib
import json
from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import Response

from events.labels import catalogue

router = APIRouter()


@cache
def _document() -> tuple[bytes, str]:
    # In the tables' own order: screens list statuses and case types as the lifecycles do.
    body = json.dumps(catalogue(), ensure_ascii=False).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get(
    "/labels",
    responses={
        200: {
            "description": "case_types, statuses, events, submissions, roles, clocks,"
            " lights, values (coded answers) and fields (each step's payload)"
        },
        304: {"description": "Not modified since the ETag given in If-None-Match"},
    },
)
async def labels(request: Request) -> Response:
    """Every status (per case type), step, role, deadline, light, coded value and payload field
    with its "中文 / English" label (``events.labels.catalogue``). No token needed; cacheable
    (ETag, one hour)."""
    body, etag = _document()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
