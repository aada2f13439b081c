"""The register of households: a folder of plain text files (docs/formats.md, "Household
register").

::

    REGISTER/
      registre.toml          format marker: format = "pvshare-households", version = 1
      foyers/<CODE>.toml     one household: its description, visits and imported exports
      courbes/<CODE>.csv     its merged 30-minute load curve: debut_utc,wh,qualite

Plain TOML and CSV so that the register outlives pvshare: any text editor or spreadsheet
reads it. Every file is written through :mod:`pvshare.files.atomic` (a reader never sees a
half-written file), private (``0o600``); a change that touches two files (a curve and its
household) writes both or neither.

Households are known by an anonymous **code** only (no name is asked for or stored). The
PRM of an Enedis export is not stored either: only the first 16 hex digits of its SHA-256,
to tell when an export comes from another meter than the previous ones.

Merging exports (``add-curve``): the curve is read by :func:`pvshare.enedis.loadcurve.
read_load_curve` (every layout pvshare reads) on the 30-minute grid; a step already stored
with the same value (within :data:`SAME_WH`) is counted once; a step stored from an Enedis
estimate (quality bit ``ESTIMATED``) and now measured takes the measured value; any other
different value for the same step is an error naming the step and both values, and nothing
is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pvshare.errors import InputError, PvshareError
from pvshare.files.atomic import atomic_writes, write_atomic
from pvshare.i18n import _

FORMAT = "pvshare-households"
VERSION = 1
#: The register's grid: 30-minute steps.
STEP_S = 1800
#: Two values of one step agree when they differ by less than this (Wh): 1 W over 30
#: minutes, the rounding of the layouts (W, kW with 3 decimals, Wh).
SAME_WH = 0.5
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
HEATINGS = ("electric", "gas", "other")
OPTIONS = ("base", "hphc", "tempo")
STANDARD_KVA = (3, 6, 9, 12, 15, 18, 24, 30, 36)

#: The interventions of a visit (key: French label), docs/reports.md. ``other`` needs a note.
INTERVENTIONS = {
    "led": "Ampoules LED",
    "power_strip": "Multiprises à interrupteur",
    "tap_aerator": "Mousseurs (réducteurs de débit)",
    "shower_head": "Pomme de douche économe",
    "water_heater": "Réglage du chauffe-eau",
    "fridge": "Réfrigérateur et congélateur réglés ou dégivrés",
    "heating": "Réglage du chauffage ou programmateur",
    "thermometer": "Thermomètre d'ambiance",
    "draught_strips": "Joints et bas de porte",
    "advice": "Conseils d'usage (écogestes)",
    "tariff": "Changement d'option ou de puissance",
    "other": "Autre (décrit dans la note)",
}


@dataclass
class Visit:
    """A home visit: its local date, the interventions (keys of :data:`INTERVENTIONS`) and
    a free note (kept in the register and the household's own report, never in the
    caseload report).
    """

    date: str
    actions: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Import:
    """One Enedis export added to the register (the file itself is not kept)."""

    file: str
    sha256: str
    added: str
    first_utc: str
    last_utc: str
    steps: int
    new_steps: int
    replaced_steps: int = 0
    layout: str = ""
    meter: str = ""          # first 16 hex digits of the SHA-256 of the PRM, or ""


@dataclass
class Household:
    """A household of the register (see docs/formats.md for each field)."""

    code: str
    kva: int
    option: str = "base"
    offpeak_hours: str = ""
    occupants: int | None = None
    surface_m2: float | None = None
    heating: str = "other"
    since: str = ""
    visits: list[Visit] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)

    def to_toml(self) -> str:
        """The household's file, TOML (tomli-w)."""
        import tomli_w
        d = {k: v for k, v in asdict(self).items() if v is not None and v != ""}
        if not d["visits"]:
            d.pop("visits")
        if not d["imports"]:
            d.pop("imports")
        for v in d.get("visits", []):
            if not v["note"]:
                v.pop("note")
        return tomli_w.dumps(d)


@dataclass(frozen=True)
class Curve:
    """A household's stored curve: UTC step starts, Wh, quality bits (only steps with a
    value; sorted, unique).
    """

    times: np.ndarray       # datetime64[s]
    wh: np.ndarray          # float
    flags: np.ndarray       # uint8

    @property
    def size(self) -> int:
        """Number of steps with a value."""
        return int(self.times.size)


EMPTY = Curve(np.zeros(0, "datetime64[s]"), np.zeros(0), np.zeros(0, np.uint8))


