"""Retention periods and who records an erasure (issue 13), without servers."""

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from events.model import CaseType
from services.cli.main import app
from services.demo import OFFICERS_FILE
from services.privacy import erasure
from services.privacy.erasure import (
    ERASED_EVENT,
    RETENTION_YEARS,
    ErasureError,
    _years_before,
    privacy_officer,
    requested_targets,
    retention_years,
)
from services.privacy.keystore import LiveKey, SubjectKey
from services.settings import Settings


def test_every_case_type_has_a_period_and_a_source() -> None:
    assert set(RETENTION_YEARS) == set(CaseType)
    for rule in RETENTION_YEARS.values():
        assert rule.years > 0
        assert " / " in rule.source  # Chinese first, English second


def test_an_operator_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "retention.json"
    path.write_text(json.dumps({"complaint": 5}))
    years = retention_years(Settings(retention_years_file=path))
    assert years["complaint"] == 5
    assert years["petition"] == RETENTION_YEARS[CaseType.PETITION].years


@pytest.mark.parametrize(
    "given",
    [
        {"complaints": 5},
        {"complaint": 0},
        {"complaint": "5"},
        {"complaint": 1.5},
        {"complaint": True},
        [3],
        "{not json",
    ],
)
def test_a_wrong_file_is_refused_saying_what_is_wanted(tmp_path: Path, given: object) -> None:
    path = tmp_path / "retention.json"
    path.write_text(given if isinstance(given, str) else json.dumps(given))
    with pytest.raises(ErasureError, match="whole years"):
        retention_years(Settings(retention_years_file=path))


def test_years_are_counted_back_from_the_day_and_29_february_falls_on_the_28th() -> None:
    assert _years_before(date(2026, 11, 28), 3) == datetime(2023, 11, 28, tzinfo=UTC)
    assert _years_before(date(2024, 2, 29), 3) == datetime(2021, 2, 28, tzinfo=UTC)


def test_the_privacy_officer_is_the_one_named_or_the_only_one() -> None:
    settings = Settings(officers_file=OFFICERS_FILE)
    assert privacy_officer(settings, None).officer_id == "DY-DZ-02"
    assert privacy_officer(settings, "DY-DZ-02").department == "党政办"
    with pytest.raises(ErasureError, match="no privacy_officer"):
        privacy_officer(settings, "DY-XF-01")  # an officer, but not for this
    with pytest.raises(ErasureError, match="officer directory"):
        privacy_officer(Settings(officers_file=None), None)


# --- planning an erasure from the log and the key store ----------------------------------

CASE = "XF-2020-0042"
ALICE, BOB, STRAY = (str(uuid.UUID(int=n)) for n in (1, 2, 3))


class FakeKeys:
    """A key store in memory: the subjects of CASE whose keys live."""

    def __init__(self, live: set[str], young: frozenset[str] = frozenset()) -> None:
        self.live = set(live)
        self.young = young
        """Live keys made a moment ago: their transaction may still be committing."""

    async def put(self, keys: Sequence[SubjectKey]) -> None:
        raise AssertionError("planning stores no key")

    async def get(self, subjects: Collection[str]) -> dict[str, bytes | None]:
        raise AssertionError("planning opens nothing")

    async def live_keys(self, case_ids: Collection[str]) -> dict[str, list[LiveKey]]:
        if CASE not in case_ids or not self.live:
            return {}
        ages = {s: timedelta(0) if s in self.young else timedelta(days=1) for s in self.live}
        return {CASE: [LiveKey(s, ages[s]) for s in sorted(self.live)]}

    async def case_of(self, subject: str) -> str | None:
        return CASE if subject in (ALICE, BOB, STRAY) else None

    async def destroy(self, subjects: Collection[str], because: str) -> list[str]:
        raise AssertionError("planning destroys nothing")


def _sealed(subject: str) -> dict[str, str]:
    return {"alg": "A256GCM", "subject": subject, "ciphertext": "AAAA"}


