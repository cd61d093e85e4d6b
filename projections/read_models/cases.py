"""The ``cases`` projection: everything derived from the fold of a case's events.

- ``case_summary``: one row per case, with the full ``CaseState`` in ``state`` so that applying
  an event is the lifecycle's own ``evolve``;
- ``deadlines``: every open clock with its due date and the instants its light turns yellow and
  red, so that red and yellow lists are plain indexed queries;
- ``case_facts``: one row per case with what statistics count (``projections.queries.statistics``);
- ``case_fact_versions``: the same facts per version of a case, each with the stretch of time it
  was the case's (as recorded and as happened), so that statistics as of a past instant are a
  range query (``projections.queries.statistics``), not a fold;
- ``case_text``: what a case is found by (``events.fields.search_texts``: what it is about, its
  filing and decision numbers; never personal data), a row per step and field, indexed by
  trigrams so that a few Chinese characters find it;
- ``case_links``: one row per link recorded (``case.linked``), read from both of its cases.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from events.calendar import CalendarNotCovered
from events.deadlines import KEY_SEPARATOR, SUPERVISION_CLOCK, Clock
from events.decide import evolve
from events.fields import search_texts
from events.lifecycles import LIFECYCLES
from events.model import Event
from events.payloads import CaseLink, SupervisionAnswer
from events.state import CaseState
from events.upcasting import typed_payload, upcast
from projections.db import Connection
from projections.projection import LoggedEvent

VISIT_RECORDED = "petition.visit_recorded"
"""A petitioner's further visit on the same petition: its ``persons`` count as person-visits
(人次), as the report counts them, beside those of the registration."""


@dataclass(frozen=True)
class CaseFacts:
    """What the statistics of a case rest on, beyond its state."""

    channel: str | None = None
    persons: int | None = None
    replied: bool = False
    mediation_result: str | None = None
    amount_in_dispute_fen: int | None = None
    agreed_amount_fen: int | None = None
    breached: bool = False
    """Whether any deadline of the case was ever breached (``breached_before``)."""
    supervision_notes: int = 0
    """Supervision notes (督办) recorded on the case."""
    supervision_answered_on_time: int = 0
    """Of those, answered before their clock's due instant (``answered_on_time``)."""


def breached_before(state: CaseState | None, event: Event) -> bool:
    """Whether a clock open before ``event`` was past its due instant when the event happened.

    Every clock ends on some event (the one that stops it, restarts it, or closes the case) and
    every breach of a running clock is seen at the next event of the case, so folding this over
    a closed case's events finds every deadline it missed, from the clocks alone. A clock that
    stands still (suspension, a pause the law leaves out) is judged at the instant it stopped,
    as its light is; an extension granted after the due instant does not undo the breach. A
    clock whose due day the calendar cannot count (a year no source covers) is not judged: its
    light is unknown, and a breach is never guessed. Only the limits of the office's own
    handling count (``Clock.judges_handling``).
    """
    if state is None:
        return False
    for clock in state.clocks:
        if not clock.judges_handling:
            continue  # not the handling's deadline: the parties' window, a supervisor's date,
            # the party's time to pay, a third party's or the reviewing body's time
        moment = clock.paused_since if clock.paused_since is not None else event.occurred_at
        try:
            due = clock.due_at()
        except CalendarNotCovered:
            continue
        if moment >= due:
            return True
    return False


def answered_on_time(state: CaseState | None, event: Event, payload: Any = None) -> bool:
    """Whether ``event``, a supervision answer, came before the due instant of the note's own
    clock (``case.supervision_answer#<note version>``: its respond_by, or the default). An
    answer whose due day the calendar cannot count is not judged on time: it is never guessed.
    ``payload``, when given, is ``typed_payload(event)``."""
    note = typed_payload(event) if payload is None else payload
    assert isinstance(note, SupervisionAnswer), event.type
    clock = state.clock(f"{SUPERVISION_CLOCK}{KEY_SEPARATOR}{note.note_version}") if state else None
    if clock is None:
        return False
    try:
        return event.occurred_at < clock.due_at()
    except CalendarNotCovered:
        return False


