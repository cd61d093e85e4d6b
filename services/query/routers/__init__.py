"""The query service's endpoints, one router per resource, in the order the OpenAPI document
lists them."""

from services.query.routers import (
    access_log,
    cases,
    deadlines,
    health,
    labels,
    officers,
    statistics,
)

ROUTERS = (
    cases.router,
    deadlines.router,
    officers.router,
    statistics.router,
    labels.router,
    access_log.router,
    health.router,
)
