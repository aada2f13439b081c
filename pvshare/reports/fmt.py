"""French number, money and date formatting for the reports (``1 234,5 kWh``).

The thousands separator is a no-break space (U+00A0) so that a figure never splits across
lines; :func:`parse_number` reads such a figure back (the tests use it to check the pages).
"""

from __future__ import annotations

import math
import re

from pvshare.i18n import _

NBSP = "\u00a0"

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre")
MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.",
                "oct.", "nov.", "déc.")
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def number(x: float, decimals: int = 0) -> str:
    """``1234.5`` → ``'1 234,5'`` (no-break space between thousands, comma for decimals).

    NaN gives ``'—'``.
    """
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    x = float(x)
    s = f"{abs(x):,.{decimals}f}"
    s = s.replace(",", NBSP).replace(".", ",")
    if x < 0 and any(c not in "0,\u00a0" for c in s):
        s = "−" + s
    return s


def kwh(x: float, decimals: int = 0) -> str:
    """``x`` kWh in French (``1 234 kWh``)."""
    return f"{number(x, decimals)}{NBSP}kWh"


def eur(x: float, decimals: int = 0) -> str:
    """``x`` euros in French (``1 234 €``)."""
    return f"{number(x, decimals)}{NBSP}€"


def pct(x: float, decimals: int = 0) -> str:
    """A percentage given in percent (``12.3`` → ``'12,3 %'``)."""
    return f"{number(x, decimals)}{NBSP}%"


def watts(x: float) -> str:
    """``x`` watts in French (``1 234 W``)."""
    return f"{number(x, 0)}{NBSP}W"


def month_name(year: int, month: int) -> str:
    """The month in French (``juin 2025``)."""
    return f"{MONTHS[month - 1]} {year}"


_NUM_RE = re.compile(r"[−-]?\d{1,3}(?:[\u00a0\u202f ]\d{3})*(?:,\d+)?|[−-]?\d+(?:,\d+)?")


def parse_number(text: str) -> float:
    """Read back a figure written by :func:`number` (``'1 234,5'`` → ``1234.5``)."""
    m = _NUM_RE.search(text)
    if m is None:
        raise ValueError(_("no number in {text!r}").format(text=text))
    s = m.group(0).replace("−", "-").replace(NBSP, "").replace("\u202f", "").replace(" ", "")
    return float(s.replace(",", "."))
