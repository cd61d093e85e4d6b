"""The ``cases`` projection: everything derived from the fold of a case's events.

- ``case_summary``: one row per case, with the full ``CaseState`` in ``state`` so that applying
  an event is the lifecycle's own ``evolve``;
- ``deadlines``: every open clock with its due date and the instants its light turns yellow and
  red, so that red and yellow lists are plain indexed queries;
- ``case_facts``: one row per case with what statistics count (``projections.queries.statistics``);
- ``case_text``: what a case is found by (``events.fields.search_texts``: what it is about, its
  filing and decision numbers; never personal data), a row per step and field, indexed by
  trigrams so that a few Chinese characters find it.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from events.calendar import CalendarNotCovered
from events.deadlines import Clock
from events.decide import evolve
from events.fields import search_texts
from events.model import Event
from events.state import CaseState
from events.upcasting import typed_payload, upcast
from projections.db import Connection
from projections.projection import LoggedEvent


@dataclass(frozen=True)
class CaseFacts:
    """What the statistics of a case rest on, beyond its state."""

    channel: str | None = None
    persons: int | None = None
    replied: bool = False
    mediation_result: str | None = None
    amount_in_dispute_fen: int | None = None
    agreed_amount_fen: int | None = None


def facts_after(facts: CaseFacts, event: Event) -> CaseFacts:
    """The facts once ``event`` is recorded: a pure function, shared with the as-of statistics."""
    payload: Any = typed_payload(event)
    if event.version == 1:
        channel = getattr(payload, "channel", None)
        return replace(
            facts,
            channel=str(channel) if channel is not None else None,
            persons=getattr(payload, "persons", None),
            amount_in_dispute_fen=getattr(payload, "amount_in_dispute_fen", None),
        )
    if event.type == "petition.visit_recorded":
        # Person-visits (人次) are counted per visit: each repeat visit adds its persons.
        return replace(facts, persons=(facts.persons or 0) + payload.persons)
    if event.type in ("complaint.replied", "petition.opinion_issued"):
        return replace(facts, replied=True)
    if event.type == "mediation.agreement_reached":
        return replace(facts, mediation_result="agreed", agreed_amount_fen=payload.amount_fen)
    if event.type == "mediation.failed":
        return replace(facts, mediation_result="failed")
    return facts


def _texts(event: Event) -> list[tuple[str, str]]:
    """What ``event`` adds to its case's searchable text, read in the current schema (the
    decider validated it when it wrote it: upcasting is enough)."""
    return search_texts(event.type, upcast(event.type, event.schema_version, dict(event.payload)))


def facts_row(state: CaseState, facts: CaseFacts) -> tuple[Any, ...]:
    return (
        state.case_id,
        state.case_type.value,
        state.owner_department,
        facts.channel,
        state.status,
        state.opened_at,
        state.closed_at,
        facts.persons,
        facts.replied,
        facts.mediation_result,
        facts.amount_in_dispute_fen,
        facts.agreed_amount_fen,
    )


FACTS_COLUMNS = """
    case_id               text PRIMARY KEY,
    case_type             text NOT NULL,
    department            text NOT NULL,
    channel               text,
    status                text NOT NULL,
    opened_at             timestamptz NOT NULL,
    closed_at             timestamptz,
    persons               integer,
    replied               boolean NOT NULL,
    mediation_result      text,
    amount_in_dispute_fen bigint,
    agreed_amount_fen     bigint
