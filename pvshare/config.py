"""Site configuration: one TOML file, validated on load.

Every problem is reported at once, one line each, naming the field the way a person reads
the file (``participants[12].prm: must be 14 digits, got '1234'``), and the CLI exits with
code 2. Validation uses pydantic; the meter sections are validated by the meter type they
name (see :mod:`pvshare.meters.registry`).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from pvshare.errors import ConfigError
from pvshare.timegrid import STEPS
from pvshare.validation import validation_messages

PRM_RE = re.compile(r"^\d{14}$")
KEY_TYPES = ("prorata", "static", "reallocated", "priority", "custom")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_prm(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"must be a string of 14 digits in quotes (so leading zeros are kept), "
                         f"got the number {value}")
    if not isinstance(value, str) or not PRM_RE.match(value):
        raise ValueError(f"must be 14 digits, got {value!r}")
    return value


class Site(_Section):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$",
                      description="short name, used in MQTT topics and InfluxDB tags")
    timezone: str = "Europe/Paris"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude_m: float = 0.0
    step: str = "PT30M"

    @field_validator("step")
    @classmethod
    def _step(cls, v: str) -> str:
        if v.upper() not in STEPS:
            raise ValueError(f"must be one of {', '.join(STEPS)}, got {v!r}")
        return v.upper()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class Producer(_Section):
    prm: str
    name: str = "production"
    meter: str | None = Field(default=None, description="id of the meter giving production")

    _prm = field_validator("prm", mode="before")(classmethod(lambda cls, v: _check_prm(v)))


class Array(_Section):
    """The PV array as pvlib sees it. Azimuth in degrees from north (180 = south)."""

    kwp: float = Field(gt=0, description="DC peak power, kW")
    tilt_deg: float = Field(ge=0, le=90)
    azimuth_deg: float = Field(ge=0, lt=360)
    inverter_kw: float | None = Field(default=None, gt=0, description="AC limit, kW")
    losses_percent: float = Field(default=14.0, ge=0, lt=100)
    temperature_coefficient_per_c: float = Field(default=-0.0037, ge=-0.02, le=0)
    horizon: list[tuple[float, float]] | None = Field(
        default=None, description="[[azimuth_deg, elevation_deg], ...]")


class Participant(_Section):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    prm: str
    name: str | None = None
    coefficient: float | None = Field(default=None, ge=0, le=1)
    rank: int | None = Field(default=None, ge=1)
    meter: str | None = Field(default=None, description="id of the meter of this flat")

    _prm = field_validator("prm", mode="before")(classmethod(lambda cls, v: _check_prm(v)))


class Key(_Section):
    type: Literal["prorata", "static", "reallocated", "priority", "custom"] = "prorata"
    file: str | None = Field(default=None, description="custom: per-step coefficients CSV")


class Tariffs(_Section):
    """Prices in euros, all taxes included. Defaults: French regulated 'tarif bleu' (option
    Base, 6 kVA) as of February 2026, rounded; set your own.
    """

    supplier_eur_per_kwh: float = Field(default=0.1940, ge=0)
    internal_eur_per_kwh: float = Field(default=0.1000, ge=0,
                                        description="price of the roof's kWh inside the operation")
    subscription_eur_per_year: dict[str, float] = Field(
        default_factory=lambda: {"3": 140.0, "6": 185.0, "9": 231.0, "12": 277.0})
    subscribed_kva: float = Field(default=6, gt=0)


class Mqtt(_Section):
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: str | None = None
    client_id: str = "pvshare"
    publish_results: bool = True
    topic_prefix: str = "pvshare"


class Store(_Section):
    path: str = "pvshare.db"
    raw_retention_days: int = Field(default=90, ge=1)
    outbox_max_points: int = Field(default=5_000_000, ge=1000)


class InfluxDB(_Section):
    url: str
    org: str = ""
    bucket: str = "pvshare"
    token: SecretStr | None = None
    token_file: str | None = None
    batch_size: int = Field(default=5000, ge=1)

    def resolved_token(self) -> str:
        """The token: the environment (``PVSHARE_INFLUX_TOKEN``) wins, then ``token_file``,
        then ``token``. Never logged.
        """
        env = os.environ.get("PVSHARE_INFLUX_TOKEN")
        if env:
            return env
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token.get_secret_value() if self.token else ""


class Daemon(_Section):
    poll_interval_s: float = Field(default=10, gt=0)
    grace_s: float = Field(default=180, ge=0)
    recompute_window_h: float = Field(default=48, ge=0)
    flush_interval_s: float = Field(default=5, gt=0)


class WeatherSource(_Section):
    """``[forecast.weather]``: the live weather forecast (pvshare.forecast.weather_source)."""

    provider: Literal["open-meteo", "none"] = "open-meteo"
    url: str = Field(default="https://api.open-meteo.com/v1/forecast",
                     pattern=r"^https?://")
    models: str = Field(default="best_match", pattern=r"^[a-z0-9_,]+$")
    timeout_s: float = Field(default=10, gt=0, le=120)
    retries: int = Field(default=3, ge=0, le=8)
    refresh_h: float = Field(default=3, gt=0)
    stale_h: float = Field(default=30, gt=0)


class ForecastSection(_Section):
    """``[forecast]``: the daemon's forecast."""

    weather: WeatherSource = WeatherSource()


