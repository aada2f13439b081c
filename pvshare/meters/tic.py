"""Linky TIC (télé-information client) decoder, after Enedis-NOI-CPT_54E. Pure: no I/O.

Two modes, told apart group by group (and locked after the first complete frame):

=============  ========  =====  =============================================================
mode           baud      SEP    checksum over
=============  ========  =====  =============================================================
historique     1200 7E1  space  label SEP data (the SEP before the checksum **excluded**)
standard       9600 7E1  TAB    label SEP [horodate SEP] data SEP (last SEP **included**)
=============  ========  =====  =============================================================

checksum = (sum of the bytes & 0x3F) + 0x20. A frame is STX (0x02) … ETX (0x03); a group is
LF label SEP [horodate SEP] data SEP checksum CR. A horodate is ``SAAMMJJhhmmss`` where S is
``E`` (summer, UTC+2) or ``H`` (winter, UTC+1), in lower case when the meter's clock is
degraded.

Resynchronisation rules (the :class:`Decoder` state machine)
-------------------------------------------------------------
A group corrupted on the wire may hold *any* byte, STX and ETX included, so frame delimiters
are trusted only **between groups**:

1. Between groups (after a CR, or right after STX), STX starts a frame and ETX ends one. An
   STX there while a frame is open means the previous frame lost its ETX: it is counted
   ``incomplete`` and a new frame starts. Other bytes between groups (e.g. a CR before the
   first LF) are ignored.
2. Inside a group (after its LF, before its CR), STX and ETX are just corrupted bytes of that
   group: control bytes are never legal in a group, so the group is rejected at its CR and
   the rest of the frame is kept. (A real meter capture holds ``ERQ2<TAB><STX><CR><LF>3…``:
   trusting that STX would cut a good frame in two.)
3. An LF inside a group means the group lost its CR: the open group is rejected and a new
   one starts. An STX or ETX right after an LF is judged by the byte after it: ETX followed
   by STX, ETX, CR or LF is a frame end (some meters send ``CR LF ETX STX CR LF`` between
   frames), STX followed by CR or LF a frame start (the previous one lost its ETX);
   followed by anything else, it is the corrupted first byte of a group. (A frame is thus
   returned one byte after its ETX, or at :meth:`Decoder.finish`.)
4. Labels may repeat within a real frame, so a repeat alone proves nothing. But when the
   first valid group after a group holding a stray STX repeats a label of the open frame,
   that STX was a real frame start whose group lost its CR (``…EAST<TAB>0804<STX><LF>ADSC…``):
   the open frame ends there (complete if that group held an ETX before the STX, otherwise
   counted ``incomplete``) and a new frame starts with the repeated group.
5. Bytes with content outside any frame (the tail of a frame whose start we missed, e.g. at
   the start of the input) count as one ``incomplete`` frame; so does a frame still open at
   :meth:`Decoder.finish`.

Counters: ``frames`` complete frames returned, ``groups`` the valid groups they hold,
``rejected`` groups dropped (checksum, stray byte, format), ``incomplete`` frames cut off.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

from pvshare.meters import tic_labels
from pvshare.meters.base import Quality, Reading
from pvshare.meters.tic_labels import UNITS

STX, ETX, LF, CR, SP, HT = 0x02, 0x03, 0x0A, 0x0D, 0x20, 0x09

#: Longest group content kept (label 8 + horodate 13 + data 98 + separators, with margin).
MAX_GROUP_BYTES = 160
#: Most groups in one frame (a standard frame holds about 50).
MAX_FRAME_GROUPS = 256

_CONTROL = re.compile(rb"[\x02\x03\n\r]")
_CLEAN_GROUP = re.compile(rb"\n([\x09\x20-\x7e]{1,%d})\r" % MAX_GROUP_BYTES)
_LABEL = re.compile(r"[A-Z0-9+\-]{1,16}\Z")
_HORODATE = re.compile(r"[EeHh ]\d{12}\Z")
#: bytes legal inside a group (printable ASCII and TAB)
_ILLEGAL = re.compile(rb"[^\x09\x20-\x7e]")

def checksum(data: bytes) -> int:
    """TIC checksum of ``data``: ``(sum(data) & 0x3F) + 0x20``, a byte in 0x20..0x5F."""
    return (sum(data) & 0x3F) + 0x20


def parse_horodate(horodate: str) -> tuple[dt.datetime | None, bool]:
    """The aware local time of a horodate and whether the clock is degraded.

    Parameters
    ----------
    horodate : str
        ``SAAMMJJhhmmss``; S = ``E`` (UTC+2) or ``H`` (UTC+1), lower case = degraded clock,
        space = season unknown.

    Returns
    -------
    (datetime or None, bool)
        The time with its fixed offset (None when the season is unknown, so the offset too),
        and True when the season letter is lower case.

    Raises
    ------
    ValueError
        When the text is not a horodate or names an impossible date.
    """
    if not _HORODATE.match(horodate):
        raise ValueError(f"not a TIC horodate: {horodate!r}")
    season = horodate[0]
    d = horodate
    naive = dt.datetime(2000 + int(d[1:3]), int(d[3:5]), int(d[5:7]), int(d[7:9]),
                        int(d[9:11]), int(d[11:13]))  # ValueError for an impossible date
    if season == " ":
        return None, False
    hours = 2 if season in "Ee" else 1
    return naive.replace(tzinfo=dt.timezone(dt.timedelta(hours=hours))), season.islower()


def horodate_to_utc_s(horodate: str) -> tuple[float | None, bool]:
    """UTC Unix seconds of a horodate (None when the season is unknown), and degraded flag."""
    t, degraded = parse_horodate(horodate)
    return (None if t is None else t.timestamp()), degraded


@dataclass(frozen=True, slots=True)
class Group:
    """One valid group: its label, data text and optional horodate (raw ``SAAMMJJhhmmss``)."""

    label: str
    data: str
    horodate: str | None = None

    @property
    def value(self) -> int | str:
        """The data as an ``int`` for quantities (see :data:`UNITS`), else the text as sent
        (identifiers and status words keep their leading zeros).
        """
        return int(self.data) if self.label in UNITS else self.data


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete frame: its valid groups in the order received.

    A label can repeat within a real frame (a real capture sends ADSC twice in one frame);
    lookups by label (``frame["EAST"]``, :meth:`value`) give its first occurrence.
    """

    groups: tuple[Group, ...]
    mode: str  # "standard" or "historique"
    by_label: dict[str, Group] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        first: dict[str, Group] = {}
        for g in self.groups:
            first.setdefault(g.label, g)
        object.__setattr__(self, "by_label", first)

    def __len__(self) -> int:
        return len(self.groups)

    def __contains__(self, label: str) -> bool:
        return label in self.by_label

    def __getitem__(self, label: str) -> Group:
        return self.by_label[label]

    def value(self, label: str, default=None):
        """The value of a label's first occurrence (see :attr:`Group.value`), or ``default``."""
        g = self.by_label.get(label)
        return default if g is None else g.value

    @property
    def meter_id(self) -> str | None:
        """ADSC (standard) or ADCO (historique): the meter's serial, leading zeros kept."""
        g = self.by_label.get("ADSC") or self.by_label.get("ADCO")
        return None if g is None else g.data