"""
FACTS_DDL = f"CREATE TABLE case_facts ({FACTS_COLUMNS});"
FACTS_AS_OF_DDL = f"CREATE TEMPORARY TABLE case_facts ({FACTS_COLUMNS}) ON COMMIT DROP;"
"""The same table for one transaction, shadowing the live view (statistics as of an instant)."""


class Cases:
    name = "cases"
    # 5: a supervision clock per note, the new mediation steps (upgrade: `casetrail rebuild cases`)
    version = 5
    tables: tuple[str, ...] = ("case_summary", "deadlines", "case_facts", "case_text")
    ddl = (
        """
    -- Trigrams index Chinese as well as Latin text (a UTF-8 ctype counts CJK as letters); a
    -- trusted extension, so the database's owner may create it. In public, not in the build's
    -- schema: dropping a retired build must not drop it.
    CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    CREATE TABLE case_text (
        case_id text NOT NULL,
        version integer NOT NULL,
        field   text NOT NULL,
        text    text NOT NULL,
        PRIMARY KEY (case_id, version, field)
    );
    CREATE TABLE case_summary (
        case_id          text PRIMARY KEY,
        case_type        text NOT NULL,
        status           text NOT NULL,
        owner_department text NOT NULL,
        assigned_officer text,
        channel          text,
        opened_at        timestamptz NOT NULL,
        closed_at        timestamptz,
        version          integer NOT NULL,
        last_event_at    timestamptz NOT NULL,
        last_recorded_at timestamptz NOT NULL,
        state            jsonb NOT NULL
    );
    CREATE TABLE deadlines (
        case_id          text NOT NULL,
        clock            text NOT NULL,
        case_type        text NOT NULL,
        owner_department text NOT NULL,
        assigned_officer text,
        due_day          date,
        due_at           timestamptz,
        yellow_from      timestamptz,
        paused_light     text,
        uncovered_year   integer,
        PRIMARY KEY (case_id, clock)
    );
    """
        + FACTS_DDL
    )
    indexes = """
    -- Lists are newest first: these serve the common filters in that order, without a sort.
    CREATE INDEX case_summary_type_status
        ON case_summary (case_type, status, last_recorded_at DESC, case_id DESC);
    CREATE INDEX case_summary_department
        ON case_summary (owner_department, last_recorded_at DESC, case_id DESC);
    CREATE INDEX case_summary_officer ON case_summary (assigned_officer);
    CREATE INDEX case_summary_recent ON case_summary (last_recorded_at DESC, case_id);
    CREATE INDEX case_summary_opened ON case_summary (opened_at, case_id);
    CREATE INDEX deadlines_due ON deadlines (due_at);
    CREATE INDEX deadlines_yellow ON deadlines (yellow_from);
    CREATE INDEX deadlines_department ON deadlines (owner_department, due_at);
    CREATE INDEX case_facts_type_opened ON case_facts (case_type, opened_at);
    -- Search (GET /cases?q=): a case id by its beginning, any case by a piece of its text.
    CREATE INDEX case_summary_id_trigrams ON case_summary USING gin (case_id gin_trgm_ops);
    CREATE INDEX case_text_trigrams ON case_text USING gin (text gin_trgm_ops);
    """

    async def apply(self, conn: Connection, batch: Sequence[LoggedEvent]) -> None:
        case_ids = sorted({logged.event.case_id for logged in batch})
        rows = await conn.fetch(
            "SELECT s.case_id, s.state::text, f.channel, f.persons, f.replied,"
            " f.mediation_result, f.amount_in_dispute_fen, f.agreed_amount_fen"
            " FROM case_summary s JOIN case_facts f USING (case_id)"
            " WHERE s.case_id = ANY($1)",
            case_ids,
        )
        states = {r["case_id"]: CaseState.model_validate_json(r["state"]) for r in rows}
        facts = {
            r["case_id"]: CaseFacts(
                r["channel"],
                r["persons"],
                r["replied"],
                r["mediation_result"],
                r["amount_in_dispute_fen"],
                r["agreed_amount_fen"],
            )
            for r in rows
        }
        last: dict[str, Event] = {}
        texts: list[tuple[str, int, str, str]] = []
        for logged in batch:
            event = logged.event
            states[event.case_id] = evolve(states.get(event.case_id), event)
            facts[event.case_id] = facts_after(facts.get(event.case_id, CaseFacts()), event)
            last[event.case_id] = event
            texts += [(event.case_id, event.version, *found) for found in _texts(event)]
        await _write(conn, case_ids, states, facts, last)
        if texts:
            await conn.copy_records_to_table("case_text", records=texts)


async def _write(
    conn: Connection,
    case_ids: list[str],
    states: dict[str, CaseState],
    facts: dict[str, CaseFacts],
    last: dict[str, Event],
) -> None:
    await conn.executemany(
        """
        INSERT INTO case_summary (case_id, case_type, status, owner_department,
            assigned_officer, channel, opened_at, closed_at, version, last_event_at,
            last_recorded_at, state)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)
        ON CONFLICT (case_id) DO UPDATE SET
            status = EXCLUDED.status,
            owner_department = EXCLUDED.owner_department,
            assigned_officer = EXCLUDED.assigned_officer,
            closed_at = EXCLUDED.closed_at,
            version = EXCLUDED.version,
            last_event_at = EXCLUDED.last_event_at,
            last_recorded_at = EXCLUDED.last_recorded_at,
            state = EXCLUDED.state
        """,
        [
            (
                case_id,
                state.case_type.value,
                state.status,
                state.owner_department,
                state.assigned_officer,
                facts[case_id].channel,
                state.opened_at,
                state.closed_at,
                state.version,
                last[case_id].occurred_at,
                last[case_id].recorded_at,
                state.model_dump_json(),
            )
            for case_id, state in ((c, states[c]) for c in case_ids)
        ],
    )
    await conn.execute("DELETE FROM deadlines WHERE case_id = ANY($1)", case_ids)
    await conn.executemany(
        "INSERT INTO deadlines VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            (
                state.case_id,
                clock.rule,
                state.case_type.value,
                state.owner_department,
                state.assigned_officer,
                *_due(clock),
            )
            for state in (states[c] for c in case_ids)
            for clock in state.clocks
        ],
    )
    await conn.executemany(
        """
        INSERT INTO case_facts VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (case_id) DO UPDATE SET
            department = EXCLUDED.department, channel = EXCLUDED.channel,
            status = EXCLUDED.status, closed_at = EXCLUDED.closed_at,
            persons = EXCLUDED.persons, replied = EXCLUDED.replied,
            mediation_result = EXCLUDED.mediation_result,
            amount_in_dispute_fen = EXCLUDED.amount_in_dispute_fen,
            agreed_amount_fen = EXCLUDED.agreed_amount_fen
        """,
        [facts_row(states[c], facts[c]) for c in case_ids],
    )


def _due(clock: Clock) -> tuple[Any, ...]:
    """due_day, due_at, yellow_from, paused_light and uncovered_year of a deadline row. A due day
    the calendar cannot count (its year's schedule is missing) is stored as unknown with the
    year, never guessed and never a reason to stop the projection."""
    try:
        return (
            clock.due_day(),
            clock.due_at(),
            clock.yellow_from(),
            # A suspended clock shows the light it had when suspended.
            clock.light(clock.paused_since) if clock.paused_since is not None else None,
            None,
        )
    except CalendarNotCovered as gap:
        return (None, None, None, None, gap.year)
