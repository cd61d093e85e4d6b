"""Tables as people take them away: CSV and Excel workbooks, and the download that carries them.

Both formats are written from the same ``Sheet``s, so a list or a statistics view reads the same
in either. Values keep their type: numbers stay numbers (a rate as a fraction, money in yuan),
instants are shown in China time, and text is text.

Text from outside the code (a department's name, an officer's name from the directory) may
begin with ``=``, ``+``, ``-`` or ``@``, which a spreadsheet would run as a formula (CSV
injection). In CSV, where nothing says what a cell is, such a cell gets a leading apostrophe,
the defence spreadsheets themselves recognise (OWASP); in a workbook every text is written as a
string cell, which Excel and LibreOffice never evaluate (XlsxWriter is told never to turn one
into a formula), so it reads exactly as stored.
"""

import asyncio
import csv
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

import xlsxwriter
from fastapi.responses import Response

from events.calendar import CHINA

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_TYPE = "application/pdf"

BOM = "\ufeff"
"""Excel opens a CSV file as UTF-8 (and so shows Chinese) only when it starts with this."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet take a cell of text for a formula (or hide one behind a tab)."""


@dataclass(frozen=True)
class Percent:
    """A rate (a fraction: 0.9444), shown as a percentage in a workbook."""

    value: float


@dataclass(frozen=True)
class Column:
    title: str
    """Its header: Chinese first ("办结率"), as officials read it."""
    width: int = 14
    """Characters, in a workbook."""


@dataclass(frozen=True)
class Sheet:
    name: str
    """The sheet's name in a workbook (at most 31 characters, none of ``[]:*?/\\``)."""
    columns: Sequence[Column]
    rows: Sequence[Sequence[Any]]
    """Values: None, str, int, float, Decimal, Percent, date or datetime (aware)."""


def inert(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs: prefixed with ``'`` if it would start a
    formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def in_china(moment: datetime) -> datetime:
    """A moment as the town's clocks showed it, without the zone (spreadsheets keep none)."""
    return moment.astimezone(CHINA).replace(tzinfo=None)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Percent):
        return value.value
    if isinstance(value, datetime):
        return in_china(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | float | Decimal):
        return value
    return inert(str(value))


def csv_bytes(sheet: Sheet) -> bytes:
    """One sheet as CSV: UTF-8 with a byte-order mark, CRLF line ends (RFC 4180)."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([inert(c.title) for c in sheet.columns])
    for row in sheet.rows:
        writer.writerow([_csv_value(v) for v in row])
    return out.getvalue().encode("utf-8")


def sheet_name(name: str, taken: set[str]) -> str:
    """``name`` as Excel takes it (31 characters, no ``[]:*?/\\``), unique in the workbook."""
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in name).strip("'") or "Sheet"
    candidate, n = cleaned[:31], 1
    while candidate.lower() in taken:
        n += 1
        suffix = f" ({n})"
        candidate = cleaned[: 31 - len(suffix)] + suffix
    taken.add(candidate.lower())
    return candidate


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """A workbook with one worksheet per sheet, headers frozen, numbers as numbers."""
    out = io.BytesIO()
    options = {
        "in_memory": True,
        # Text is text: never a formula, a number or a URL because of how it looks.
        "strings_to_formulas": False,
        "strings_to_numbers": False,
        "strings_to_urls": False,
        "default_date_format": "yyyy-mm-dd",
    }
    workbook = xlsxwriter.Workbook(out, options)
    header = workbook.add_format({"bold": True, "bg_color": "#EEF1F5", "text_wrap": True})
    moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    percent = workbook.add_format({"num_format": "0.00%"})
    taken: set[str] = set()
    for sheet in sheets:
        ws = workbook.add_worksheet(sheet_name(sheet.name, taken))
        for c, column in enumerate(sheet.columns):
            ws.set_column(c, c, column.width)
            ws.write_string(0, c, column.title, header)
        ws.freeze_panes(1, 0)
        for r, row in enumerate(sheet.rows, start=1):
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, Percent):
                    ws.write_number(r, c, value.value, percent)
                elif isinstance(value, datetime):
                    ws.write_datetime(r, c, in_china(value), moment)
                elif isinstance(value, date):
                    ws.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
                elif isinstance(value, bool):
                    ws.write_boolean(r, c, value)
                elif isinstance(value, int | float | Decimal):
                    ws.write_number(r, c, float(value))
                else:
                    ws.write_string(r, c, str(value))
    workbook.close()
    return out.getvalue()


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with ``filename`` for every client: RFC 5987/6266 ``filename*`` (UTF-8,
    for the Chinese name) and ``fallback`` (ASCII) for those that know only ``filename``."""
    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in fallback
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download(body: bytes, media_type: str, filename: str, fallback: str) -> Response:
    """The response that saves ``body`` as ``filename``. Never cached by anything shared: it
    was read with a token, and may hold personal data."""
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(filename, fallback),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def today() -> str:
    """Today in China, as a file name carries it (20201231)."""
    return datetime.now(CHINA).strftime("%Y%m%d")


P = ParamSpec("P")
T = TypeVar("T")

_MAKING = threading.BoundedSemaphore(2)
"""Workbooks and PDFs made at once: each takes a core for a second or more (a PDF reads its
font, a workbook of 20,000 cases writes 240,000 cells), and the service must go on answering
everything else meanwhile."""


async def made_aside(make: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``make(*args)`` in a worker thread, at most two at once, off the event loop."""

    def bounded() -> T:
        with _MAKING:
            return make(*args, **kwargs)

    return await asyncio.to_thread(bounded)
