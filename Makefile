# pvshare — every target sets up (or reuses) a local .venv first, so each is one command.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := mosquitto victoria-metrics chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core

.PHONY: setup demo test lint bench system-deps clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# Debian packages of the real servers the tests use; installed only when missing (root).
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: setup
	$(BIN)/pvshare demo

# ruff (pyflakes, pycodestyle, imports, pyupgrade, bugbear, numpy docstrings) and mypy on the
# functional core; both configured in pyproject.toml. `make test` runs it first.
lint: setup
	$(BIN)/ruff check --quiet .
	$(BIN)/mypy

test: setup system-deps lint
	$(BIN)/python -m pytest -q

bench: setup system-deps
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
