"""The bundled sample year, the real data readers, and the builder's reproducibility."""

from __future__ import annotations

import calendar
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.config import load_config
from pvshare.data import bundled as weather
from pvshare.data import sample as sampledata
from pvshare.forecast import model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


@pytest.fixture(scope="module")
def year():
    return sampledata.load_sample_year()


@pytest.fixture(scope="module")
def local_hour(year):
    return pd.DatetimeIndex(year.times).tz_localize("UTC").tz_convert("Europe/Paris").hour


def test_steps_cover_2025_aligned_and_complete(year, cfg):
    t = year.times
    assert t.dtype == np.dtype("datetime64[s]")
    assert len(t) == 17_520
    assert t[0] == np.datetime64("2025-01-01T00:00:00")
    assert t[-1] == np.datetime64("2025-12-31T23:30:00")
    assert np.all(np.diff(t).astype(np.int64) == 1800)
    assert np.all(t.astype(np.int64) % 1800 == 0)
    assert year.production_wh.shape == (17_520,)
    assert year.consumption_wh.shape == (17_520, 48)
    assert year.participants == [p.id for p in cfg.participants]
    assert np.isfinite(year.production_wh).all() and np.isfinite(year.consumption_wh).all()
    assert (year.consumption_wh >= 0).all()


def test_files_say_utc_step_starts():
    with gzip.open(sampledata.PRODUCTION_CSV, "rt") as f:
        assert f.readline().strip() == "time,production_wh"
        assert f.readline().startswith("2025-01-01T00:00:00+00:00,")
    with gzip.open(sampledata.CONSUMPTION_CSV, "rt") as f:
        header = f.readline().strip().split(",")
    assert header[0] == "time" and header[1] == "A01" and header[-1] == "B24"


def test_production_is_zero_at_night_and_positive(year, cfg):
    p = year.production_wh
    assert (p >= 0).all()
    start = pd.DatetimeIndex(year.times).tz_localize("UTC")
    elev_start = model.solar_position(cfg, start)["apparent_elevation"].to_numpy()
    elev_end = model.solar_position(cfg, start + pd.Timedelta(minutes=30))[
        "apparent_elevation"].to_numpy()
    night = (elev_start < 0) & (elev_end < 0)
    assert night.sum() > 7_000
    assert (p[night] == 0).all()
    # ... and something is produced on most steps with the sun well up.
    day = (elev_start > 15) & (elev_end > 15)
    assert (p[day] > 0).mean() > 0.99


def test_production_peak_and_yearly_yield(year, cfg):
    assert year.production_wh.max() <= cfg.array.inverter_kw * 1000 * 0.5
    kwh_per_kwp = year.production_wh.sum() / 1000 / cfg.array.kwp
    assert 1_000 <= kwh_per_kwp <= 1_400
    # Summer months produce more than winter months.
    month = year.times.astype("datetime64[M]").astype(int) % 12 + 1
    summer = year.production_wh[np.isin(month, [6, 7])].sum()
    winter = year.production_wh[np.isin(month, [12, 1])].sum()
    assert summer > 2 * winter


def test_each_tenant_draws_1500_to_2500_kwh_and_they_differ(year):
    kwh = year.consumption_wh.sum(axis=0) / 1000
    assert ((kwh >= 1_500) & (kwh <= 2_500)).all()
    assert kwh.std() > 100  # drawn, not all alike
    c = year.consumption_wh
    # No two tenants share a series, even up to scale.
    norm = c / c.sum(axis=0)
    corr = np.corrcoef(norm.T)
    off = corr[~np.eye(c.shape[1], dtype=bool)]
    assert off.max() < 0.9
    for i in range(c.shape[1]):
        for j in range(i + 1, c.shape[1]):
            assert not np.allclose(norm[:, i], norm[:, j])


