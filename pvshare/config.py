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
from pvshare.i18n import _
from pvshare.identifiers import PRM_DIGITS, duplicates, participant_id, prm_problem
from pvshare.timegrid import STEPS
from pvshare.validation import validation_messages

#: The supplier's price of a kWh, all taxes included, when none is given: the French
#: regulated "tarif bleu" (option Base) of February 2026, rounded.
DEFAULT_SUPPLIER_EUR_PER_KWH = 0.1940


class _Section(BaseModel):
    # allow_inf_nan=False: `kwp = inf` or `nan` anywhere is an error, never a silent value.
    # serialize_by_alias: model_dump() gives the names of the file ("from"), so it parses back.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False,
                              serialize_by_alias=True)


def _at(where: str, message: str) -> str:
    """``where: message`` (``where : message`` in French)."""
    return _("{where}: {message}").format(where=where, message=message)


def _check_prm(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(_("must be a string of {n} digits in quotes (so leading zeros are "
                           "kept), got the number {value}").format(n=PRM_DIGITS, value=value))
    if not isinstance(value, str):
        raise ValueError(_("must be {n} digits, got {value}").format(n=PRM_DIGITS,
                                                                    value=repr(value)))
    if prm_problem(value):
        raise ValueError(prm_problem(value))
    return value


def _check_participant_id(value: Any) -> Any:
    """NFC and visible (:func:`pvshare.identifiers.participant_id`); the pattern follows."""
    return participant_id(value) if isinstance(value, str) else value


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
            raise ValueError(_("must be one of {steps}, got {value}").format(
                steps=", ".join(STEPS), value=repr(v)))
        return v.upper()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(_("unknown time zone {zone}").format(zone=repr(v))) from None
        return v


class Producer(_Section):
    """``[producer]``: the PRM of the roof's production and the meter that measures it."""

    prm: str
    name: str = "production"
    meter: str | None = Field(default=None, description="id of the meter giving production")

    _prm = field_validator("prm", mode="before")(classmethod(lambda cls, v: _check_prm(v)))


class Array(_Section):
    """The PV array as pvlib sees it. Azimuth in degrees from north (180 = south)."""

    kwp: float = Field(gt=0, le=10_000, description="DC peak power, kW (an operation is "
                                                     "capped at 5 MW)")
    tilt_deg: float = Field(ge=0, le=90)
    azimuth_deg: float = Field(ge=0, lt=360)
    inverter_kw: float | None = Field(default=None, gt=0, le=10_000,
                                      description="AC limit, kW")
    losses_percent: float = Field(default=14.0, ge=0, lt=100)
    temperature_coefficient_per_c: float = Field(default=-0.0037, ge=-0.02, le=0)
    horizon: list[tuple[float, float]] | None = Field(
        default=None, description="[[azimuth_deg, elevation_deg], ...]")

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        for i, (az, el) in enumerate(v or []):
            if not 0 <= az <= 360:
                raise ValueError(_("point {i} [{az}, {el}]: the azimuth must be from 0 to 360 "
                                   "degrees (from north, 180 = south), got {az}").format(
                    i=i + 1, az=f"{az:g}", el=f"{el:g}"))
            if not 0 <= el <= 90:
                raise ValueError(_("point {i} [{az}, {el}]: the elevation must be from 0 to 90 "
                                   "degrees above the horizontal, got {el}").format(
                    i=i + 1, az=f"{az:g}", el=f"{el:g}"))
        return v


def _check_date(value: Any) -> Any:
    import datetime as dt
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date | str):
        raise ValueError(_("must be a date like 2025-09-01, got {value}").format(
            value=repr(value)))
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(_("must be a date like 2025-09-01, got {value}").format(
                value=repr(value))) from None
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
    _id = field_validator("id", mode="before")(
        classmethod(lambda cls, v: _check_participant_id(v)))
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
            raise ValueError(_("key_dir needs the operation id (set [operation] id): the key "
                               "files are named ACC<id>_…"))
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
    supplier_eur_per_kwh: float = Field(default=DEFAULT_SUPPLIER_EUR_PER_KWH, ge=0)

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
                raise ValueError(_("give energy_eur_per_kwh (flat) or peak_eur_per_kwh + "
                                   "offpeak_eur_per_kwh + offpeak_hours, not both"))
        elif any(x is None for x in peak) or not self.offpeak_hours:
            raise ValueError(_("needs energy_eur_per_kwh (flat price), or peak_eur_per_kwh, "
                               "offpeak_eur_per_kwh and offpeak_hours"))
        return self


