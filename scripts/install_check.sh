#!/usr/bin/env bash
# The base install as a volunteer gets it, in a fresh venv (`make install-check`, run by
# `make test`): build the wheel, `pip install` it without extras, then check its size
# (target <= 150 MB of site-packages), that the heavy libraries are absent, and that the
# base's commands work: --version, allocate, config check, service install (into a
# temporary root), and a forecast that names the missing extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The wheel is built from a copy: setuptools writes build/ and *.egg-info into the source
# tree, and `make test` runs this beside `pip install -e .` of the same tree.
mkdir "$WORK/src"
tar -C . --exclude=./.git --exclude=./.venv --exclude=./.ha-venv --exclude=./build \
  --exclude='*.egg-info' --exclude=__pycache__ --exclude=./.hypothesis --exclude=./.mypy_cache \
  --exclude=./.ruff_cache --exclude=./.pytest_cache -cf - . | tar -C "$WORK/src" -xf -
"$PY" -m pip wheel -qq --disable-pip-version-check --no-deps "$WORK/src" -w "$WORK/wheel" \
  >/dev/null
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -qq --disable-pip-version-check "$WORK"/wheel/pvshare-*.whl >/dev/null
SITE=$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
MB=$(du -sm "$SITE" | cut -f1)
echo "base install: ${MB} MB of site-packages (target <= 150)"
test "$MB" -le 150
for heavy in pandas pvlib scipy matplotlib weasyprint pyarrow amqtt influxdb_client; do
  if "$WORK/venv/bin/python" -c "import $heavy" 2>/dev/null; then
    echo "FAIL: $heavy is in the base install"; exit 1
  fi
done
PV="$WORK/venv/bin/pvshare"
"$PV" --version
"$PV" config check -c config/example.toml >/dev/null
printf 'time,production_wh\n2025-06-21T10:00:00+00:00,900\n' > "$WORK/p.csv"
printf 'time,A,B\n2025-06-21T10:00:00+00:00,400,600\n' > "$WORK/c.csv"
"$PV" allocate --production "$WORK/p.csv" --consumption "$WORK/c.csv" --key prorata \
  --out "$WORK/out.csv" >/dev/null
grep -qx '2025-06-21T10:00:00+00:00,B,600.000,540.000,60.000' "$WORK/out.csv"
"$PV" service install --config config/example.toml --root "$WORK/root" >/dev/null
grep -q "^ExecStart=$WORK/venv/bin/pvshare run --config /etc/pvshare/pvshare.toml" \
  "$WORK/root/etc/systemd/system/pvshare.service"
set +e
MSG=$("$PV" forecast -c config/example.toml 2>&1)
RC=$?
set -e
test "$RC" -eq 2
echo "$MSG" | grep -q "pip install 'pvshare\[forecast\]'"
echo "install-check: 1 passed, 0 failed"
