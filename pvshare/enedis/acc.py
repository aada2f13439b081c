"""Enedis's monthly figures of an ACC operation, as the PMO receives them.

Two layouts are read (sources and what is confirmed: ``docs/pmo-month.md``,
"Les fichiers d'Enedis"):

``rows`` — per-step CSV, one row per PRM, quantity and step
    The column layout of Enedis's load-curve exports (``Identifiant PRM;Date de début;Date
    de fin;Grandeur physique;Grandeur métier;Etape métier;Unité;Horodate;Valeur;Nature;Pas;
    …``), with ``Grandeur métier`` one of the operation's quantities: ``CONS``,
    ``AUTOCONS``, ``COMPLEMENT`` (consumers), ``PROD``, ``AUTOPROD``, ``SURPLUS`` (producer).
    ``Unité`` ``W`` (average power over the step, like the load curves), ``Wh`` or ``kWh``
    (energy of the step). ``Horodate`` is the **end** of the step, local time with an
    offset or without one (then the October repeated hour is told apart by the order of the
    rows, first the summer-time one). The ACC quantity names in this layout are an
    assumption: no real ACC file of this kind was found.

``r15`` — the R15 flow restricted to ACC (XML)
    ``PRM/Id_PRM``, ``PRM/Donnees_Releve/Date_Releve`` and, per
    ``Classe_Temporelle_Distributeur``, ``Id_Classe_Temporelle`` (HP, HC, BASE…),
    ``Classe_Mesure`` and ``Valeur`` (kWh), as configured in electriflux
    (``src/electriflux/simple_flux.yaml``, ``R15_ACC``): class 3 energy *autoproduite*, 4
    *alloproduite*, 5 *autoconsommée*, 6 *surplus*. Read here as: 5 = AUTOCONS and 4 =
    COMPLEMENT of a consumer (CONS = 4 + 5), 3 = AUTOPROD and 6 = SURPLUS of the producer,
    each value the energy of the reading's period. Only the documented layout was found, no
    real ACC file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _
from pvshare.identifiers import prm_problem

MEASURES = ("CONS", "AUTOCONS", "COMPLEMENT", "PROD", "AUTOPROD", "SURPLUS")
#: R15 measure classes (electriflux's R15_ACC configuration) → quantities.
R15_CLASSES = {"3": "AUTOPROD", "4": "COMPLEMENT", "5": "AUTOCONS", "6": "SURPLUS"}
_UNITS = {"W": None, "WH": 1.0, "KWH": 1000.0}
_MAX_BYTES = 200_000_000


@dataclass
class EnedisData:
    """Enedis's figures per PRM.

    Attributes
    ----------
    totals : dict of (measure, prm) → Wh
        Energy of each quantity over the file's period.
    by_class : dict of (measure, prm, time class) → Wh
        R15 only: the same split by Enedis's time classes (HP, HC, BASE…).
    steps : dict of (measure, prm) → (times (T,) datetime64[s] UTC step starts, Wh (T,))
        Per-step files only.
    sources : list of str
        The files read.
    """

    totals: dict = field(default_factory=dict)
    by_class: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    sources: list = field(default_factory=list)

    @property
    def prms(self) -> list[str]:
        """PRMs present, sorted."""
        return sorted({prm for _measure, prm in self.totals})

    def total(self, measure: str, prm: str) -> float | None:
        """Wh of ``measure`` for ``prm``; CONS = AUTOCONS + COMPLEMENT when not given."""
        if (measure, prm) in self.totals:
            return self.totals[(measure, prm)]
        if measure == "CONS" and ("AUTOCONS", prm) in self.totals \
                and ("COMPLEMENT", prm) in self.totals:
            return self.totals[("AUTOCONS", prm)] + self.totals[("COMPLEMENT", prm)]
        return None

    def merge(self, other: EnedisData) -> None:
        """Add another file's figures (a PRM and quantity given twice is an error)."""
        for k, v in other.totals.items():
            if k in self.totals:
                raise InputError(_("{measure} of PRM {prm} is given twice (also in {files})")
                                 .format(measure=k[0], prm=k[1], files=", ".join(self.sources)),
                                 source=other.sources[0])
            self.totals[k] = v
        self.by_class.update(other.by_class)
        self.steps.update(other.steps)
        self.sources += other.sources


def read_enedis_files(paths, tz: str = "Europe/Paris") -> EnedisData:
    """Read and merge Enedis files, each recognised by its content (XML R15 or CSV rows)."""
    data = EnedisData()
    for p in paths:
        data.merge(read_enedis_file(p, tz))
    return data


