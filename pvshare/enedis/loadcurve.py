"""Read a load curve (courbe de charge): Enedis exports as users download them, or a plain CSV.

Four layouts are accepted, all giving the **average power** over each interval, with
timestamps marking the **end** of each interval (the first value of a day is at 00:30):

``enedis-preamble``
    ``Identifiant PRM;Type de donnees;Date de debut;...;Unite;Pas en minutes``, one data line,
    an optional blank line, then ``Horodate;Valeur`` rows such as
    ``2024-03-31T03:00:00+02:00;264`` (the "historique de mesures" of the customer space and
    of SGE; its ``Pas en minutes`` is often empty and the step may change in the file).
``enedis-rows``
    one row per value with every field (``Identifiant PRM;Date de début;Date de fin;Grandeur
    physique;Grandeur métier;Etape métier;Unité;Horodate;Valeur;Nature;Pas;Indice de
    vraisemblance;Etat complémentaire``, the R63 export); the Horodate is local time
    **without** offset (``2023-03-13 00:30:00``) and the ambiguous hour of the October clock
    change is resolved from the order of the rows.
``enedis-xlsx``
    the customer space's Excel download ("Export des données de la courbe de charge"):
    ``Début | Fin | Valeur (en kW)`` rows with local times ``01/01/2024 00:00:00`` (each row's
    step is ``Fin − Début``), often one file per week, each missing its last half-hour.
``csv``
    a plain ``time,power_w`` CSV (``,`` or ``;``), ``time`` with an offset
    (``2024-03-31T03:00:00+02:00`` or ``...Z``) or in local time without offset (resolved like
    ``enedis-rows``), marking the end of the interval like the Enedis files.

What real exports do, and what this reader does about it:

* **The step changes in the file** (an hourly or 10-minute history, then 30 minutes). Each
  row's interval is its own step (the ``Pas`` column, the header's ``Pas en minutes``, or,
  when neither says, the spacing of the rows around it), and its energy is
  ``power_w * own_step_s / 3600``. The curve is then laid on one grid (the step that covers
  most of the file, or the one asked for): finer rows are summed into their grid step (a
  grid step only partly covered is missing), coarser rows are spread evenly over their grid
  steps and flagged :data:`SPREAD`.
* **Rows not in time order** are sorted (for naive local times, the two occurrences of the
  repeated October hour are taken in file order).
* **Consumption and production** in one file (``Grandeur métier`` CONS/PROD, or the header's
  ``Grandeur metier``): only the asked ``quantity`` is kept; a file holding only the other
  one is an error that says so.
* **Quality columns** are kept per step as bit flags: :data:`ESTIMATED` (``Nature`` E, H, P,
  K, D or an unknown code), :data:`CORRECTED` (``Nature`` C or an ``Etape métier`` that is
  not raw), :data:`DOUBTFUL` (``Indice de vraisemblance`` other than 0).
* **An export that is not a load curve** (index, daily maximum power, daily energy) gets a
  plain French message asking for the "courbe de charge".
* **Rows repeated identically** (same instant, same value, as SGE history files sometimes
  hold) are merged and counted in :attr:`LoadCurve.warnings`; the same instant with two
  different values is an error.

Bounded input: a line longer than :data:`MAX_LINE_BYTES` is an error as soon as it is read
(the file is read line by line, never whole), a field longer than :data:`MAX_FIELD_CHARS` is
an error, at most :data:`MAX_ROWS` rows; messages quote at most a short excerpt. An average
power above ``max_kva`` × 1000 W (36 kVA, the largest household connection, by default) is
refused as implausible: active power cannot exceed the apparent power the meter's breaker
allows. A last line without its line end is reported in :attr:`LoadCurve.warnings` (the
file may be cut); a last line that does not parse says so in its error.

Everything is converted to UTC **step starts** (see :mod:`pvshare.timegrid`). Bad input raises
:class:`pvshare.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pvshare.errors import InputError
from pvshare.i18n import _
from pvshare.timegrid import DEFAULT_TZ, from_epoch_seconds, utc_offsets

UTC = dt.UTC

#: Steps a load curve may use, in minutes.
ALLOWED_STEP_MIN = (5, 10, 15, 30, 60)
#: A longer line is an error (read with this bound: a 1 GB line costs 16 kB of memory).
MAX_LINE_BYTES = 16_384
#: A longer timestamp or value is an error.
MAX_FIELD_CHARS = 64
#: At most this many value rows (38 years of 10-minute values).
MAX_ROWS = 2_000_000
#: At most this many bytes once decompressed.
MAX_BYTES = 512 * 1024 * 1024
#: Largest connection of a household (tarif bleu, C5): 36 kVA.
DEFAULT_MAX_KVA = 36.0

#: Quality flags, per step (bits of :attr:`LoadCurve.flags`).
ESTIMATED = 1
CORRECTED = 2
DOUBTFUL = 4
SPREAD = 8

#: ``Nature`` codes of a measured value. B is what the R63 export and Data Connect's
#: ``measure_type`` carry for raw values; R (réel) and the power-cut codes S, T, F, G are the
#: measured statuses of the R4x curves (listed in consometers/sge-tiers-proxy
#: ``sgeproxy/streams.py``, class ``R4x``).
_NATURE_MEASURED = {"", "B", "R", "S", "T", "F", "G"}
_NATURE_CORRECTED = {"C"}

_QUANTITY_CODES = {"consumption": ("CONS", "CONSOMMATION"),
                   "production": ("PROD", "PRODUCTION")}
_QUANTITY_FR = {"consumption": "consommation", "production": "production"}

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.ASCII)      # re.ASCII: \d is 0-9 (int() would read Arabic-Indic or fullwidth digits)
_DAY_ONLY_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4})$", re.ASCII)
_PAS_RE = re.compile(r"^P?T?(\d+)\s*(M|MIN|MINUTES?)?$", re.IGNORECASE | re.ASCII)

#: What to tell the user when the export is another Enedis data set.
NOT_A_LOAD_CURVE = ("ce fichier n'est pas une courbe de charge ({what}) : téléchargez la "
                    "« courbe de charge » (consommation horaire, pas de 30 minutes) dans votre "
                    "espace client Enedis")


@dataclass(frozen=True)
class LoadCurve:
    """A load curve on the UTC step grid.

    Attributes
    ----------
    times : numpy.ndarray of datetime64[s], shape (T,)
        UTC **start** of each step, every step present (no holes).
    energy_wh : numpy.ndarray of float, shape (T,)
        Energy drawn (or produced, see ``quantity``) during each step, Wh. NaN where a value
        is missing (only when the file was read with ``allow_gaps=True``).
    step_s : int
        Step length, seconds.
    prm : str or None
        The meter's PRM when the file names it (14 digits, leading zeros kept).
    layout : str
        ``enedis-preamble``, ``enedis-rows`` or ``csv``.
    source : str
        The file it was read from.
    flags : numpy.ndarray of uint8, shape (T,)
        Quality bits of each step: :data:`ESTIMATED`, :data:`CORRECTED`, :data:`DOUBTFUL`,
        :data:`SPREAD` (0 = measured).
    quantity : str
        ``consumption`` or ``production``.
    steps_min : tuple of int
        The interval lengths found in the file, minutes (several when the step changes).
    warnings : tuple of str
        Things a person should know that did not stop the reading (merged repeated rows,
        steps only partly covered, a last line without its line end).
    """

    times: np.ndarray
    energy_wh: np.ndarray
    step_s: int
    prm: str | None
    layout: str
    source: str
    flags: np.ndarray | None = None
    quantity: str = "consumption"
    steps_min: tuple = ()
    warnings: tuple = field(default_factory=tuple)

    @property
    def power_w(self) -> np.ndarray:
        """Average power over each step, W."""
        return self.energy_wh * 3600.0 / self.step_s

    @property
    def missing_steps(self) -> int:
        """Number of steps without a value."""
        return int(np.isnan(self.energy_wh).sum())

    def flag_count(self, bit: int) -> int:
        """Number of steps (with a value) carrying the quality ``bit``."""
        if self.flags is None:
            return 0
        return int(((self.flags & bit) != 0).sum())


# -- entry points -----------------------------------------------------------------------------

def read_load_curve(path: str | Path, *, tz: str = DEFAULT_TZ, allow_gaps: bool = False,
                    quantity: str = "consumption", step_s: int | None = None,
                    max_kva: float = DEFAULT_MAX_KVA) -> LoadCurve:
    """Read a load-curve file in any of the accepted layouts.

    Parameters
    ----------
    path : str or Path
        The file (plain or gzip-compressed text, UTF-8 or Windows-1252).
    tz : str
        Time zone of timestamps written without an offset (Enedis: ``Europe/Paris``).
    allow_gaps : bool
        If False (default) a missing step is an error; if True missing steps are kept as NaN
        so that a report can show the data completeness.
    quantity : str
        ``consumption`` (default) or ``production``: which ``Grandeur métier`` to keep.
    step_s : int, optional
        Grid step, seconds (default: the step that covers most of the file).
    max_kva : float
        Largest plausible average power, kVA (taken as kW): 36 for a household.

    Returns
    -------
    LoadCurve

    Raises
    ------
    InputError
        Naming the file and the line of the first problem found.
    """
    source = str(path)
    p = Path(path)
    try:
        with p.open("rb") as raw:
            magic = raw.read(2)
    except FileNotFoundError:
        raise InputError(_("file not found"), source=source) from None
    except IsADirectoryError:
        raise InputError(_("this is a folder, not a file"), source=source) from None
    except OSError as exc:
        raise InputError(_("cannot read the file: {why}").format(why=exc.strerror),
                         source=source) from None
    if magic == b"PK":
        rows = _xlsx_layout(p, source, quantity)
        return _to_grid(rows, source=source, tz=tz, allow_gaps=allow_gaps, quantity=quantity,
                        grid_step_s=step_s, max_kva=max_kva, warnings=[], last_line_cut=False)
    zipped = magic == b"\x1f\x8b"
    try:
        stream = gzip.open(p, "rb") if zipped else p.open("rb")
        with stream as f:
            lines, ends_with_newline = _read_lines(f, source)
    except (OSError, EOFError, zlib.error) as exc:
        what = _("damaged gzip file: {why}") if zipped else _("cannot read the file: {why}")
        raise InputError(what.format(why=str(exc)[:100]), source=source) from None
    return _parse(lines, ends_with_newline, source=source, tz=tz, allow_gaps=allow_gaps,
                  quantity=quantity, step_s=step_s, max_kva=max_kva)


def parse_load_curve(text: str, *, source: str = "<text>", tz: str = DEFAULT_TZ,
                     allow_gaps: bool = False, quantity: str = "consumption",
                     step_s: int | None = None,
                     max_kva: float = DEFAULT_MAX_KVA) -> LoadCurve:
    """Parse the text of a load-curve file (see :func:`read_load_curve`)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    ends_with_newline = len(lines) > 1 and lines[-1] == ""
    if ends_with_newline:
        lines.pop()
    for i, ln in enumerate(lines):
        if len(ln) > MAX_LINE_BYTES:
            raise InputError(_("line longer than {n} characters (starts with {start}): not a "
                               "load-curve export").format(n=MAX_LINE_BYTES, start=_ex(ln)),
                             source=source, line=i + 1)
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    return _parse(lines, ends_with_newline, source=source, tz=tz, allow_gaps=allow_gaps,
                  quantity=quantity, step_s=step_s, max_kva=max_kva)


