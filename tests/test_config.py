"""Tests of :mod:`pvshare.config` and ``pvshare config check``.

Bad files are made from the real example (``config/example.toml``) by editing one line of
its text, so each test shows the mistake a person would make in the file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.config import Config, load_config, parse_config
from pvshare.errors import ConfigError, PvshareError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
PVSHARE = ROOT / ".venv" / "bin" / "pvshare"
if not PVSHARE.exists():                       # installed elsewhere (e.g. a CI venv)
    PVSHARE = Path(sys.executable).with_name("pvshare")


def edited(*pairs: tuple[str, str]) -> str:
    """The example's text with each ``old`` (which must occur exactly once) replaced."""
    text = EXAMPLE_TEXT
    for old, new in pairs:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the example"
        text = text.replace(old, new)
    return text


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.path == str(path)
    assert isinstance(err, PvshareError) and err.exit_code == 2
    lines = str(err).splitlines()
    assert lines[0] == f"{path}: {len(err.problems)} problem(s)"
    assert lines[1:] == [f"  {p}" for p in err.problems]
    return err.problems


# --- the example --------------------------------------------------------------------------

def test_example_loads():
    cfg = load_config(EXAMPLE)
    assert isinstance(cfg, Config)
    assert cfg.source == str(EXAMPLE)
    assert cfg.site.step == "PT30M"
    assert cfg.site.timezone == "Europe/Paris"
    assert 45 < cfg.site.latitude < 47 and 4 < cfg.site.longitude < 6   # Plaine de l'Ain
    assert cfg.array.kwp > 0 and 0 <= cfg.array.tilt_deg <= 90
    assert len(cfg.participants) == 48
    ids = cfg.participant_ids
    assert ids == [f"A{i:02d}" for i in range(1, 25)] + [f"B{i:02d}" for i in range(1, 25)]
    prms = [p.prm for p in cfg.participants] + [cfg.producer.prm]
    assert len(set(prms)) == 49
    assert all(re.fullmatch(r"\d{14}", p) for p in prms)
    assert cfg.key.type in ("prorata", "static", "reallocated", "priority", "custom")
    k = cfg.coefficients()
    assert k.shape == (48,) and abs(k.sum() - 1) < 1e-9
    assert cfg.relative("pvshare.db") == EXAMPLE.parent / "pvshare.db"


