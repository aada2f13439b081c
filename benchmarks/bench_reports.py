"""Report speed (issue 7 target): the 48 tenants' monthly statements, HTML + PDF, < 60 s.

Baseline measured in the same run: rendering ONE tenant's statement (HTML + PDF, after a
warm-up). The batch goes through the same path as ``pvshare report tenant --all`` (one
analysis pass, pages rendered by 2 worker processes). Printed: the batch's wall time, its
ratio to 48 × the baseline (< 1 means the parallel batch beats rendering one by one), and
the analysis time for the whole building.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

TARGET_S = 60.0
MONTH = "2025-06"
CONFIG = Path(__file__).resolve().parents[1] / "config" / "example.toml"


def main() -> bool:
    from pvshare.billing.month import figures_for_month, month_from_data
    from pvshare.config import load_config
    from pvshare.reports.batch import render_tenant, write_tenant_reports
    from pvshare.reports.sources import from_sample_year
    from pvshare.reports.tenant import summarise, tenant_statement

    cfg = load_config(CONFIG)
    data = from_sample_year(cfg)
    t0 = time.perf_counter()
    summary = summarise(data.times, data.production_wh, data.consumption_wh,
                        data.allocated_wh, data.participant_ids, cfg.site.timezone)
    figures = figures_for_month(cfg, MONTH, m=month_from_data(
        cfg, MONTH, data.times, data.production_wh, data.consumption_wh, data.allocated_wh))
    statements = [tenant_statement(summary, i, MONTH, figures.of(pid))
                  for i, pid in enumerate(data.participant_ids)]
    analysis_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        st = statements[0]
        render_tenant(st, cfg.site.name, "", tmp, "warmup", "both")        # fonts, imports
        t0 = time.perf_counter()
        render_tenant(st, cfg.site.name, "", tmp, "baseline", "both")
        one_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        paths = write_tenant_reports(cfg, data, MONTH, cfg.participant_ids,
                                     Path(tmp) / "all", "both", jobs=2)
        batch_s = time.perf_counter() - t0
        assert len(paths) == 2 * len(cfg.participant_ids)
    n = len(cfg.participant_ids)
    print(f"analysis of {n} tenants × 1 year (summary + {n} statements): {analysis_s:.2f} s")
    print(f"baseline, one statement HTML + PDF: {one_s:.2f} s")
    print(f"{n} statements HTML + PDF (--all, 2 processes): {batch_s:.1f} s "
          f"= {batch_s / (n * one_s):.2f} × ({n} × baseline); target < {TARGET_S:.0f} s")
    return batch_s < TARGET_S
