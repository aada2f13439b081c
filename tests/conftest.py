"""Shared pytest configuration. Fixtures that start real servers live in tests/plugins/."""

import os

import pytest

pytest_plugins = ["tests.plugins.mosquitto", "tests.plugins.victoriametrics"]

#: In CI a missing server is a failure, never a skip.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Hypothesis: locally every run explores new examples (and remembers failures in
# .hypothesis/); in CI the examples are derived from each test's name (derandomize), so a
# green CI run is reproducible and a bug found locally is fixed, not discovered at random
# by CI.
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if IN_CI:
    settings.load_profile("ci")

#: The longest test files (measured, longest first: the real daemon over simulated days, every
#: documented command), run first: with one file per worker (``--dist loadfile``; the
#: Makefile passes ``--no-loadscope-reorder`` so that xdist keeps this order instead of
#: sorting files by their number of tests), a long file taken last would run alone at the
#: end while the other workers sit idle.
LONGEST_FIRST = ("test_daemon_faults.py", "test_docs_run.py", "test_year_in_life.py",
                 "test_web.py", "test_demo.py", "test_daemon_guards.py", "test_daemon_gaps.py",
                 "test_payloads.py", "test_loadcurve_bounds.py", "test_cli_allocate.py",
                 "test_meters_sim.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))    # stable: file order kept


@pytest.fixture
def rigs():
    """The daemon test rigs a test starts (tests/test_daemon_faults.py's ``Rig``), stopped
    after it, whatever happened.
    """
    made: list = []
    yield made
    for r in made:
        r.stop()