def test_prm_keeps_its_leading_zeros(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(edited(('prm = "25460000000013"', 'prm = "00460000000013"')))
    cfg = load_config(path)
    assert cfg.participants[12].prm == "00460000000013"


def test_parse_config_from_a_mapping():
    import tomllib
    data = tomllib.loads(EXAMPLE_TEXT)
    cfg = parse_config(data, "inline")
    assert len(cfg.participants) == 48
    data["participants"][3]["prm"] = "12"
    with pytest.raises(ConfigError) as info:
        parse_config(data, "inline")
    assert info.value.problems == ["participants[3].prm: must be 14 digits, got '12'"]
    assert str(info.value).startswith("inline: 1 problem(s)")


# --- one line per problem, naming the field -----------------------------------------------

@pytest.mark.parametrize("pairs, expected", [
    ([('prm = "25460000000013"', 'prm = "1234"')],
     ["participants[12].prm: must be 14 digits, got '1234'"]),
    ([('prm = "25460000000013"', 'prm = "2546000000001X"')],
     ["participants[12].prm: must be 14 digits, got '2546000000001X'"]),
    ([('prm = "25460000009001"', 'prm = "123456789012345"')],
     ["producer.prm: must be 14 digits, got '123456789012345'"]),
    ([('name = "Studio A03 (étage 0)"', 'nmae = "Studio A03 (étage 0)"')],
     ["participants[2].nmae: unknown field (check its spelling)"]),
    ([('tilt_deg = 15', 'tilt_degree = 15')],
     ["array.tilt_deg: required field is missing",
      "array.tilt_degree: unknown field (check its spelling)"]),
    ([('step = "PT30M"', 'step = "PT10M"')],
     ["site.step: must be one of PT30M, PT15M, got 'PT10M'"]),
    ([('step = "PT30M"', 'step = 30')],
     ["site.step: must be text in quotes, got 30"]),
    ([('kwp = 36.0', 'kwp = -36.0')],
     ["array.kwp: must be greater than 0, got -36.0"]),
    ([('id = "A05"', 'id = "A04"')],
     ["participants[4].id: duplicate id 'A04' (also participants[3])"]),
    ([('prm = "25460000000005"', 'prm = "25460000000004"')],
     ["participants[4].prm: duplicate PRM '25460000000004' (also participants[3], 'A04') "
      "over overlapping periods (A04 from the start to no end, A05 from the start to no end); "
      "for a flat's new tenant, set the new participant's 'from' to the former one's 'to'"]),
    ([('prm = "25460000000005"', 'prm = "25460000009001"')],
     ["producer.prm: same PRM as a participant"]),
    ([('type = "reallocated"', 'type = "custom"')],
     ["key.file: required when key.type = 'custom'"]),
    ([('type = "reallocated"', 'type = "dynamic"')],
     ["key.type: must be 'prorata', 'static', 'reallocated', 'priority' or 'custom', "
      "got 'dynamic'"]),
    ([('timezone = "Europe/Paris"', 'timezone = "Europe/Pariss"')],
     ["site.timezone: unknown time zone 'Europe/Pariss'"]),
    ([('latitude = 45.958', 'latitude = 145.958')],
     ["site.latitude: must be at most 90, got 145.958"]),
    # A PRM typed as a bare number: TOML makes it an integer, and any leading zero is gone.
    ([('prm = "25460000000013"', 'prm = 25460000000013')],
     ["participants[12].prm: must be a string of 14 digits in quotes (so leading zeros are "
      "kept), got the number 25460000000013"]),
    ([('prm = "25460000000013"', 'prm = 460000000013')],
     ["participants[12].prm: must be a string of 14 digits in quotes (so leading zeros are "
      "kept), got the number 460000000013"]),
    ([('prm = "25460000009001"', 'prm = 25460000009001')],
     ["producer.prm: must be a string of 14 digits in quotes (so leading zeros are kept), "
      "got the number 25460000009001"]),
])
def test_each_problem_is_one_line_naming_the_field(tmp_path, pairs, expected):
    assert problems_of(tmp_path, edited(*pairs)) == expected


def test_static_coefficients_summing_above_one(tmp_path):
    text = edited(('type = "reallocated"', 'type = "static"'))
    text = text.replace('name = "Studio', 'coefficient = 0.05\nname = "Studio')
    assert problems_of(tmp_path, text) == [
        "participants: coefficients sum to 2.4, must be at most 1"]


def test_static_coefficients_given_for_some_only(tmp_path):
    text = edited(('type = "reallocated"', 'type = "static"'),
                  ('id = "A01"', 'id = "A01"\ncoefficient = 0.5'))
    assert problems_of(tmp_path, text) == [
        "participants[1].coefficient: missing (key.type = 'static' needs a coefficient for "
        "every participant, or none for equal shares)"]


def test_coefficient_out_of_range(tmp_path):
    text = edited(('id = "A02"', 'id = "A02"\ncoefficient = 1.5'))
    assert problems_of(tmp_path, text) == [
        "participants[1].coefficient: must be at most 1, got 1.5"]


def test_priority_without_ranks(tmp_path):
    text = edited(('type = "reallocated"', 'type = "priority"'))
    text = text.replace('name = "Studio', 'rank = 1\nname = "Studio', 47)   # all but B24
    assert problems_of(tmp_path, text) == [
        "participants[47].rank: missing (key.type = 'priority')"]


def test_priority_with_ranks_loads(tmp_path):
    text = edited(('type = "reallocated"', 'type = "priority"'))
    text = text.replace('name = "Studio A', 'rank = 1\nname = "Studio A')
    text = text.replace('name = "Studio B', 'rank = 2\nname = "Studio B')
    path = tmp_path / "site.toml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.ranks().tolist() == [1] * 24 + [2] * 24


def test_several_problems_are_reported_at_once(tmp_path):
    text = edited(('prm = "25460000000013"', 'prm = "1234"'),
                  ('kwp = 36.0', 'kwp = -1'),
                  ('step = "PT30M"', 'step = "PT5M"'),
                  ('name = "Studio A03 (étage 0)"', 'nmae = "x"'),
                  ('id = "B07"', 'id = "B06"'))
    problems = problems_of(tmp_path, text)
    assert sorted(problems) == sorted([
        "participants[12].prm: must be 14 digits, got '1234'",
        "array.kwp: must be greater than 0, got -1",
        "site.step: must be one of PT30M, PT15M, got 'PT5M'",
        "participants[2].nmae: unknown field (check its spelling)",
    ])
    # Field errors are found first; the cross-checks (duplicates) once those are fixed.
    fixed = text.replace('prm = "1234"', 'prm = "25460000000013"').replace(
        'kwp = -1', 'kwp = 36.0').replace('"PT5M"', '"PT15M"').replace('nmae = "x"', '')
    two = problems_of(tmp_path, fixed.replace('prm = "25460000000040"',
                                              'prm = "25460000000001"'))
    assert two == ["participants[30].id: duplicate id 'B06' (also participants[29])",
                   "participants[39].prm: duplicate PRM '25460000000001' (also participants[0], "
                   "'A01') over overlapping periods (A01 from the start to no end, B16 from the "
                   "start to no end); for a flat's new tenant, set the new participant's 'from' "
                   "to the former one's 'to'"]


def test_invalid_toml_names_the_line(tmp_path):
    text = edited(('[array]', '[array'))
    (problem,) = problems_of(tmp_path, text)
    line = EXAMPLE_TEXT[:EXAMPLE_TEXT.index("[array]")].count("\n") + 1
    assert problem.startswith("not valid TOML: ")
    assert f"line {line}" in problem


def test_prm_number_with_a_leading_zero_is_named_by_its_line(tmp_path):
    """TOML forbids ``prm = 0254…`` (an integer with a leading zero): the message names the
    line, so the person finds the unquoted PRM."""
    text = edited(('prm = "25460000000013"', 'prm = 02546000000013'))
    (problem,) = problems_of(tmp_path, text)
    line = text[:text.index("prm = 0254")].count("\n") + 1
    assert problem.startswith("not valid TOML: ") and f"line {line}" in problem


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.toml")
    assert info.value.problems == ["file not found"]
    assert str(info.value) == f"{tmp_path / 'nowhere.toml'}: 1 problem(s)\n  file not found"


def test_not_utf8(tmp_path):
    path = tmp_path / "site.toml"
    path.write_bytes(EXAMPLE_TEXT.encode("utf-8").replace("é".encode(), b"\xe9"))  # Latin-1 é
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("line ") and "not UTF-8 text" in info.value.problems[0]


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problems == ["is a folder, not a configuration file"]


# --- fuzzing: a bad file is a ConfigError, never a crash ----------------------------------

FUZZ = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
#: The head of the example and its first three participants.
SMALL = "[[participants]]".join(EXAMPLE_TEXT.split("[[participants]]")[:4])


toml_bits = st.one_of(st.text(alphabet='="[]#.\n -0123456789abcdefxyz\'', max_size=6),
                      st.text(max_size=3))


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(0, len(SMALL)), st.integers(0, 8), toml_bits),
                      min_size=1, max_size=4))
