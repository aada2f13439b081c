"""Shared pytest configuration. Fixtures that start real servers live in tests/plugins/."""

import os

pytest_plugins = ["tests.plugins.mosquitto", "tests.plugins.victoriametrics"]

#: In CI a missing server is a failure, never a skip.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
