"""What the exports hold: the case list and the statistics as ``Sheet``s, with Chinese headers
and labels where the JSON answers carry codes."""

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from events.officers import Officer
from projections.queries.statistics import Dimension
from services.query import wording
from services.query.exports import Column, Percent, Sheet

CASE_COLUMNS = (
    Column("案件编号", 18),
    Column("案件类型", 16),
    Column("状态", 14),
    Column("承办部门", 16),
    Column("承办人", 12),
    Column("承办人编号", 12),
    Column("渠道", 10),
    Column("登记时间", 20),
    Column("办结时间", 20),
    Column("版本", 6),
    Column("最近办理时间", 20),
    Column("最近记录时间", 20),
)


def case_rows(
    cases: Sequence[Mapping[str, Any]], officers: Mapping[str, Officer]
) -> list[list[Any]]:
    """One row per case of ``GET /cases``, in its order, labelled; officers named from the
    directory (their id beside the name, which a directory may lack)."""
    rows = []
    for c in cases:
        officer_id = c["assigned_officer"]
        officer = officers.get(officer_id) if officer_id else None
        rows.append(
            [
                c["case_id"],
                wording.case_type(c["case_type"]),
                wording.status(c["case_type"], c["status"]),
                c["owner_department"],
                officer.name if officer else None,
                officer_id,
                wording.channel(c["case_type"], c["channel"]),
                c["opened_at"],
                c["closed_at"],
                c["version"],
                c["last_event_at"],
                c["last_recorded_at"],
            ]
        )
    return rows


def case_sheet(cases: Sequence[Mapping[str, Any]], officers: Mapping[str, Officer]) -> Sheet:
    return Sheet("案件列表", CASE_COLUMNS, case_rows(cases, officers))


DIMENSION_TITLES = {
    Dimension.CASE_TYPE: "案件类型",
    Dimension.DEPARTMENT: "承办部门",
    Dimension.CHANNEL: "渠道",
    Dimension.STATUS: "状态",
    Dimension.MONTH: "月份",
}

COUNT, RATE, YUAN, DAYS = "count", "rate", "yuan", "days"

MEASURES = (
    ("cases", "登记宗数", COUNT),
    ("accepted", "受理宗数", COUNT),
    ("persons", "人次", COUNT),
    ("closed", "办结宗数", COUNT),
    ("closure_rate", "办结率", RATE),
    ("closed_on_time", "按期办结宗数", COUNT),
    ("on_time_closure_rate", "按期办结率", RATE),
    ("replied", "答复宗数", COUNT),
    ("reply_rate", "回复率", RATE),
    ("mediations_agreed", "调解成功宗数", COUNT),
    ("mediation_success_rate", "调解成功率", RATE),
    ("amount_in_dispute_fen", "涉案金额（元）", YUAN),
    ("average_handling_days", "平均办理天数", DAYS),
    ("longest_handling_days", "最长办理天数", DAYS),
    ("supervision_notes", "督办件数", COUNT),
    ("supervision_answered_on_time", "督办按时反馈件数", COUNT),
    ("supervision_on_time_rate", "督办按时反馈率", RATE),
)
"""Every measure of a statistics row (``projections.queries.statistics``), its header and how
it is shown."""

CHANGES = (
    ("cases", "登记宗数同比"),
    ("accepted", "受理宗数同比"),
    ("persons", "人次同比"),
    ("closed", "办结宗数同比"),
    ("closed_on_time", "按期办结宗数同比"),
    ("replied", "答复宗数同比"),
    ("mediations_agreed", "调解成功宗数同比"),
)
"""The year-over-year changes (同比) of a row, as fractions (-0.09: 9% fewer)."""


def measure(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == COUNT:
        return int(value)
    if kind == RATE:
        return Percent(float(value))
    if kind == YUAN:
        return float(Decimal(str(value)) / 100)
    return float(value)


def dimension_value(dimension: Dimension, row: Mapping[str, Any]) -> Any:
    code = row[dimension.value]
    case_type = row.get("case_type")
    if dimension is Dimension.CASE_TYPE:
        return wording.case_type(code)
    if dimension is Dimension.STATUS:
        return wording.status(case_type, code)
    if dimension is Dimension.CHANNEL:
        return wording.channel(case_type, code) or "（无）"
    return code


def breakdown_name(dimensions: Sequence[Dimension]) -> str:
    """A sheet's name: the breakdown's dimensions ("按案件类型、渠道"), or 合计 for totals."""
    if not dimensions:
        return "合计"
    return "按" + "、".join(DIMENSION_TITLES[d] for d in dimensions)


def statistics_sheet(report: Mapping[str, Any]) -> Sheet:
    """One breakdown of ``statistics.report``: its dimensions, then every measure, then 同比."""
    dimensions = [Dimension(d) for d in report["by"]]
    columns = [
        *(Column(DIMENSION_TITLES[d], 16) for d in dimensions),
        *(Column(title, 12) for _, title, _ in MEASURES),
        *(Column(title, 12) for _, title in CHANGES),
    ]
    rows = []
    for row in report["rows"]:
        changes = row.get("year_over_year") or {}
        rows.append(
            [
                *(dimension_value(d, row) for d in dimensions),
                *(measure(row.get(key), kind) for key, _, kind in MEASURES),
                *(measure(changes.get(key), RATE) for key, _ in CHANGES),
            ]
        )
    return Sheet(breakdown_name(dimensions), columns, rows)


def about_sheet(reports: Sequence[Mapping[str, Any]], sheets: Sequence[Sheet]) -> Sheet:
    """What the workbook holds: the year, the instant its figures are as of, and its sheets."""
    first = reports[0]
    basis = {"recorded": "按记录时间", "occurred": "按发生时间"}.get(first["basis"] or "", "")
    rows: list[list[Any]] = [
        ["年度", first["year"]],
        ["统计时点", f"{first['as_of']}（{basis}）" if first["as_of"] else "当前"],
        ["比率", "办结率 = 办结 / 受理；按期办结率 = 按期办结 / 办结；回复率 = 答复 / 登记"],
        ["同比", "与上一年度同期相比的变化（-9% 即减少9%）"],
        *(["工作表", sheet.name] for sheet in sheets),
    ]
    return Sheet("说明", (Column("项目", 12), Column("内容", 60)), rows)