def _read_lines(f, source: str) -> tuple[list[str], bool]:
    """Lines of a binary stream, each bounded by :data:`MAX_LINE_BYTES` (memory bounded)."""
    lines: list[str] = []
    total = 0
    last = b"\n"
    while True:
        chunk = f.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            break
        total += len(chunk)
        if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            raise InputError(_("line longer than {n} bytes (starts with {start}): not a "
                               "load-curve export").format(n=MAX_LINE_BYTES,
                                                           start=_ex(_decode(chunk[:60]))),
                             source=source, line=len(lines) + 1)
        if total > MAX_BYTES:
            raise InputError(_("more than {n} MB of text: not a load-curve export").format(
                n=MAX_BYTES // 2**20), source=source, line=len(lines) + 1)
        if len(lines) > MAX_ROWS + 100:
            raise InputError(_("more than {n} lines: export a shorter period").format(
                n=MAX_ROWS), source=source, line=len(lines) + 1)
        last = chunk
        s = _decode(chunk.rstrip(b"\n").rstrip(b"\r"))
        if not lines and s.startswith("\ufeff"):
            s = s[1:]
        lines.append(s)
    return lines, last.endswith(b"\n")


# -- parsing ----------------------------------------------------------------------------------

@dataclass
class _Rows:
    layout: str
    prm: str | None
    step_min: int | None = None                           # declared for the whole file
    line_no: list = field(default_factory=list)          # 1-based line of each value
    stamps: list = field(default_factory=list)           # timestamp text
    values: list = field(default_factory=list)           # value text ('' = missing)
    steps: list = field(default_factory=list)            # per-row declared step (min) or 0
    flags: list = field(default_factory=list)            # per-row quality bits
    scale: float = 1.0                                   # to W
    skipped_other: int = 0                               # rows of the other quantity
    other_code: str = ""


def _parse(lines: list[str], ends_with_newline: bool, *, source: str, tz: str,
           allow_gaps: bool, quantity: str, step_s: int | None, max_kva: float) -> LoadCurve:
    if quantity not in _QUANTITY_CODES:
        raise InputError(_("quantity must be 'consumption' or 'production', got {value}")
                         .format(value=_ex(quantity)), source=source)
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise InputError(_("the file is empty"), source=source)
    header = _norm(lines[first])
    cols = [_norm(c) for c in lines[first].split(";")]
    if cols[0] == "identifiant prm" and "horodate" in cols and "valeur" in cols:
        rows = _rows_layout(lines, first, source, quantity)
    elif cols[0] == "identifiant prm":
        rows = _preamble_layout(lines, first, source, quantity)
    elif "time" in header.split(",")[0] or "time" in header.split(";")[0] \
            or header.startswith(("horodate", "date")):
        rows = _csv_layout(lines, first, source)
    else:
        raise InputError(
            _("unknown file layout: expected an Enedis load-curve export (first line starting "
              "with 'Identifiant PRM') or a CSV with a header 'time,power_w'; the first line "
              "is {line}").format(line=_ex(lines[first], 80)), source=source, line=first + 1)
    warnings: list[str] = []
    if not ends_with_newline and rows.line_no and rows.line_no[-1] == len(lines):
        warnings.append(_("the last line ({n}) has no line end: the file may have been cut "
                          "while copying; check that its last value is complete").format(
                              n=len(lines)))
    return _to_grid(rows, source=source, tz=tz, allow_gaps=allow_gaps, quantity=quantity,
                    grid_step_s=step_s, max_kva=max_kva, warnings=warnings,
                    last_line_cut=not ends_with_newline)


def _only_the_other() -> str:
    """A file of the other quantity (the text stays French, like :data:`NOT_A_LOAD_CURVE`)."""
    return _("ce fichier ne contient que de la {other} ({label} {value}), pas de la {wanted} : "
             "choisissez l'autre grandeur (--quantity {option}) ou téléchargez la courbe de "
             "{wanted}")


def _not_a_load_curve(what: str, source: str, line: int) -> InputError:
    return InputError(NOT_A_LOAD_CURVE.format(what=what), source=source, line=line)


def _preamble_layout(lines: list[str], first: int, source: str, quantity: str) -> _Rows:
    head = [c.strip() for c in lines[first].split(";")]
    if first + 1 >= len(lines) or not lines[first + 1].strip():
        raise InputError(_("the line under the 'Identifiant PRM;...' header is missing"),
                         source=source, line=first + 2)
    data = [c.strip() for c in lines[first + 1].split(";")]
    meta = {_norm(h): (data[i] if i < len(data) else "") for i, h in enumerate(head)}
    kind = _norm(meta.get("type de donnees", ""))
    if kind and kind != "courbe de charge":
        raise _not_a_load_curve(f"il contient « {meta['type de donnees'][:40]} »", source,
                                first + 2)
    prm = meta.get("identifiant prm") or None
    rows = _Rows("enedis-preamble", prm)
    gm = _norm(meta.get("grandeur metier", "")).upper()
    wanted = _QUANTITY_CODES[quantity]
    if gm and gm not in wanted:
        other = next((q for q, codes in _QUANTITY_CODES.items() if gm in codes), None)
        what = _QUANTITY_FR.get(other or "", f"« {meta['grandeur metier'][:30]} »")
        raise InputError(_only_the_other().format(
            other=what, label="Grandeur metier", value=_ex(meta["grandeur metier"], 30),
            wanted=_QUANTITY_FR[quantity], option=other or "…"),
            source=source, line=first + 2, field="Grandeur metier")
    pas = meta.get("pas en minutes") or meta.get("pas")
    if pas:
        rows.step_min = _parse_pas(pas, source, first + 2)
    rows.scale = _unit_scale(meta.get("unite", ""), source, first + 2)
    corrected = _etape_corrected(meta.get("etape metier", ""))
    i = first + 2
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        raise InputError(_("no 'Horodate;Valeur' table after the header"), source=source,
                         line=i)
    cols = [_norm(c) for c in lines[i].split(";")]
    if len(cols) > 2 and cols[0] == "horodate" and any(c.startswith("eas") or "releve" in c
                                                       for c in cols):
        raise _not_a_load_curve("il contient des index de consommation", source, i + 1)
    if len(cols) < 2 or cols[0] != "horodate" or cols[1] != "valeur":
        raise InputError(_("expected the line 'Horodate;Valeur', got {line}").format(
            line=_ex(lines[i])), source=source, line=i + 1)
    for j in range(i + 1, len(lines)):
        ln = lines[j]
        if not ln.strip():
            continue
        parts = ln.split(";")
        if _norm(parts[0]) == "identifiant prm":
            raise InputError(_("a second table starts here: export the load curve alone "
                               "(one meter, one data type per file)"), source=source,
                             line=j + 1)
        if len(parts) < 2:
            raise InputError(_("expected 'Horodate;Valeur', got {line}").format(line=_ex(ln)),
                             source=source, line=j + 1)
        rows.line_no.append(j + 1)
        rows.stamps.append(parts[0].strip())
        rows.values.append(parts[1].strip())
        rows.steps.append(0)
        rows.flags.append(CORRECTED if corrected else 0)
        if len(rows.line_no) > MAX_ROWS:
            raise InputError(_("more than {n} values: export a shorter period").format(
                n=MAX_ROWS), source=source, line=j + 1)
    return rows


def _rows_layout(lines: list[str], first: int, source: str, quantity: str) -> _Rows:
    cols = [_norm(c) for c in lines[first].split(";")]
    i_prm, i_time, i_val = (cols.index(k) for k in ("identifiant prm", "horodate", "valeur"))

    def col(name: str) -> int | None:
        return cols.index(name) if name in cols else None

    i_unit, i_pas, i_qty = col("unite"), col("pas"), col("grandeur physique")
    i_gm, i_nat, i_iv, i_etape = (col("grandeur metier"), col("nature"),
                                  col("indice de vraisemblance"), col("etape metier"))
    quantity_seen = None
    width = max(i for i in (i_prm, i_time, i_val, i_unit, i_pas, i_qty, i_gm, i_nat, i_iv,
                            i_etape) if i is not None)
    rows = _Rows("enedis-rows", None)
    unit = None
    wanted = _QUANTITY_CODES[quantity]
    for j in range(first + 1, len(lines)):
        ln = lines[j]
        if not ln.strip():
            continue
        parts = ln.split(";")
        if len(parts) <= width:
            raise InputError(_("{n} fields, expected {expected} (like the header line){hint}")
                             .format(n=len(parts), expected=len(cols),
                                     hint=_cut_hint(j, lines)), source=source, line=j + 1)
        if i_gm is not None:
            gm = parts[i_gm].strip().upper()
            if gm and gm not in wanted:
                if not any(gm in codes for codes in _QUANTITY_CODES.values()):
                    raise InputError(_("unknown Grandeur métier {code} (expected CONS or PROD)")
                                     .format(code=_ex(gm, 20)), source=source, line=j + 1,
                                     field="Grandeur métier")
                rows.skipped_other += 1
                rows.other_code = gm
                continue
        prm = parts[i_prm].strip()
        if rows.prm is None:
            rows.prm = prm
        elif prm != rows.prm:
            raise InputError(_("a second meter appears (PRM {prm}, the file started with "
                               "{first}): export one meter per file").format(
                                   prm=_ex(prm, 20), first=rows.prm),
                             source=source, line=j + 1, field="Identifiant PRM")
        step = 0
        if i_pas is not None and parts[i_pas].strip():
            step = _parse_pas(parts[i_pas].strip(), source, j + 1)
        if i_qty is not None:
            q = parts[i_qty].strip()
            if quantity_seen is None:
                quantity_seen = q
                if q.upper() in ("PMA", "PMAX"):
                    raise _not_a_load_curve("il contient la puissance maximale quotidienne",
                                            source, j + 1)
                if q.upper() in ("EA", "EAS", "EAI"):
                    raise _not_a_load_curve("il contient des énergies ou des index en Wh",
                                            source, j + 1)
            elif q != quantity_seen:
                raise InputError(_("a second quantity appears ({new} after {old}): export the "
                                   "load curve alone").format(new=_ex(q, 20),
                                                              old=_ex(quantity_seen, 20)),
                                 source=source, line=j + 1, field="Grandeur physique")
        if i_unit is not None:
            u = parts[i_unit].strip()
            if unit is None:
                unit = u
                rows.scale = _unit_scale(u, source, j + 1)
            elif u != unit:
                raise InputError(_("the unit changes from {old} to {new}").format(
                    old=_ex(unit, 10), new=_ex(u, 10)), source=source, line=j + 1, field="Unité")
        fl = 0
        if i_nat is not None:
            nat = parts[i_nat].strip().upper()
            if nat in _NATURE_CORRECTED:
                fl |= CORRECTED
            elif nat not in _NATURE_MEASURED:
                fl |= ESTIMATED
        if i_iv is not None and parts[i_iv].strip() not in ("", "0"):
            fl |= DOUBTFUL
        if i_etape is not None and _etape_corrected(parts[i_etape]):
            fl |= CORRECTED
        rows.line_no.append(j + 1)
        rows.stamps.append(parts[i_time].strip())
        rows.values.append(parts[i_val].strip())
        rows.steps.append(step)
        rows.flags.append(fl)
        if len(rows.line_no) > MAX_ROWS:
            raise InputError(_("more than {n} values: export a shorter period").format(
                n=MAX_ROWS), source=source, line=j + 1)
    if not rows.line_no and rows.skipped_other:
        other = "production" if rows.other_code.startswith("PROD") else "consumption"
        raise InputError(_only_the_other().format(
            other=_QUANTITY_FR[other], label="Grandeur métier", value=rows.other_code,
            wanted=_QUANTITY_FR[quantity], option=other), source=source, field="Grandeur métier")
    return rows


#: At most this many bytes in an Excel file once unzipped (a zip bomb is refused unread).
MAX_XLSX_BYTES = 64 * 1024 * 1024
_XLSX_DAY = re.compile(r"^(\d{2})/(\d{2})/(\d{4})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$",
                       re.ASCII)


def _xlsx_layout(path: Path, source: str, quantity: str) -> _Rows:
    """The Excel export of the customer space ("Export des données de la courbe de charge").

    Sheet 2 holds ``Point Référence Mesure (PRM) :``, ``Type de comptage :`` (``Consommation
    horaire``), ``Données :`` (``Brutes``), then ``Début | Fin | Valeur (en kW)`` rows with
    local times ``01/01/2024 00:00:00`` and values ``2,906`` (kW). Each row's step is
    ``Fin − Début``. "Line" in messages is the spreadsheet's row number.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            size = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(_("not a readable Excel (.xlsx) file: {why}").format(
            why=str(exc)[:80]), source=source) from None
    if size > MAX_XLSX_BYTES:
        raise InputError(_("the Excel file holds more than {n} MB once unzipped: not a "
                           "load-curve export").format(n=MAX_XLSX_BYTES // 2**20),
                         source=source)
    try:
        return _xlsx_rows(path, source, quantity)
    except InputError:
        raise
    except Exception as exc:   # openpyxl raises many kinds of errors on a damaged file
        raise InputError(_("not a readable Excel (.xlsx) file ({kind}: {why})").format(
            kind=type(exc).__name__, why=str(exc)[:80]), source=source) from None


def _xlsx_rows(path: Path, source: str, quantity: str) -> _Rows:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        for ws in wb.worksheets:
            rows = _xlsx_sheet(ws, source, quantity)
            if rows is not None:
                return rows
    finally:
        wb.close()
    raise _not_a_load_curve("aucune feuille « Début | Fin | Valeur » dans ce classeur Excel",
                            source, 1)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.datetime):
        return v.strftime("%d/%m/%Y %H:%M:%S")
    return str(v).strip()


def _xlsx_sheet(ws, source: str, quantity: str) -> _Rows | None:
    meta: dict[str, str] = {}
    rows: _Rows | None = None
    cols: tuple[int, int, int] = (0, 0, 0)
    for r, raw in enumerate(ws.iter_rows(values_only=True), start=1):
        if r > MAX_ROWS + 100:
            raise InputError(_("more than {n} rows: export a shorter period").format(
                n=MAX_ROWS), source=source, line=r)
        cells = [_cell(v)[:MAX_LINE_BYTES] for v in raw]
        if rows is None:
            for i, c in enumerate(cells):
                label = _norm(c).rstrip(" :")
                if label and i + 1 < len(cells):
                    nxt = next((x for x in cells[i + 1:] if x), "")
                    meta.setdefault(label, nxt)
            low = [_norm(c) for c in cells]
            if "debut" in low and "fin" in low:
                i_a, i_b = low.index("debut"), low.index("fin")
                i_v = next((i for i, c in enumerate(low) if c.startswith("valeur")), None)
                if i_v is None:
                    raise InputError(_("no 'Valeur' column beside 'Début' and 'Fin'"),
                                     source=source, line=r)
                rows = _xlsx_header(meta, low[i_v], source, quantity, r)
                cols = (i_a, i_b, i_v)
            elif "date" in low and any(c.startswith("valeur") for c in low):
                what = meta.get("type de comptage") or "des valeurs par jour"
                raise _not_a_load_curve(f"il contient « {what[:40]} »", source, r)
            continue
        i_a, i_b, i_v = cols
        if len(cells) <= max(cols) or not (cells[i_a] or cells[i_b]):
            continue
        a, b = _xlsx_time(cells[i_a], source, r), _xlsx_time(cells[i_b], source, r)
        step = int((b - a).total_seconds()) // 60
        v = cells[i_v]
        rows.line_no.append(r)
        rows.stamps.append(b.strftime("%Y-%m-%d %H:%M:%S"))
        rows.values.append("" if v.upper() in ("NA", "") else v)
        rows.steps.append(step if step in ALLOWED_STEP_MIN else 0)
        rows.flags.append(CORRECTED if _norm(meta.get("donnees", "")).startswith("corrig")
                          else 0)
    return rows


def _xlsx_header(meta: dict, value_label: str, source: str, quantity: str, r: int) -> _Rows:
    kind = _norm(meta.get("type de comptage", ""))
    if kind and "horaire" not in kind and "courbe" not in kind:
        raise _not_a_load_curve(f"il contient « {meta['type de comptage'][:40]} »", source, r)
    is_prod = kind.startswith("production")
    if kind and is_prod != (quantity == "production"):
        other = "production" if is_prod else "consumption"
        raise InputError(_only_the_other().format(
            other=_QUANTITY_FR[other], label="Type de comptage",
            value=_ex(meta["type de comptage"], 30), wanted=_QUANTITY_FR[quantity],
            option=other), source=source, line=r)
    prm = meta.get("point reference mesure (prm)") or None
    rows = _Rows("enedis-xlsx", prm)
    rows.scale = 1000.0 if "kw" in value_label else 1.0
    return rows


def _xlsx_time(text: str, source: str, r: int) -> dt.datetime:
    m = _XLSX_DAY.match(text) if len(text) <= MAX_FIELD_CHARS else None
    try:
        if m is None:
            raise ValueError
        d, mo, y, h, mi, se = m.groups()
        return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(se or 0))
    except ValueError:
        raise InputError(_("cannot read the time {value}: expected 'dd/mm/yyyy hh:mm:ss'")
                         .format(value=_ex(text, 40)), source=source, line=r) from None


def _csv_layout(lines: list[str], first: int, source: str) -> _Rows:
    sep = ";" if lines[first].count(";") > lines[first].count(",") else ","
    cols = [_norm(c) for c in lines[first].split(sep)]
    if len(cols) < 2:
        raise InputError(_("expected two columns 'time,power_w'"), source=source,
                         line=first + 1)
    if cols[1] not in ("power_w", "puissance_w", "valeur", "value", "power"):
        if any(w in cols[1] for w in ("kwh", "wh", "energie", "consommation")):
            raise _not_a_load_curve(f"sa colonne {_ex(cols[1], 30)} est une énergie, pas une "
                                    "puissance moyenne en W", source, first + 1)
        raise InputError(_("the second column must be 'power_w' (average power in W over the "
                           "step), got {value}").format(value=_ex(cols[1], 30)),
                         source=source, line=first + 1)
    rows = _Rows("csv", None)
    for j in range(first + 1, len(lines)):
        ln = lines[j]
        if not ln.strip():
            continue
        parts = ln.split(sep)
        if len(parts) < 2:
            raise InputError(_("expected 'time{sep}power_w', got {line}{hint}").format(
                sep=sep, line=_ex(ln), hint=_cut_hint(j, lines)), source=source, line=j + 1)
        if len(parts) > len(cols):
            raise InputError(_("{n} cells where the header has {m}: {line}").format(
                n=len(parts), m=len(cols), line=_ex(ln)), source=source, line=j + 1)
        rows.line_no.append(j + 1)
        rows.stamps.append(parts[0].strip().strip('"'))
        rows.values.append(parts[1].strip().strip('"'))
        rows.steps.append(0)
        rows.flags.append(0)
        if len(rows.line_no) > MAX_ROWS:
            raise InputError(_("more than {n} values: export a shorter period").format(
                n=MAX_ROWS), source=source, line=j + 1)
    return rows


# -- conversion to the UTC grid ---------------------------------------------------------------

def _to_grid(rows: _Rows, *, source: str, tz: str, allow_gaps: bool, quantity: str,
             grid_step_s: int | None, max_kva: float, warnings: list[str],
             last_line_cut: bool) -> LoadCurve:
    n = len(rows.stamps)
    if n == 0:
        raise InputError(_("no values in the file"), source=source)
    max_w = float(max_kva) * 1000.0
    power_w = np.empty(n)
    for k, v in enumerate(rows.values):
        if v == "":
            power_w[k] = np.nan
            continue
        hint = _cut_hint(rows.line_no[k] - 1, None, last_line_cut and k == n - 1)
        if len(v) > MAX_FIELD_CHARS:
            raise InputError(_("the value {value} is too long ({n} characters)").format(
                value=_ex(v, 30), n=len(v)), source=source, line=rows.line_no[k], field="Valeur")
        try:
            text = v.replace(",", ".").replace("\u202f", "").replace(" ", "")
            if "_" in text or not text.isascii():       # float() takes 1_000 and ١٢٣
                raise ValueError(text)
            power_w[k] = float(text)
        except ValueError:
            raise InputError(_("the value {value} is not a number{hint}").format(
                value=_ex(v, 30), hint=hint), source=source, line=rows.line_no[k],
                field="Valeur") from None
        if not np.isfinite(power_w[k]) or power_w[k] < 0:
            raise InputError(_("the value {value} must be a power ≥ 0 in W").format(
                value=_ex(v, 30)), source=source, line=rows.line_no[k], field="Valeur")
    power_w *= rows.scale
    too_big = np.flatnonzero(~(power_w <= max_w) & ~np.isnan(power_w))
    if too_big.size:
        k = int(too_big[0])
        raise InputError(_("the value {value} is not plausible: an average power above "
                           "{max_w:,.0f} W ({max_kva:g} kVA, the largest connection of a "
                           "household); for a larger meter, raise the limit (--max-kva)")
                         .format(value=_ex(rows.values[k], 30), max_w=max_w, max_kva=max_kva),
                         source=source, line=rows.line_no[k], field="Valeur")
    end_s = _parse_times(rows, source=source, tz=tz)
    declared = np.asarray(rows.steps, dtype=np.int64) * 60      # per row (Pas, Fin − Début)
    header_s = rows.step_min * 60 if rows.step_min is not None else None
    flags = np.asarray(rows.flags, dtype=np.uint8)
    line_no = np.asarray(rows.line_no, dtype=np.int64)
    stamps = rows.stamps

    # Time order (stable: rows at the same instant keep their file order).
    order = np.argsort(end_s, kind="stable")
    if np.any(order != np.arange(n)):
        end_s, power_w, declared, flags, line_no = (a[order] for a in
                                                    (end_s, power_w, declared, flags, line_no))
        stamps = [stamps[i] for i in order]
        warnings.append(_("the rows were not in time order: sorted"))

    # Repeated instants: identical rows merged, different values refused.
    same = np.flatnonzero(np.diff(end_s) == 0)
    if same.size:
        a, b = same, same + 1
        equal = ((power_w[a] == power_w[b]) | (np.isnan(power_w[a]) & np.isnan(power_w[b]))) \
            & (declared[a] == declared[b])
        if not equal.all():
            k = int(b[np.flatnonzero(~equal)[0]])
            hint = ""
            if _is_dst_change(end_s[k], tz):
                hint = " " + _("(on the October clock change the local hour 02:00-03:00 "
                               "happens twice: its two occurrences must follow each other in "
                               "order)")
            raise InputError(_("the time {time} is repeated with another value: line {line} "
                               "has {before}, this line {value}{hint}").format(
                                   time=_ex(stamps[k], 40), line=line_no[k - 1],
                                   before=_ex(_num(power_w[k - 1]), 20),
                                   value=_ex(_num(power_w[k]), 20), hint=hint),
                             source=source, line=int(line_no[k]))
        keep = np.ones(n, dtype=bool)
        keep[b] = False
        flags[a] |= flags[b]
        end_s, power_w, declared, flags, line_no = (x[keep] for x in
                                                    (end_s, power_w, declared, flags, line_no))
        stamps = [s for s, kk in zip(stamps, keep) if kk]
        warnings.append(_("{n} repeated row(s) with the same time and value merged").format(
            n=int(same.size)))
        n = end_s.size

    own = _own_steps(end_s, declared, stamps, line_no, source, header_s)
    if header_s is not None and np.any((declared == 0) & (own != header_s)):
        k = int(np.flatnonzero((declared == 0) & (own != header_s))[0])
        warnings.append(_("the header says {header}-minute steps but the rows from line {line} "
                          "are {own} minutes apart: read as {own}-minute values (the step "
                          "changed in the period)").format(
                              header=header_s // 60, line=line_no[k], own=int(own[k]) // 60))
    if own.size >= 2 and np.median(own) >= 86400 - 3600:
        raise _not_a_load_curve("ses valeurs sont espacées d'un jour : consommation ou puissance "
                                "maximale quotidienne", source, int(line_no[0]))
    for s in np.unique(own):
        if int(s) // 60 not in ALLOWED_STEP_MIN or s % 60:
            k = int(np.flatnonzero(own == s)[0])
            raise InputError(_("cannot tell the step: the interval before {time} is {s} s; "
                               "expected one of {steps} minutes").format(
                                   time=_ex(stamps[k], 40), s=int(s), steps=ALLOWED_STEP_MIN),
                             source=source, line=int(line_no[k]))
    off = np.flatnonzero(end_s % own)
    if off.size:
        k = int(off[0])
        raise InputError(_("the time {time} is not on the {step}-minute grid").format(
            time=_ex(stamps[k], 40), step=int(own[k]) // 60), source=source,
            line=int(line_no[k]))
    start_s = end_s - own
    overlap = np.flatnonzero(start_s[1:] < end_s[:-1]) + 1
    if overlap.size:
        k = int(overlap[0])
        raise InputError(_("the {step}-minute interval ending {time} overlaps the row before "
                           "(line {line}, {before}): the step declared does not match the "
                           "spacing of the rows").format(
                               step=int(own[k]) // 60, time=_ex(stamps[k], 40),
                               line=line_no[k - 1], before=_ex(stamps[k - 1], 40)),
                         source=source, line=int(line_no[k]))

    # The grid step: asked, or the step covering most of the file.
    steps_found = np.unique(own)
    if grid_step_s is None:
        cover = np.array([own[own == s].sum() for s in steps_found])
        g = int(steps_found[len(cover) - 1 - np.argmax(cover[::-1])])   # ties: the coarser
    else:
        g = int(grid_step_s)
    for s in steps_found.tolist():
        if g % s and s % g:
            raise InputError(_("{fine}-minute values cannot be laid on a {grid}-minute grid "
                               "(neither divides the other)").format(fine=s // 60,
                                                                     grid=g // 60),
                             source=source)

    # Lay each row on the grid: finer rows summed, coarser rows spread.
    valued = ~np.isnan(power_w)
    first_v = int(np.argmax(valued)) if valued.any() else None
    if first_v is None:
        raise InputError(_("no measured value: every value of the file is empty"),
                         source=source)
    last_v = n - 1 - int(np.argmax(valued[::-1]))
    lo, hi = start_s[first_v] // g * g, -(-end_s[last_v] // g) * g
    nbins = int((hi - lo) // g)
    energy = np.zeros(nbins)
    covered = np.zeros(nbins, dtype=np.int64)
    qflags = np.zeros(nbins, dtype=np.uint8)
    fine = valued & (own <= g)
    if fine.any():
        b = (start_s[fine] - lo) // g
        np.add.at(energy, b, power_w[fine] * own[fine] / 3600.0)
        np.add.at(covered, b, own[fine])
        np.bitwise_or.at(qflags, b, flags[fine])
    coarse = np.flatnonzero(valued & (own > g))
    if coarse.size:
        reps = own[coarse] // g
        idx = np.repeat(coarse, reps)
        offs = np.arange(idx.size) - np.repeat(np.cumsum(reps) - reps, reps)
        b = (start_s[idx] - lo) // g + offs
        np.add.at(energy, b, power_w[idx] * g / 3600.0)
        np.add.at(covered, b, g)
        np.bitwise_or.at(qflags, b, flags[idx] | SPREAD)
    partial = (covered > 0) & (covered < g)
    if partial.any():
        warnings.append(_("{n} step(s) of {step} min only partly covered by finer values: "
                          "counted as missing").format(n=int(partial.sum()), step=g // 60))
    energy[covered < g] = np.nan
    qflags[covered < g] = 0
    # Steps only partly covered at either end are not gaps: the curve starts and ends with a
    # complete step.
    full = np.flatnonzero(covered == g)
    if full.size == 0:
        raise InputError(_("no complete {step}-minute step in the file").format(step=g // 60),
                         source=source)
    energy, qflags = energy[full[0]:full[-1] + 1], qflags[full[0]:full[-1] + 1]
    lo, nbins = lo + int(full[0]) * g, int(full[-1] - full[0] + 1)

    missing = np.isnan(energy)
    if missing.any() and not allow_gaps:
        _raise_gap(missing, lo, g, start_s, end_s, line_no, stamps, source, tz)
    grid = lo + g * np.arange(nbins, dtype=np.int64)
    return LoadCurve(times=from_epoch_seconds(grid), energy_wh=energy, step_s=g, prm=rows.prm,
                     layout=rows.layout, source=source, flags=qflags, quantity=quantity,
                     steps_min=tuple(int(s) // 60 for s in steps_found),
                     warnings=tuple(warnings))


def _own_steps(end_s: np.ndarray, declared: np.ndarray, stamps: list, line_no: np.ndarray,
               source: str, header_s: int | None = None) -> np.ndarray:
    """Each row's interval length, s: declared by the row, else from the spacing of the rows.

    Rows in a run of at least 3 equal spacings take that spacing (real exports keep a row,
    empty, for a missing value, so the spacing is the step even where the header's step is
    out of date); the others (around a gap or a step change) take the smallest of their own
    spacing and the runs on either side. The header's step only serves a file too short for
    runs.
    """
    n = end_s.size
    own = declared.copy()
    todo = own == 0
    if not todo.any():
        return own
    if n < 2 and header_s:
        own[todo] = header_s
        return own
    if n < 2:
        raise InputError(_("a single value and no step length: cannot tell the step"),
                         source=source, line=int(line_no[0]))
    d = np.diff(end_s)                            # d[k-1] = end[k] - end[k-1]
    prev = np.concatenate([[d[0]], d])            # spacing before each row (row 0: the next)
    # Runs of equal spacing, over the rows' "spacing before".
    change = np.concatenate([[True], prev[1:] != prev[:-1]])
    run_id = np.cumsum(change) - 1
    run_len = np.bincount(run_id)[run_id]
    regime = run_len >= 3
    big = np.iinfo(np.int64).max
    # forward fill / backward fill the regime's spacing
    idx = np.where(regime, np.arange(n), 0)
    np.maximum.accumulate(idx, out=idx)
    left = np.where(regime[idx], prev[idx], big)
    ridx = np.where(regime, np.arange(n), n - 1)
    ridx = np.minimum.accumulate(ridx[::-1])[::-1]
    right = np.where(regime[ridx], prev[ridx], big)
    hint = header_s if header_s else big
    if regime.any():
        guess = np.where(regime, prev, np.minimum(prev, np.minimum(left, right)))
    else:
        vals, counts = np.unique(d, return_counts=True)
        guess = np.minimum(prev, vals[np.argmax(counts)] if hint == big else hint)
    own[todo] = guess[todo]
    return own


def _raise_gap(missing: np.ndarray, lo: int, g: int, start_s, end_s, line_no, stamps,
               source: str, tz: str) -> None:
    edges = np.diff(missing.astype(np.int8))
    runs = int((edges == 1).sum())
    a = int(np.argmax(missing))                              # first missing step
    b = a + int(np.argmax(~missing[a:]))                     # first valued step after
    t_a, t_b = lo + a * g, lo + b * g
    k_after = int(np.searchsorted(end_s, t_b + 1, side="left"))   # first row ending after t_b
    k_after = min(k_after, len(line_no) - 1)
    k_before = max(int(np.searchsorted(end_s, t_a, side="right")) - 1, 0)
    sentences = [_("{n} missing step(s) of {step} min between {a} (line {line}) and {b}; "
                   "{runs} gap(s) in the file in all.").format(
                       n=b - a, step=g // 60, a=_ex(stamps[k_before], 40),
                       line=line_no[k_before], b=_ex(stamps[k_after], 40), runs=runs)]
    if _dst_between(t_a - g, t_b + g, tz):
        sentences.append(_("This is around a clock change: on the October change the hour "
                           "02:00-03:00 happens twice and the file must hold it twice (50 "
                           "half-hours that day)."))
    sentences.append(_("Export the period again, or accept the gaps (--allow-gaps) to see the "
                       "data completeness in the report."))
    raise InputError(" ".join(sentences), source=source, line=int(line_no[k_after]))


def _parse_times(rows: _Rows, *, source: str, tz: str) -> np.ndarray:
    """Unix seconds of each timestamp; local times without offset resolved from row order."""
    n = len(rows.stamps)
    secs = np.empty(n, dtype=np.int64)
    naive = np.zeros(n, dtype=bool)
    for k, s in enumerate(rows.stamps):
        m = _ISO_RE.match(s) if len(s) <= MAX_FIELD_CHARS else None
        if m is None and _DAY_ONLY_RE.match(s):
            raise _not_a_load_curve(f"ses dates n'ont pas d'heure ({_ex(s, 12)}) : ce sont des "
                                    "valeurs quotidiennes", source, rows.line_no[k])
        if m is None:
            raise InputError(_("cannot read the time {value}: expected "
                               "'YYYY-MM-DDThh:mm:ss+02:00' or 'YYYY-MM-DD hh:mm:ss'").format(
                                   value=_ex(s, 40)),
                             source=source, line=rows.line_no[k], field="Horodate")
        y, mo, d, h, mi, se, zone = m.groups()
        try:
            base = dt.datetime(int(y), int(mo), int(d), 0, 0, tzinfo=UTC)
        except ValueError:
            raise InputError(_("the date in {value} does not exist").format(value=_ex(s, 40)),
                             source=source, line=rows.line_no[k], field="Horodate") from None
        if not 1970 < int(y) < 2200:
            raise InputError(_("the year in {value} is not plausible for a load curve").format(
                value=_ex(s, 40)), source=source, line=rows.line_no[k], field="Horodate")
        hh, mm, ss = int(h), int(mi), int(se or 0)
        if hh > 24 or mm > 59 or ss > 59 or (hh == 24 and (mm or ss)):
            raise InputError(_("the time of day in {value} does not exist").format(
                value=_ex(s, 40)), source=source, line=rows.line_no[k], field="Horodate")
        t = int(base.timestamp()) + hh * 3600 + mm * 60 + ss
        if zone is None:
            naive[k] = True
        elif zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            z = zone[1:].replace(":", "")
            if int(z[:2]) > 14 or int(z[2:]) > 59:
                raise InputError(_("the UTC offset in {value} does not exist").format(
                    value=_ex(s, 40)), source=source, line=rows.line_no[k], field="Horodate")
            t -= sign * (int(z[:2]) * 3600 + int(z[2:]) * 60)
        secs[k] = t
    if naive.any():
        idx = np.flatnonzero(naive)
        idx = idx[np.argsort(secs[idx], kind="stable")]   # local order, file order kept
        secs[idx] = _local_to_utc(secs[idx], [rows.line_no[i] for i in idx],
                                  [rows.stamps[i] for i in idx], source=source, tz=tz)
    return secs


def _local_to_utc(local_s: np.ndarray, line_no: list[int], stamps: list[str], *, source: str,
                  tz: str) -> np.ndarray:
    """UTC seconds of naive local times (given as seconds "as if UTC", in local order).

    Each local time maps to 0, 1 or 2 instants. None: the time does not exist (spring
    change). Two: the repeated hour of the autumn change; the first occurrence is the earlier
    instant (summer time), the next one the later instant.
    """
    lo, hi = int(local_s.min()) - 2 * 86400, int(local_s.max()) + 2 * 86400
    probe = np.unique(np.concatenate([local_s - 86400, local_s, local_s + 86400,
                                      np.array([lo, hi])]))
    offsets = np.unique(utc_offsets(probe, tz))
    # candidates[k, j] = local - offset_j, valid if the zone's offset at that instant is offset_j
    cand = local_s[:, None] - offsets[None, :]
    valid = utc_offsets(cand.ravel(), tz).reshape(cand.shape) == offsets[None, :]
    nvalid = valid.sum(axis=1)
    none = np.flatnonzero(nvalid == 0)
    if none.size:
        k = int(none[0])
        raise InputError(
            _("the local time {time} does not exist: that night the clocks jump forward one "
              "hour (02:00 becomes 03:00, the day has 23 hours, 46 half-hours)").format(
                  time=_ex(stamps[k], 40)),
            source=source, line=line_no[k], field="Horodate")
    first_instant = np.where(valid, cand, np.iinfo(np.int64).max).min(axis=1)
    last_instant = np.where(valid, cand, np.iinfo(np.int64).min).max(axis=1)
    out = first_instant.copy()
    amb = np.flatnonzero(nvalid > 1)
    if amb.size:
        seen: dict[int, int] = {}
        for k in amb.tolist():
            c = seen.get(int(local_s[k]), 0)
            if c == 1:
                out[k] = last_instant[k]
            elif c > 1:
                raise InputError(_("the local time {time} appears more than twice (the hour "
                                   "of the October clock change happens twice, never three "
                                   "times)").format(time=_ex(stamps[k], 40)),
                                 source=source, line=line_no[k], field="Horodate")
            seen[int(local_s[k])] = c + 1
    return out


def _is_dst_change(t_s: int, tz: str) -> bool:
    return _dst_between(int(t_s) - 86400, int(t_s) + 86400, tz)


def _dst_between(a_s: int, b_s: int, tz: str) -> bool:
    o = utc_offsets(np.array([a_s, b_s], dtype=np.int64), tz)
    return bool(o[0] != o[1])


# -- small helpers ----------------------------------------------------------------------------

def _ex(s: str, n: int = 60) -> str:
    """A short quoted excerpt of ``s`` (error messages never repeat a whole field)."""
    s = str(s)
    return repr(s[:n] + "…") if len(s) > n else repr(s)


def _num(x: float) -> str:
    return _("empty") if np.isnan(x) else f"{x:g} W"


def _cut_hint(j: int, lines: list[str] | None, is_last: bool | None = None) -> str:
    last = is_last if is_last is not None else (lines is not None and j == len(lines) - 1)
    return " " + _("(this is the last line: the file may have been cut)") if last else ""


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


_ACCENTS = str.maketrans("éèêëàâäîïôöùûüç", "eeeeaaaiioouuuc")


def _norm(s: str) -> str:
    return s.strip().strip('"').strip().lower().translate(_ACCENTS)


def _etape_corrected(text: str) -> bool:
    t = _norm(text)
    return bool(t) and "brut" not in t


def _parse_pas(text: str, source: str, line: int) -> int:
    m = _PAS_RE.match(text.strip()) if len(text) <= MAX_FIELD_CHARS else None
    if m is None:
        raise InputError(_("cannot read the step {value} (expected PT30M or 30)").format(
            value=_ex(text, 20)), source=source, line=line, field="Pas")
    step = int(m.group(1)[:6])
    if step not in ALLOWED_STEP_MIN:
        raise InputError(_("unsupported step of {step} minutes (expected one of {steps})")
                         .format(step=step, steps=ALLOWED_STEP_MIN), source=source, line=line,
                         field="Pas")
    return step


def _unit_scale(unit: str, source: str, line: int) -> float:
    u = unit.strip().lower()
    if u in ("", "w"):
        return 1.0
    if u == "kw":
        return 1000.0
    if u in ("wh", "kwh"):
        raise _not_a_load_curve(f"son unité est {_ex(unit, 10)} : ce sont des énergies ou des "
                                "index, pas une puissance moyenne en W", source, line)
    if u in ("va", "kva"):
        raise _not_a_load_curve(f"son unité est {_ex(unit, 10)} : c'est une puissance "
                                "maximale", source, line)
    raise InputError(_("unknown unit {value} (expected W or kW)").format(value=_ex(unit, 10)),
                     source=source, line=line, field="Unité")
