"""Turn report figures into a self-contained HTML page and a PDF (jinja2 + WeasyPrint).

Every key figure is printed inside an element carrying ``data-figure="name"`` so that the
tests (and anyone checking a report) can read the numbers back from the page.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from pvshare.files.atomic import write_atomic
from pvshare.i18n import _
from pvshare.reports import fmt

TEMPLATES = Path(__file__).parent / "templates"


class ReportFormat(enum.StrEnum):
    """The files a report is written as."""

    HTML = "html"
    PDF = "pdf"
    BOTH = "both"


FORMATS = tuple(f.value for f in ReportFormat)


@lru_cache(maxsize=1)
def environment():
    """The jinja2 environment of the report templates, with the French number filters."""
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters.update(number=fmt.number, kwh=fmt.kwh, eur=fmt.eur, pct=fmt.pct,
                       watts=fmt.watts, month=_month, day=_day, kva=_kva, hour=_hour,
                       day_before=_day_before)
    env.globals["css"] = (TEMPLATES / "style.css").read_text(encoding="utf-8")
    return env


def _month(m) -> str:
    k = int(np.datetime64(m, "M").astype(int))
    return fmt.month_name(1970 + k // 12, k % 12 + 1)


def _day(d) -> str:
    d = np.datetime64(d, "D").astype(object)
    return f"{d.day} {fmt.MONTHS[d.month - 1]} {d.year}"


def _day_before(d) -> str:
    """The day before ``d`` (a period's excluded end → its last day), in French."""
    return _day(np.datetime64(d, "D") - np.timedelta64(1, "D"))


def _kva(x) -> str:
    return f"{fmt.number(x, 0 if float(x).is_integer() else 1)}\u00a0kVA"


def _hour(h) -> str:
    return f"{int(h)}\u00a0h"


def render_html(template: str, **context) -> str:
    """Render ``templates/<template>`` with the given context (adds ``generated_on``)."""
    context.setdefault("generated_on", _day(np.datetime64(dt.date.today(), "D")))
    return environment().get_template(template).render(**context)


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of a self-contained HTML page (WeasyPrint)."""
    import weasyprint
    return weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf()


def write_report(html: str, out_dir: str | os.PathLike, basename: str,
                 fmt_: str = "both") -> list[Path]:
    """Write ``basename.html`` and/or ``basename.pdf`` in ``out_dir`` (atomically: a reader
    never sees a half-written file; private, mode 0o600, as they hold a person's data).
    Returns the paths written.
    """
    if fmt_ not in FORMATS:
        raise ValueError(_("format must be one of {choices}, got {value!r}").format(
            choices=FORMATS, value=fmt_))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if fmt_ in ("html", "both"):
        written.append(write_atomic(out / f"{basename}.html", html.encode("utf-8")))
    if fmt_ in ("pdf", "both"):
        written.append(write_atomic(out / f"{basename}.pdf", html_to_pdf(html)))
    return written
