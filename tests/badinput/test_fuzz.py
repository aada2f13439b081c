"""Fuzz every file reader and the configuration parser: any input gives a result or a clear
error (InputError / ConfigError, under 500 bytes), never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.config import load_config
from pvshare.errors import ConfigError, InputError
from pvshare.files import csvio
from pvshare.meters.tic import Decoder
from tests.badinput.corpus import CONFIG, CONS, PROD

FUZZ = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
_TMP = Path(tempfile.mkdtemp(prefix="pvshare-fuzz-"))

# CSV-ish text: the characters that matter to a CSV reader, and a few that should not be there
CSV_CHARS = st.sampled_from(list("0123456789.,;:-+eET Z\n\r\"'\t") + ["nan", "inf", "\x00",
                                                                      "\ufeff", "é", "A", "B"])


def _mutations(base: str):
    """Valid text with a slice replaced by fuzz, or cut anywhere."""
    return st.one_of(
        st.builds(lambda i, j, s: base[:i] + s + base[j:],
                  st.integers(0, len(base)), st.integers(0, len(base)),
                  st.lists(CSV_CHARS, max_size=40).map("".join)),
        st.integers(0, len(base)).map(lambda i: base[:i]),
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    )


def _write(text: str | bytes) -> Path:
    p = _TMP / "f.csv"
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return p


def _clear(exc: Exception) -> None:
    assert len(str(exc).encode()) < 500, str(exc)[:600]
    assert "f.csv" in str(exc) or getattr(exc, "field", None)


@FUZZ
@given(_mutations(PROD))
def test_read_production(text):
    try:
        s = csvio.read_production(_write(text))
    except InputError as exc:
        _clear(exc)
        return
    assert (s.values >= 0).all() and (s.values <= csvio.MAX_WH_PER_STEP).all()


@FUZZ
@given(_mutations(CONS), st.sampled_from(["PT30M", "PT15M"]))
def test_read_consumption(text, step):
    try:
        s = csvio.read_consumption(_write(text), step)
    except InputError as exc:
        _clear(exc)
        return
    assert len(set(s.columns)) == len(s.columns)
    assert s.values.shape == (len(s.times), len(s.columns))


@FUZZ
@given(_mutations("participant,coefficient,rank\nA,0.2,1\nB,0.3,2\nC,0.5,2\n"),
       st.sampled_from(["static", "priority", "reallocated"]))
def test_read_coefficients(text, key):
    try:
        c = csvio.read_coefficients(_write(text), ["A", "B", "C"], key)
    except InputError as exc:
        _clear(exc)
        return
    assert c.coefficients.shape == (3,)


@FUZZ
@given(_mutations("participant,prm\nA,30001234560001\nB,30001234560002\n"))
def test_read_prm_map(text):
    try:
        prms = csvio.read_prm_map(_write(text), ["A", "B"])
    except InputError as exc:
        _clear(exc)
        return
    assert all(len(p) == 14 and p.isdigit() for p in prms)


@FUZZ
@given(st.one_of(st.binary(max_size=2000),
                 st.lists(st.sampled_from([b"\x02", b"\x03", b"\n", b"\r", b"\t", b"ADSC",
                                           b"EAST", b"000123", b"#", b" "]),
                          max_size=200).map(b"".join)))
def test_tic_decoder(data):
    d = Decoder("auto")
    frames = d.feed(data) + d.finish()
    c = d.counters
    assert c.frames == len(frames)


@FUZZ
@given(_mutations(CONFIG))
def test_config(text):
    p = _TMP / "site.toml"
    p.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        load_config(p)
    except ConfigError as exc:
        assert len(str(exc).encode()) < 2000
        assert str(p) in str(exc)
