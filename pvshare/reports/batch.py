"""Reports for many tenants at once: one pass of analysis, pages rendered in parallel.

``pvshare report tenant --all`` writes 48 statements (HTML and PDF); the PDF rendering
dominates, so the pages are rendered by worker processes. The caller follows the progress
through a callback (the CLI draws a progress bar with it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from pvshare.errors import PvshareError
from pvshare.i18n import _

#: ``progress(done, total)``: called with ``(0, total)`` once the work has started (after
#: any worker process was forked, so a progress bar's thread may start then), and after
#: each participant's report.
Progress = Callable[[int, int], None]


def render_tenant(statement, site_name: str, flat_label: str, out: str | os.PathLike,
                  base: str, fmt: str) -> list[Path]:
    """Write one tenant's statement as ``<out>/<base>.html`` and/or ``.pdf``.

    Parameters
    ----------
    statement : pvshare.reports.tenant.TenantStatement
        The figures of the page.
    site_name, flat_label : str
        Printed on the page.
    out : str or os.PathLike
        Folder of the files.
    base : str
        File name without extension.
    fmt : {'html', 'pdf', 'both'}

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from pvshare.reports.pages import tenant_page
    from pvshare.reports.render import write_report
    html = tenant_page(statement, site_name=site_name, flat_label=flat_label)
    return write_report(html, out, base, fmt)


def write_tenant_json(statement, prm: str, origin: str, out: str | os.PathLike,
                      base: str) -> list[Path]:
    """Write one tenant's figures as ``<out>/<base>.json`` (atomically, private 0600).

    See :func:`pvshare.reports.tenant.statement_record` for the fields.
    """
    import json

    from pvshare.files.atomic import write_atomic
    from pvshare.reports.tenant import statement_record
    record = statement_record(statement, prm=prm, origin=origin)
    text = json.dumps(record, ensure_ascii=False, indent=1) + "\n"
    return [write_atomic(Path(out) / f"{base}.json", text)]


def write_tenant_reports(cfg, data, month: str, participants: Sequence[str],
                         out: str | os.PathLike, fmt: str, *, jobs: int = 1,
                         progress: Progress | None = None, figures=None) -> list[Path]:
    """Write the monthly statements of ``participants`` for ``month``.

    One pass of analysis for all of them (:func:`pvshare.reports.tenant.summarise`), then
    one page each (``releve-<id>-<month>``), rendered by ``jobs`` worker processes.

    Parameters
    ----------
    cfg : pvshare.config.Config
        The site (names, time zone, prices).
    data : pvshare.reports.sources.BuildingData
        The building's data, at least over ``month``.
    month : str
        ``YYYY-MM``.
    participants : sequence of str
        Participant ids.
    out : str or os.PathLike
        Folder of the files.
    fmt : {'html', 'pdf', 'both', 'json'}
        ``json``: the figures for other tools (no page).
    jobs : int
        Worker processes (1: render in this process).
    progress : callable, optional
        See :data:`Progress`.
    figures : pvshare.billing.figures.MonthFigures, optional
        The month's figures (:func:`pvshare.billing.month.figures_for_month`): each
        statement shows its tenant's kWh, completeness, bill lines and saving. Default:
        computed on ``data``'s month.

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``participants``.

    Raises
    ------
    PvshareError
        When ``data`` has nothing for ``month``.
    """
    from pvshare.reports.tenant import summarise, tenant_statement
    summary = summarise(data.times, data.production_wh, data.consumption_wh,
                        data.allocated_wh, data.participant_ids, cfg.site.timezone,
                        active=cfg.active(data.times))
    by_id = {p.id: p for p in cfg.participants}
    if figures is None:
        from pvshare.billing.month import figures_for_month, month_from_data
        figures = figures_for_month(cfg, month, m=month_from_data(
            cfg, month, data.times, data.production_wh, data.consumption_wh,
            data.allocated_wh))
    tasks = []
    for pid in participants:
        try:
            st = tenant_statement(summary, data.participant_ids.index(pid), month,
                                  figures.of(pid))
        except KeyError:
            raise PvshareError(_("no data for {period} ({origin})").format(
                period=month, origin=data.origin)) from None
        if fmt == "json":
            tasks.append((st, by_id[pid].prm, data.origin, str(out), f"releve-{pid}-{month}"))
        else:
            tasks.append((st, cfg.site.name, by_id[pid].name or "", str(out),
                          f"releve-{pid}-{month}", fmt))
    total = len(tasks)
    report = progress or (lambda done, total: None)
    paths: list[Path] = []
    jobs = max(1, min(int(jobs), total))
    write = write_tenant_json if fmt == "json" else render_tenant
    if jobs == 1 or fmt == "json":
        report(0, total)
        for i, t in enumerate(tasks):
            paths.extend(write(*t))
            report(i + 1, total)
        return paths
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    # Workers are forked when the tasks are submitted, before the caller's progress bar
    # (a thread) starts at the first call of ``progress``.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(render_tenant, *t) for t in tasks]
        report(0, total)
        for i, f in enumerate(futures):
            paths.extend(f.result())
            report(i + 1, total)
    return paths
