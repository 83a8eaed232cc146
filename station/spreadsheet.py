"""Cells a spreadsheet cannot be tricked into running (CSV injection, OWASP).

A kiosk's free text (a producer's name, a void reason, a product name) reaches every
county export; a cell beginning with ``=``, ``+``, ``-``, ``@``, tab or CR is a formula
to Excel and LibreOffice. Such a cell is prefixed with ``'``. Used by ``station report
--csv`` and the web service's CSV/Excel exports (``station/web/exports.py``).
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """The value, with a leading ``'`` when it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
