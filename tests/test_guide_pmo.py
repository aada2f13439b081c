"""docs/pmo-month.md runs as written: every command of its console blocks, in order, in a
copy of docs/examples/pmo/ (the folder its comment names), compared with what the page
shows; and the example files the commands write are the ones shipped
(tests/console_blocks.py says how blocks are read; ``PVSHARE_UPDATE_DOCS=1`` rewrites them).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import console_blocks as cb

PAGE = cb.ROOT / "docs" / "pmo-month.md"


def test_the_guide_has_the_month_s_commands():
    """The runner finds the PMO's month in the page (it cannot pass on an empty page)."""
    page = cb.parse(PAGE)
    assert page.folder == cb.ROOT / "docs" / "examples" / "pmo"
    texts = [c.text for c in page.commands]
    for needed in ("pvshare store import --config site.toml", "pvshare enedis keys",
                   "pvshare allocate", "pvshare enedis reconcile enedis_2025-06.csv",
                   "pvshare bill --config site.toml --month 2025-06 --out "
                   "factures_2025-06.csv --enedis enedis_2025-06.csv",
                   "pvshare report tenant --config site.toml --month 2025-06 --all",
                   "--format json", "--sample-year"):
        assert any(needed in t for t in texts), needed
    # Every command shows what it prints, except the ones whose output is files only.
    assert sum(bool(c.expected) for c in page.commands) >= len(page.commands) - 1


def test_the_matcher():
    assert cb.matches(["a", "…", "d"], "a\nb\nc\nd\n")
    assert cb.matches(["a", "…", "d"], "a\nd")
    assert cb.matches(["x … z  "], "x yy z\n\n")
    assert not cb.matches(["a", "d"], "a\nb\nd\n")
    assert not cb.matches(["x … z"], "x y\nz\n")
    assert not cb.matches(["a"], "a\nmore\n")


@pytest.mark.timeout(900)
def test_every_command_of_the_guide_runs_and_prints_what_it_shows(tmp_path: Path):
    page = cb.parse(PAGE)
    work, problems, outputs = cb.run_page(page, tmp_path)
    changed = cb.changed_files(page, work)
    if cb.updating():
        cb.update_page(page, outputs)
        for name in changed:
            (page.folder / name).write_bytes((work / name).read_bytes())
        return
    problems += [f"docs/examples/pmo/{name}: not what the guide's commands write "
                 f"(PVSHARE_UPDATE_DOCS=1 regenerates it)" for name in changed]
    assert not problems, "\n\n".join(problems)