class Tariffs(_Section):
    """The households' supplier subscription (the household report's advice, the plausible
    consumption). Defaults: French regulated 'tarif bleu' (option Base) of February 2026,
    rounded; set your own.

    The prices of a kWh are in ``[[prices]]``. ``supplier_eur_per_kwh`` and
    ``internal_eur_per_kwh`` are the former price model: still read, and turned into one
    ``[[prices]]`` entry by :func:`parse_config` (``config check`` says what to write).
    """

    supplier_eur_per_kwh: float | None = Field(default=None, ge=0,
                                               description="former model: see [[prices]]")
    internal_eur_per_kwh: float | None = Field(default=None, ge=0,
                                               description="former model: see [[prices]]")
    subscription_eur_per_year: dict[str, float] = Field(
        default_factory=lambda: {"3": 140.0, "6": 185.0, "9": 231.0, "12": 277.0})
    subscribed_kva: float = Field(default=6, gt=0, le=250)

    @field_validator("subscription_eur_per_year")
    @classmethod
    def _kva_keys(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]+)?", k) or not 0 < float(k) <= 250:
                raise ValueError(_('key {key}: each key is a subscribed power in kVA, from 1 '
                                   'to 250 (e.g. "6" = 185)').format(key=repr(k[:20])))
        return v


class Mqtt(_Section):
    """``[mqtt]``: the broker the meters and the results go through."""

    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = Field(
        default=None, min_length=1,
        description="a file holding the password (relative to the config's folder)")
    tls: bool = False
    ca_file: str | None = None
    client_id: str | None = Field(
        default=None, min_length=1, max_length=64,
        description="default: pvshare-<host>-<hash of the store path>, unique per store and host")
    publish_results: bool = True
    topic_prefix: str = "pvshare"

    @model_validator(mode="after")
    def _one_password(self) -> Mqtt:
        if self.password is not None and self.password_file is not None:
            raise ValueError(_("give password or password_file, not both"))
        return self

    def resolved_password(self, base: Path | None = None) -> str | None:
        """The password: the environment (``PVSHARE_MQTT_PASSWORD``) wins, then
        ``password_file`` (relative to ``base``, the config's folder), then ``password``.
        Never logged.
        """
        env = os.environ.get("PVSHARE_MQTT_PASSWORD")
        if env:
            return env
        if self.password_file:
            path = Path(self.password_file)
            if base is not None and not path.is_absolute():
                path = base / path
            return _read_small_file(path, "mqtt.password_file")
        return self.password.get_secret_value() if self.password else None

    @field_validator("topic_prefix")
    @classmethod
    def _topic_prefix(cls, v: str) -> str:
        # A topic name (MQTT 3.1.1 §4.7): no wildcard (a broker drops such a publish, so
        # nothing would ever be published), no NUL or control character, not empty, not $SYS.
        if not v.strip("/"):
            raise ValueError(_('must name a topic, e.g. "pvshare"'))
        bad = next((ch for ch in v if ch in "#+" or ord(ch) < 32 or ord(ch) == 127), None)
        if bad is not None:
            raise ValueError(_("{topic} holds {char}: MQTT wildcards (# +) and control "
                               "characters cannot be in a topic that is published to").format(
                topic=repr(v[:40]), char=repr(bad)))
        if v.startswith("$"):
            raise ValueError(_at(repr(v[:40]), _("topics starting with '$' are the broker's "
                                                 "own")))
        if len(v.encode()) > 1024:
            raise ValueError(_("longer than 1,024 bytes"))
        return v


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
            raise ValueError(_("not a URL (write e.g. http://127.0.0.1:8086)")) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            from pvshare.secrets import redact_url
            raise ValueError(_("must be http://HOST:PORT or https://HOST:PORT, got "
                               "{value}").format(value=repr(redact_url(v)[:80])))
        return v.strip()
    org: str = ""
    bucket: str = "pvshare"
    token: SecretStr | None = None
    token_file: str | None = None
    batch_size: int = Field(default=5000, ge=1, le=1_000_000)

    def resolved_token(self) -> str:
        """The token: the environment (``PVSHARE_INFLUX_TOKEN``) wins, then ``token_file``,
        then ``token``. Never logged.
        """
        env = os.environ.get("PVSHARE_INFLUX_TOKEN")
        if env:
            return env
        if self.token_file:
            return _read_small_file(Path(self.token_file), "influxdb.token_file")
        return self.token.get_secret_value() if self.token else ""


