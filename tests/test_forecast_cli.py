"""``pvshare forecast`` and ``pvshare forecast evaluate`` as a person runs them."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "example.toml"


def _run(*args, timeout=120, lang="C.UTF-8"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE")}
    return subprocess.run([sys.executable, "-m", "pvshare.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout,
                          env={**env, "COLUMNS": "120", "LANG": lang})


def test_forecast_in_english_under_the_c_locale():
    out = _run("forecast", "--config", str(EXAMPLE), "--at", "2026-06-01T08:00:00+02:00")
    assert out.returncode == 0, out.stderr
    assert "Production forecast" in out.stdout and "Mon 01/06 12:00" in out.stdout
    assert "Green hours" in out.stdout and "kWh forecast (P50)" in out.stdout
    assert "Model: pvlib × climatology; not calibrated" in out.stdout
    for french in ("Prévision", "prévus", "Heures vertes", "lun.", "Modèle", "calibré"):
        assert french not in out.stdout, french


def test_forecast_table_and_chart(tmp_path):
    png = tmp_path / "prevision.png"
    out = _run("forecast", "--config", str(EXAMPLE), "--at", "2026-06-01T08:00:00+02:00",
               "--plot", str(png), lang="fr_FR.UTF-8")
    assert out.returncode == 0, out.stderr
    assert "Prévision de production" in out.stdout
    assert "lun. 01/06 12:00" in out.stdout            # local time (UTC+2 in June)
    assert "Heures vertes" in out.stdout and "★" in out.stdout
    assert "kWh prévus" in out.stdout
    # the PNG is a real, non-trivial chart
    import matplotlib.image as mpimg
    assert png.stat().st_size > 20_000
    img = mpimg.imread(png)
    assert img.shape[0] > 300 and img.shape[1] > 800
    colours = np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50                           # lines, band, shading, text
    # the P50 orange and the green-hours green are drawn
    rgb = (img[..., :3] * 255).astype(int)
    assert np.any((abs(rgb[..., 0] - 0xd9) < 8) & (abs(rgb[..., 1] - 0x82) < 8)
                  & (abs(rgb[..., 2] - 0x2b) < 8))
    assert np.any((rgb[..., 1] > rgb[..., 0] + 20) & (rgb[..., 1] > rgb[..., 2] + 20))


def test_forecast_with_history_and_weather(tmp_path):
    t = pd.date_range("2026-05-10", "2026-06-01T06:00", freq="30min", tz="UTC",
                      inclusive="left")
    hist = tmp_path / "prod.csv"
    pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "production_wh": 0.0}).to_csv(hist, index=False)
    wx = tmp_path / "wx.csv"
    wt = pd.date_range("2026-06-01", periods=48, freq="1h", tz="UTC")
    pd.DataFrame({"time": wt.strftime("%Y-%m-%dT%H:%M:%SZ"), "ghi": 0.0}).to_csv(wx, index=False)
    out = _run("forecast", "--config", str(EXAMPLE), "--at", "2026-06-01T06:00:00Z",
               "--production", str(hist), "--weather", str(wx), lang="fr_FR.UTF-8")
    assert out.returncode == 0, out.stderr
    assert "météo fournie" in out.stdout
    assert "Pas d'heure verte" in out.stdout           # no sun in the weather: no green hour
    assert "non calibré (trop peu de pas de ciel clair" in out.stdout


def test_bad_inputs_exit_2_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("time,production_wh\n2026-06-01T10:00Z,1\n2026-06-01T10:30Z,x\n")
    out = _run("forecast", "--config", str(EXAMPLE), "--production", str(bad))
    assert out.returncode == 2
    assert f"{bad}, line 3, column 'production_wh': not a number" in out.stderr
    out = _run("forecast", "evaluate", "--production", str(bad), "--latitude", "45",
               "--longitude", "5", "--tilt", "30", "--azimuth", "180", "--kwp", "3")
    assert out.returncode == 2 and "line 3" in out.stderr
    out = _run("forecast", "evaluate", "--production", str(ROOT / "pvshare" / "data" / "pvdaq" /
               "system50_ac_power_30min.csv.gz"), "--latitude", "95", "--longitude", "5",
               "--tilt", "30", "--azimuth", "180", "--kwp", "3")
    assert out.returncode == 2 and "site.latitude" in out.stderr
    out = _run("forecast", "--config", str(EXAMPLE), "--at", "tomorrow")
    assert out.returncode == 2 and "--at" in out.stderr