def test_consumption_peaks_in_the_evening(year, local_hour):
    c = year.consumption_wh
    evening = c[(local_hour >= 18) & (local_hour < 22)].mean()
    night = c[(local_hour >= 2) & (local_hour < 5)].mean()
    assert evening > 1.5 * night
    # Every tenant, not just the building.
    per = (c[(local_hour >= 18) & (local_hour < 22)].mean(axis=0)
           > c[(local_hour >= 2) & (local_hour < 5)].mean(axis=0))
    assert per.mean() > 0.9


def test_consumption_follows_local_time_over_dst(year):
    """The household is read by local time: its morning rise stays at the same local hour
    in winter and in summer, so in UTC it moves by one hour."""
    t = pd.DatetimeIndex(year.times).tz_localize("UTC")
    building = year.consumption_wh.sum(axis=1)

    def rise_utc_hour(months):
        sel = np.isin(t.month, months)
        prof = pd.Series(building[sel]).groupby(t[sel].hour).mean()
        return int(np.argmax(np.diff(prof.to_numpy()))) + 1

    winter, summer = rise_utc_hour([1, 2, 11, 12]), rise_utc_hour([5, 6, 7, 8])
    assert winter - summer == 1


def test_sample_year_matches_the_household_on_local_days(year):
    """Each tenant's local day has the household's shape: a DST day has 46 or 50 steps."""
    local = pd.DatetimeIndex(year.times).tz_localize("UTC").tz_convert("Europe/Paris")
    counts = pd.Series(1, index=local.date).groupby(level=0).size()
    assert counts[pd.Timestamp("2025-03-30").date()] == 46
    assert counts[pd.Timestamp("2025-10-26").date()] == 50
    # The repeated local hour (02:00-03:00 twice) reads the same household values twice.
    oct26 = (local.date == pd.Timestamp("2025-10-26").date()) & (local.hour == 2)
    rows = year.consumption_wh[oct26]
    assert rows.shape[0] == 4
    np.testing.assert_array_equal(rows[:2], rows[2:])


def test_load_refuses_misaligned_files(tmp_path):
    p = tmp_path / "p.csv"
    c = tmp_path / "c.csv"
    p.write_text("time,production_wh\n2025-01-01T00:00:00+00:00,0\n2025-01-01T00:30:00+00:00,0\n")
    c.write_text("time,A\n2025-01-01T00:00:00+00:00,1\n2025-01-01T01:00:00+00:00,1\n")
    with pytest.raises(ValueError, match="same steps"):
        sampledata.load_sample_year(p, c)
    c.write_text("time,A\n2025-01-01T01:00:00+01:00,1\n2025-01-01T01:30:00+01:00,1\n")
    with pytest.raises(ValueError, match=r"\+00:00"):
        sampledata.load_sample_year(p, c)


_LINE = st.one_of(
    st.just("2025-01-01T00:00:00+00:00,1.5"), st.just("2025-01-01T00:30:00+00:00,"),
    st.just("2025-01-01T01:00:00+01:00,2"), st.just("time,A"), st.just("x,y,z"),
    st.just('"unterminated,1'), st.just(""), st.text(max_size=30))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_LINE, max_size=6), raw=st.binary(max_size=40), use_raw=st.booleans())
def test_fuzzed_files_load_or_fail_clearly(tmp_path, lines, raw, use_raw):
    p = tmp_path / "p.csv"
    c = tmp_path / "c.csv"
    p.write_text("time,production_wh\n2025-01-01T00:00:00+00:00,0\n"
                 "2025-01-01T00:30:00+00:00,0\n")
    if use_raw:
        c.write_bytes(raw)
    else:
        c.write_text("time,A\n" + "\n".join(lines) + "\n", encoding="utf-8",
                     errors="surrogatepass")
    try:
        y = sampledata.load_sample_year(p, c)
    except ValueError as exc:
        assert "sample year" in str(exc)
    else:
        assert y.consumption_wh.shape == (2, len(y.participants))


