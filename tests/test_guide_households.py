"""docs/reports.md, "Suivre un foyer de visite en visite", runs as written: every command of
its console blocks, in order, in a copy of docs/examples/conseiller/ (the folder its comment
names), compared with what the page shows (tests/console_blocks.py says how blocks are read;
``PVSHARE_UPDATE_DOCS=1`` rewrites them). The page's earlier blocks (one household's report,
the tenants, the building) show commands on files of the reader's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import console_blocks as cb

PAGE = cb.ROOT / "docs" / "reports.md"
SECTION = "## Suivre un foyer de visite en visite"


def guide() -> cb.Page:
    page = cb.parse(PAGE)
    first = PAGE.read_text(encoding="utf-8").split("\n").index(SECTION) + 1
    page.commands = [c for c in page.commands if c.line > first]
    return page


def test_the_guide_follows_a_household_from_its_first_export_to_its_second_visit():
    page = guide()
    assert page.folder == cb.ROOT / "docs" / "examples" / "conseiller"
    texts = [c.text for c in page.commands]
    order = ["pvshare households init registre", "pvshare households add F01",
             "pvshare households add-curve F01 F01_export_2024-03.csv.gz",
             "pvshare households visit F01 --date 2023-12-04",
             "pvshare households add-curve F01 F01_export_2024-09.csv.gz",
             "pvshare households visit F01 --date 2024-05-13",
             "pvshare households show F01 --json", "pvshare report household --code F01",
             "pvshare households report --out bilan"]
    at = [next(i for i, t in enumerate(texts) if t.startswith(o)) for o in order]
    assert at == sorted(at)
    assert sum(bool(c.expected) for c in page.commands) >= len(page.commands) - 1


@pytest.mark.timeout(900)
def test_every_command_of_the_guide_runs_and_prints_what_it_shows(tmp_path: Path):
    page = guide()
    work, problems, outputs = cb.run_page(page, tmp_path)
    if cb.updating():
        cb.update_page(page, outputs)
        return
    problems += [f"docs/examples/conseiller/{n}: changed by the guide's commands"
                 for n in cb.changed_files(page, work)]
    assert not problems, "\n\n".join(problems)
