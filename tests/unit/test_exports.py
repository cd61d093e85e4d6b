"""The export plumbing: formulas made inert in CSV and kept as text in a workbook, the byte-order
mark, file names for every client (RFC 5987), sheet names Excel accepts."""

import csv
import io
from datetime import UTC, datetime
from urllib.parse import unquote

import openpyxl
import pytest

from services.query.exports import (
    Column,
    Percent,
    Sheet,
    content_disposition,
    csv_bytes,
    inert,
    sheet_name,
    xlsx_bytes,
)

HOSTILE = ["=1+2", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "=cmd|' /C calc'!A0"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_would_start_a_formula_comes_out_inert(text: str) -> None:
    assert inert(text) == "'" + text
    sheet = Sheet("s", [Column("名称"), Column("比率")], [[text, -0.09]])
    rows = list(csv.reader(io.StringIO(csv_bytes(sheet).decode("utf-8-sig"))))
    # The text is prefixed; a negative number is a number, left as it is.
    assert rows[1] == ["'" + text, "-0.09"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([sheet])))
    cell = book.active["A2"]  # type: ignore[index]
    assert (cell.data_type, cell.value) == ("s", text)  # a string cell: never evaluated
    assert book.active["B2"].value == -0.09  # type: ignore[index]


def test_plain_text_and_types_are_kept() -> None:
    assert inert("信访办") == "信访办"
    assert inert("\r=1") == "'\r=1"
    moment = datetime(2020, 6, 1, 1, 30, tzinfo=UTC)
    sheet = Sheet("s", [Column("a"), Column("b"), Column("c")], [[moment, Percent(0.9444), None]])
    raw = csv_bytes(sheet)
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[1] == "2020-06-01 09:30:00,0.9444,"
    cells = openpyxl.load_workbook(io.BytesIO(xlsx_bytes([sheet]))).active
    assert cells["A2"].value == datetime(2020, 6, 1, 9, 30)  # type: ignore[index]
    assert cells["B2"].number_format == "0.00%"  # type: ignore[index]


def test_a_chinese_file_name_reaches_every_client() -> None:
    header = content_disposition("案卷-XF-2020-0001.pdf", "case-file-XF-2020-0001.pdf")
    plain, _, extended = header.partition("; filename*=UTF-8''")
    assert plain == 'attachment; filename="case-file-XF-2020-0001.pdf"'
    assert unquote(extended) == "案卷-XF-2020-0001.pdf"
    assert header.isascii()
    assert '"' not in content_disposition("x.csv", 'a"b\\c.csv').split(";")[1][11:-1]


def test_sheet_names_are_ones_excel_takes() -> None:
    taken: set[str] = set()
    assert sheet_name("按案件类型", taken) == "按案件类型"
    assert sheet_name("按案件类型", taken) == "按案件类型 (2)"
    long = sheet_name("a/b" * 20, taken)
    assert len(long) <= 31
    assert "/" not in long
