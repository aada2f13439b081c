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
    # allow_inf_nan=False: `kwp = inf` or `nan` anywhere is an error, never a silent value.
    # serialize_by_alias: model_dump() gives the names of the file ("from"), so it parses back.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              serialize_by_alias=True)


def _check_prm(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"must be a string of 14 digits in quotes (so leading zeros are kept), "
                         f"got the number {value}")
    if not isinstance(value, str) or not PRM_RE.match(value):
        raise ValueError(f"must be 14 digits, got {value!r}")
    return value


class Site(_Section):
    """``[site]``: the building's name, place, time zone and step."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$",
                      description="short name, used in MQTT topics and InfluxDB tags")
    timezone: str = "Europe/Paris"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    altitude_m: float = Field(default=0.0, ge=-500, le=9000)
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
    """``[producer]``: the PRM of the roof's production and the meter that measures it."""

    prm: str
    name: str = "production"
    meter: str | None = Field(default=None, description="id of the meter giving production")

    _prm = field_validator("prm", mode="before")(classmethod(lambda cls, v: _check_prm(v)))


class Array(_Section):
    """The PV array as pvlib sees it. Azimuth in degrees from north (180 = south)."""

    kwp: float = Field(gt=0, le=100_000, description="DC peak power, kW")
    tilt_deg: float = Field(ge=0, le=90)
    azimuth_deg: float = Field(ge=0, lt=360)
    inverter_kw: float | None = Field(default=None, gt=0, le=100_000,
                                      description="AC limit, kW")
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
    subscribed_kva: float | None = Field(
        default=None, gt=0, le=250,
        description="the flat's subscribed power (default: [tariffs] subscribed_kva); a step "
                    "above it (with a 30 % margin) is implausible, not allocated")
    from_: Any = Field(default=None, alias="from",
                       description="local date or ISO time with offset; included")
    to: Any = Field(default=None, description="local date or ISO time with offset; excluded")

    _prm = field_validator("prm", mode="before")(classmethod(lambda cls, v: _check_prm(v)))
    _bounds = field_validator("from_", "to", mode="before")(
        classmethod(lambda cls, v: _check_bound(v)))


class Key(_Section):
    """``[key]``: the allocation key (names in :class:`pvshare.allocation.spec.KeyName`)."""

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
    key_dir: str | None = Field(default=None, min_length=1,
                                description="folder where the daemon writes each closed "
                                            "month's key file (off when unset)")

    @model_validator(mode="after")
    def _key_dir_needs_id(self) -> Operation:
        if self.key_dir and not self.id:
            raise ValueError("key_dir needs the operation id (set [operation] id): the key "
                             "files are named ACC<id>_…")
        return self


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
    subscribed_kva: float = Field(default=6, gt=0, le=250)


class Mqtt(_Section):
    """``[mqtt]``: the broker the meters and the results go through."""

    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: str | None = None
    client_id: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="default: pvshare-<host>-<hash of the store path>, unique per store and host")
    publish_results: bool = True
    topic_prefix: str = "pvshare"


class Store(_Section):
    """``[store]``: the SQLite file, its retention, its outbox cap and its group."""

    path: str = Field(default="pvshare.db", min_length=1)
    group: str | None = Field(default=None, min_length=1,
                              description="group that may read the store (files 0640); "
                                          "default: the owner only (0600)")
    raw_retention_days: int = Field(default=90, ge=1)
    outbox_max_points: int = Field(default=5_000_000, ge=1000)


class InfluxDB(_Section):
    """``[influxdb]``: where the outbox is delivered (optional)."""

    url: str

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from urllib.parse import urlsplit
        try:
            parts = urlsplit(v.strip())
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("not a URL (write e.g. http://127.0.0.1:8086)") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            from pvshare.secrets import redact_url
            raise ValueError(f"must be http://HOST:PORT or https://HOST:PORT, got "
                             f"{redact_url(v)[:80]!r}")
        return v.strip()
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
    """``[daemon]``: the intervals and delays of ``pvshare run``."""

    poll_interval_s: float = Field(default=10, gt=0)
    grace_s: float = Field(default=180, ge=0)
    recompute_window_h: float = Field(default=48, ge=0)
    flush_interval_s: float = Field(default=5, gt=0)
    pending_horizon_h: float = Field(
        default=6, ge=0,
        description="a step still without production this long after its end is closed "
                    "incomplete (recomputed if the inverter's index comes back within "
                    "recompute_window_h)")


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
    """The whole site configuration, validated (see :func:`load_config`)."""

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
        """The participants' ids, in the order of the file (the columns of every table)."""
        return [p.id for p in self.participants]

    def coefficients(self):
        """Per-participant coefficients (N,) for the key, equal shares when none are given."""
        import numpy as np
        coefs = [p.coefficient for p in self.participants]
        if any(c is None for c in coefs):
            return np.full(len(coefs), 1.0 / len(coefs))
        return np.asarray(coefs, dtype=float)

    def ranks(self):
        """The participants' ranks for the ``priority`` key (1 when not given), (N,) int."""
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
    if cfg.mqtt is not None and cfg.mqtt.client_id is None:
        cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(
            update={"client_id": default_client_id(cfg)})})
    return cfg


