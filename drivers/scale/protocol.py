"""The continuous-output line protocol of common platform scales (A&D, many Chinese
indicators in "continuous" or "stream" mode), as this driver accepts it.

One reading per line, several times a second::

    ST,GS,+0012.50kg\\r\\n       stable, gross, 12.50 kg
    US,NT,-0000.35kg\\r\\n       unstable (still settling), net, -0.35 kg
    OL,GS,+9999.99kg\\r\\n       overload: no weight

Accepted variants: ``ST``/``US``/``OL`` in any case; the mode field (``GS`` gross,
``NT`` net) may be missing (``ST,+12.50kg``); sign ``+``, ``-`` or none, and spaces
between sign and digits or before the unit (``ST,GS,+   12.50 kg``); units ``kg`` or
``g`` (grams are converted); line ends CR, LF or CR LF; spaces around fields. An
``OL`` line may carry anything after the status. Anything else is garbage.
"""

from __future__ import annotations

import re
from decimal import Decimal

from drivers.scale import Weight

_LINE = re.compile(
    r"""^\s*(?P<status>ST|US)\s*,
        \s*(?:(?:GS|NT)\s*,\s*)?
        (?P<sign>[+-])?\s*
        (?P<number>\d{1,7}(?:\.\d{1,4})?|\.\d{1,4})\s*
        (?P<unit>kg|g)\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_OVERLOAD = re.compile(r"^\s*OL\s*(,.*)?$", re.IGNORECASE)

_GRAMS_PER_KG = Decimal(1000)


class ScaleLineError(ValueError):
    """A line that is not a reading (noise on the line, a half line, another protocol)."""


def parse_line(line: str) -> Weight | None:
    """A reading: its weight, or None for an overload. Raises ScaleLineError for garbage."""
    if _OVERLOAD.match(line):
        return None
    match = _LINE.match(line)
    if not match:
        raise ScaleLineError(f"not a scale reading: {line[:40]!r}")
    value = Decimal(match["number"])
    if match["sign"] == "-":
        value = -value
    if match["unit"].lower() == "g":
        value /= _GRAMS_PER_KG
    return Weight(kilograms=value, stable=match["status"].upper() == "ST")


def format_line(weight: Weight, *, unit: str = "kg", mode: str = "GS") -> str:
    """The line a scale sends for ``weight`` (without line end); used by the simulator."""
    status = "ST" if weight.stable else "US"
    sign = "-" if weight.kilograms < 0 else "+"
    magnitude = abs(weight.kilograms)
    if unit == "g":
        number = f"{magnitude * _GRAMS_PER_KG:07.0f}"
    elif unit == "kg":
        number = f"{magnitude:07.2f}"
    else:
        raise ValueError(f"unit {unit!r} is not kg or g")
    return f"{status},{mode},{sign}{number}{unit}"