class MeterSection(BaseModel):
    """A meter entry; the options beyond these are checked by the meter's own type."""

    model_config = ConfigDict(extra="allow", frozen=True)
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.{}-]+$")
    type: str = Field(min_length=1)


class Config(_Section):
    site: Site
    producer: Producer
    array: Array
    key: Key = Key()
    participants: list[Participant] = Field(min_length=1)
    tariffs: Tariffs = Tariffs()
    meters: list[MeterSection] = Field(default_factory=list)
    mqtt: Mqtt | None = None
    store: Store = Store()
    influxdb: InfluxDB | None = None
    daemon: Daemon = Daemon()
    forecast: ForecastSection = ForecastSection()

    #: Where the file was read from (not part of the TOML).
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        problems = []
        ids = [p.id for p in self.participants]
        prms = [p.prm for p in self.participants] + [self.producer.prm]
        for i, p in enumerate(self.participants):
            if ids.index(p.id) != i:
                problems.append(f"participants[{i}].id: duplicate id {p.id!r}")
            if prms.index(p.prm) != i:
                problems.append(f"participants[{i}].prm: duplicate PRM {p.prm!r}")
        if self.producer.prm in prms[:-1]:
            problems.append("producer.prm: same PRM as a participant")
        kt = self.key.type
        coefs = [p.coefficient for p in self.participants]
        if kt in ("static", "reallocated") and any(c is not None for c in coefs):
            if any(c is None for c in coefs):
                i = coefs.index(None)
                problems.append(f"participants[{i}].coefficient: missing (key.type = {kt!r} "
                                "needs a coefficient for every participant, or none for equal shares)")
            elif sum(coefs) > 1 + 1e-9:
                problems.append(f"participants: coefficients sum to {sum(coefs):.6g}, must be at most 1")
        if kt == "priority":
            for i, p in enumerate(self.participants):
                if p.rank is None:
                    problems.append(f"participants[{i}].rank: missing (key.type = 'priority')")
        if kt == "custom" and not self.key.file:
            problems.append("key.file: required when key.type = 'custom'")
        meter_ids = [m.id for m in self.meters]
        for i, m in enumerate(self.meters):
            if meter_ids.index(m.id) != i:
                problems.append(f"meters[{i}].id: duplicate id {m.id!r}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # -- derived views -------------------------------------------------------------------
    @property
    def participant_ids(self) -> list[str]:
        return [p.id for p in self.participants]

    def coefficients(self):
        """Per-participant coefficients (N,) for the key, equal shares when none are given."""
        import numpy as np
        coefs = [p.coefficient for p in self.participants]
        if any(c is None for c in coefs):
            return np.full(len(coefs), 1.0 / len(coefs))
        return np.asarray(coefs, dtype=float)

    def ranks(self):
        import numpy as np
        return np.asarray([p.rank or 1 for p in self.participants], dtype=int)

    def relative(self, path: str | None) -> Path | None:
        """A path from the config, taken relative to the config file's folder."""
        if path is None:
            return None
        p = Path(path).expanduser()
        if not p.is_absolute() and self.source:
            p = Path(self.source).parent / p
        return p


def parse_config(data: dict, source: str = "<config>") -> Config:
    """Validate a configuration mapping; raise :class:`ConfigError` listing every problem."""
    try:
        cfg = Config.model_validate({**data, "source": source})
    except ValidationError as err:
        raise ConfigError(source, validation_messages(err)) from None
    problems = []
    if cfg.meters:
        from pvshare.meters.registry import validate_meter_options
        for i, m in enumerate(cfg.meters):
            problems += validate_meter_options(m, f"meters[{i}]")
    for i, v in enumerate([cfg.site.latitude, cfg.site.longitude]):
        if not math.isfinite(v):
            problems.append(f"site.{'latitude' if i == 0 else 'longitude'}: must be a number")
    if problems:
        raise ConfigError(source, problems)
    return cfg


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), ["file not found"]) from None
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(p), ["not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    _store_in_state_directory(data)
    return parse_config(data, str(p))


def _store_in_state_directory(data: dict) -> None:
    """Under systemd (``StateDirectory=``, which sets ``$STATE_DIRECTORY``) a relative
    ``[store] path`` is taken in the state directory, not beside the read-only config.
    """
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    store = data.get("store", {})
    if not state or not isinstance(store, dict):
        return
    path = store.get("path", "pvshare.db")
    if isinstance(path, str) and not Path(path).expanduser().is_absolute():
        data["store"] = {**store, "path": str(Path(state) / path)}