class Daemon(_Section):
    """``[daemon]``: the intervals and delays of ``pvshare run``."""

    # Bounded both ways: 1e-300 would poll in a busy loop, 1e300 never (issue 21).
    poll_interval_s: float = Field(default=10, ge=0.1, le=3600)
    grace_s: float = Field(default=180, ge=0, le=86_400)
    recompute_window_h: float = Field(default=48, ge=0, le=24 * 366)
    flush_interval_s: float = Field(default=5, ge=0.1, le=3600)
    pending_horizon_h: float = Field(
        default=6, ge=0, le=24 * 366,
        description="a step still without production this long after its end is closed "
                    "incomplete (recomputed if the inverter's index comes back within "
                    "recompute_window_h)")


class Web(_Section):
    """``[web]``: the tenants' pages (``pvshare web``), see docs/web.md."""

    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses (or networks, 10.0.0.0/8) of the reverse proxies whose "
        "X-Forwarded-For is believed; empty (default): the header is ignored and the "
        "client is the socket's peer")
    max_connections: int = Field(default=256, ge=8, le=4096,
                                 description="open connections at most, all clients")
    max_connections_per_client: int = Field(default=32, ge=2, le=4096)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300,
                                    description="time a client has to send a whole request "
                                    "head, s")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress
        for item in v:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(_("{item} is not an IP address or network").format(
                    item=repr(item))) from None
        return [item.strip() for item in v]


class WeatherSource(_Section):
    """``[forecast.weather]``: the live weather forecast (pvshare.forecast.weather_source)."""

    provider: Literal["open-meteo", "none"] = "open-meteo"
    url: str = Field(default="https://api.open-meteo.com/v1/forecast",
                     pattern=r"^https?://")
    models: str = Field(default="best_match", pattern=r"^[a-z0-9_,]+$")
    timeout_s: float = Field(default=10, gt=0, le=120)
    retries: int = Field(default=3, ge=0, le=8)
    refresh_h: float = Field(default=3, gt=0, le=48)
    stale_h: float = Field(default=30, gt=0, le=24 * 30)


class ForecastSection(_Section):
    """``[forecast]``: the daemon's forecast."""

    weather: WeatherSource = WeatherSource()