def facts_after(
    facts: CaseFacts, event: Event, before: CaseState | None = None, payload: Any = None
) -> CaseFacts:
    """The facts once ``event`` is recorded on a case whose state was ``before``: a pure
    function, shared with the as-of statistics. ``payload``, when given, is
    ``typed_payload(event)`` (the projection parses it once for this and ``evolve``)."""
    if breached_before(before, event):
        facts = replace(facts, breached=True)
    if event.type == VISIT_RECORDED:
        visit = upcast(event.type, event.schema_version, event.payload)
        return replace(facts, persons=(facts.persons or 0) + int(visit["persons"]))
    if payload is None:
        payload = typed_payload(event)
    if event.version == 1:
        channel = getattr(payload, "channel", None)
        return replace(
            facts,
            channel=str(channel) if channel is not None else None,
            persons=getattr(payload, "persons", None),
            amount_in_dispute_fen=getattr(payload, "amount_in_dispute_fen", None),
        )
    if event.type == "case.supervision_noted":
        return replace(facts, supervision_notes=facts.supervision_notes + 1)
    if event.type == "case.supervision_answered" and answered_on_time(before, event, payload):
        return replace(facts, supervision_answered_on_time=facts.supervision_answered_on_time + 1)
    if event.type in ("complaint.replied", "petition.opinion_issued", "disclosure.answered"):
        return replace(facts, replied=True)
    if event.type == "mediation.agreement_reached":
        return replace(facts, mediation_result="agreed", agreed_amount_fen=payload.amount_fen)
    if event.type == "mediation.failed":
        return replace(facts, mediation_result="failed")
    return facts


def refused(state: CaseState) -> bool:
    """Whether the case was never taken up (不予受理, 不予立案, …): its lifecycle's ``refused``."""
    return state.status in LIFECYCLES[state.case_type].refused


def undecided(state: CaseState) -> bool:
    """Whether the office has not yet decided to take the case up (its lifecycle's
    ``awaiting``), suspended or not: it is not accepted yet."""
    status = state.suspended_from if state.status == "suspended" else state.status
    return status in LIFECYCLES[state.case_type].awaiting


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
        refused(state),
        facts.breached,
        facts.supervision_notes,
        facts.supervision_answered_on_time,
        undecided(state),
    )


FACT_FIELDS = """
    case_type             text NOT NULL,
    department            text NOT NULL,
    channel               text,
    status                text NOT NULL,
    opened_at             timestamptz NOT NULL,
    closed_at             timestamptz,
    persons               bigint,  -- repeat visits add up: no sum may overflow
    replied               boolean NOT NULL,
    mediation_result      text,
    amount_in_dispute_fen bigint,
    agreed_amount_fen     bigint,
    refused               boolean NOT NULL,
    breached              boolean NOT NULL,
    supervision_notes     integer NOT NULL,
    supervision_answered_on_time integer NOT NULL,
    undecided             boolean NOT NULL
"""
"""Every column of a facts row but the case's id (``facts_row``'s order)."""
FACTS_COLUMNS = "\n    case_id               text PRIMARY KEY," + FACT_FIELDS
FACTS_DDL = f"CREATE TABLE case_facts ({FACTS_COLUMNS});"
FACTS_AS_OF_DDL = f"CREATE TEMPORARY TABLE case_facts ({FACTS_COLUMNS}) ON COMMIT DROP;"
"""The same table for one transaction, shadowing the live view (statistics as of an instant)."""

OPEN = datetime.max.replace(tzinfo=UTC)
"""The end of a version's validity while it is its case's latest: PostgreSQL's ``infinity``
(asyncpg's datetime.max), so that "valid at T" stays a plain range condition."""

FACT_VERSIONS_DDL = f"""
-- A case's facts after each of its versions, valid from the instant that version counts until
-- the next one does (OPEN for the latest): as recorded (``recorded_*``) and as happened
-- (``occurred_*``). A case's events count in order up to the first that had not happened (or
-- been recorded) yet (events.as_of), so a version counts from the latest instant among its own
-- and its predecessors': a running maximum, as monotonic as the cut. A version whose interval is
-- empty (a later step recorded or dated no later than an earlier one) is never the answer.
CREATE TABLE case_fact_versions (
    case_id       text NOT NULL,
    version       integer NOT NULL,
    recorded_from timestamptz NOT NULL,
    recorded_to   timestamptz NOT NULL,
    occurred_from timestamptz NOT NULL,
    occurred_to   timestamptz NOT NULL,{FACT_FIELDS.rstrip()},
    PRIMARY KEY (case_id, version)
);
"""


