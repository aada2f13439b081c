"""The installer's tools behind ``pvshare meters``: listen to the MQTT meters of a config,
decode bridge payloads from a file, probe a Modbus device.

Each function does the work and returns plain data (or yields it); the command module only
parses options and prints.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from pvshare.errors import InputError, PvshareError
from pvshare.meters.base import Reading


def iso_utc(t_s: float) -> str:
    """``2025-06-01T10:00:00Z`` (whole seconds) or with milliseconds when not whole."""
    d = dt.datetime.fromtimestamp(t_s, dt.UTC)
    if t_s != int(t_s):
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- listen -----------------------------------------------------------------------------------
def listen(cfg, seconds: float, show: Callable[[Reading], None]) -> list:
    """Start the config's MQTT meters for ``seconds`` from their subscription, giving each
    reading to ``show``;
    returns the (stopped) meters, whose ``counters`` and ``last_error`` tell what happened.

    Raises
    ------
    InputError
        When the config has no ``type = "mqtt"`` meter.
    """
    from pvshare.meters import registry

    sections = [m for m in cfg.meters if registry.kind_of(m.type) == "push"]
    if not sections:
        raise InputError('no [[meters]] entry with type = "mqtt"', source=cfg.source)
    meters = [registry.create(s, cfg) for s in sections]
    for m in meters:
        m.start(show)
    for m in meters:              # the time counts once subscribed (up to ``seconds`` more)
        m.wait_connected(seconds)
    time.sleep(seconds)
    for m in meters:
        m.stop()
    return meters


# -- decode -----------------------------------------------------------------------------------
def decode_lines(fmt: str, lines: Iterable[bytes], received_s: float | None = None,
                 clock: Callable[[], float] = time.time,
                 on_detail: Callable[[str], None] | None = None) -> Iterator[dict]:
    """Decode one bridge payload per line (``pvshare meters decode``).

    Parameters
    ----------
    fmt : {"zlinky", "teleinfo2mqtt"}
    lines : iterable of bytes
        One MQTT payload per line; blank lines are skipped.
    received_s : float, optional
        The receive time of every payload (UTC Unix seconds). Without it, a payload's own
        time is used when trusted, else ``clock()``.

    Yields
    ------
    dict
        ``{"time", "import_wh", "export_wh", "power_w", "time_from_payload"}`` or
        ``{"rejected": reason}`` (the detail goes to ``on_detail`` when given).
    """
    from pvshare.meters import payloads
    from pvshare.meters.payloads import Limits

    if received_s is None:
        # any trusted payload time is accepted (a file is read after the fact)
        limits = Limits(max_future_s=float("inf"))
    else:
        limits = payloads.DEFAULT_LIMITS
    for raw in lines:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        now = clock() if received_s is None else received_s
        res = payloads.decode(fmt, line, now, limits)
        if isinstance(res, payloads.Rejection):
            if on_detail is not None:
                on_detail(f"{res.reason}: {res.detail}")
            yield {"rejected": res.reason}
            continue
        yield {"time": iso_utc(res.time_s), "import_wh": res.import_wh,
               "export_wh": res.export_wh, "power_w": res.power_va,
               "time_from_payload": res.time_from_payload}


# -- probe ------------------------------------------------------------------------------------
class ProbeError(PvshareError):
    """Nothing usable answered at the address probed."""


@dataclass
class ProbeResult:
    """What ``pvshare meters probe`` found: the SunSpec models (or the profile) and one
    reading (``None`` values where the device gives none).
    """

    models: list[dict] = field(default_factory=list)
    device: dict = field(default_factory=dict)
    reading: dict = field(default_factory=dict)
    #: counters refused in the reading, and why (``{"export_wh": "sign_bit: …"}``)
    refused: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        """``{"models": [...], "reading": {...}}`` (and ``"refused": {...}`` when a counter
        was refused); the device's name and serial are in the common model's entry (id 1).
        """
        models = [dict(m, **self.device) if m.get("id") == 1 else m for m in self.models]
        out = {"models": models, "reading": self.reading}
        if self.refused:
            out["refused"] = self.refused
        return out


def _reading_dict(r: Reading | None) -> dict:
    if r is None:
        return {"power_w": None, "import_wh": None, "export_wh": None}
    return {"power_w": r.power_w, "import_wh": r.import_wh, "export_wh": r.export_wh}


def probe(host: str, port: int = 502, unit: int = 1, role: str = "production",
          profile: str | None = None, timeout_s: float = 3.0) -> ProbeResult:
    """Find a device's SunSpec models (or read it with a profile) and take one reading.

    Raises
    ------
    ProbeError
        Nothing answers, no SunSpec map, or no model/profile register usable for ``role``;
        the message names what was found.
    """
    from pvshare.meters.modbus_client import DeviceExceptionResponse, ModbusError

    now = time.time()
    if profile is not None:
        from pvshare.meters.modbus import ModbusMeter, ModbusOptions
        from pvshare.meters.profiles import load_profile
        prof = load_profile(profile)
        m = ModbusMeter("probe", ModbusOptions(host=host, port=port, unit=unit, role=role,
                                               profile=profile, timeout_s=timeout_s))
        try:
            readings = m.read(now)
        finally:
            m.close()
        if not readings:
            problems = {k: v for k, v in m.counters.items() if k not in ("polls",)}
            why = "; ".join(m.refused.values())
            raise ProbeError(f"{host}:{port} unit {unit}: no reading with profile {profile!r} "
                             f"({', '.join(f'{k}={v}' for k, v in problems.items()) or 'nothing'})"
                             + (f": {why}" if why else ""))
        return ProbeResult(models=[{"profile": prof.name, "device": prof.device}],
                           device={"manufacturer": prof.manufacturer, "model": prof.device},
                           reading=_reading_dict(readings[0]), refused=dict(m.refused))

    from pvshare.meters import sunspec_models as sm
    from pvshare.meters.modbus_client import ModbusConnection
    from pvshare.meters.sunspec import SunSpecMeter, SunSpecOptions, discover

    conn = ModbusConnection(host, port, unit, timeout_s, name="probe")
    try:
        try:
            smap = discover(conn, now)
        except DeviceExceptionResponse as exc:
            raise ProbeError(f"{host}:{port} unit {unit}: the device answered with Modbus "
                             f"exception {exc.code} and no SunSpec map") from None
        except ModbusError as exc:
            raise ProbeError(f"{host}:{port} unit {unit}: {exc}") from None
    finally:
        conn.close()
    models = [{"id": m.id, "address": m.address, "length": m.length,
               "name": sm.MODELS[m.id].name if m.id in sm.MODELS else None,
               "supported": m.id in sm.MODELS} for m in smap.models]
    meter = SunSpecMeter("probe", SunSpecOptions(host=host, port=port, unit=unit, role=role,
                                                  timeout_s=timeout_s))
    try:
        readings = meter.read(now)
    finally:
        meter.close()
    if not readings:
        found = ", ".join(str(m["id"]) for m in models) or "none"
        problems = {k: v for k, v in meter.counters.items() if k not in ("polls",)}
        why = "; ".join(meter.refused.values())
        raise ProbeError(f"{host}:{port} unit {unit}: SunSpec models {found}, but no reading "
                         f"for role {role!r} ({', '.join(f'{k}={v}' for k, v in problems.items())})"
                         + (f": {why}" if why else ""))
    device = {k: meter.common.get(k) for k in ("Mn", "Md", "SN", "Vr")}
    return ProbeResult(models=models, device=device, reading=_reading_dict(readings[0]),
                       refused=dict(meter.refused))
