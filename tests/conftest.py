"""Shared pytest configuration. Fixtures that start real servers live in tests/plugins/."""

import os

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
