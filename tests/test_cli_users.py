"""The CLI as its users meet it: --version, completion, --config/-c and $PVSHARE_CONFIG,
--json, exit codes, French messages under a French locale (one gettext catalogue), and text
that rich must not take for markup.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PVSHARE = str(Path(sys.executable).parent / "pvshare")
EXAMPLE = str(ROOT / "config" / "example.toml")
PO = ROOT / "pvshare" / "locale" / "fr" / "LC_MESSAGES" / "pvshare.po"


def run(*args: str, lang: str = "C.UTF-8", **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items()
         if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE", "PVSHARE_CONFIG")}
    return subprocess.run([PVSHARE, *args], capture_output=True, text=True, timeout=120,
                          env={**e, "LANG": lang, "COLUMNS": "200", **env})


def test_version_and_completion():
    from importlib.metadata import version
    done = run("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"pvshare {version('pvshare')}"
    assert "--install-completion" in run("--help").stdout
    assert "Exit codes: 0 done; 2 a problem you can fix" in run("--help").stdout


def test_config_check_takes_config_env_and_the_old_positional():
    for args, env in ((["-c", EXAMPLE], {}), (["--config", EXAMPLE], {}), ([EXAMPLE], {}),
                      ([], {"PVSHARE_CONFIG": EXAMPLE})):
        done = run("config", "check", *args, **env)
        assert done.returncode == 0, (args, done.stderr)
        assert "OK — site 'residence-plaine-ain', 48 participants" in done.stdout
    missing = run("config", "check")
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("error: --config: give the configuration file with "
                                      "--config FILE")


def test_json_outputs(tmp_path):
    ok = json.loads(run("config", "check", "-c", EXAMPLE, "--json").stdout)
    assert ok == {"file": EXAMPLE, "ok": True, "site": "residence-plaine-ain",
                  "participants": 48, "key": "reallocated", "step": "PT30M", "meters": 2,
                  "warnings": [], "run_would_refuse": []}   # the real building runs as is
    bad = tmp_path / "bad.toml"
    bad.write_text("[site]\nname = 'x y'\n")
    done = run("config", "check", "-c", str(bad), "--json")
    assert done.returncode == 2
    out = json.loads(done.stdout)
    assert out["ok"] is False and any(p.startswith("site.name") for p in out["problems"])


def _store_config(tmp_path) -> Path:
    from pvshare.store import Store
    from tests.daemon_support import write_config
    config = write_config(tmp_path, broker_port=1, inverter_port=1)
    Store.open(tmp_path / "pvshare.db").close()
    return config


def test_store_stats_shows_bracketed_words_and_has_json(tmp_path):
    config = _store_config(tmp_path)
    done = run("store", "stats", "-c", str(config))
    assert done.returncode == 0, done.stderr
    # rich used to eat "[influxdb]" as a style tag: "no  section"
    assert "InfluxDB: not configured (no [influxdb] section)" in done.stdout
    js = json.loads(run("store", "stats", "--config", str(config), "--json").stdout)
    assert js["influxdb"] is None and js["outbox_depth"] == 0 and "rows" in js


def test_french_locale_speaks_french_and_english_otherwise(tmp_path):
    fr = run("config", "check", "-c", EXAMPLE, lang="fr_FR.UTF-8")
    assert fr.stdout.startswith(f"{EXAMPLE} : OK — site « residence-plaine-ain », "
                                "48 participants, clé « reallocated »")
    err = run("config", "check", lang="fr_FR.UTF-8")
    assert err.stderr.strip() == ("erreur : --config : indiquez le fichier de configuration "
                                  "avec --config FICHIER")
    also = run("config", "check", lang="C.UTF-8", LC_ALL="fr_BE.UTF-8")
    assert also.stderr.startswith("erreur :")
    assert run("config", "check", lang="de_DE.UTF-8").stderr.startswith("error:")


def test_status_in_french(tmp_path, monkeypatch):
    from rich.console import Console

    from pvshare.config import load_config
    from pvshare.live.status import collect, exit_code, render
    config = _store_config(tmp_path)
    cfg = load_config(config)
    s = collect(cfg, now_s=1750500000.0)
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    for v in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(v, raising=False)
    c = Console(width=200, record=True, file=io.StringIO())
    c.print(render(cfg, s))
    text = c.export_text()
    assert "pas encore de signe de vie" in text and "dernier pas clos" in text
    assert "compteurs : âge de la dernière mesure" in text and "muet" in text
    assert exit_code(cfg, s)[0] == 3     # nothing ever reported: a stale meter
    done = run("status", "-c", str(config))
    assert done.returncode == 3


def _msgids_in_code() -> set[str]:
    ids = set()
    for path in (ROOT / "pvshare").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and node.args
                    and (getattr(node.func, "id", None) == "_"
                         or getattr(node.func, "attr", None) == "_")
                    and isinstance(node.args[0], ast.Constant)):
                ids.add(node.args[0].value)
    return ids


def test_one_catalogue_complete_and_compiled():
    with PO.open("rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string}
    used = _msgids_in_code()
    assert len(used) >= 25
    assert used <= translated, sorted(used - translated)
    import gettext
    with PO.with_suffix(".mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    # the committed .mo says what the .po says (else: `make i18n`)
    assert {m.id: compiled.gettext(m.id) for m in catalog if m.id} == \
        {m.id: m.string for m in catalog if m.id}
    buf = io.BytesIO()
    write_mo(buf, catalog)                               # and the .po compiles
    assert buf.getvalue()[:4] == b"\xde\x12\x04\x95"
