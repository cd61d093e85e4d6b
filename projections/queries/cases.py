"""Cases as supervisors list and open them: ``case_summary`` rows filtered and paged, one case,
its links, its history and its audit-trail events."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events.model import Event
from projections.db import Connection, fetch_dicts
from projections.queries.deadlines import light
from projections.read_models.audit_trail import ENVELOPE_COLUMNS

SUMMARY_COLUMNS = (
    "case_id",
    "case_type",
    "status",
    "owner_department",
    "assigned_officer",
    "channel",
    "opened_at",
    "closed_at",
    "version",
    "last_event_at",
    "last_recorded_at",
)

HISTORY_COLUMNS = (
    "event_id::text",
    "version",
    "type",
    "schema_version",
    "occurred_at",
    "recorded_at",
    "actor",
    "department",
    "submission_id::text",
    "vouched_by",
    "payload",
    "prev_hash",
    "hash",
)

Key = tuple[datetime, str]
"""Where a case stands in the list: its ``last_recorded_at`` and ``case_id``."""


class Placeholders:
    """The values of a query, each bound to the next numbered placeholder ($1, $2, …)."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def bind(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


SEARCH = (
    "(s.case_id ILIKE {0} || '%'"
    " OR s.case_id IN (SELECT t.case_id FROM case_text t WHERE t.text ILIKE '%' || {0} || '%'))"
)
"""A word of a search: the beginning of the case id, or anywhere in the case's text. The
subquery does not depend on the row, so PostgreSQL runs it once (a trigram index scan for a
word of three characters or more; shorter ones read ``case_text`` whole) and hashes it."""


def like_pattern(word: str) -> str:
    """``word`` matched literally by LIKE: its wildcards (and the escape character) escaped."""
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list; None matches any."""

    case_type: str | None = None
    department: str | None = None
    status: str | None = None
    channel: str | None = None
    officer: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    departments: Sequence[str] | None = None
    """The departments the reader may see (None: every one)."""
    light: str | None = None
    """Cases with an open deadline of this light."""
    q: str | None = None
    """Words each of which begins the case id or is found in the case's text (``case_text``)."""

    def conditions(self) -> list[tuple[str, Any]]:
        """Each condition on ``case_summary s``, ``{0}`` (or ``{}``) marking where the placeholder
        of its value goes (as in ``str.format``: the conditions hold no other braces), and the
        value."""
        words = (self.q or "").split()
        return [
            *((SEARCH, like_pattern(word)) for word in words),
            ("case_type = {}", self.case_type),
            ("owner_department = {}", self.department),
            ("status = {}", self.status),
            ("channel = {}", self.channel),
            ("assigned_officer = {}", self.officer),
            ("opened_at >= {}", self.opened_from),
            ("opened_at < {}", self.opened_to),
            ("last_event_at >= {}", self.occurred_from),
            ("last_event_at < {}", self.occurred_to),
            ("last_recorded_at >= {}", self.recorded_from),
            ("last_recorded_at < {}", self.recorded_to),
            ("owner_department = ANY({})", self.departments),
            (
                "EXISTS (SELECT 1 FROM deadlines d WHERE d.case_id = s.case_id AND "
                + light("d")
                + " = {})",
                self.light,
            ),
        ]


@dataclass(frozen=True)
class Page:
    cases: list[dict[str, Any]]
    next: Key | None
    """The key of the last case on this page if another page follows."""


async def listed(conn: Connection, where: CaseFilter, after: Key | None, limit: int) -> Page:
    """Up to ``limit`` cases matching ``where``, most recently recorded first, from just after
    ``after`` (keyset pagination: a page costs the same however deep it is)."""
    params = Placeholders()
    conditions = [
        condition.format(params.bind(value))
        for condition, value in where.conditions()
        if value is not None
    ]
    if after is not None:
        moment, case_id = after
        conditions.append(
            f"(last_recorded_at, case_id) < ({params.bind(moment)}, {params.bind(case_id)})"
        )
    sql = f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM case_summary s"
    if conditions:
        sql += f" WHERE {' AND '.join(conditions)}"
    # One row more than asked for tells whether another page follows.
    sql += f" ORDER BY last_recorded_at DESC, case_id DESC LIMIT {params.bind(limit + 1)}"
    rows = await fetch_dicts(conn, sql, *params.values)
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    return Page(page, (last["last_recorded_at"], last["case_id"]) if last else None)


async def summary(conn: Connection, case_id: str) -> dict[str, Any] | None:
    """One case's summary row, or None."""
    row = await conn.fetchrow(
        f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM case_summary WHERE case_id = $1", case_id
    )
    return dict(row) if row is not None else None


LINKS_SQL = """
SELECT x.other_case_id, x.kind, x.direction, x.note, x.linked_at, x.recorded_at,
       o.case_type AS other_case_type, o.status AS other_status
FROM (
    SELECT other_case_id, kind, 'outgoing' AS direction, note, linked_at, recorded_at, event_id
    FROM case_links WHERE case_id = $1
    UNION ALL
    SELECT case_id, kind, 'incoming', note, linked_at, recorded_at, event_id
    FROM case_links WHERE other_case_id = $1
) x
LEFT JOIN case_summary o ON o.case_id = x.other_case_id
WHERE $2::text[] IS NULL OR o.owner_department = ANY($2)
ORDER BY x.linked_at, x.event_id
"""


async def links(
    conn: Connection, case_id: str, departments: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The links of a case, both those recorded on it (``outgoing``) and those recorded on
    another case naming it (``incoming``), oldest first; with the other case's type and status
    when it is known. A reader limited to ``departments`` sees only links to cases of those
    departments: a link must not tell a department another's case ids (a case not registered
    yet is nobody's, so only a reader without limits sees a link to it)."""
    scope = list(departments) if departments is not None else None
    return await fetch_dicts(conn, LINKS_SQL, case_id, scope)


async def owners(conn: Connection, case_ids: Sequence[str]) -> dict[str, str]:
    """The owning department of each of ``case_ids`` that exists."""
    rows = await conn.fetch(
        "SELECT case_id, owner_department FROM case_summary WHERE case_id = ANY($1)",
        list(case_ids),
    )
    return {row["case_id"]: row["owner_department"] for row in rows}


async def history(conn: Connection, case_id: str) -> list[dict[str, Any]]:
    """Every step of a case, oldest first, as the audit trail holds it."""
    return await fetch_dicts(
        conn,
        f"SELECT {', '.join(HISTORY_COLUMNS)} FROM audit_trail WHERE case_id = $1 ORDER BY version",
        case_id,
    )


async def recorded_events(conn: Connection, case_id: str) -> list[Event]:
    """A case's events as the audit trail holds them, in version order (to check its chain)."""
    rows = await conn.fetch(
        f"SELECT {', '.join(ENVELOPE_COLUMNS)} FROM audit_trail WHERE case_id = $1"
        " ORDER BY version",
        case_id,
    )
    return [Event.model_validate(dict(row)) for row in rows]


async def last_place(conn: Connection, case_id: str) -> tuple[int, int] | None:
    """Where the case's last event is on the log: its partition and offset (None: no event)."""
    row = await conn.fetchrow(
        "SELECT log_partition, log_offset FROM audit_trail WHERE case_id = $1"
        " ORDER BY version DESC LIMIT 1",
        case_id,
    )
    return (row["log_partition"], row["log_offset"]) if row is not None else None