@dataclass
class Counters:
    """What a :class:`Decoder` has seen so far."""

    frames: int = 0
    groups: int = 0
    rejected: int = 0
    incomplete: int = 0
    #: valid groups lost with incomplete frames
    dropped_groups: int = 0
    #: rejected groups by reason
    reasons: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, int]:
        """The four main counters as a plain dict."""
        return {"frames": self.frames, "groups": self.groups, "rejected": self.rejected,
                "incomplete": self.incomplete}


def validate_group(content: bytes, mode: str | None = None) -> tuple[Group | None, str, str]:
    """Check one group's content (the bytes between its LF and its CR).

    Returns ``(group, mode, "")`` when valid, else ``(None, "", reason)``. ``mode`` restricts
    the accepted mode ("standard" / "historique"); None accepts either.
    """
    n = len(content)
    if n > MAX_GROUP_BYTES:
        return None, "", "too long"
    if n < 4:
        return None, "", "too short"
    if _ILLEGAL.search(content):
        return None, "", "stray control byte"
    sep = content[-2]
    if sep == HT:
        got_mode = "standard"
        expected = checksum(content[:-1])
    elif sep == SP:
        got_mode = "historique"
        expected = checksum(content[:-2])
    else:
        return None, "", "no separator before checksum"
    if mode is not None and got_mode != mode:
        return None, "", f"{got_mode} group in a {mode} stream"
    if content[-1] != expected:
        return None, "", "checksum"
    text = content[:-2].decode("ascii")
    horodate = None
    if got_mode == "standard":
        fields = text.split("\t")
        if len(fields) == 3:
            label, horodate, data = fields
            try:
                parse_horodate(horodate)
            except ValueError:
                return None, "", "bad horodate"
        elif len(fields) == 2:
            label, data = fields
        else:
            return None, "", "wrong number of fields"
    else:
        if "\t" in text or " " not in text:
            return None, "", "wrong number of fields"
        label, data = text.split(" ", 1)
    if not _LABEL.match(label):
        return None, "", "bad label"
    if label in UNITS and not (data.isdigit() and data.isascii()):
        return None, "", "not a number"
    return Group(label, data, horodate), got_mode, ""


