"""TIC encoders: groups, frames and horodates as a Linky writes them (test and simulator
tools; the decoder is :mod:`pvshare.meters.tic`).
"""

from __future__ import annotations

import datetime as dt

from pvshare.meters.tic import ETX, STX, checksum


def encode_group(label: str, data: str, horodate: str | None = None,
                 mode: str = "standard") -> bytes:
    """One group, LF … CR, with its checksum (for simulators and tests)."""
    if mode == "standard":
        body = label.encode() + b"\t"
        if horodate is not None:
            body += horodate.encode() + b"\t"
        body += data.encode() + b"\t"
        return b"\n" + body + bytes([checksum(body)]) + b"\r"
    if mode == "historique":
        if horodate is not None:
            raise ValueError("historique groups have no horodate")
        body = label.encode() + b" " + data.encode()
        return b"\n" + body + b" " + bytes([checksum(body)]) + b"\r"
    raise ValueError(f"unknown TIC mode {mode!r}")


def encode_frame(groups, mode: str = "standard") -> bytes:
    """A frame STX … ETX from ``(label, data)`` or ``(label, data, horodate)`` tuples."""
    return bytes([STX]) + b"".join(encode_group(*g, mode=mode) for g in groups) + bytes([ETX])


def make_horodate(time_s: float, degraded: bool = False) -> str:
    """Horodate ``SAAMMJJhhmmss`` of a UTC time as a Linky writes it (legal French time:
    ``E`` + UTC+2 in summer, ``H`` + UTC+1 in winter; lower case when ``degraded``).
    """
    from zoneinfo import ZoneInfo
    local = dt.datetime.fromtimestamp(int(time_s), ZoneInfo("Europe/Paris"))
    season = "E" if local.utcoffset() == dt.timedelta(hours=2) else "H"
    if degraded:
        season = season.lower()
    return season + local.strftime("%y%m%d%H%M%S")


