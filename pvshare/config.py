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

from pvshare.allocation.spec import KeyName
from pvshare.errors import ConfigError
from pvshare.timegrid import STEPS
from pvshare.validation import validation_messages

PRM_RE = re.compile(r"^\d{14}$")


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


def _check_date(value: Any) -> Any:
    import datetime as dt
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
        raise ValueError(f"must be a date like 2025-09-01, got {value!r}")
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"must be a date like 2025-09-01, got {value!r}") from None
    return value


def _check_bound(value: Any) -> Any:
    from pvshare.allocation.periods import parse_bound
    parse_bound(value)                      # format only; the site's zone is applied later
    return value


class Participant(_Section):
    """A participant; ``from`` (included) / ``to`` (excluded): its period, open if omitted."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    prm: str
    name: str | None = None
    coefficient: float | None = Field(default=None, ge=0, le=1)
    rank: int | None = Field(default=None, ge=1)
    meter: str | None = Field(default=None, description="id of the meter of this flat")
    from_: Any = Field(default=None, alias="from",
                       description="local date or ISO time with offset; included")
    to: Any = Field(default=None, description="local date or ISO time with offset; excluded")

    _prm = field_validator("prm", mode="before")(classmethod(lambda cls, v: _check_prm(v)))
    _bounds = field_validator("from_", "to", mode="before")(
        classmethod(lambda cls, v: _check_bound(v)))


class Key(_Section):
    # use_enum_values: ``type`` holds the plain name ("static"), as it is written in the file.
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True,
                              validate_default=True)
    type: KeyName = KeyName.PRORATA
    file: str | None = Field(default=None, description="custom: per-step coefficients CSV")


class Operation(_Section):
    """The Enedis operation: its id (key files are named ``ACC<id>_…``) and key-file options."""

    id: str | None = Field(default=None, pattern=r"^(ACC)?[A-Za-z0-9_-]+$",
                           description="Enedis operation id, e.g. 00000001")
    key_decimals: Literal[1, 2] = 2
    key_time: Literal["local", "iso"] = "local"


class PricePeriod(_Section):
    """The PMO's prices from a date (local, included) until the next entry's date.

    Energy prices, the excise duty and the monthly fee are **before tax**; VAT is applied on
    their sum. ``supplier_eur_per_kwh`` (all taxes included) is what a kWh costs from the
    supplier, to show the saving. Flat (``energy_eur_per_kwh``) or peak/off-peak
    (``peak_eur_per_kwh``, ``offpeak_eur_per_kwh``, ``offpeak_hours = ["22:00-06:00"]``,
    local time).
    """

    from_: Any = Field(alias="from", description="local date from which these prices apply")
    energy_eur_per_kwh: float | None = Field(default=None, ge=0)
    peak_eur_per_kwh: float | None = Field(default=None, ge=0)
    offpeak_eur_per_kwh: float | None = Field(default=None, ge=0)
    offpeak_hours: list[str] = Field(default_factory=list)
    vat_percent: float = Field(default=20.0, ge=0, le=100)
    excise_eur_per_kwh: float = Field(default=0.0, ge=0)
    monthly_fee_eur: float = Field(default=0.0, ge=0)
    supplier_eur_per_kwh: float = Field(default=0.1940, ge=0)

    _from = field_validator("from_", mode="before")(classmethod(lambda cls, v: _check_date(v)))

    @field_validator("offpeak_hours")
    @classmethod
    def _hours(cls, v: list[str]) -> list[str]:
        from pvshare.billing.prices import parse_hour_ranges
        parse_hour_ranges(v)
        return v

    @model_validator(mode="after")
    def _flat_or_peak(self) -> PricePeriod:
        peak = (self.peak_eur_per_kwh, self.offpeak_eur_per_kwh)
        if self.energy_eur_per_kwh is not None:
            if any(x is not None for x in peak) or self.offpeak_hours:
                raise ValueError("give energy_eur_per_kwh (flat) or peak_eur_per_kwh + "
                                 "offpeak_eur_per_kwh + offpeak_hours, not both")
        elif any(x is None for x in peak) or not self.offpeak_hours:
            raise ValueError("needs energy_eur_per_kwh (flat price), or peak_eur_per_kwh, "
                             "offpeak_eur_per_kwh and offpeak_hours")
        return self


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
    operation: Operation = Operation()
    participants: list[Participant] = Field(min_length=1)
    tariffs: Tariffs = Tariffs()
    prices: list[PricePeriod] = Field(default_factory=list)
    meters: list[MeterSection] = Field(default_factory=list)
    mqtt: Mqtt | None = None
    store: Store = Store()
    influxdb: InfluxDB | None = None
    daemon: Daemon = Daemon()

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
        problems += self._period_problems()
        dates = [str(p.from_) for p in self.prices]
        for i in range(1, len(dates)):
            if dates[i] <= dates[i - 1]:
                problems.append(f"prices[{i}].from: must be after prices[{i - 1}].from "
                                f"({dates[i - 1]}), got {dates[i]}")
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

    def _period_problems(self) -> list[str]:
        """Periods in order; one PRM shared only by participants whose periods do not overlap
        (a flat's successive tenants).
        """
        from pvshare.allocation.periods import describe, overlapping_pairs
        starts, ends = self.participant_bounds()
        problems = []
        for i, p in enumerate(self.participants):
            if starts[i] >= ends[i]:
                problems.append(f"participants[{i}].to: must be after 'from' ({p.id!r}: "
                                f"{describe(starts[i], ends[i], self.site.timezone)})")
        prms = [p.prm for p in self.participants]
        for i, j in overlapping_pairs(prms, starts, ends):
            a, b = self.participants[i], self.participants[j]
            problems.append(
                f"participants[{j}].prm: duplicate PRM {b.prm!r} (also participants[{i}], "
                f"{a.id!r}) over overlapping periods ({a.id} "
                f"{describe(starts[i], ends[i], self.site.timezone)}, {b.id} "
                f"{describe(starts[j], ends[j], self.site.timezone)}); for a flat's new tenant, "
                f"set the new participant's 'from' to the former one's 'to'")
        return problems

    # -- derived views -------------------------------------------------------------------
    def participant_bounds(self):
        """Each participant's period as (N,) int64 Unix seconds (start included, end
        excluded; open bounds are the int64 extremes).
        """
        from pvshare.allocation.periods import bounds_array, parse_bound
        tz = self.site.timezone
        return bounds_array([parse_bound(p.from_, tz) for p in self.participants],
                            [parse_bound(p.to, tz) for p in self.participants])

    def active(self, times):
        """(T, N) bool: which participant takes part in which step (UTC ``times``)."""
        from pvshare.allocation.periods import active_mask
        return active_mask(times, *self.participant_bounds())

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
    return parse_config(data, str(p))