class Decoder:
    """Incremental TIC decoder: :meth:`feed` it bytes as they come (any chunking), get the
    frames completed so far; :meth:`finish` at the end of the input.

    Parameters
    ----------
    mode : {"auto", "standard", "historique"}
        "auto" accepts both kinds of group and locks onto the mode of the first complete
        frame; until then the first valid group of a frame sets its mode and groups of the
        other kind in that frame are rejected.
    """

    def __init__(self, mode: str = "auto"):
        if mode not in ("auto", "standard", "historique"):
            raise ValueError(f"unknown TIC mode {mode!r}")
        self.mode: str | None = None if mode == "auto" else mode
        self.counters = Counters()
        self._in_frame = False
        self._in_group = False
        self._group = bytearray()
        self._group_len = 0          # content length (kept even beyond MAX_GROUP_BYTES)
        self._group_ctl = b""        # stray STX/ETX seen in the open group, in order
        self._groups: list[Group] = []
        self._modes: list[str] = []
        self._labels: set[str] = set()
        self._started = False        # the open frame began at an STX
        self._rejected_in_frame = 0
        self._suspect: tuple[int, bytes] | None = None  # (groups before it, stray bytes)
        self._orphan = False         # content seen outside a frame
        self._pending: int | None = None  # STX/ETX right after an LF, awaiting the next byte
        self._out: list[Frame] = []

    # -- public API ----------------------------------------------------------------------
    def feed(self, data: bytes) -> list[Frame]:
        """Decode ``data`` (any bytes, any chunking); return the frames completed by it."""
        pos, n = 0, len(data)
        search, group_at = _CONTROL.search, _CLEAN_GROUP.match
        while pos < n:
            if self._in_frame and not self._in_group:
                # fast path: a whole clean group LF…CR, the usual case
                g = group_at(data, pos)
                if g is not None:
                    self._group_ctl = b""
                    self._end_group(g.group(1), len(g.group(1)))
                    pos = g.end()
                    continue
            m = search(data, pos)
            if m is None:
                self._content(data, pos, n)
                break
            i = m.start()
            if i > pos:
                self._content(data, pos, i)
            self._control(data[i])
            pos = i + 1
        out, self._out = self._out, []
        return out

    def finish(self) -> list[Frame]:
        """End of input: a frame still open is counted incomplete (never invented)."""
        if self._pending is not None:
            self._resolve(None)
        if self._in_frame:
            if self._groups or self._rejected_in_frame or (self._in_group and self._group_len):
                self._drop_frame()
            self._in_frame = False
        self._flush_orphan()
        self._in_group = False
        out, self._out = self._out, []
        return out

    # -- state machine -------------------------------------------------------------------
    def _content(self, data: bytes, start: int, end: int) -> None:
        if self._pending is not None:
            self._resolve(data[start])
        if not self._in_frame:
            if not self._orphan and data[start:end].strip():
                self._orphan = True
        elif self._in_group:
            room = MAX_GROUP_BYTES + 1 - len(self._group)
            if room > 0:
                self._group += data[start:min(end, start + room)]
            self._group_len += end - start
        # else: bytes between groups (e.g. the CR after STX some meters send): ignored

    def _control(self, byte: int) -> None:
        if self._pending is not None:
            self._resolve(byte)
        if not self._in_frame:
            # outside a frame: only STX matters (rule 5 for what comes before it)
            if byte == STX:
                self._flush_orphan()
                self._open_frame(started=True)
            elif byte == ETX:
                self._flush_orphan()
            return
        if byte == LF:
            if self._in_group and self._group_len:
                self._reject("no CR")
            self._in_group = True
            self._reset_group()
        elif byte == CR:
            if self._in_group:
                self._in_group = False
                if self._group_len:
                    self._end_group(bytes(self._group), self._group_len)
        elif self._in_group:
            if self._group_len:
                self._stray(byte)  # STX or ETX inside a group: a corrupted byte (rule 2)
            else:
                self._pending = byte  # first byte after LF: the next byte tells (rule 3)
        elif byte == STX:
            self._in_group = False
            if self._groups or self._rejected_in_frame:
                self._drop_frame()
            self._open_frame(started=True)
        else:  # ETX between groups
            self._in_group = False
            self._close_frame()

    def _resolve(self, following: int | None) -> None:
        """Decide on an STX/ETX that came right after an LF, from the byte that follows it
        (None: end of input).
        """
        byte, self._pending = self._pending, None
        if byte == ETX and (following is None or following in (STX, ETX, CR, LF)):
            self._in_group = False  # …CR LF ETX STX…: a frame end, as some meters send it
            self._close_frame()
        elif byte == STX and (following is None or following in (CR, LF)):
            self._in_group = False  # …CR LF STX CR LF…: a frame start (its ETX was lost)
            if self._groups or self._rejected_in_frame:
                self._drop_frame()
            self._open_frame(started=True)
        else:
            self._stray(byte)  # the first byte of a group, corrupted

    def _stray(self, byte: int) -> None:
        self._group_ctl += bytes([byte])
        if len(self._group) <= MAX_GROUP_BYTES:
            self._group.append(byte)
        self._group_len += 1

    def _reset_group(self) -> None:
        self._group.clear()
        self._group_len = 0
        self._group_ctl = b""

    def _reject(self, reason: str) -> None:
        c = self.counters
        c.rejected += 1
        c.reasons[reason] += 1
        self._rejected_in_frame += 1
        if STX in self._group_ctl:
            self._suspect = (len(self._groups), self._group_ctl)

    def _end_group(self, content: bytes, length: int) -> None:
        if length > MAX_GROUP_BYTES:
            self._reject("too long")
            return
        group, mode, reason = validate_group(content, self.mode)
        if group is None:
            self._reject(reason)
            return
        if self._modes and mode != self._modes[0]:  # auto mode, not locked yet
            self._reject(f"{mode} group in a {self._modes[0]} frame")
            return
        suspect = self._suspect
        if (suspect is not None and suspect[0] == len(self._groups)
                and group.label in self._labels):
            self._split(suspect[1])
        self._groups.append(group)
        self._modes.append(mode)
        self._labels.add(group.label)
        if len(self._groups) >= MAX_FRAME_GROUPS:
            self._drop_frame()
            self._open_frame(started=False)

    def _split(self, stray: bytes) -> None:
        """A missed frame boundary at a stray STX (rule 4 of the module doc)."""
        etx = stray.find(bytes([ETX]))
        if 0 <= etx < stray.rfind(bytes([STX])):
            self._close_frame()
        else:
            self._drop_frame()
        self._open_frame(started=True)

    def _open_frame(self, started: bool) -> None:
        self._in_frame = True
        self._in_group = False
        self._reset_group()
        self._started = started
        self._groups, self._modes, self._labels = [], [], set()
        self._rejected_in_frame = 0
        self._suspect = None

    def _drop_frame(self) -> None:
        c = self.counters
        c.incomplete += 1
        c.dropped_groups += len(self._groups)
        self._in_frame = False
        self._groups, self._modes, self._labels = [], [], set()

    def _close_frame(self) -> None:
        if not self._started:
            self._drop_frame()
            return
        self._in_frame = False
        if not self._groups:
            return  # STX … ETX with nothing valid inside: not a frame
        mode = self._modes[0]  # all the groups of a frame have the same mode
        if self.mode is None:
            self.mode = mode
        frame = Frame(tuple(self._groups), mode)
        self.counters.frames += 1
        self.counters.groups += len(self._groups)
        self._out.append(frame)
        self._groups, self._modes, self._labels = [], [], set()

    def _flush_orphan(self) -> None:
        if self._orphan:
            self.counters.incomplete += 1
            self._orphan = False


