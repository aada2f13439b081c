"""The live weather source against a local HTTP server (python's http.server) replaying real
Open-Meteo answers (tests/fixtures/open_meteo, recorded by python-open-meteo): parsing, the
disk cache, retries with backoff, and the offline fallback, through the forecast child too.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import subprocess
import sys
import threading
import tomllib
import urllib.parse
from pathlib import Path

import pytest

from pvshare.config import parse_config
from pvshare.forecast.weather_source import WeatherError, get_weather, parse_open_meteo

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "open_meteo"
SAT = json.loads((FIXTURES / "satellite_radiation.json").read_text())
# 2026-09-30T12:00 local (+02:00) = 10:00 UTC: the hour 09:00-10:00 UTC (by hand)
FIRST_START = int(dt.datetime(2026, 9, 30, 9, tzinfo=dt.UTC).timestamp())
NOW = FIRST_START - 3600


class _Server:
    """Answers each GET with the next planned (status, body); counts requests."""

    def __init__(self):
        self.plan: list[tuple[int, bytes]] = []
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):                           # noqa: N802 - http.server's name
                server.requests.append(self.path)
                status, body = server.plan.pop(0) if server.plan else (404, b"{}")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1/forecast"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _cfg(tmp_path, url: str, **weather):
    data = tomllib.loads((ROOT / "config" / "example.toml").read_text())
    data["forecast"] = {"weather": {"url": url, **weather}}
    return parse_config(data, str(tmp_path / "site.toml"))


def test_parse_a_real_answer():
    starts, cols = parse_open_meteo(SAT)
    assert starts == [FIRST_START, FIRST_START + 3600, FIRST_START + 7200]
    assert cols == {"ghi": [448.7, 531.5, 521.2]}


def test_an_answer_without_irradiance_is_refused():
    hist = json.loads((FIXTURES / "historical_forecast.json").read_text())
    with pytest.raises(WeatherError, match="no 'shortwave_radiation'"):
        parse_open_meteo(hist)
    bad = json.loads(json.dumps(SAT).replace("W/m\\u00b2", "kW/m2"))
    with pytest.raises(WeatherError, match="expected 'W/m²'"):
        parse_open_meteo(bad)


def test_fetched_then_cached_then_refreshed(server, tmp_path):
    cfg = _cfg(tmp_path, server.url, refresh_h=3)
    server.plan = [(200, json.dumps(SAT).encode())]
    w = get_weather(cfg, NOW)
    assert (w.source, w.reason, w.time_s[0], w.columns["ghi"][2]) == \
        ("open-meteo", "", FIRST_START, 521.2)
    q = urllib.parse.parse_qs(urllib.parse.urlparse(server.requests[0]).query)
    assert q["latitude"] == [f"{cfg.site.latitude:.4f}"] and q["timeformat"] == ["unixtime"]
    assert q["hourly"] == ["shortwave_radiation,temperature_2m,wind_speed_10m"]
    assert q["wind_speed_unit"] == ["ms"]
    assert (tmp_path / "pvshare.db.weather.json").exists()
    again = get_weather(cfg, NOW + 3600)                 # within refresh_h: no request
    assert again.source == "cache" and len(server.requests) == 1
    server.plan = [(200, json.dumps(SAT).encode())]
    later = get_weather(cfg, NOW + 4 * 3600)             # older than refresh_h: asked again
    assert later.source == "open-meteo" and len(server.requests) == 2


def test_busy_service_is_retried_with_backoff(server, tmp_path):
    cfg = _cfg(tmp_path, server.url, retries=3)
    server.plan = [(503, b"{}"), (429, b"{}"), (200, json.dumps(SAT).encode())]
    slept = []
    w = get_weather(cfg, NOW, sleep=slept.append)
    assert w.source == "open-meteo" and slept == [1.0, 2.0] and len(server.requests) == 3


def test_offline_uses_the_cache_while_fresh_enough_then_climatology(server, tmp_path):
    cfg = _cfg(tmp_path, server.url, retries=1, refresh_h=1, stale_h=30)
    server.plan = [(200, json.dumps(SAT).encode())]
    assert get_weather(cfg, NOW).source == "open-meteo"
    server.plan = [(500, b"{}"), (500, b"{}")]
    w = get_weather(cfg, NOW + 2 * 3600, sleep=lambda s: None)
    assert w.source == "cache" and "HTTP Error 500" in w.reason and w.fetched_s == NOW
    server.plan = [(500, b"{}"), (500, b"{}")]
    w = get_weather(cfg, NOW + 31 * 3600, sleep=lambda s: None)
    assert (w.source, w.time_s) == ("none", []) and "unreachable" in w.reason


def test_not_a_weather_answer_falls_back(server, tmp_path):
    cfg = _cfg(tmp_path, server.url, retries=0)
    server.plan = [(200, (FIXTURES / "historical_forecast.json").read_bytes())]
    w = get_weather(cfg, NOW)
    assert w.source == "none" and "shortwave_radiation" in w.reason


def _child(config: Path, now: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "pvshare.forecast.child"],
                          input=json.dumps({"config": str(config), "now": now}),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_forecast_child_uses_the_live_weather_and_says_when_it_cannot(server, tmp_path):
    import tomli_w
    data = tomllib.loads((ROOT / "config" / "example.toml").read_text())
    data["forecast"] = {"weather": {"url": server.url, "retries": 0}}
    config = tmp_path / "site.toml"
    config.write_text(tomli_w.dumps(data))
    server.plan = [(200, json.dumps(SAT).encode())]
    answer = _child(config, NOW)
    assert answer["weather"]["source"] == "open-meteo"
    t = answer["time_s"]
    covered = [p for s, p in zip(t, answer["prior"]) if FIRST_START <= s < FIRST_START + 10800]
    assert covered and set(covered) == {"weather"}
    assert "weather" not in {p for s, p in zip(t, answer["prior"])
                             if s >= FIRST_START + 10800}
    (tmp_path / "pvshare.db.weather.json").unlink()
    server.plan = [(500, b"{}")]
    offline = _child(config, NOW)
    assert offline["weather"]["source"] == "none" and "unreachable" in offline["weather"]["reason"]
    assert "weather" not in offline["prior"]


def test_status_says_where_the_forecast_weather_comes_from(tmp_path):
    from rich.console import Console

    from pvshare.live.status import render
    cfg = _cfg(tmp_path, "http://127.0.0.1:1/")
    base = {"now_s": NOW, "meters": {}, "last_step_s": None, "steps_last_7_days": 0,
            "incomplete_last_7_days": 0, "outbox_depth": 0, "oldest_unsent_s": None,
            "last_error": None, "last_close": None, "daemon_seen_s": NOW, "influxdb": False}

    def text(wx):
        c = Console(width=200, record=True, file=open("/dev/null", "w"))
        c.print(render(cfg, {**base, "forecast_weather": wx}))
        return c.export_text()

    assert "open-meteo, fetched 10 min ago" in text(
        {"source": "open-meteo", "reason": "", "fetched_s": NOW - 600})
    reason = "open-meteo unreachable: <urlopen error [Errno -2] Name or service not known>"
    offline = text({"source": "none", "reason": reason, "fetched_s": None})
    assert "none: the forecast uses climatology" in offline
    assert "[Errno -2]" in offline                      # rich markup did not eat it
    assert "offline, using the forecast fetched 5 h ago" in text(
        {"source": "cache", "reason": reason, "fetched_s": NOW - 5 * 3600})
