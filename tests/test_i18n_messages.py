"""Every message of the PMO's and the energy advisor's commands comes from the French
catalogue (issue 20, item 4): French under a French locale, English otherwise.

1. An AST scan of the commands' modules: a string with words passed to ``typer.echo``,
   ``print``, a rich console's ``print``, an error a person reads (``InputError``,
   ``ConfigError``, ``StoreError``, ``typer.BadParameter``, a validator's ``ValueError``) or a
   table's ``title``/``caption`` must be wrapped in ``_()`` (test_cli_users.py checks every
   ``_()`` id has its French). The modules not converted yet have a ceiling (their count
   today): it may only go down, to zero.
2. The commands run under ``LANG=fr_FR.UTF-8`` and ``C.UTF-8``: no English line in French, no
   French line in English, and an error is French from its prefix to its end.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = str(ROOT / "config" / "example.toml")

#: Module -> how many user-facing strings it still has outside the catalogue. 0: done, and
#: a new one fails. A positive ceiling is work left (issue 20): lower it as strings move into
#: the catalogue; the test fails when a module has more than its ceiling.
CEILING = {
    "pvshare/commands/config.py": 0,
    "pvshare/commands/store.py": 0,
    "pvshare/commands/export.py": 0,
    "pvshare/commands/daemon.py": 0,            # run, status's last line
    "pvshare/commands/report.py": 0,
    "pvshare/forecast/chart.py": 0,
    "pvshare/errors.py": 0,
    "pvshare/validation.py": 0,                 # pydantic's errors, each from the catalogue
    "pvshare/config.py": 0,                     # its validators' ValueError too
    "pvshare/commands/forecast.py": 0,
    "pvshare/commands/bill.py": 0,
    "pvshare/commands/enedis.py": 0,
    "pvshare/live/status.py": 0,
    "pvshare/enedis/summary.py": 0,
    "pvshare/enedis/reconcile.py": 0,
    "pvshare/enedis/acc.py": 0,
    "pvshare/enedis/keyfile.py": 0,
    "pvshare/tariffs/check.py": 0,
    "pvshare/tariffs/prices.py": 0,
    "pvshare/tariffs/tempo.py": 0,
    "pvshare/billing/month.py": 0,
    "pvshare/billing/bill.py": 0,
    "pvshare/households/register.py": 0,
    "pvshare/commands/allocate.py": 0,
    "pvshare/enedis/loadcurve.py": 0,
    "pvshare/enedis/curves.py": 0,
    "pvshare/enedis/rounding.py": 0,
    "pvshare/store/db.py": 0,                   # NoStore and StoreGone too
    "pvshare/store/admin.py": 0,
    "pvshare/store/export.py": 0,
    "pvshare/store/imports.py": 0,
    "pvshare/store/salvage.py": 0,
    "pvshare/forecast/files.py": 0,
    "pvshare/forecast/model.py": 0,
    "pvshare/forecast/evaluate.py": 0,
    "pvshare/reports/batch.py": 0,
    "pvshare/reports/building.py": 0,
    "pvshare/reports/charts.py": 0,
    "pvshare/reports/fmt.py": 0,
    "pvshare/reports/followup.py": 0,
    "pvshare/reports/household.py": 0,
    "pvshare/reports/localtime.py": 0,
    "pvshare/reports/pages.py": 0,              # chart titles: the French document's
    "pvshare/reports/reference.py": 0,
    "pvshare/reports/render.py": 0,
    "pvshare/reports/run.py": 0,
    "pvshare/reports/sources.py": 0,
    "pvshare/reports/tenant.py": 0,
    "pvshare/files/csvio.py": 0,                # the CSV readers of pvshare allocate
    "pvshare/allocation/__init__.py": 0,        # its ValueError, shown by allocate
    "pvshare/allocation/files.py": 0,
    "pvshare/allocation/spec.py": 0,
}

MESSAGE_CALLS = {"echo", "secho", "print", "InputError", "ConfigError", "StoreError",
                 "BadParameter", "PvshareError", "ValueError"}
MESSAGE_KEYWORDS = {"title", "caption", "message"}


def _text(node: ast.AST) -> str | None:
    """The literal text of a string or f-string node (None for anything else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    return None


def _has_words(text: str) -> bool:
    text = re.sub(r"\[/?[a-z ]*\]", "", text)           # rich markup: [bold red] ... [/]
    return re.search(r"[A-Za-zÀ-ÿ]{3,}", text) is not None


def _strings(expr: ast.AST):
    """The literal pieces of a message expression (``"a" + x``, ``f"..."``, a condition)."""
    if isinstance(expr, ast.BinOp):
        yield from _strings(expr.left)
        yield from _strings(expr.right)
    elif isinstance(expr, ast.IfExp):
        yield from _strings(expr.body)
        yield from _strings(expr.orelse)
    elif (text := _text(expr)) is not None:
        yield expr.lineno, text


def outside_catalogue(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each user-facing string of ``path`` not wrapped in ``_()``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        exprs = [k.value for k in node.keywords if k.arg in MESSAGE_KEYWORDS]
        if name in MESSAGE_CALLS:
            exprs += node.args[:1]
        for expr in exprs:
            found += [(line, text) for line, text in _strings(expr) if _has_words(text)]
    return found


@pytest.mark.parametrize("module", sorted(CEILING))
def test_messages_come_from_the_catalogue(module):
    found = outside_catalogue(ROOT / module)
    assert len(found) <= CEILING[module], (
        f"{module}: wrap these in _() and give their French in pvshare.po (make i18n):\n"
        + "\n".join(f"  line {n}: {t!r}" for n, t in found))


def test_the_scan_finds_a_bare_message(tmp_path):
    """The scan is not blind: a bare message, an f-string and a rich title are found."""
    bad = tmp_path / "bad.py"
    bad.write_text('import typer\nfrom pvshare.i18n import _\n'
                   'typer.echo(f"written: {x}")\ntyper.echo(_("fine"))\n'
                   'raise InputError("no such file", source=p)\n'
                   'Table(title="rows per table")\nprint(f"  {x}")\n')
    assert [n for n, _t in outside_catalogue(bad)] == [3, 5, 6]


def _run(lang: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE", "PVSHARE_CONFIG")}
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={**env, "LANG": lang, "COLUMNS": "200"})


def test_an_error_is_french_from_its_prefix_to_its_end(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(Path(EXAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    fr = _run("fr_FR.UTF-8", "store", "check", "-c", str(config))
    assert fr.returncode == 2
    assert fr.stderr.strip() == f"erreur : {tmp_path / 'pvshare.db'} : pas de base pvshare ici"
    en = _run("C.UTF-8", "store", "check", "-c", str(config))
    assert en.stderr.strip() == f"error: {tmp_path / 'pvshare.db'}: no pvshare store here"


def test_store_and_export_speak_the_users_language(tmp_path):
    from pvshare.config import load_config
    from pvshare.store import Store
    config = tmp_path / "site.toml"
    config.write_text(Path(EXAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    cfg = load_config(config)
    with Store.from_config(cfg) as store:
        ids = cfg.participant_ids[:2]
        store.write_allocation([1750500000], ids, [1000.0], [[400.0, 600.0]],
                               [[400.0, 600.0]], [False], "prorata")
    out = tmp_path / "a.csv"
    for lang, words, foreign in (
            ("fr_FR.UTF-8", ("lignes par table", "file d'envoi", "taille sur le disque",
                             "saine (vérifiée en", "lignes (allocation, csv)"),
             ("rows per table", "outbox:", "size on disk", "sound (checked")),
            ("C.UTF-8", ("rows per table", "outbox:", "size on disk", "sound (checked",
                         "rows (allocation, csv)"),
             ("lignes", "file d'envoi", "taille", "saine"))):
        text = ""
        for args in (("store", "stats", "-c", str(config)), ("store", "check", "-c", str(config)),
                     ("export", "-c", str(config), "--what", "allocation", "--from",
                      "2025-06-21", "--to", "2025-06-22", "--out", str(out))):
            done = _run(lang, *args)
            assert done.returncode == 0, done.stderr
            text += done.stdout + done.stderr
        for w in words:
            assert w in text, (lang, w, text)
        for w in foreign:
            assert w not in text, (lang, w, text)


def _broken(tmp_path, name: str, *pairs: tuple[str, str]) -> Path:
    text = Path(EXAMPLE).read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


#: English words that must not be left in a French problem (quoted values taken out).
ENGLISH = re.compile(r"\b(should|must|got|input|unknown|field|number|be|the|or|at|least|"
                     r"than|spelling|missing|duplicate|same|as)\b", re.IGNORECASE)


def test_config_check_problems_in_the_users_language(tmp_path):
    """``config check`` under a French locale: French from ``erreur :`` to each problem's
    end (pydantic's own errors and the configuration's checks alike); English otherwise.
    """
    fields = _broken(
        tmp_path, "fields.toml",
        ('kwp = 36.0', 'kwp = "beaucoup"'), ("tilt_deg = 15", "tilt_deg = -15"),
        ('step = "PT30M"', 'step = "PT5M"'), ("losses_percent = 14.0", "losses_pct = 14.0"),
        ("from = 2025-01-01", 'from = "2025-13-01"'),
        ('prm = "25460000009001"', 'prm = "1234"'),
        ('type = "reallocated"', 'type = "dynamic"'))
    cross = _broken(tmp_path, "cross.toml",
                    ('prm = "25460000009001"', 'prm = "25460000000001"'),
                    ('id = "A02"', 'id = "A01"'))
    expected = {
        fields: (
            ["site.step : doit valoir l'un de PT30M, PT15M, et non 'PT5M'",
             "producer.prm : doit compter 14 chiffres, et non '1234'",
             "array.kwp : doit être un nombre, et non 'beaucoup'",
             "array.tilt_deg : doit valoir au moins 0, et non -15",
             "array.losses_pct : champ inconnu (vérifiez son orthographe)",
             "key.type : doit valoir 'prorata', 'static', 'reallocated', 'priority' ou "
             "'custom', et non 'dynamic'",
             "prices[0].from : doit être une date comme 2025-09-01, et non '2025-13-01'"],
            ["site.step: must be one of PT30M, PT15M, got 'PT5M'",
             "producer.prm: must be 14 digits, got '1234'",
             "array.kwp: must be a number, got 'beaucoup'",
             "array.tilt_deg: must be at least 0, got -15",
             "array.losses_pct: unknown field (check its spelling)",
             "key.type: must be 'prorata', 'static', 'reallocated', 'priority' or 'custom', "
             "got 'dynamic'",
             "prices[0].from: must be a date like 2025-09-01, got '2025-13-01'"]),
        cross: (
            ["participants[1].id : identifiant en double 'A01' (aussi participants[0])",
             "producer.prm : même PRM qu'un participant"],
            ["participants[1].id: duplicate id 'A01' (also participants[0])",
             "producer.prm: same PRM as a participant"]),
    }
    for config, (french, english) in expected.items():
        fr = _run("fr_FR.UTF-8", "config", "check", "--config", str(config))
        en = _run("C.UTF-8", "config", "check", "--config", str(config))
        assert fr.returncode == en.returncode == 2, (fr.stderr, en.stderr)
        fr_lines, en_lines = fr.stderr.strip().splitlines(), en.stderr.strip().splitlines()
        assert fr_lines[0] == f"erreur : {config} : {len(french)} problème(s)"
        assert en_lines[0] == f"error: {config}: {len(english)} problem(s)"
        assert [line.strip() for line in fr_lines[1:]] == french
        assert [line.strip() for line in en_lines[1:]] == english
        for line in french:
            message = re.sub(r"'[^']*'", "", line.split(" : ", 1)[1])
            assert not ENGLISH.search(message), line


def test_a_bad_prices_file_is_told_in_the_users_language(tmp_path):
    """``pvshare tariffs --prices FILE`` with an unknown option on line 3: the reader's error
    is French from its prefix to its end under a French locale, English otherwise.
    """
    curve = tmp_path / "curve.csv"
    curve.write_text("time,power_w\n2024-06-01T00:30:00+02:00,100\n"
                     "2024-06-01T01:00:00+02:00,200\n2024-06-01T01:30:00+02:00,150\n",
                     encoding="utf-8")
    prices = tmp_path / "prices.csv"
    prices.write_text("from,option,kva,subscription_eur_per_month,period,eur_per_kwh\n"
                      "2024-02-01,base,6,12.00,base,0.2516\n"
                      "2024-02-01,gaz,6,12.00,base,0.2516\n", encoding="utf-8")
    args = ("tariffs", "--input", str(curve), "--kva", "6", "--option", "base",
            "--prices", str(prices))
    fr = _run("fr_FR.UTF-8", *args)
    en = _run("C.UTF-8", *args)
    assert fr.returncode == en.returncode == 2, (fr.stderr, en.stderr)
    assert fr.stderr.strip() == (f"erreur : {prices}, ligne 3, colonne « option » : option "
                                 "inconnue 'gaz' (attendu : base, hphc, tempo)")
    assert en.stderr.strip() == (f"error: {prices}, line 3, column 'option': unknown option "
                                 "'gaz' (expected base, hphc, tempo)")
    message = re.sub(r"'[^']*'", "", fr.stderr.split(str(prices), 1)[1])
    assert not re.search(r"\b(line|column|unknown|expected|not|must)\b", message), message
    assert not ENGLISH.search(message), message


def test_a_broken_load_curve_is_told_in_the_users_language(tmp_path):
    """``pvshare enedis curves`` on load curves the reader refuses (a date that does not
    exist on line 3, a second column that is not a power): French from ``erreur :`` to the
    end under a French locale, English otherwise.
    """
    bad_date = tmp_path / "25460000000001.csv"
    bad_date.write_text("time,power_w\n2024-06-30T00:30:00+02:00,100\n"
                        "2024-06-31T01:00:00+02:00,200\n2024-07-01T01:30:00+02:00,150\n",
                        encoding="utf-8")
    bad_column = tmp_path / "25460000000002.csv"
    bad_column.write_text("time,energy\n2024-06-30T00:30:00+02:00,100\n", encoding="utf-8")
    out = tmp_path / "consumption.csv"
    cases = {
        bad_date: (
            f"erreur : {bad_date}, ligne 3, colonne « Horodate » : la date de "
            "'2024-06-31T01:00:00+02:00' n'existe pas",
            f"error: {bad_date}, line 3, column 'Horodate': the date in "
            "'2024-06-31T01:00:00+02:00' does not exist"),
        bad_column: (
            f"erreur : {bad_column}, ligne 1 : la deuxième colonne doit être 'power_w' "
            "(puissance moyenne en W sur le pas), et non 'energy'",
            f"error: {bad_column}, line 1: the second column must be 'power_w' (average power "
            "in W over the step), got 'energy'"),
    }
    for curve, (french, english) in cases.items():
        args = ("enedis", "curves", str(curve), "--out", str(out))
        fr = _run("fr_FR.UTF-8", *args)
        en = _run("C.UTF-8", *args)
        assert fr.returncode == en.returncode == 2, (fr.stderr, en.stderr)
        assert fr.stderr.strip() == french
        assert en.stderr.strip() == english
        message = re.sub(r"'[^']*'", "", fr.stderr.split(str(curve), 1)[1])
        assert not re.search(r"\b(line|column|date in|not|must|got|value)\b", message), message
        assert not ENGLISH.search(message), message
    assert not out.exists()


def test_export_and_report_errors_in_the_users_language(tmp_path):
    """The errors raised inside ``pvshare/store/export.py`` and ``pvshare/reports/run.py``
    (not only the commands' own) are French under a French locale, English otherwise.
    """
    config = tmp_path / "site.toml"
    config.write_text(Path(EXAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "a.csv"
    export = ("export", "-c", str(config), "--what", "allocation", "--out", str(out))
    cases = [
        (export + ("--from", "2025-06-22", "--to", "2025-06-21"),
         "erreur : --to : --to (2025-06-21) doit être après --from (2025-06-22)",
         "error: --to: --to (2025-06-21) must be after --from (2025-06-22)"),
        (export + ("--from", "2025-06-21T25", "--to", "2025-06-22"),
         "erreur : --from : pas une date ni une heure ISO 8601 : '2025-06-21T25' (par exemple "
         "2026-03-01 ou 2026-03-01T00:00:00+01:00)",
         "error: --from: not an ISO 8601 date or time: '2025-06-21T25' (e.g. 2026-03-01 or "
         "2026-03-01T00:00:00+01:00)"),
        (("report", "building", "-c", str(config), "--month", "2025-6", "--out", str(tmp_path)),
         "erreur : --month : AAAA-MM attendu (par exemple 2025-06), et non '2025-6'",
         "error: --month: expected YYYY-MM (e.g. 2025-06), got '2025-6'"),
    ]
    for args, french, english in cases:
        fr = _run("fr_FR.UTF-8", *args)
        en = _run("C.UTF-8", *args)
        assert fr.returncode == en.returncode == 2, (fr.stderr, en.stderr)
        assert fr.stderr.strip() == french
        assert en.stderr.strip() == english
        message = re.sub(r"'[^']*'", "", fr.stderr)
        assert not re.search(r"\b(must|not|line|got|expected|after)\b", message), message
        assert not ENGLISH.search(message), message
    assert not out.exists()


def test_a_bad_consumption_file_is_told_in_the_users_language(tmp_path):
    """``pvshare allocate`` on a consumption file with a bad number on line 3: the CSV
    reader's error is French from ``erreur :`` to its end under a French locale, English
    otherwise; no output is written.
    """
    production = tmp_path / "production.csv"
    production.write_text("time,production_wh\n2025-06-01T10:00:00+00:00,1000\n"
                          "2025-06-01T10:30:00+00:00,900\n", encoding="utf-8")
    consumption = tmp_path / "consumption.csv"
    consumption.write_text("time,A01,A02\n2025-06-01T10:00:00+00:00,300,400\n"
                           "2025-06-01T10:30:00+00:00,12x,500\n", encoding="utf-8")
    out = tmp_path / "allocation.csv"
    args = ("allocate", "--production", str(production), "--consumption", str(consumption),
            "--key", "prorata", "--out", str(out))
    fr = _run("fr_FR.UTF-8", *args)
    en = _run("C.UTF-8", *args)
    assert fr.returncode == en.returncode == 2, (fr.stderr, en.stderr)
    assert fr.stderr.strip() == (f"erreur : {consumption}, ligne 3, colonne « A01 » : "
                                 "pas un nombre : '12x'")
    assert en.stderr.strip() == f"error: {consumption}, line 3, column 'A01': not a number: '12x'"
    message = re.sub(r"'[^']*'", "", fr.stderr.split(str(consumption), 1)[1])
    assert not re.search(r"\b(must|not|line|got|column|number)\b", message), message
    assert not ENGLISH.search(message), message
    assert not out.exists()
