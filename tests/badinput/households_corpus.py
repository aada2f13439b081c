"""Bad input given to ``pvshare households …``: each case builds a small register (one
household, one short real export) and runs one command. A refused case must leave every
file of the register as it was (``check``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from scripts.advisor_exports import export_text, series
from tests.badinput.harness import Case

DAY = dt.date(2024, 1, 8)
_E, _V = series(DAY, 4, "2008-01-07 00:00")


def export(first: dt.date = DAY, days: int = 2, *, prm: str = "09990000000042",
           scale: float = 1.0) -> str:
    """A short real export of the household (``days`` local days from ``first``)."""
    return export_text(_E, _V * scale, first, first + dt.timedelta(days=days), prm=prm)


def register(tmp: Path, *, curve: bool = True) -> Path:
    """A register ``reg`` with household F01 (and its first export when ``curve``)."""
    from pvshare.households.register import Household, Register
    reg = Register.init(tmp / "reg")
    reg.add(Household(code="F01", kva=6, occupants=2, heating="electric", since="2024-01-01"))
    if curve:
        (tmp / "first.csv").write_text(export(), encoding="utf-8")
        reg.add_curve("F01", tmp / "first.csv", today=dt.date(2024, 3, 1))
    return reg.path


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


_BEFORE: dict[str, str] = {}


def cmd(*args: str, curve: bool = True, files: dict | None = None, damage=None):
    """A case's builder: the register, ``files`` written beside it, ``damage(reg)`` applied,
    then ``pvshare households ARGS --register reg``.
    """
    def build(tmp: Path) -> list[str]:
        reg = register(tmp, curve=curve)
        for name, text in (files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        if damage is not None:
            damage(reg)
        _BEFORE[str(tmp)] = _digest(reg)
        return ["households", args[0], *args[1:], "--register", "reg"]
    return build


def unchanged(tmp: Path) -> str | None:
    """The register's files are as before the command."""
    if _digest(tmp / "reg") != _BEFORE.get(str(tmp)):
        return "the register was modified"
    return None


def _write(rel: str, text: str):
    def damage(reg: Path) -> None:
        (reg / rel).write_text(text, encoding="utf-8")
    return damage


CONFLICT = export(scale=1.5)          # the same half-hours with other values