@dataclass
class _Version:
    """A row of ``case_fact_versions`` being made: its facts row and the instants its version
    counts from and until."""

    case_id: str
    version: int
    recorded_from: datetime
    occurred_from: datetime
    facts: tuple[Any, ...]
    recorded_to: datetime = OPEN
    occurred_to: datetime = OPEN

    def follow(self, event: Event) -> tuple[datetime, datetime]:
        """Close this version at ``event``, its successor; the instants the successor counts
        from (this one's, or later)."""
        self.recorded_to = max(self.recorded_from, event.recorded_at)
        self.occurred_to = max(self.occurred_from, event.occurred_at)
        return self.recorded_to, self.occurred_to

    def row(self) -> tuple[Any, ...]:
        return (
            self.case_id,
            self.version,
            self.recorded_from,
            self.recorded_to,
            self.occurred_from,
            self.occurred_to,
            *self.facts[1:],
        )


LINKED = "case.linked"

LINKS_DDL = """
CREATE TABLE case_links (
    event_id      uuid PRIMARY KEY,
    case_id       text NOT NULL,  -- the case the link was recorded on
    other_case_id text NOT NULL,
    kind          text NOT NULL,
    note          text NOT NULL,
    linked_at     timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    department    text NOT NULL   -- the department that recorded it
);
"""


def link_row(event: Event, payload: Any = None) -> tuple[Any, ...]:
    link = typed_payload(event) if payload is None else payload
    assert isinstance(link, CaseLink), event.type
    return (
        event.event_id,
        event.case_id,
        link.other_case_id,
        link.kind.value,
        link.note,
        event.occurred_at,
        event.recorded_at,
        event.department,
    )