class Households(_Section):
    """``[households]``: the energy advisor's register of households (docs/reports.md)."""

    # ``register`` in the TOML (a pydantic BaseModel attribute name, hence the alias).
    folder: str | None = Field(default=None, min_length=1, alias="register",
                               description="the register folder (relative: to the config "
                                           "file's folder)")


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
    web: Web = Web()
    forecast: ForecastSection = ForecastSection()
    households: Households = Households()

    #: Where the file was read from (not part of the TOML).
    source: str | None = Field(default=None, exclude=True)
    #: What :func:`parse_config` changed or ignored, one line each (``config check`` shows them).
    notes: list[str] = Field(default_factory=list, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        problems = []
        # One pass each (dicts, sets): linear in the number of participants (issue 21).
        ids = [p.id for p in self.participants]
        for i, j in duplicates(ids):
            problems.append(_at(f"participants[{j}].id", _(
                "duplicate id {id} (also participants[{i}])").format(id=repr(ids[j]), i=i)))
        problems += self._period_problems()
        dates = [str(p.from_) for p in self.prices]
        for i in range(1, len(dates)):
            if dates[i] <= dates[i - 1]:
                problems.append(_at(f"prices[{i}].from", _(
                    "must be after prices[{j}].from ({before}), got {date}").format(
                    j=i - 1, before=dates[i - 1], date=dates[i])))
        if self.producer.prm in {p.prm for p in self.participants}:
            problems.append(_at("producer.prm", _("same PRM as a participant")))
        kt = self.key.type
        coefs = [p.coefficient for p in self.participants]
        if kt in ("static", "reallocated") and any(c is not None for c in coefs):
            if any(c is None for c in coefs):
                i = coefs.index(None)
                problems.append(_at(f"participants[{i}].coefficient", _(
                    "missing (key.type = {key} needs a coefficient for every participant, or "
                    "none for equal shares)").format(key=repr(kt))))
            elif sum(coefs) > 1 + 1e-9:
                problems.append(_at("participants", _(
                    "coefficients sum to {total}, must be at most 1").format(
                    total=f"{sum(coefs):.6g}")))
        if kt == "priority":
            for i, p in enumerate(self.participants):
                if p.rank is None:
                    problems.append(_at(f"participants[{i}].rank",
                                        _("missing (key.type = 'priority')")))
        if kt == "custom" and not self.key.file:
            problems.append(_at("key.file", _("required when key.type = 'custom'")))
        for _i, j in duplicates([m.id for m in self.meters]):
            problems.append(_at(f"meters[{j}].id", _("duplicate id {id}").format(
                id=repr(self.meters[j].id))))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _period_problems(self) -> list[str]:
        """Periods in order; one PRM shared only by participants whose periods do not overlap
        (a flat's successive tenants).
        """
        from pvshare.allocation.periods import describe, overlapping_pairs
        starts, ends = self.participant_bounds()
        tz = self.site.timezone
        problems = []
        for i, p in enumerate(self.participants):
            if starts[i] >= ends[i]:
                problems.append(_at(f"participants[{i}].to", _(
                    "must be after 'from' ({id}: {period})").format(
                    id=repr(p.id), period=describe(starts[i], ends[i], tz))))
        prms = [p.prm for p in self.participants]
        for i, j in overlapping_pairs(prms, starts, ends):
            a, b = self.participants[i], self.participants[j]
            problems.append(_at(f"participants[{j}].prm", _(
                "duplicate PRM {prm} (also participants[{i}], {a!r}) over overlapping periods "
                "({a} {period_a}, {b} {period_b}); for a flat's new tenant, set the new "
                "participant's 'from' to the former one's 'to'").format(
                prm=repr(b.prm), i=i, a=a.id, b=b.id,
                period_a=describe(starts[i], ends[i], tz),
                period_b=describe(starts[j], ends[j], tz))))
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
            problems.append(_at(f"site.{'latitude' if i == 0 else 'longitude'}",
                                _("must be a number")))
    problems += _text_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    cfg = _former_tariffs(cfg)
    if cfg.influxdb is not None and cfg.influxdb.token_file:
        # Relative to the config's folder, as every path in the file (and as `config check`
        # looks for it), not to the folder `store push` or the daemon runs in.
        cfg = cfg.model_copy(update={"influxdb": cfg.influxdb.model_copy(
            update={"token_file": str(cfg.relative(cfg.influxdb.token_file))})})
    if cfg.mqtt is not None and cfg.mqtt.client_id is None:
        cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(
            update={"client_id": default_client_id(cfg)})})
    return cfg


#: The date from which ``[tariffs]``' former prices apply once read as ``[[prices]]``.
FORMER_TARIFFS_FROM = "2000-01-01"


def _former_tariffs(cfg: Config) -> Config:
    """``[tariffs] supplier_eur_per_kwh`` / ``internal_eur_per_kwh`` (the former price model,
    all taxes included) become one ``[[prices]]`` entry when there is none (VAT 0: the
    internal price already includes it), or are ignored beside ``[[prices]]``; either way a
    note says what to write instead.
    """
    t = cfg.tariffs
    if t.supplier_eur_per_kwh is None and t.internal_eur_per_kwh is None:
        return cfg
    supplier = DEFAULT_SUPPLIER_EUR_PER_KWH if t.supplier_eur_per_kwh is None \
        else t.supplier_eur_per_kwh
    tariffs = t.model_copy(update={"supplier_eur_per_kwh": None, "internal_eur_per_kwh": None})
    if cfg.prices:
        note = _at("tariffs.supplier_eur_per_kwh, tariffs.internal_eur_per_kwh", _(
            "ignored, the prices are those of [[prices]] (every bill, statement, page and "
            "report uses them); remove these two lines from [tariffs]"))
        return cfg.model_copy(update={"tariffs": tariffs, "notes": [*cfg.notes, note]})
    internal = 0.10 if t.internal_eur_per_kwh is None else t.internal_eur_per_kwh
    price = PricePeriod.model_validate({"from": FORMER_TARIFFS_FROM,
                                        "energy_eur_per_kwh": internal, "vat_percent": 0.0,
                                        "supplier_eur_per_kwh": supplier})
    note = _at("tariffs.supplier_eur_per_kwh, tariffs.internal_eur_per_kwh", _(
        "the former price model, read as one [[prices]] entry (the prices of bills, "
        "statements, pages and reports); remove these two lines from [tariffs] and write "
        "instead (the internal price included every tax, hence vat_percent = 0):")) + (
        f"\n    [[prices]]\n    from = {FORMER_TARIFFS_FROM}\n"
        f"    energy_eur_per_kwh = {internal:g}\n    vat_percent = 0\n"
        f"    supplier_eur_per_kwh = {supplier:g}")
    return cfg.model_copy(update={"tariffs": tariffs, "prices": [price],
                                  "notes": [*cfg.notes, note]})
