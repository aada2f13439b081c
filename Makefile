# pvshare — every target sets up (or reuses) a local .venv first, so each is one command.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := mosquitto victoria-metrics systemd caddy chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

# Home Assistant, in a venv of its own (it is big and pins its own libraries): the tests
# validate pvshare's MQTT discovery with its schema. 2024.3.3 is the newest release that
# installs on Python 3.11 (2024.4 needs 3.12).
HA_VENV    := .ha-venv
HA_VERSION ?= 2024.3.3
HA_STAMP   := $(HA_VENV)/.installed-$(HA_VERSION)
# The requirements of the integrations the test starts (mqtt, file_upload, recorder: their
# manifest.json in that release), installed here since Home Assistant runs with skip_pip.
HA_REQUIREMENTS := 'paho-mqtt==1.6.1' 'janus==1.0.0' 'SQLAlchemy==2.0.27' \
                   'fnv-hash-fast==0.5.0' 'psutil-home-assistant==0.0.1'

# pip prints errors only (-qq): `make test` stays quiet unless something fails.
PIP := -m pip install -qq --disable-pip-version-check

# The venvs are filled by uv (PyPI: the same packages and versions pip resolves, about six
# times faster: `make test` on a fresh clone spends seconds, not minutes, installing).
# uv lives in a small venv of its own; the project's venvs keep pip for their users.
# --compile-bytecode: the tests start hundreds of processes; without .pyc files (never
# written where PYTHONDONTWRITEBYTECODE is set) each would compile its libraries again.
UV_VERSION := 0.13.9
UV_VENV    := .uv
UV         := $(UV_VENV)/bin/uv
UV_INSTALL := $(UV) pip install -q --compile-bytecode

# pytest workers (pytest-xdist): one per core by default; each test file runs whole in one
# worker (--dist loadfile), and every server a test starts takes a free port and its own
# temporary folder. `make test TEST_JOBS=0` runs in one process.
TEST_JOBS ?= auto

.PHONY: setup setup-demo ha-venv demo test test-prereqs lint bench system-deps i18n \
        install-check clean

# The tests need every extra ([test] includes [all]); the demo [demo] and [reports] (the
# reports it suggests trying on its data).
setup: $(STAMP)

$(UV):
	@test -x $(UV_VENV)/bin/python || $(PY) -m venv $(UV_VENV)
	@$(UV_VENV)/bin/python $(PIP) 'uv==$(UV_VERSION)'

$(STAMP): pyproject.toml | $(UV)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(UV_INSTALL) --python $(BIN)/python -e '.[test]'
	@touch $(STAMP)

setup-demo: $(VENV)/.installed-demo

$(VENV)/.installed-demo: pyproject.toml | $(UV)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(UV_INSTALL) --python $(BIN)/python -e '.[demo,reports]'
	@touch $@

ha-venv: $(HA_STAMP)

$(HA_STAMP): | $(UV)
	@test -x $(HA_VENV)/bin/python || $(PY) -m venv $(HA_VENV)
	@$(UV_INSTALL) --python $(HA_VENV)/bin/python 'homeassistant==$(HA_VERSION)' \
	  $(HA_REQUIREMENTS)
	@touch $@

# Debian packages of the real servers the tests use; installed only when missing (root).
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: setup-demo
	$(BIN)/pvshare demo

# ruff (pyflakes, pycodestyle, imports, pyupgrade, bugbear, numpy docstrings) and mypy on the
# functional core; both configured in pyproject.toml. `make test` runs it first.
lint: setup
	@$(BIN)/ruff check --quiet .
	@$(BIN)/mypy

# What the tests need, built side by side (the Home Assistant venv, the longest, alongside
# .venv, the Debian packages, then lint and the install check), then the tests in parallel.
test:
	@$(MAKE) --no-print-directory -j4 --output-sync=target test-prereqs
	@$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test-prereqs: setup system-deps ha-venv lint install-check

# The base install in a fresh venv: size, no heavy library, the base's commands work.
install-check:
	@PY=$(PY) scripts/install_check.sh

bench: setup system-deps
	$(BIN)/python -m benchmarks

# The French message catalogue: pvshare/locale/fr/LC_MESSAGES/pvshare.po -> .mo (Babel, in
# the test extra; a test checks that the committed .mo matches the .po).
i18n: setup
	$(BIN)/pybabel compile -D pvshare -d pvshare/locale -l fr

clean:
	rm -rf $(VENV) $(HA_VENV) $(UV_VENV) .pytest_cache .hypothesis *.egg-info