class Cases:
    name = "cases"
    # 4: case_text; 5: case_links, case_facts.refused and .breached; 6: a supervision clock per
    # note, the new mediation steps; 7: supervision notes answered on time; 8: the party's time
    # to pay, a consulted third party's and the reviewing body's time no longer make a closing
    # late, and a case awaiting the decision to take it up is not accepted (case_facts.undecided);
    # 9: persons as bigint; 10: case_fact_versions (upgrade: `casetrail rebuild cases`)
    version = 10
    tables: tuple[str, ...] = (
        "case_summary",
        "deadlines",
        "case_facts",
        "case_fact_versions",
        "case_text",
        "case_links",
    )
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
        + FACT_VERSIONS_DDL
        + LINKS_DDL
    )
    indexes = """
    -- Lists are newest first: these serve the common filters in that order, without a sort.
    CREATE INDEX IF NOT EXISTS case_summary_type_status
        ON case_summary (case_type, status, last_recorded_at DESC, case_id DESC);
    CREATE INDEX IF NOT EXISTS case_summary_department
        ON case_summary (owner_department, last_recorded_at DESC, case_id DESC);
    CREATE INDEX IF NOT EXISTS case_summary_officer ON case_summary (assigned_officer);
    CREATE INDEX IF NOT EXISTS case_summary_recent ON case_summary (last_recorded_at DESC, case_id);
    CREATE INDEX IF NOT EXISTS case_summary_opened ON case_summary (opened_at, case_id);
    CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines (due_at);
    CREATE INDEX IF NOT EXISTS deadlines_yellow ON deadlines (yellow_from);
    CREATE INDEX IF NOT EXISTS deadlines_department ON deadlines (owner_department, due_at);
    CREATE INDEX IF NOT EXISTS case_facts_type_opened ON case_facts (case_type, opened_at);
    -- Statistics as of T: the versions valid at T, on either basis (a range query).
    CREATE INDEX IF NOT EXISTS case_fact_versions_recorded
        ON case_fact_versions (recorded_to, recorded_from);
    CREATE INDEX IF NOT EXISTS case_fact_versions_occurred
        ON case_fact_versions (occurred_to, occurred_from);
    CREATE INDEX IF NOT EXISTS case_links_case ON case_links (case_id);
    CREATE INDEX IF NOT EXISTS case_links_other ON case_links (other_case_id);
    -- Search (GET /cases?q=): a case id by its beginning, any case by a piece of its text.
    CREATE INDEX IF NOT EXISTS case_summary_id_trigrams
        ON case_summary USING gin (case_id gin_trgm_ops);
    CREATE INDEX IF NOT EXISTS case_text_trigrams ON case_text USING gin (text gin_trgm_ops);
    """

    async def apply(
        self, conn: Connection, batch: Sequence[LoggedEvent], memo: dict[str, Any] | None = None
    ) -> None:
        # Each case's state and facts before the batch: from the memo (what earlier batches of
        # the same bulk load left), else from the build's own rows.
        known: dict[str, Any] = memo if memo is not None else {}
        case_ids = sorted({logged.event.case_id for logged in batch})
        await _recall(conn, [c for c in case_ids if c not in known], known)
        new = {c for c in case_ids if known.get(c) is None}
        states: dict[str, CaseState] = {}
        facts: dict[str, CaseFacts] = {}
        for case_id in case_ids:
            if (found := known.get(case_id)) is not None:
                states[case_id], facts[case_id] = found
        last: dict[str, Event] = {}
        first: dict[str, Event] = {}
        texts: list[tuple[str, int, str, str]] = []
        links: list[tuple[Any, ...]] = []
        versions: list[tuple[Event, tuple[Any, ...]]] = []
        for logged in batch:
            event = logged.event
            before = states.get(event.case_id)
            # Parsed once, for the facts and the fold alike.
            payload = typed_payload(event)
            facts[event.case_id] = facts_after(
                facts.get(event.case_id, CaseFacts()), event, before, payload
            )
            states[event.case_id] = evolve(before, event, payload=payload)
            first.setdefault(event.case_id, event)
            last[event.case_id] = event
            versions.append((event, facts_row(states[event.case_id], facts[event.case_id])))
            texts += [(event.case_id, event.version, *found) for found in _texts(event)]
            if event.type == LINKED:
                links.append(link_row(event, payload))
        await _write(conn, case_ids, new, states, facts, last)
        await _write_versions(conn, [first[c] for c in case_ids if c not in new], versions)
        if links:
            await conn.copy_records_to_table("case_links", records=links)
        if texts:
            await conn.copy_records_to_table("case_text", records=texts)
        if memo is not None:
            for case_id in case_ids:
                memo.pop(case_id, None)  # to the end: the most recently used are kept longest
                memo[case_id] = (states[case_id], facts[case_id])
            if len(memo) > MEMO_CASES:
                for case_id in list(itertools.islice(memo, len(memo) - MEMO_CASES // 2)):
                    del memo[case_id]


MEMO_CASES = 200_000
"""At most this many cases' states are remembered between the batches of a bulk load (a few
hundred megabytes); the least recently used of them are forgotten first, and read back from
the build when their case turns up again."""


async def _recall(conn: Connection, case_ids: list[str], known: dict[str, Any]) -> None:
    """Read the state and facts of ``case_ids`` from the build into ``known`` (None for a case
    the build does not hold yet)."""
    if not case_ids:
        return
    rows = await conn.fetch(
        "SELECT s.case_id, s.state::text, f.channel, f.persons, f.replied,"
        " f.mediation_result, f.amount_in_dispute_fen, f.agreed_amount_fen, f.breached,"
        " f.supervision_notes, f.supervision_answered_on_time"
        " FROM case_summary s JOIN case_facts f USING (case_id)"
        " WHERE s.case_id = ANY($1)",
        case_ids,
    )
    known.update(dict.fromkeys(case_ids))
    for r in rows:
        known[r["case_id"]] = (
            CaseState.model_validate_json(r["state"]),
            CaseFacts(
                r["channel"],
                r["persons"],
                r["replied"],
                r["mediation_result"],
                r["amount_in_dispute_fen"],
                r["agreed_amount_fen"],
                r["breached"],
                r["supervision_notes"],
                r["supervision_answered_on_time"],
            ),
        )


SUMMARY_UPDATE = """
    status = EXCLUDED.status,
    owner_department = EXCLUDED.owner_department,
    assigned_officer = EXCLUDED.assigned_officer,
    closed_at = EXCLUDED.closed_at,
    version = EXCLUDED.version,
    last_event_at = EXCLUDED.last_event_at,
    last_recorded_at = EXCLUDED.last_recorded_at,
    state = EXCLUDED.state
"""
FACTS_UPDATE = """
    department = EXCLUDED.department, channel = EXCLUDED.channel,
    status = EXCLUDED.status, closed_at = EXCLUDED.closed_at,
    persons = EXCLUDED.persons, replied = EXCLUDED.replied,
    mediation_result = EXCLUDED.mediation_result,
    amount_in_dispute_fen = EXCLUDED.amount_in_dispute_fen,
    agreed_amount_fen = EXCLUDED.agreed_amount_fen,
    refused = EXCLUDED.refused, breached = EXCLUDED.breached,
    supervision_notes = EXCLUDED.supervision_notes,
    supervision_answered_on_time = EXCLUDED.supervision_answered_on_time,
    undecided = EXCLUDED.undecided
"""


async def _write(
    conn: Connection,
    case_ids: list[str],
    new: set[str],
    states: dict[str, CaseState],
    facts: dict[str, CaseFacts],
    last: dict[str, Event],
) -> None:
    """The rows of ``case_ids`` after the batch, by COPY: those of ``new`` cases (the build has
    none of their rows yet) straight into the tables, the others through a staging table that
    replaces their rows (an upsert for each row would cost several times as much)."""
    summaries = {
        case_id: (
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
    }
    fact_rows = {c: facts_row(states[c], facts[c]) for c in case_ids}
    known = [c for c in case_ids if c not in new]
    await _upsert(conn, "case_summary", [summaries[c] for c in known], SUMMARY_UPDATE)
    await _upsert(conn, "case_facts", [fact_rows[c] for c in known], FACTS_UPDATE)
    if new:
        await conn.copy_records_to_table(
            "case_summary", records=[summaries[c] for c in case_ids if c in new]
        )
        await conn.copy_records_to_table(
            "case_facts", records=[fact_rows[c] for c in case_ids if c in new]
        )
    if known:
        await conn.execute("DELETE FROM deadlines WHERE case_id = ANY($1)", known)
    deadlines = [
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
    ]
    if deadlines:
        await conn.copy_records_to_table("deadlines", records=deadlines)


async def _write_versions(
    conn: Connection, successors: list[Event], versions: list[tuple[Event, tuple[Any, ...]]]
) -> None:
    """The ``case_fact_versions`` rows of the batch's events (each with the facts row after it),
    by COPY; ``successors`` are the first events of the batch on cases the build already holds,
    which close their predecessors' rows (one UPDATE, whose rows tell where the successors'
    running maxima start). Within the batch a version is closed by the next one here."""
    latest: dict[str, _Version] = {}
    if successors:
        closed = await conn.fetch(
            "UPDATE case_fact_versions f"
            " SET recorded_to = greatest(f.recorded_from, u.recorded_at),"
            " occurred_to = greatest(f.occurred_from, u.occurred_at)"
            " FROM unnest($1::text[], $2::integer[], $3::timestamptz[], $4::timestamptz[])"
            " AS u(case_id, version, recorded_at, occurred_at)"
            " WHERE f.case_id = u.case_id AND f.version = u.version"
            " RETURNING f.case_id, f.version, f.recorded_to, f.occurred_to",
            [e.case_id for e in successors],
            [e.version - 1 for e in successors],
            [e.recorded_at for e in successors],
            [e.occurred_at for e in successors],
        )
        for r in closed:
            # Stands for the closed row (already written): only its end is needed here.
            latest[r["case_id"]] = _Version(
                r["case_id"], r["version"], r["recorded_to"], r["occurred_to"], ()
            )
        missing = {e.case_id for e in successors} - latest.keys()
        if missing:  # the build holds the case but not its latest version: never guess on
            raise RuntimeError(f"case_fact_versions lacks the latest version of {sorted(missing)}")
    rows: list[_Version] = []
    for event, facts in versions:
        before = latest.get(event.case_id)
        starts = before.follow(event) if before else (event.recorded_at, event.occurred_at)
        latest[event.case_id] = _Version(event.case_id, event.version, *starts, facts)
        rows.append(latest[event.case_id])
    if rows:
        await conn.copy_records_to_table("case_fact_versions", records=[v.row() for v in rows])


async def _upsert(conn: Connection, table: str, rows: list[tuple[Any, ...]], update: str) -> None:
    """Insert or update ``rows`` of ``table`` (keyed by case_id): COPY into a staging table
    that lives until the transaction ends, then one INSERT ... ON CONFLICT from it."""
    if not rows:
        return
    staging = f"staging_{table}"
    await conn.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging}"
        f" (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    await conn.copy_records_to_table(staging, records=rows)
    await conn.execute(
        f"INSERT INTO {table} SELECT * FROM {staging} ON CONFLICT (case_id) DO UPDATE SET {update}"
    )
    await conn.execute(f"TRUNCATE {staging}")


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