def read_enedis_file(path, tz: str = "Europe/Paris") -> EnedisData:
    """Read one file: R15 ACC (XML) or per-step rows (CSV ``;``)."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise InputError(_("file larger than {mb} MB").format(mb=_MAX_BYTES // 1_000_000),
                             source=str(path))
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(_("file not found"), source=str(path)) from None
    head = raw[:200].lstrip(b"\xef\xbb\xbf \r\n\t")
    if head.startswith(b"<"):
        return read_r15_acc(raw, str(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return read_rows(text, str(path), tz)


# --- R15 ----------------------------------------------------------------------------------

def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el, name):
    for c in el:
        if _local_name(c.tag) == name:
            return c
    return None


def _text(el, name) -> str | None:
    c = _child(el, name)
    return None if c is None or c.text is None else c.text.strip()


def read_r15_acc(raw: bytes, source: str) -> EnedisData:
    """Read the ACC measure classes of an R15 XML flow (see the module docstring)."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise InputError(_("not valid XML: {error}").format(error=exc), source=source,
                         line=exc.position[0] if exc.position else None) from None
    unit_default = None
    for el in root.iter():
        if _local_name(el.tag) == "Unite_Mesure_Index" and el.text:
            unit_default = el.text.strip()
    data = EnedisData(sources=[source])
    found = 0
    for prm_el in root.iter():
        if _local_name(prm_el.tag) != "PRM":
            continue
        prm = _text(prm_el, "Id_PRM")
        if not prm or prm_problem(prm):
            raise InputError(_("Id_PRM {problem}").format(problem=prm_problem(prm or "")),
                             source=source)
        for rel in prm_el:
            if _local_name(rel.tag) != "Donnees_Releve":
                continue
            for ct in rel:
                if _local_name(ct.tag) != "Classe_Temporelle_Distributeur":
                    continue
                cls = _text(ct, "Classe_Mesure")
                if cls not in R15_CLASSES:
                    continue
                measure = R15_CLASSES[cls]
                unit = (_text(ct, "Unite_Mesure") or unit_default or "kWh").upper()
                if unit not in ("WH", "KWH"):
                    raise InputError(_("PRM {prm}: unit {unit!r} (expected kWh or Wh)")
                                     .format(prm=prm, unit=unit), source=source)
                text = _text(ct, "Valeur") or ""
                try:
                    if "_" in text or not text.isascii():   # float() takes 1_000 and ١٢٣
                        raise ValueError(text)
                    value = float(text)
                except ValueError:
                    value = float("nan")
                if not np.isfinite(value) or value < 0:
                    raise InputError(_("PRM {prm}: Valeur of class {cls} must be a number "
                                       ">= 0, got {value!r}").format(prm=prm, cls=cls,
                                                                     value=text[:30]),
                                     source=source)
                wh = value * (1000.0 if unit == "KWH" else 1.0)
                tclass = _text(ct, "Id_Classe_Temporelle") or "BASE"
                data.totals[(measure, prm)] = data.totals.get((measure, prm), 0.0) + wh
                key = (measure, prm, tclass)
                data.by_class[key] = data.by_class.get(key, 0.0) + wh
                found += 1
    if not found:
        raise InputError(_("no ACC measure (Classe_Mesure 3 to 6) in this R15 file"),
                         source=source)
    return data


# --- per-step rows --------------------------------------------------------------------------

def _norm(name: str) -> str:
    import unicodedata
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z]", "", s)


_REQUIRED = {"identifiantprm": "Identifiant PRM", "grandeurmetier": "Grandeur métier",
             "unite": "Unité", "horodate": "Horodate", "valeur": "Valeur"}
# re.ASCII: \d is 0-9 only (int() would read Arabic-Indic or fullwidth digits).
_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?"
                     r"\s*(Z|[+-]\d{2}:?\d{2})?\Z", re.ASCII)
_FR_RE = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2})(?::(\d{2}))?\Z", re.ASCII)