def decode(data: bytes, mode: str = "auto") -> tuple[list[Frame], Counters]:
    """Decode a whole byte string: the complete frames and the counters."""
    d = Decoder(mode)
    frames = d.feed(data)
    frames += d.finish()
    return frames, d.counters


# -- from frames to what the rest of pvshare uses --------------------------------------------
def frame_to_json(frame: Frame) -> dict:
    """One frame as a JSON-ready dict ``{label: value}``.

    * a quantity (see :data:`UNITS`) is a number; any other data (identifiers such as ADSC,
      ADCO and PRM, status words, tariff names) is the string as sent, leading zeros kept;
    * a group with a horodate is an object ``{"time": ISO 8601 with offset, "value": …}``;
      ``value`` is null when the group carries no data (``DATE``); ``"degraded": true`` is
      added when the season letter is lower case (the meter's clock is degraded). A horodate
      with an unknown season (space) keeps its raw text as ``time``;
    * a label repeated in the frame gives its first occurrence; a repeat with *different*
      data is listed, in order, under ``"_repeated": [{label: value}, …]`` (identical
      repeats are merged).
    """
    out: dict = {}
    repeated = []
    for g in frame.groups:
        first = frame.by_label[g.label]
        if first is not g:
            if (first.data, first.horodate) != (g.data, g.horodate):
                repeated.append({g.label: _json_value(g)})
            continue
        out[g.label] = _json_value(g)
    if repeated:
        out["_repeated"] = repeated
    return out