def _text_problems(cfg: Config) -> list[str]:
    """Paths and names handed to the system or to a server as they are: no NUL or control
    character (a path holding NUL cannot be opened; a client id holding one is refused by
    the broker), not empty, no space in a host name (issue 21).
    """
    def control(v: str | None) -> str | None:
        return next((c for c in v or "" if ord(c) < 32 or ord(c) == 127), None)

    texts = {"store.path": cfg.store.path, "key.file": cfg.key.file,
             "operation.key_dir": cfg.operation.key_dir}
    if cfg.influxdb is not None:
        texts |= {"influxdb.token_file": cfg.influxdb.token_file,
                  "influxdb.bucket": cfg.influxdb.bucket, "influxdb.org": cfg.influxdb.org}
    if cfg.mqtt is not None:
        texts |= {"mqtt.ca_file": cfg.mqtt.ca_file, "mqtt.client_id": cfg.mqtt.client_id,
                  "mqtt.host": cfg.mqtt.host, "mqtt.username": cfg.mqtt.username}
    problems = []
    for name, v in texts.items():
        ch = control(v)
        if ch is not None:
            problems.append(_at(name, _("holds the control character {char}: retype "
                                        "it").format(char=repr(ch))))
    if cfg.influxdb is not None and not cfg.influxdb.bucket.strip():
        problems.append(_at("influxdb.bucket", _("must name a bucket")))
    if cfg.mqtt is not None and (not cfg.mqtt.host.strip() or any(
            c.isspace() for c in cfg.mqtt.host)):
        problems.append(_at("mqtt.host", _("must be a host name or address without spaces, "
                                           "got {value}").format(
            value=repr(cfg.mqtt.host[:40]))))
    return problems


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
        problems.append(_at("producer.meter", _("no [[meters]] section has id {id} (ids: "
                                                "{ids})").format(
            id=repr(cfg.producer.meter), ids=", ".join(sorted(ids)))))
    for i, p in enumerate(cfg.participants):
        if cfg.meters and p.meter and p.meter not in expanded:
            problems.append(_at(f"participants[{i}].meter", _(
                "no [[meters]] section has id {id}").format(id=repr(p.meter))))
    store = cfg.relative(cfg.store.path)
    if store is not None:
        if store.is_dir():
            problems.append(_at("store.path", _("{path} is a folder; give a file name (e.g. "
                                                "pvshare.db)").format(path=store)))
        elif not store.parent.is_dir() and not _state_directory(store.parent):
            problems.append(_at("store.path", _("the folder {path} does not exist").format(
                path=store.parent)))
    if cfg.influxdb is not None and cfg.influxdb.token_file:
        tf = cfg.relative(cfg.influxdb.token_file)
        problem = _small_file_problem(tf) if tf is not None else None
        if problem:
            problems.append(_at("influxdb.token_file", problem))
    if cfg.mqtt is not None and cfg.mqtt.password_file:
        pf = cfg.relative(cfg.mqtt.password_file)
        problem = _small_file_problem(pf) if pf is not None else None
        if problem:
            problems.append(_at("mqtt.password_file", problem))
    if cfg.mqtt is not None and cfg.mqtt.ca_file:
        ca = cfg.relative(cfg.mqtt.ca_file)
        problem = _small_file_problem(ca, MAX_CA_FILE_BYTES) if ca is not None else None
        if problem:
            problems.append(_at("mqtt.ca_file", problem))
    if cfg.store.group:
        import grp
        try:
            grp.getgrnam(cfg.store.group)
        except KeyError:
            problems.append(_at("store.group", _("no group {group} on this machine "
                                                 "(`pvshare run` would refuse to "
                                                 "start)").format(group=repr(cfg.store.group))))
    return problems


