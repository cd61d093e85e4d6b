"""Retention periods and who records an erasure (issue 13), without servers."""

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from events.model import CaseType
from services.demo import OFFICERS_FILE
from services.privacy.erasure import (
    RETENTION_YEARS,
    ErasureError,
    _years_before,
    privacy_officer,
    retention_years,
)
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