def _json_value(g: Group):
    if g.horodate is None:
        return g.value
    t, degraded = parse_horodate(g.horodate)
    obj = {"time": g.horodate if t is None else t.isoformat(),
           "value": (g.value if g.data != "" else None)}
    if degraded:
        obj["degraded"] = True
    return obj


def reading_from_frame(frame: Frame, read_time_s: float,
                       meter_id: str | None = None) -> Reading | None:
    """A :class:`~pvshare.meters.base.Reading` from a frame.

    Parameters
    ----------
    frame : Frame
    read_time_s : float
        UTC Unix time (s) when the frame was read; used when the frame has no ``DATE``
        horodate (historique mode), or one with an unknown season.
    meter_id : str, optional
        Defaults to the frame's ADSC / ADCO.

    Returns
    -------
    Reading or None
        ``import_wh``, ``export_wh`` and ``power_w`` (**apparent** power, VA, negative when
        injecting) by the rules of :mod:`pvshare.meters.tic_labels` (every tariff option); ``time_s``: the
        frame's DATE horodate in UTC when present; ``quality``: DEGRADED when that horodate
        has a lower-case season letter. None when the frame holds no index and no power.
    """
    v = frame.value
    import_wh = tic_labels.import_wh(v)
    export_wh = tic_labels.export_wh(v)
    power = tic_labels.power_va(v)
    if import_wh is None and export_wh is None and power is None:
        return None
    time_s, quality = float(read_time_s), Quality.GOOD
    date = frame.by_label.get("DATE")
    if date is not None and date.horodate is not None:
        t, degraded = horodate_to_utc_s(date.horodate)
        if t is not None:
            time_s = t
        if degraded:
            quality = Quality.DEGRADED
    mid = meter_id or frame.meter_id or "tic"
    return Reading(mid, time_s,
                   None if import_wh is None else float(import_wh),
                   None if export_wh is None else float(export_wh),
                   None if power is None else float(power), quality)


_PARIS = None


def local_paris_to_utc_s(local: dt.datetime, summer: bool | None = None) -> float:
    """UTC Unix seconds of a naive French legal time (Europe/Paris).

    Parameters
    ----------
    local : datetime.datetime
        Naive wall-clock time in France.
    summer : bool or None
        The meter's season (``E`` summer, UTC+2; ``H`` winter, UTC+1). It decides only where
        the wall clock is ambiguous: the repeated hour of the autumn change, and the missing
        hour of the spring change. Elsewhere the Europe/Paris rules decide.

    Returns
    -------
    float
    """
    global _PARIS
    if _PARIS is None:
        from zoneinfo import ZoneInfo
        _PARIS = ZoneInfo("Europe/Paris")
    first = local.replace(tzinfo=_PARIS, fold=0).utcoffset()
    second = local.replace(tzinfo=_PARIS, fold=1).utcoffset()
    offset = first
    if first != second and summer is not None:
        offset = dt.timedelta(hours=2 if summer else 1)
    assert offset is not None
    return (local - offset).replace(tzinfo=dt.UTC).timestamp()
