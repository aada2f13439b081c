"""pvshare.allocation.spec: one key specification, from the config or from CLI options."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pvshare.allocation import KEYS, allocate
from pvshare.allocation.spec import KeyName, KeySpec
from pvshare.config import Key, parse_config
from pvshare.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"


def config(key: dict, coefficients=None, ranks=None, n: int = 3):
    """A small site (n participants) with the given [key] and per-participant values."""
    parts = []
    for i in range(n):
        p = {"id": f"P{i}", "prm": f"{12345678901200 + i}"}
        if coefficients is not None and coefficients[i] is not None:
            p["coefficient"] = coefficients[i]
        if ranks is not None:
            p["rank"] = ranks[i]
        parts.append(p)
    return parse_config({
        "site": {"name": "s", "latitude": 48.8, "longitude": 2.3},
        "producer": {"prm": "98765432109876"},
        "array": {"kwp": 10, "tilt_deg": 30, "azimuth_deg": 180},
        "key": key, "participants": parts}, str(ROOT / "config" / "site.toml"))


def test_key_names_have_one_home():
    assert KEYS == tuple(KeyName) == ("prorata", "static", "reallocated", "priority", "custom")
    # the config's key.type accepts exactly these names and keeps them as plain strings
    assert {Key(type=k).type for k in KEYS} == set(KEYS)
    assert type(Key(type="static").type) is str and type(Key().type) is str
    # the names listed in the example config's comment are the same
    text = EXAMPLE.read_text(encoding="utf-8")
    listed = re.search(r"^# (prorata \| .*?) \(", text, re.M).group(1)
    assert tuple(listed.split(" | ")) == KEYS


def test_from_config_each_key():
    s = KeySpec.from_config(config({"type": "prorata"}))
    assert (s.name, s.coefficients, s.ranks, s.file) == (KeyName.PRORATA, None, None, None)

    s = KeySpec.from_config(config({"type": "static"}, coefficients=[0.5, 0.3, 0.2]))
    assert s.coefficients.tolist() == [0.5, 0.3, 0.2] and s.ranks is None
    s = KeySpec.from_config(config({"type": "reallocated"}))       # none given: equal shares
    np.testing.assert_allclose(s.coefficients, [1 / 3] * 3)

    s = KeySpec.from_config(config({"type": "priority"}, ranks=[2, 1, 1]))
    assert s.ranks.tolist() == [2, 1, 1] and s.coefficients is None     # equal weights
    s = KeySpec.from_config(config({"type": "priority"}, coefficients=[0.2, 0.6, 0.2],
                                   ranks=[2, 1, 1]))
    assert s.coefficients.tolist() == [0.2, 0.6, 0.2]

    s = KeySpec.from_config(config({"type": "custom", "file": "keys.csv"}))
    assert s.file == ROOT / "config" / "keys.csv" and not s.fixed      # relative to the config
    assert all(KeySpec(k).fixed for k in KeyName if k is not KeyName.CUSTOM)


def test_allocate_is_allocate_with_the_spec_arguments():
    rng = np.random.default_rng(3)
    prod = rng.uniform(0, 3000, 50)
    cons = rng.uniform(0, 1500, (50, 3))
    cfg = config({"type": "priority"}, coefficients=[0.2, 0.6, 0.2], ranks=[2, 1, 1])
    got = KeySpec.from_config(cfg).allocate(prod, cons)
    ref = allocate(prod, cons, "priority", coefficients=[0.2, 0.6, 0.2], ranks=[2, 1, 1])
    np.testing.assert_array_equal(got.allocated, ref.allocated)
    assert got.key == "priority" and type(got.key) is str


def test_from_options_errors_name_the_option():
    with pytest.raises(InputError, match=r"unknown key 'fair': use one of prorata, static, "
                                         r"reallocated, priority, custom") as e:
        KeySpec.from_options("fair")
    assert e.value.field == "--key"
    for key in ("custom", "priority"):
        with pytest.raises(InputError, match=f"the '{key}' key needs --coefficients") as e:
            KeySpec.from_options(key)
        assert e.value.field == "--coefficients"
    assert KeySpec.from_options("static") == KeySpec(KeyName.STATIC)


def test_read_file(tmp_path):
    f = tmp_path / "k.csv"
    f.write_text("participant,coefficient,rank\nB,0.25,1\nA,0.75,2\n")
    spec = KeySpec.from_options("priority", f)
    assert spec.coefficients is None and spec.file == f
    read = spec.read_file(["A", "B"])
    assert read.coefficients.tolist() == [0.75, 0.25] and read.ranks.tolist() == [2, 1]
    assert KeySpec(KeyName.PRORATA).read_file(["A"]) == KeySpec(KeyName.PRORATA)