def test_mangled_files_give_a_config_error_or_a_config(tmp_path_factory, edits):
    text = SMALL
    for pos, cut, insert in edits:
        pos = min(pos, len(text))
        text = text[:pos] + insert + text[pos + cut:]
    path = tmp_path_factory.mktemp("fuzz") / "site.toml"
    path.write_text(text, encoding="utf-8")
    try:
        cfg = load_config(path)
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
    else:
        assert isinstance(cfg, Config)


toml_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15),
                        st.floats(allow_nan=True), st.text(max_size=16))
section_value = st.recursive(toml_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["id", "prm", "kwp", "type", "rank", "coefficient", "x",
                                     "step", "name", "file"]), inner, max_size=4)),
    max_leaves=12)


@FUZZ
@given(changes=st.dictionaries(
    st.sampled_from(["site", "producer", "array", "key", "participants", "tariffs", "mqtt",
                     "store", "influxdb", "daemon", "extra"]), section_value, max_size=3))
def test_any_mapping_gives_a_config_error_or_a_config(changes):
    import tomllib
    data = tomllib.loads(SMALL)
    data.update(changes)
    try:
        cfg = parse_config(data, "fuzz")
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
    else:
        assert isinstance(cfg, Config)


# --- the command line ---------------------------------------------------------------------