# -- validation of what a person types -----------------------------------------------------

def check_code(code: str) -> str:
    """``code`` if it is a valid household code (letters, digits, ``-``, ``_``, ≤ 32)."""
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise PvshareError(_("household code {code!r}: use 1 to 32 letters, digits, '-' or "
                             "'_' (an anonymous code, never a name)").format(code=code))
    return code


def check_date(text: str, what: str = "--date") -> str:
    """``text`` if it is a calendar date ``YYYY-MM-DD``."""
    try:
        d = dt.date.fromisoformat(text)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or not 1990 <= d.year <= 2200:
            raise ValueError
    except (TypeError, ValueError):
        raise PvshareError(_("{what}: expected a date YYYY-MM-DD (e.g. 2025-03-14), got "
                             "{value!r}").format(what=what, value=text)) from None
    return text


def check_actions(actions: list[str], note: str) -> list[str]:
    """The intervention keys, each from :data:`INTERVENTIONS` (``other`` needs a note)."""
    out = []
    for a in actions:
        key = a.strip().lower()
        if key not in INTERVENTIONS:
            raise PvshareError(_("--action: unknown intervention {action!r}; known: "
                                 "{known}").format(action=a, known=", ".join(INTERVENTIONS)))
        if key not in out:
            out.append(key)
    if not out:
        raise PvshareError(_("give at least one --action (known: {known})").format(
            known=", ".join(INTERVENTIONS)))
    if "other" in out and not note.strip():
        raise PvshareError(_("--action other: describe it with --note"))
    return out


def check_household(h: Household, source: str = "") -> Household:
    """``h`` if every field is valid; else an error naming the field (and the file)."""
    def bad(field_: str, msg: str):
        raise InputError(msg, source=source or None, field=field_)
    check_code(h.code)
    if h.kva not in STANDARD_KVA:
        bad("kva", _("{value!r} is not a standard power ({known})").format(
            value=h.kva, known=", ".join(map(str, STANDARD_KVA))))
    if h.option not in OPTIONS:
        bad("option", _("unknown option {value!r} (base, hphc or tempo)").format(
            value=h.option))
    if h.heating not in HEATINGS:
        bad("heating", _("unknown heating {value!r} (electric, gas or other)").format(
            value=h.heating))
    if h.occupants is not None and not (isinstance(h.occupants, int) and
                                        1 <= h.occupants <= 30):
        bad("occupants", _("expected a number of people from 1 to 30, got {value!r}").format(
            value=h.occupants))
    if h.surface_m2 is not None and not (isinstance(h.surface_m2, int | float) and
                                         5 <= h.surface_m2 <= 1000):
        bad("surface_m2", _("expected a surface from 5 to 1000 m², got {value!r}").format(
            value=h.surface_m2))
    if h.offpeak_hours:
        from pvshare.billing.prices import parse_hour_ranges
        try:
            parse_hour_ranges([p for p in h.offpeak_hours.split(",") if p.strip()])
        except (ValueError, TypeError) as exc:
            bad("offpeak_hours", _("bad off-peak hours {value!r}: {why}").format(
                value=h.offpeak_hours, why=exc))
    elif h.option == "hphc":
        bad("offpeak_hours", _("the Heures creuses option needs the off-peak hours of the "
                               "bill (e.g. --offpeak-hours 22:00-06:00)"))
    for v in h.visits:
        check_date(v.date, "visits.date")
        check_actions(v.actions, v.note)
    return h


# -- the register folder --------------------------------------------------------------------

