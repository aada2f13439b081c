"""Live weather for the forecast child: an irradiance forecast from a weather service.

Default: Open-Meteo (https://open-meteo.com/en/docs), free, no key, European models
(``best_match`` picks Météo-France AROME/ARPEGE, DWD ICON... for a site in France). Asked for
by the forecast child (:mod:`pvshare.forecast.child`), never by the daemon itself: the daemon
stays free of HTTP work. Standard library only (:mod:`urllib`).

* **Cached on disk** beside the store (``<store>.weather.json``): a forecast younger than
  ``refresh_h`` is reused without asking; Open-Meteo updates its models a few times a day.
* **Retried with backoff** when the service is busy or failing (HTTP 429/5xx, time-outs,
  dropped connections): ``retries`` more tries, 1 s, 2 s, 4 s... apart. A name that does not
  resolve (no network) is not retried.
* **Offline**: the cached forecast is used while younger than ``stale_h``; after that the
  child falls back to today's method (climatology and persistence), and says so in its answer
  (``pvshare status`` shows it).

Open-Meteo's hourly ``shortwave_radiation`` is the mean over the hour *ending* at the
timestamp (its documentation, "Preceding hour mean"): the returned table is indexed by the
interval *start* (timestamp - 1 h), the convention of :func:`pvshare.forecast.files.read_weather`.
Temperature and wind are instantaneous at the timestamp and are used for that hour.
"""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

#: Variables asked for, and the unit Open-Meteo must answer in.
VARIABLES = {"shortwave_radiation": "W/m²", "temperature_2m": "°C", "wind_speed_10m": "m/s"}
COLUMN_OF = {"shortwave_radiation": "ghi", "temperature_2m": "temp_air",
             "wind_speed_10m": "wind_speed"}


class WeatherError(Exception):
    """The service's answer cannot be used (names what is wrong)."""


@dataclass
class Weather:
    """An irradiance forecast per hour (interval starts), and where it came from.

    ``source`` is ``"open-meteo"`` (fetched now), ``"cache"`` (fetched earlier) or ``"none"``
    (no weather: the forecast uses climatology); ``reason`` says why when not fetched now.
    """

    time_s: list[int] = field(default_factory=list)
    columns: dict[str, list[float]] = field(default_factory=dict)
    source: str = "none"
    reason: str = ""
    fetched_s: float | None = None

    def status(self) -> dict:
        """What the child reports (and ``pvshare status`` shows)."""
        return {"source": self.source, "reason": self.reason, "fetched_s": self.fetched_s,
                "hours": len(self.time_s)}


def request_url(settings, latitude: float, longitude: float) -> str:
    """The Open-Meteo request for a site (UTC, Unix times, SI units, 3 days)."""
    query = {"latitude": f"{latitude:.4f}", "longitude": f"{longitude:.4f}",
             "hourly": ",".join(VARIABLES), "models": settings.models,
             "forecast_days": "3", "past_days": "1", "timezone": "GMT",
             "timeformat": "unixtime", "wind_speed_unit": "ms"}
    return f"{settings.url}?{urllib.parse.urlencode(query)}"