def _state_directory(folder: Path) -> bool:
    """Whether a missing store folder is one systemd creates at the service's first start
    (``StateDirectory=``: a folder right under /var/lib, as in /var/lib/pvshare), so that
    ``config check`` of an installed configuration passes before that start.
    """
    return folder.parent == Path("/var/lib") and folder.parent.is_dir()
#: Largest token file read (a token is one line: InfluxDB's are 88 characters).
MAX_TOKEN_BYTES = 4096
#: Largest CA bundle accepted (the system's whole bundle is about 200 kB).
MAX_CA_FILE_BYTES = 4 << 20


def _small_file_problem(path: Path, limit: int = MAX_TOKEN_BYTES) -> str | None:
    """Why ``path`` cannot be a small file the config points to (a token, a CA bundle), or
    None. A device or a pipe (``/dev/zero``) is refused without reading a byte of it.
    """
    import stat
    try:
        st = path.stat()
    except ValueError:                                  # NUL in the path
        return _("{path} is not a file name").format(path=repr(str(path)[:60]))
    except FileNotFoundError:
        return _("{path} does not exist").format(path=path)
    except OSError as exc:
        return _at(str(path), _("cannot read it ({why})").format(why=exc.strerror))
    if stat.S_ISDIR(st.st_mode):
        return _("{path} is a folder").format(path=path)
    if not stat.S_ISREG(st.st_mode):
        return _("{path} is not a regular file (a device or a pipe): give a file").format(
            path=path)
    if st.st_size > limit:
        return _("{path} holds {size} bytes, more than the {limit} expected").format(
            path=path, size=f"{st.st_size:,}", limit=f"{limit:,}")
    return None


def _read_small_file(path: Path, what: str, limit: int = MAX_TOKEN_BYTES) -> str:
    """The stripped text of a small file (a token), read in bounded memory; a device, a
    pipe, a folder or a long file gives a :class:`ConfigError` naming ``what``; its content
    is never shown.
    """
    problem = _small_file_problem(path, limit)
    if problem:
        raise ConfigError(str(path), [_at(what, problem)])
    with open(path, "rb") as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise ConfigError(str(path), [_at(what, _("more than {limit} bytes").format(
            limit=f"{limit:,}"))])
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(str(path), [_at(what, _("not UTF-8 text"))]) from None


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


#: What the bracket count skips: strings (multi-line ones first) and comments.
_NOT_BRACKETS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|'
                           r"'[^'\n]*'|#[^\n]*")


def _nesting(text: str) -> int:
    """Deepest bracket nesting outside strings and comments (no recursion, no Python loop
    over characters: 18,000 participants in a few milliseconds).
    """
    import numpy as np
    bare = np.frombuffer(_NOT_BRACKETS.sub("", text).encode(), dtype=np.uint8)
    step = np.zeros(bare.size, dtype=np.int32)
    step[(bare == ord("[")) | (bare == ord("{"))] = 1
    step[(bare == ord("]")) | (bare == ord("}"))] = -1
    return int(np.cumsum(step).max(initial=0))


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML configuration file (at most 1 MB, brackets nested at most
    32 deep; a UTF-8 byte-order mark at the start is ignored).
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise ConfigError(str(p), [_("is a folder, not a configuration file")])
        with open(p, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(str(p), [_("file not found")]) from None
    except OSError as exc:
        raise ConfigError(str(p), [_("cannot read: {why}").format(why=exc.strerror)]
                          ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(str(p), [_("larger than {n} MB: not a pvshare configuration (one "
                                     "is a few kB)").format(n=MAX_CONFIG_BYTES >> 20)])
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(str(p), [_("line {n}: not UTF-8 text (save the file as "
                                     "UTF-8)").format(n=line)]) from None
    if _nesting(text) > MAX_CONFIG_NESTING:
        raise ConfigError(str(p), [_("brackets nested more than {n} deep: not a pvshare "
                                     "configuration").format(n=MAX_CONFIG_NESTING)])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [_("not valid TOML: {why}").format(why=exc)]) from None
    except RecursionError:
        raise ConfigError(str(p), [_("nested too deeply: not a pvshare configuration")]
                          ) from None
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