def _on_the_log(monkeypatch: pytest.MonkeyPatch, erased: list[str]) -> None:
    """CASE's events: a petition of ALICE and BOB, and an erasure step naming ``erased``."""
    registered = SimpleNamespace(
        type="petition.registered",
        payload={"petitioners": [{"name": _sealed(ALICE)}, {"name": _sealed(BOB)}]},
    )
    events = [registered]
    if erased:
        events.append(SimpleNamespace(type=ERASED_EVENT, payload={"subjects": erased}))

    async def events_of_cases(_: Settings, cases: list[str]) -> dict[str, list[Any]]:
        return {CASE: events} if CASE in cases else {}

    monkeypatch.setattr(erasure, "events_of_cases", events_of_cases)


async def test_an_erasure_recorded_whose_keys_live_on_is_finished_by_running_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The step is on the log but the keys were not destroyed (the erasure stopped half-way,
    or the decider recorded it only after the command gave up waiting): running it again must
    destroy them, not say there is nothing left to erase."""
    _on_the_log(monkeypatch, erased=[ALICE])
    keys = FakeKeys({ALICE, BOB})
    settings = Settings()
    [whole] = await requested_targets(settings, keys, [CASE], [])
    assert (whole.subjects, whole.unfinished) == ([BOB], [ALICE])
    [one] = await requested_targets(settings, keys, [], [ALICE])
    assert (one.subjects, one.unfinished) == ([], [ALICE])
    keys.live = {ALICE}  # BOB erased meanwhile, completely
    [rest] = await requested_targets(settings, keys, [CASE], [])
    assert (rest.subjects, rest.unfinished, rest.stray) == ([], [ALICE], [])


async def test_a_finished_erasure_leaves_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    _on_the_log(monkeypatch, erased=[ALICE, BOB])
    with pytest.raises(ErasureError, match="no personal data that can still be erased"):
        await requested_targets(Settings(), FakeKeys(set()), [CASE], [])
    with pytest.raises(ErasureError, match="already erased"):
        await requested_targets(Settings(), FakeKeys({STRAY}), [], [ALICE])


@pytest.mark.parametrize("hours", ["0", "-1", "nan", "inf"])
def test_a_schedule_that_is_no_interval_is_refused_before_anything_runs(hours: str) -> None:
    """0 would erase in a loop as fast as it can, a negative number crash after the first
    run (time.sleep), and neither is a schedule."""
    result = CliRunner().invoke(app, ["retention", "--dry-run", "--every-hours", hours])
    assert result.exit_code == 2, result.output
    assert "--every-hours" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["--as-of", "2999-01-01", "--approved-by", "审计组"],
        ["--as-of", "2020-01-01", "--every-hours", "24", "--approved-by", "审计组"],
    ],
)
def test_a_real_run_never_counts_from_a_day_to_come(args: list[str]) -> None:
    """--as-of plans ahead in a dry run; a real run from a later day would destroy keys whose
    retention period has not ended (irreversibly), and a schedule counting from one fixed day
    would never move on."""
    result = CliRunner().invoke(app, ["retention", *args])
    assert result.exit_code == 2, result.output
    assert "--as-of" in result.output


async def test_a_key_made_a_moment_ago_is_no_stray(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key no event on the log uses yet may seal an event whose transaction is committing
    (the decider stores keys first): erasing the case then must not destroy it unrecorded.
    A key that stayed unused long after it was made is a stray, and goes."""
    _on_the_log(monkeypatch, erased=[])
    [target] = await requested_targets(
        Settings(), FakeKeys({ALICE, BOB, STRAY}, young=frozenset({STRAY})), [CASE], []
    )
    assert (target.subjects, target.stray) == ([ALICE, BOB], [])
    [target] = await requested_targets(Settings(), FakeKeys({ALICE, BOB, STRAY}), [CASE], [])
    assert (target.subjects, target.stray) == ([ALICE, BOB], [STRAY])
