"""CSV and Excel exports that a spreadsheet cannot be tricked into running.

A kiosk's free text (a producer's name, a void reason) reaches these files; a cell
beginning with ``=``, ``+``, ``-``, ``@``, tab or CR would be a formula in Excel
(CSV injection). CSV cells like that are prefixed with ``'``; Excel cells are written
with the string type, which Excel never evaluates, and prefixed as well so that a
copy-paste into another sheet stays inert.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from station.spreadsheet import FORMULA_STARTS, inert

__all__ = ["FORMULA_STARTS", "inert", "to_csv", "to_xlsx"]


def to_csv(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM, so Excel opens the Chinese text correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(head)
    for row in rows:
        writer.writerow(["" if v is None else inert(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(title: str, head: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(head))
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=inert(value) if value is not None else None)
            if isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