def test_tmy_reader_and_calendar_mapping():
    tmy = weather.read_tmy()
    assert len(tmy) == 8760 and str(tmy.index.tz) == "UTC"
    assert tmy.attrs["irradiance_time_offset_h"] == pytest.approx(0.1761)
    assert (tmy.attrs["latitude"], tmy.attrs["longitude"]) == (45.0, 8.0)
    # Months come from different real years.
    assert len({m["year"] for m in tmy.attrs["months_selected"]}) > 5
    leap = weather.tmy_for_year(tmy, 2024)
    assert len(leap) == 8784 and leap.index[0] == pd.Timestamp("2024-01-01T00:00Z")
    np.testing.assert_array_equal(leap.loc["2024-02-29", "ghi"].to_numpy(),
                                  leap.loc["2024-02-28", "ghi"].to_numpy())
    plain = weather.tmy_for_year(tmy, 2025)
    assert len(plain) == 8760
    # Same month, day and hour: same values, whatever the year the month came from.
    src = tmy[(tmy.index.month == 7) & (tmy.index.day == 14) & (tmy.index.hour == 12)]
    assert plain.loc["2025-07-14 12:00", "ghi"].item() == src["ghi"].item()
    inst = weather.irradiance_instants(plain)
    assert (inst - plain.index == pd.Timedelta(seconds=634)).all()


def test_bsrn_variability_keeps_the_hourly_mean():
    f = weather.read_bsrn_variability()
    assert len(f) == 30 * 1440
    assert ((f >= 0) & (f <= weather.VARIABILITY_MAX)).all()
    raw = weather.read_bsrn()
    assert list(raw.columns) == ["ghi", "dni", "dhi"]
    # Real clouds: plenty of minutes far from 1 around noon...
    noon = f[(f.index.hour >= 10) & (f.index.hour < 14)]
    assert (np.abs(noon - 1) > 0.2).mean() > 0.05
    # ... but close to 1 on average over the hours, and exactly 1 at night.
    hourly = noon.resample("1h").mean().dropna()
    assert np.median(np.abs(hourly - 1)) < 0.05
    assert (f[f.index.hour == 0] == 1).all()
    t = pd.date_range("2031-02-03T11:00Z", periods=3, freq="1min")
    looked = weather.variability_at(f, t)
    day = (t[0].value // 10**9 // 86400) % 30
    np.testing.assert_array_equal(looked, f.to_numpy()[day * 1440 + 660: day * 1440 + 663])


def test_household_reader_has_whole_local_days():
    hh = weather.read_household()
    assert hh.index[0] == pd.Timestamp("2006-12-16 17:00")
    first, days = weather.household_days(hh)
    assert first == np.datetime64("2006-12-17")
    assert days.shape[1] == 48 and days.shape[0] > 1400
    np.testing.assert_array_equal(days[0], hh.loc["2006-12-17"].to_numpy())


def test_rebuild_reproduces_the_committed_files(tmp_path):
    out = tmp_path / "year"
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_sample_year.py"),
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "kWh" in run.stdout
    for name in ("production.csv.gz", "consumption.csv.gz"):
        built = gzip.decompress((out / name).read_bytes())
        committed = gzip.decompress((sampledata.SAMPLE_DIR / name).read_bytes())
        assert built == committed, name


@settings(max_examples=25, deadline=None)
@given(year=st.integers(1901, 2199))
def test_tmy_on_any_year_keeps_month_day_hour(year):
    tmy = _TMY
    y = weather.tmy_for_year(tmy, year)
    assert len(y) == (8784 if calendar.isleap(year) else 8760)
    assert (y.index.year == year).all() and y.index.is_monotonic_increasing
    day = np.where((y.index.month == 2) & (y.index.day == 29), 28, y.index.day)
    key = (y.index.month * 100 + day) * 100 + y.index.hour
    src_key = (tmy.index.month * 100 + tmy.index.day) * 100 + tmy.index.hour
    src = pd.Series(tmy["ghi"].to_numpy(), index=src_key)
    np.testing.assert_array_equal(y["ghi"].to_numpy(), src.loc[key].to_numpy())


_TMY = weather.read_tmy()