def check_references(cfg: Config) -> None:
    """What ``config check`` and the daemon add to :func:`load_config`: ids that must name a
    meter, and paths that must exist (relative to the config). Raises :class:`ConfigError`.
    """
    problems = _reference_checks(cfg)
    if problems:
        raise ConfigError(cfg.source or "<config>", problems)


def _reference_checks(cfg: Config) -> list[str]:
    problems = []
    ids = {m.id for m in cfg.meters}
    expanded = set(ids)
    for m in cfg.meters:
        if "{participant}" in m.id:
            expanded |= {m.id.replace("{participant}", p.id) for p in cfg.participants}
    if cfg.meters and cfg.producer.meter and cfg.producer.meter not in ids:
        problems.append(f"producer.meter: no [[meters]] section has id {cfg.producer.meter!r} "
                        f"(ids: {', '.join(sorted(ids))})")
    for i, p in enumerate(cfg.participants):
        if cfg.meters and p.meter and p.meter not in expanded:
            problems.append(f"participants[{i}].meter: no [[meters]] section has id "
                            f"{p.meter!r}")
    store = cfg.relative(cfg.store.path)
    if store is not None:
        if store.is_dir():
            problems.append(f"store.path: {store} is a folder; give a file name "
                            "(e.g. pvshare.db)")
        elif not store.parent.is_dir():
            problems.append(f"store.path: the folder {store.parent} does not exist")
    if cfg.influxdb is not None and cfg.influxdb.token_file:
        tf = cfg.relative(cfg.influxdb.token_file)
        if tf is not None and not tf.is_file():
            problems.append(f"influxdb.token_file: {tf} " + (
                "is a folder" if tf.is_dir() else "does not exist"))
    if cfg.mqtt is not None and cfg.mqtt.ca_file:
        ca = cfg.relative(cfg.mqtt.ca_file)
        if ca is not None and not ca.is_file():
            problems.append(f"mqtt.ca_file: {ca} does not exist")
    return problems


def default_client_id(cfg: Config) -> str:
    """``pvshare-<host>-<8 hex of the store's absolute path>``: two daemons (two stores, or
    two hosts) never share an MQTT client id, so the broker never disconnects one for the
    other.
    """
    import hashlib
    import socket
    store = str(cfg.relative(cfg.store.path).resolve())
    host = re.sub(r"[^A-Za-z0-9_-]", "", socket.gethostname().split(".")[0])[:20] or "host"
    return f"pvshare-{host}-{hashlib.sha256(store.encode()).hexdigest()[:8]}"


#: Largest configuration file read, bytes (a 48-flat building's is about 6 kB).
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of brackets/braces accepted in the TOML (tomllib recurses on each).
MAX_CONFIG_NESTING = 32


def _nesting(text: str) -> int:
    """Deepest bracket nesting outside strings and comments (a cheap scan, no recursion)."""
    depth = deepest = 0
    quote = None
    comment = False
    for ch in text:
        if comment:
            comment = ch != "\n"
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML configuration file (at most 1 MB, brackets nested at most
    32 deep; a UTF-8 byte-order mark at the start is ignored).
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise ConfigError(str(p), ["is a folder, not a configuration file"])
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(str(p), ["file not found"]) from None
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read: {exc.strerror}"]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(str(p), [f"larger than {MAX_CONFIG_BYTES >> 20} MB: not a pvshare "
                                   "configuration (one is a few kB)"])
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(str(p), [f"line {line}: not UTF-8 text (save the file as UTF-8)"]
                          ) from None
    if _nesting(text) > MAX_CONFIG_NESTING:
        raise ConfigError(str(p), [f"brackets nested more than {MAX_CONFIG_NESTING} deep: "
                                   "not a pvshare configuration"])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(str(p), ["nested too deeply: not a pvshare configuration"]) from None
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