class Register:
    """A register folder (see the module docstring). Create one with :meth:`init`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # paths
    @property
    def marker(self) -> Path:
        """The register's format marker, ``registre.toml``."""
        return self.path / "registre.toml"

    def household_file(self, code: str) -> Path:
        """The file of household ``code``."""
        return self.path / "foyers" / f"{code}.toml"

    def curve_file(self, code: str) -> Path:
        """The curve file of household ``code``."""
        return self.path / "courbes" / f"{code}.csv"

    # whole register
    @classmethod
    def init(cls, path: str | os.PathLike) -> Register:
        """Create an empty register folder (an error if one is already there)."""
        reg = cls(path)
        if reg.marker.exists():
            raise PvshareError(_("{path}: there is already a register here").format(
                path=reg.path))
        if reg.path.exists() and any(reg.path.iterdir()):
            raise PvshareError(_("{path}: the folder is not empty; choose a new folder for "
                                 "the register").format(path=reg.path))
        reg.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        for sub in ("foyers", "courbes"):
            (reg.path / sub).mkdir(mode=0o700, exist_ok=True)
        write_atomic(reg.marker, f'format = "{FORMAT}"\nversion = {VERSION}\n')
        return reg

    def check(self) -> Register:
        """``self`` if the folder is a register of a version this pvshare reads."""
        try:
            meta = tomllib.loads(self.marker.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise PvshareError(_("{path}: no household register here (create one with "
                                 "`pvshare households init {path}`)").format(
                                     path=self.path)) from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(str(exc)[:200], source=str(self.marker)) from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise InputError(_("not a household register of version {v} (format "
                               "{fmt!r}, version {got!r})").format(
                                   v=VERSION, fmt=meta.get("format"), got=meta.get("version")),
                             source=str(self.marker))
        return self

    def codes(self) -> list[str]:
        """The codes of the households, sorted."""
        folder = self.path / "foyers"
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.toml") if CODE_RE.match(p.stem))

    # one household
    def exists(self, code: str) -> bool:
        """Whether household ``code`` is in the register."""
        return self.household_file(check_code(code)).exists()

    def household(self, code: str) -> Household:
        """The household ``code`` (an error naming the code when unknown)."""
        check_code(code)
        path = self.household_file(code)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = self.codes()
            raise PvshareError(_("unknown household {code!r} in {path} (known: {known})").format(
                code=code, path=self.path,
                known=", ".join(known[:20]) + (" …" if len(known) > 20 else "") or "-")
            ) from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(str(exc)[:200], source=str(path)) from None
        try:
            visits = [Visit(**v) for v in data.pop("visits", [])]
            imports = [Import(**i) for i in data.pop("imports", [])]
            h = Household(**data, visits=visits, imports=imports)
        except TypeError as exc:
            raise InputError(_("unexpected content: {why}").format(why=exc),
                             source=str(path)) from None
        if h.code != code:
            raise InputError(_("code {got!r} does not match the file name").format(
                got=h.code), source=str(path), field="code")
        return check_household(h, str(path))

    def save(self, h: Household) -> None:
        """Write the household's file (atomically, private)."""
        check_household(h)
        write_atomic(self.household_file(h.code), h.to_toml())

    def add(self, h: Household) -> None:
        """Add a new household (an error if the code is taken)."""
        check_household(h)
        if self.household_file(h.code).exists():
            raise PvshareError(_("household {code!r} is already in the register").format(
                code=h.code))
        self.save(h)

    def add_visit(self, code: str, visit: Visit) -> Household:
        """Record a visit (dates kept in order; one visit per date)."""
        h = self.household(code)
        check_date(visit.date)
        visit.actions = check_actions(visit.actions, visit.note)
        if any(v.date == visit.date for v in h.visits):
            raise PvshareError(_("household {code!r} already has a visit on {date}").format(
                code=code, date=visit.date))
        h.visits = sorted([*h.visits, visit], key=lambda v: v.date)
        self.save(h)
        return h

    # curves
    def curve(self, code: str) -> Curve:
        """The stored curve of ``code`` (empty when no export was added)."""
        return read_curve_file(self.curve_file(code))

    def add_curves(self, code: str, exports: list, *, today: dt.date,
                   other_meter: bool = False, jobs: int = 1
                   ) -> list[tuple[Import | None, list[str]]]:
        """Merge Enedis exports, in order, into the household's curve (see the module
        docstring), all or nothing: the files are read by ``jobs`` processes (reading is
        most of the work), merged in memory, and the curve and the household's file written
        once.

        Returns
        -------
        list of (Import or None, list of str)
            For each export, what was added (None: the same file was already added,
            nothing changed) and warnings of the reader and of the merge.
        """
        h = self.household(code)
        digests = [_digest(e) for e in exports]
        todo = [k for k, d in enumerate(digests)
                if not any(i.sha256 == d for i in h.imports) and d not in digests[:k]]
        curves: dict[int, object] = {}
        if jobs > 1 and len(todo) > 1:
            import multiprocessing as mp
            with mp.get_context("fork").Pool(min(jobs, len(todo))) as pool:
                read = pool.map(read_export, [str(exports[k]) for k in todo], chunksize=1)
            curves = dict(zip(todo, read, strict=True))
        merged = self.curve(code)
        out: list[tuple[Import | None, list[str]]] = []
        for k, export in enumerate(exports):
            if k not in todo:
                same = next((i.added for i in h.imports if i.sha256 == digests[k]),
                            today.isoformat())
                out.append((None, [_("{file}: this export was already added to {code} on "
                                     "{date} (same content); nothing changed").format(
                                         file=Path(export).name, code=code, date=same)]))
                continue
            lc = curves.get(k) or read_export(export)
            merged, imp, warnings = _merge_export(h, merged, export, lc, digests[k],
                                                  today=today, other_meter=other_meter)
            h.imports.append(imp)
            out.append((imp, warnings))
        if any(imp is not None for imp, _w in out):
            check_household(h)
            with atomic_writes(self.curve_file(code), self.household_file(code)) as (c, f):
                c.write_bytes(curve_csv(merged))
                f.write_text(h.to_toml(), encoding="utf-8")
        return out

    def add_curve(self, code: str, export: str | os.PathLike, *, today: dt.date,
                  other_meter: bool = False) -> tuple[Import | None, list[str]]:
        """Merge one Enedis export into the household's curve (:meth:`add_curves`)."""
        return self.add_curves(code, [export], today=today, other_meter=other_meter)[0]


def _digest(path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""                   # the reader says what is wrong with the file


def _merge_export(h: Household, old: Curve, export, lc, digest: str, *, today: dt.date,
                  other_meter: bool) -> tuple[Curve, Import, list[str]]:
    """``old`` with the read export ``lc`` merged in, its Import record, its warnings."""
    code = h.code
    ok = np.isfinite(lc.energy_wh)
    flags = lc.flags if lc.flags is not None else np.zeros(lc.times.size, np.uint8)
    new = Curve(lc.times[ok].astype("datetime64[s]"), lc.energy_wh[ok],
                flags[ok].astype(np.uint8))
    if new.size == 0:
        raise InputError(_("the export has no value"), source=str(export))
    meter = hashlib.sha256(lc.prm.encode()).hexdigest()[:16] if lc.prm else ""
    known = {i.meter for i in h.imports if i.meter}
    if meter and known and meter not in known and not other_meter:
        raise InputError(_("this export is from another meter (PRM) than the previous "
                           "exports of household {code!r}; if the household moved or "
                           "the meter was replaced, add it with --other-meter").format(
                               code=code), source=str(export))
    merged, n_new, n_replaced = merge_curves(old, new, source=str(export))
    imp = Import(file=Path(export).name, sha256=digest, added=today.isoformat(),
                 first_utc=str(new.times[0]), last_utc=str(new.times[-1]),
                 steps=new.size, new_steps=n_new, replaced_steps=n_replaced,
                 layout=lc.layout, meter=meter)
    warnings = list(lc.warnings)
    if n_replaced:
        warnings.append(_("{n} step(s) estimated by Enedis in an earlier export now "
                          "measured: the measured values replace them").format(n=n_replaced))
    return merged, imp, warnings


def read_export(path: str | os.PathLike):
    """An Enedis export on the register's 30-minute grid, gaps kept (NaN)."""
    from pvshare.enedis.loadcurve import read_load_curve
    return read_load_curve(path, allow_gaps=True, step_s=STEP_S)


def register_path(register: str | os.PathLike | None, config: str | os.PathLike | None
                  ) -> Path:
    """The register folder: ``--register``, else the config's ``[households] register``
    (relative to the config file's folder).
    """
    if register is not None:
        return Path(register)
    if config is not None:
        from pvshare.config import load_config
        cfg = load_config(config)
        hh = getattr(cfg, "households", None)
        if hh is not None and hh.folder:
            p = Path(hh.folder).expanduser()
            return p if p.is_absolute() else Path(config).resolve().parent / p
        raise PvshareError(_("{config}: no [households] register in the configuration; "
                             "give --register FOLDER").format(config=config))
    raise PvshareError(_("give the register with --register FOLDER (or [households] "
                         "register in the configuration given with --config)"))


# -- curves: merge, CSV ----------------------------------------------------------------------

def merge_curves(old: Curve, new: Curve, *, source: str) -> tuple[Curve, int, int]:
    """Union of two curves without double counting (pure, vectorised).

    Returns
    -------
    (Curve, int, int)
        The merged curve, the number of steps new to it, the number of estimated steps
        replaced by a measured value.

    Raises
    ------
    InputError
        When a step has two different values and neither is an estimate replaced by a
        measurement, naming the first such step (local time) and both values.
    """
    from pvshare.enedis.loadcurve import ESTIMATED
    t_old = old.times.astype(np.int64)
    t_new = new.times.astype(np.int64)
    if np.any(np.diff(t_new) <= 0):
        order = np.argsort(t_new, kind="stable")
        new = Curve(new.times[order], new.wh[order], new.flags[order])
        t_new = t_new[order]
    common, i_old, i_new = np.intersect1d(t_old, t_new, assume_unique=True,
                                          return_indices=True)
    a, b = old.wh[i_old], new.wh[i_new]
    differ = np.abs(a - b) >= SAME_WH
    old_est = (old.flags[i_old] & ESTIMATED) != 0
    new_est = (new.flags[i_new] & ESTIMATED) != 0
    replace = differ & old_est & ~new_est
    keep_old = differ & ~old_est & new_est
    conflict = differ & ~replace & ~keep_old
    if conflict.any():
        from pvshare.timegrid import format_local
        k = int(np.argmax(conflict))
        when = format_local(common[k:k + 1].astype("datetime64[s]"), "Europe/Paris")[0]
        raise InputError(_("the half-hour starting {when} is already in the register with "
                           "{old} W and this export gives {new} W ({n} step(s) differ in "
                           "all); nothing was added. Check that the export is this "
                           "household's").format(
                               when=when, old=_w(a[k]), new=_w(b[k]), n=int(conflict.sum())),
                         source=source)
    wh_old = old.wh.copy()
    fl_old = old.flags.copy()
    wh_old[i_old[replace]] = b[replace]
    fl_old[i_old[replace]] = new.flags[i_new[replace]]
    only_new = np.ones(t_new.size, bool)
    only_new[i_new] = False
    t = np.concatenate([t_old, t_new[only_new]])
    order = np.argsort(t, kind="stable")
    merged = Curve(t[order].astype("datetime64[s]"),
                   np.concatenate([wh_old, new.wh[only_new]])[order],
                   np.concatenate([fl_old, new.flags[only_new]])[order])
    return merged, int(only_new.sum()), int(replace.sum())


def _w(wh: float) -> str:
    return f"{wh * 3600 / STEP_S:g}"


CURVE_HEADER = "debut_utc,wh,qualite"


def curve_csv(c: Curve) -> bytes:
    """The curve file's bytes: ``debut_utc,wh,qualite`` (UTC step start without offset, Wh
    with up to 10 significant digits, quality bits).
    """
    if c.size == 0:
        return (CURVE_HEADER + "\n").encode()
    t = np.datetime_as_string(c.times.astype("datetime64[s]"), unit="s")
    w = np.char.mod("%.10g", c.wh)
    f = np.char.mod("%d", c.flags)
    body = "\n".join(",".join(r) for r in zip(t.tolist(), w.tolist(), f.tolist(), strict=True))
    return (CURVE_HEADER + "\n" + body + "\n").encode()


def read_curve_file(path: Path) -> Curve:
    """Read a register curve file (an error names the file and line of a bad row)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return EMPTY
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(exc)[:200], source=str(path)) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != CURVE_HEADER:
        raise InputError(_("expected the header {header!r}").format(header=CURVE_HEADER),
                         source=str(path), line=1)
    rows = [ln.split(",") for ln in lines[1:] if ln]
    if not rows:
        return EMPTY
    try:
        arr = np.array(rows, dtype=str)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(_("3 columns expected"))
        times = arr[:, 0].astype("datetime64[s]")
        wh = arr[:, 1].astype(float)
        flags = arr[:, 2].astype(np.uint8)
    except ValueError:
        line = _first_bad_row(rows)
        raise InputError(_("bad row (expected debut_utc,wh,qualite)"), source=str(path),
                         line=line) from None
    ti = times.astype(np.int64)
    bad = (np.diff(ti) <= 0) | (ti[1:] % STEP_S != 0)
    if ti[0] % STEP_S or bad.any() or not np.all(np.isfinite(wh)) or np.any(wh < 0):
        line = 2 + (int(np.argmax(bad)) + 1 if bad.any() else 0)
        raise InputError(_("rows must be 30-minute steps in increasing order with a "
                           "non-negative value"), source=str(path), line=line)
    return Curve(times, wh, flags)


def _first_bad_row(rows: list[list[str]]) -> int:
    for i, r in enumerate(rows):
        try:
            if len(r) != 3:
                raise ValueError
            np.datetime64(r[0], "s")
            float(r[1])
            int(r[2])
        except ValueError:
            return i + 2
    return 2