def run_check(path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([str(PVSHARE), "config", "check", str(path)], capture_output=True,
                          text=True, timeout=60, env=env)


def test_cli_config_check_accepts_the_example():
    proc = run_check(EXAMPLE)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout
    assert "48 participants" in proc.stdout
    assert "key 'reallocated'" in proc.stdout and "step PT30M" in proc.stdout
    # The real building, meters included: `pvshare run` takes it as it is (no warning).
    assert "2 meter section(s)" in proc.stdout
    assert proc.stderr == "", proc.stderr


def test_cli_config_check_lists_every_problem_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(edited(('prm = "25460000000013"', 'prm = "1234"'),
                           ('kwp = 36.0', 'kwpp = 36.0')))
    proc = run_check(path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    err = proc.stderr
    assert f"{path}: 3 problem(s)" in err
    for line in ("participants[12].prm: must be 14 digits, got '1234'",
                 "array.kwpp: unknown field (check its spelling)",
                 "array.kwp: required field is missing"):
        assert line in err
    assert "Traceback" not in err


def test_cli_config_check_on_a_missing_file(tmp_path):
    proc = run_check(tmp_path / "nowhere.toml")
    assert proc.returncode == 2
    assert "file not found" in proc.stderr and "Traceback" not in proc.stderr


def _former_tariffs(text: str, prices: bool) -> str:
    """The example with the former [tariffs] prices (all taxes included), with or without
    its [[prices]]."""
    text = text.replace("subscribed_kva = 3\n", "subscribed_kva = 3\nsupplier_eur_per_kwh = "
                        "0.2\ninternal_eur_per_kwh = 0.12\n")
    if not prices:
        text = text[:text.index("[[prices]]")] + text[text.index("[store]"):]
    return text


def test_former_tariffs_become_one_price_and_config_check_says_what_to_write(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text(_former_tariffs(EXAMPLE_TEXT, prices=False), encoding="utf-8")
    cfg = load_config(path)
    (price,) = cfg.prices
    # The internal price included every tax: it is the energy price with no VAT on top.
    assert (str(price.from_), price.energy_eur_per_kwh, price.vat_percent,
            price.supplier_eur_per_kwh) == ("2000-01-01", 0.12, 0.0, 0.2)
    assert cfg.tariffs.supplier_eur_per_kwh is None and cfg.tariffs.subscribed_kva == 3
    r = subprocess.run([sys.executable, "-m", "pvshare.cli", "config", "check", "--config",
                        str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "former price model" in r.stderr and "energy_eur_per_kwh = 0.12" in r.stderr
    assert "vat_percent = 0" in r.stderr


def test_former_tariffs_beside_prices_are_ignored_and_said(tmp_path):
    path = tmp_path / "both.toml"
    path.write_text(_former_tariffs(EXAMPLE_TEXT, prices=True), encoding="utf-8")
    cfg = load_config(path)
    (price,) = cfg.prices
    assert (price.energy_eur_per_kwh, price.vat_percent) == (0.10, 20.0)   # [[prices]]'s
    assert any("ignored" in n and "[[prices]]" in n for n in cfg.notes)
    assert not load_config(EXAMPLE).notes                  # the example uses [[prices]] only