HOUSEHOLDS_CASES = [
    Case("households-visit-unknown-code",
         cmd("visit", "F99", "--date", "2024-02-01", "--action", "led"),
         mention=("F99", "F01"), check=unchanged),
    Case("households-visit-bad-date",
         cmd("visit", "F01", "--date", "2024-13-01", "--action", "led"),
         mention=("--date", "2024-13-01"), check=unchanged),
    Case("households-visit-date-words",
         cmd("visit", "F01", "--date", "demain", "--action", "led"),
         mention=("--date",), check=unchanged),
    Case("households-visit-unknown-intervention",
         cmd("visit", "F01", "--date", "2024-02-01", "--action", "ampoules"),
         mention=("--action", "ampoules", "led"), check=unchanged),
    Case("households-visit-other-without-note",
         cmd("visit", "F01", "--date", "2024-02-01", "--action", "other"),
         mention=("--note",), check=unchanged),
    Case("households-visit-twice-same-day", lambda tmp: (
        cmd("visit", "F01", "--date", "2024-02-01", "--action", "led")(tmp),
        __import__("pvshare.households.register", fromlist=["Register"]).Register(
            tmp / "reg").add_visit("F01", __import__(
                "pvshare.households.register", fromlist=["Visit"]).Visit(
                    "2024-02-01", ["advice"])),
        _BEFORE.__setitem__(str(tmp), _digest(tmp / "reg")))[0],
         mention=("2024-02-01",), check=unchanged),
    Case("households-add-code-with-slash",
         cmd("add", "../F02", "--kva", "6"), mention=("../F02",), check=unchanged),
    Case("households-add-code-taken", cmd("add", "F01", "--kva", "6"),
         mention=("F01",), check=unchanged),
    Case("households-add-power-not-standard", cmd("add", "F02", "--kva", "7"),
         mention=("kva", "7"), check=unchanged),
    Case("households-add-hphc-without-hours", cmd("add", "F02", "--kva", "6", "--option",
                                                  "hphc"),
         mention=("offpeak_hours",), check=unchanged),
    Case("households-add-bad-hours", cmd("add", "F02", "--kva", "6", "--option", "hphc",
                                         "--offpeak-hours", "22h-6h"),
         mention=("offpeak_hours", "22h-6h"), check=unchanged),
    Case("households-add-occupants-zero", cmd("add", "F02", "--kva", "6", "--occupants", "0"),
         mention=("occupants",), check=unchanged),
    Case("households-add-curve-unknown-code",
         cmd("add-curve", "F07", "new.csv", files={"new.csv": export()}),
         mention=("F07",), check=unchanged),
    Case("households-add-curve-missing-file", cmd("add-curve", "F01", "absent.csv"),
         mention=("absent.csv",), check=unchanged),
    Case("households-add-curve-not-a-curve",
         cmd("add-curve", "F01", "notes.csv", files={"notes.csv": "bonjour;au revoir\n"}),
         mention=("notes.csv",), check=unchanged),
    Case("households-add-curve-conflicting-values",
         cmd("add-curve", "F01", "other.csv", files={"other.csv": CONFLICT}),
         mention=("other.csv", "nothing was added"), check=unchanged),
    Case("households-add-curve-other-meter",
         cmd("add-curve", "F01", "moved.csv",
             files={"moved.csv": export(DAY + dt.timedelta(days=2), 1, prm="09990000000099")}),
         mention=("moved.csv", "--other-meter"), check=unchanged),
    Case("households-add-curve-overlap-ok",
         cmd("add-curve", "F01", "next.csv", files={"next.csv": export(DAY + dt.timedelta(
             days=1), 2)}), "ok"),
    Case("households-add-curve-same-file-twice",
         cmd("add-curve", "F01", "first.csv"), "ok", check=unchanged),
    Case("households-no-register", lambda tmp: ["households", "show", "--register", "nowhere"],
         mention=("nowhere",)),
    Case("households-init-not-empty", lambda tmp: (
        (tmp / "full").mkdir(), (tmp / "full" / "x.txt").write_text("x"),
        ["households", "init", "full"])[2], mention=("full",)),
    Case("households-damaged-curve-row",
         cmd("show", "F01", damage=_write("courbes/F01.csv",
                                          "debut_utc,wh,qualite\n2024-01-07T23:00:00,12,0\n"
                                          "2024-01-07T23:30:00,douze,0\n")),
         mention=("F01.csv", "line 3"), check=unchanged),
    Case("households-damaged-household-toml",
         cmd("show", "F01", damage=_write("foyers/F01.toml", "code = \"F01\"\nkva = [\n")),
         mention=("F01.toml",), check=unchanged),
    Case("households-household-file-bad-option",
         cmd("show", "F01", damage=_write("foyers/F01.toml",
                                          'code = "F01"\nkva = 6\noption = "ejp"\n')),
         mention=("F01.toml", "option", "ejp"), check=unchanged),
    Case("households-temperatures-bad-row",
         cmd("show", "F01", "--temperatures", "meteo.csv",
             files={"meteo.csv": "date,temp_c\n2024-01-08,3.5\n2024-01-09,tiède\n"}),
         mention=("meteo.csv", "line 3", "temp_c"), check=unchanged),
    Case("households-temperatures-repeated-day",
         cmd("show", "F01", "--temperatures", "meteo.csv",
             files={"meteo.csv": "date,temp_c\n2024-01-08,3.5\n2024-01-08,4\n"}),
         mention=("meteo.csv", "2024-01-08"), check=unchanged),
]