def _parse_local(label: str, zone, fold_of: dict, key) -> int:
    m = _ISO_RE.match(label)
    if m:
        y, mo, d, h, mi, s, off = m.groups()
    else:
        m = _FR_RE.match(label)
        if not m:
            raise ValueError(_("not a time: {label!r}").format(label=label))
        d, mo, y, h, mi, s = m.groups()
        off = None
    naive = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    if off:
        o = off.replace(":", "")
        tz = dt.UTC if o == "Z" else dt.timezone(
            (1 if o[0] == "+" else -1) * dt.timedelta(hours=int(o[1:3]), minutes=int(o[3:5])))
        return int(naive.replace(tzinfo=tz).timestamp())
    # Naive local time: the second occurrence of a label (same PRM and quantity) is the
    # repeated October hour, in winter time (fold=1).
    seen = fold_of.setdefault(key, set())
    fold = 1 if label in seen else 0
    seen.add(label)
    a = naive.replace(tzinfo=zone, fold=0)
    b = naive.replace(tzinfo=zone, fold=1)
    if a.utcoffset() != b.utcoffset():          # ambiguous
        return int((b if fold else a).timestamp())
    back = dt.datetime.fromtimestamp(a.timestamp(), zone).replace(tzinfo=None)
    if back != naive:
        raise ValueError(_("{label!r} does not exist in local time (spring clock change)")
                         .format(label=label))
    return int(a.timestamp())


def read_rows(text: str, source: str, tz: str = "Europe/Paris") -> EnedisData:
    """Read the per-step CSV layout (see the module docstring)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if "horodate" in ln.lower()), None)
    if start is None:
        raise InputError(_("no header with 'Horodate' (expected Enedis's per-step layout: "
                           "Identifiant PRM;…;Grandeur métier;…;Unité;Horodate;Valeur;…)"),
                         source=source)
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=";")
    header = [_norm(h) for h in next(reader)]
    col = {}
    for key, label in _REQUIRED.items():
        if key not in header:
            raise InputError(_("no column {label!r} in the header").format(label=label),
                             source=source, line=start + 1)
        col[key] = header.index(key)
    pas = header.index("pas") if "pas" in header else None
    zone = ZoneInfo(tz)
    fold_of: dict = {}
    groups: dict = {}
    for n, row in enumerate(reader, start=start + 2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise InputError(_("{cells} cells, expected {expected}").format(
                cells=len(row), expected=len(header)), source=source, line=n)
        prm = row[col["identifiantprm"]].strip()
        measure = row[col["grandeurmetier"]].strip().upper()
        unit = row[col["unite"]].strip().upper()
        if prm_problem(prm):
            raise InputError(_("PRM {problem}").format(problem=prm_problem(prm)),
                             source=source, line=n,
                             field="Identifiant PRM")
        if measure not in MEASURES:
            raise InputError(_("unknown quantity {value!r} (expected one of {expected})")
                             .format(value=measure, expected=", ".join(MEASURES)),
                             source=source, line=n,
                             field="Grandeur métier")
        if unit not in _UNITS:
            raise InputError(_("unknown unit {value!r} (W, Wh or kWh)").format(value=unit),
                             source=source, line=n, field="Unité")
        value_text = row[col["valeur"]].strip().replace(",", ".")
        if value_text == "":
            continue                                     # a missing value stays missing
        try:
            if "_" in value_text or not value_text.isascii():   # float() takes 1_000, ١٢٣
                raise ValueError(_("value must be a number >= 0, got {value!r}")
                                 .format(value=value_text[:30]))
            value = float(value_text)
            end = _parse_local(row[col["horodate"]].strip(), zone, fold_of, (prm, measure))
        except ValueError as exc:
            raise InputError(str(exc), source=source, line=n) from None
        if not np.isfinite(value) or value < 0:
            raise InputError(_("value must be a number >= 0, got {value!r}")
                             .format(value=value_text), source=source, line=n, field="Valeur")
        step_min = 30
        if pas is not None and row[pas].strip():
            m = re.search(r"([0-9]+)", row[pas])
            step_min = int(m.group(1)) if m else 30
        groups.setdefault((measure, prm), []).append((end - 60 * step_min, value, unit,
                                                       step_min))
    data = EnedisData(sources=[source])
    for key, items in groups.items():
        items.sort(key=lambda x: x[0])
        starts = np.array([x[0] for x in items], dtype=np.int64)
        if (np.diff(starts) == 0).any():
            raise InputError(_("{measure} of PRM {prm}: a step is given twice").format(
                measure=key[0], prm=key[1]), source=source)
        vals = np.array([x[1] for x in items])
        # W: average power over the step → Wh = W × minutes / 60; Wh, kWh: energy.
        factor = np.array([x[3] / 60.0 if x[2] == "W" else _UNITS[x[2]] for x in items])
        wh = vals * factor
        data.steps[key] = (starts.astype("datetime64[s]"), wh)
        data.totals[key] = float(wh.sum())
    if not groups:
        raise InputError(_("no data rows"), source=source)
    return data