def parse_open_meteo(payload: dict) -> tuple[list[int], dict[str, list[float]]]:
    """Hourly interval starts (UTC Unix seconds) and columns ``ghi`` [, ``temp_air``,
    ``wind_speed``] from an Open-Meteo JSON answer (ISO or Unix times, any time zone).
    """
    if "error" in payload and payload.get("error"):
        raise WeatherError(f"the service answered an error: {payload.get('reason')}")
    hourly = payload.get("hourly")
    units = payload.get("hourly_units") or {}
    if not isinstance(hourly, dict) or "time" not in hourly:
        raise WeatherError("no 'hourly' table in the answer")
    if "shortwave_radiation" not in hourly:
        raise WeatherError("no 'shortwave_radiation' in the answer")
    for var, unit in VARIABLES.items():
        if var in hourly and units.get(var) != unit:
            raise WeatherError(f"{var} is in {units.get(var)!r}, expected {unit!r}")
    offset = int(payload.get("utc_offset_seconds") or 0)
    ends = []
    for t in hourly["time"]:
        if isinstance(t, int | float):
            ends.append(int(t))                               # timeformat=unixtime: UTC
        else:                                                 # iso8601, local time
            import datetime as dt
            naive = dt.datetime.fromisoformat(str(t))
            ends.append(int(naive.replace(tzinfo=dt.UTC).timestamp()) - offset)
    n = len(ends)
    columns = {}
    for var, col in COLUMN_OF.items():
        if var not in hourly:
            continue
        values = hourly[var]
        if len(values) != n:
            raise WeatherError(f"{var} has {len(values)} values for {n} times")
        columns[col] = [math.nan if v is None else float(v) for v in values]
    ghi = columns["ghi"]
    if any(not (0 <= g <= 1500) for g in ghi if g == g):
        raise WeatherError("shortwave_radiation outside 0..1500 W/m²")
    starts = [e - 3600 for e in ends]          # the hour ending at the timestamp
    return starts, columns


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    if isinstance(exc, urllib.error.URLError):
        return not isinstance(exc.reason, socket.gaierror)   # no DNS: no network, give up
    return isinstance(exc, TimeoutError | ConnectionError | socket.timeout)


def download(url: str, *, timeout_s: float, retries: int, sleep=time.sleep,
             opener=urllib.request.urlopen) -> dict:
    """GET ``url`` as JSON, retrying transient failures with exponential backoff."""
    attempt = 0
    while True:
        try:
            req = urllib.request.Request(url, headers={"User-Agent": "pvshare",
                                                       "Accept": "application/json"})
            with opener(req, timeout=timeout_s) as answer:
                return json.loads(answer.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            if attempt >= retries or not _transient(exc):
                raise
            sleep(2.0 ** attempt)
            attempt += 1


def cache_path(cfg) -> Path:
    """``<store>.weather.json``, beside the store (the state directory under systemd)."""
    db = cfg.relative(cfg.store.path)
    return db.with_name(db.name + ".weather.json")


def _read_cache(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_cache(path: Path, data: dict, group: str | None = None) -> None:
    from pvshare.files.atomic import private_mode, write_atomic
    try:                                        # private like every file beside the store
        write_atomic(path, json.dumps(data), mode=private_mode(group), group=group,
                     parents=False)
    except (OSError, KeyError):                 # KeyError: an unknown [store] group
        pass                                    # a read-only disk: no cache, still a forecast


def get_weather(cfg, now_s: float, *, sleep=time.sleep, opener=urllib.request.urlopen
                ) -> Weather:
    """The weather for the forecast at ``now_s`` (see the module docstring)."""
    settings = cfg.forecast.weather
    if settings.provider == "none":
        return Weather(reason="no weather source configured ([forecast.weather] provider)")
    path = cache_path(cfg)
    cached = _read_cache(path)
    age_h = (now_s - cached["fetched_s"]) / 3600 if cached else math.inf
    if cached and 0 <= age_h < settings.refresh_h:
        return Weather(cached["time_s"], cached["columns"], "cache", "", cached["fetched_s"])
    url = request_url(settings, cfg.site.latitude, cfg.site.longitude)
    try:
        payload = download(url, timeout_s=settings.timeout_s, retries=settings.retries,
                           sleep=sleep, opener=opener)
        starts, columns = parse_open_meteo(payload)
    except (OSError, ValueError, WeatherError) as exc:
        reason = f"{settings.provider} unreachable: {exc}"[:200]
        if cached and age_h < settings.stale_h:
            return Weather(cached["time_s"], cached["columns"], "cache", reason,
                           cached["fetched_s"])
        return Weather(reason=reason)
    _write_cache(path, {"fetched_s": now_s, "url": url, "time_s": starts, "columns": columns},
                 getattr(cfg.store, "group", None))
    return Weather(starts, columns, settings.provider, "", now_s)
