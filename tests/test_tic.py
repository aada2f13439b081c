"""The TIC decoder (pvshare.meters.tic) and ``pvshare tic decode``, on a real capture."""

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvshare.meters.base import Quality
from pvshare.meters.tic import (
    Decoder,
    checksum,
    decode,
    frame_to_json,
    horodate_to_utc_s,
    parse_horodate,
    reading_from_frame,
    validate_group,
)
from pvshare_simulators.tic_encode import encode_frame, encode_group, make_horodate

FIXTURES = Path(__file__).parent / "fixtures" / "tic"
CAPTURE = FIXTURES / "standard_mode_capture_2025-03-07.log"
RAW = CAPTURE.read_bytes()

# Historique groups read from a real meter, as printed by hallard/teleinfo-test (README.md,
# "Lancement du module avec choix manuel du port", mode historique, 1200 baud).
HALLARD_HISTORIQUE = [b"ADCO 021528603314 :", b"OPTARIF HC.. <", b"ISOUSC 15 <",
                      b"HCHC 000723392  ", b"HCHP 001742238 .", b"PTEC HP..  ",
                      b"IINST 001 X", b"IMAX 002 A", b"PAPP 00180 *", b"HHPHC A ,",
                      b"MOTDETAT 000000 B"]


def raw_groups():
    """The capture split by hand (independently of the decoder): per frame between ETXs,
    the list of (start, end, content) of each LF…CR group."""
    frames = []
    for m in re.finditer(rb"\x02(.*?)\x03", RAW, re.S):
        groups = []
        for g in re.finditer(rb"\n([^\n]*?)\r", m.group(0)):
            groups.append((m.start() + g.start(1), m.start() + g.end(1), g.group(1)))
        frames.append(groups)
    return frames


# -- the real capture ----------------------------------------------------------------------------
def test_real_capture_counts():
    frames, c = decode(RAW)
    assert (c.frames, c.groups, c.rejected, c.incomplete) == (9, 429, 4, 1)
    assert len(frames) == 9 and sum(len(f) for f in frames) == 429
    assert all(f.mode == "standard" for f in frames)


def test_real_capture_frames_hold_what_the_meter_sent():
    frames, _ = decode(RAW)
    dates = [m.decode() for m in re.findall(rb"\nDATE\t(H\d{12})\t\t.\r", RAW)]
    assert [f["DATE"].horodate for f in frames] == dates  # the cut-off 10th has no DATE
    first = frame_to_json(frames[0])
    assert first["ADSC"] == "041876543210" and first["PRM"] == "09876543210123"
    assert first["VTIC"] == "02" and first["RELAIS"] == "000" and first["STGE"] == "003AC701"
    assert first["EAST"] == 80490250 and first["EAIT"] == 3626872
    assert first["SINSTS"] == 0 and first["SINSTI"] == 1675 and first["URMS1"] == 236
    assert first["DATE"] == {"time": "2025-03-07T13:43:49+01:00", "value": None}
    assert first["SMAXSN"] == {"time": "2025-03-07T06:07:08+01:00", "value": 9835}
    assert first["LTARF"] == " HEURE  PLEINE  "
    # the groups corrupted on the wire are gone, their frames kept
    assert "CCAIN-1" not in frames[0] and "CCAIN" in frames[0] and "UMOY1" in frames[0]
    assert "IRMS1" not in frames[2] and "URMS1" in frames[2]
    assert "ERQ2" not in frames[7] and "ERQ3" in frames[7]


def test_real_capture_repeated_labels_are_kept():
    frames, _ = decode(RAW)
    # the meter really sent ADSC twice in its 3rd frame and a 2nd SMAXSN-1 in its 2nd
    assert [g.label for g in frames[2].groups].count("ADSC") == 2
    j = frame_to_json(frames[1])
    assert j["SMAXSN-1"]["value"] == 12717
    assert j["_repeated"] == [{"SMAXSN-1": {"time": "2025-03-16T04:43:35+01:00", "value": 6731}}]
    assert "_repeated" not in frame_to_json(frames[2])  # identical repeats are merged


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=60))
def test_any_chunking_gives_the_same_result(sizes):
    d, frames, pos, i = Decoder(), [], 0, 0
    while pos < len(RAW):
        n = sizes[i % len(sizes)]
        frames += d.feed(RAW[pos:pos + n])
        pos, i = pos + n, i + 1
    frames += d.finish()
    ref, _ = decode(RAW)
    assert frames == ref
    assert d.counters.as_dict() == {"frames": 9, "groups": 429, "rejected": 4, "incomplete": 1}


def test_reading_from_the_real_capture():
    frames, _ = decode(RAW)
    r = reading_from_frame(frames[0], read_time_s=0.0)
    assert r.meter_id == "041876543210"
    assert r.time_s == dt.datetime(2025, 3, 7, 12, 43, 49, tzinfo=dt.UTC).timestamp()
    assert (r.import_wh, r.export_wh, r.power_w) == (80490250, 3626872, -1675)
    assert r.quality == Quality.GOOD
    assert reading_from_frame(frames[0], 0.0, meter_id="A01").meter_id == "A01"


# -- checksums and groups ------------------------------------------------------------------------
def test_standard_checksums_of_the_capture_include_the_last_tab():
    for content in (b"ADSC\t041876543210\t6", b"DATE\tH250307134349\t\tJ",
                    b"SMAXSN\tH250307060708\t09835\tL", b"EAIT\t003626872\t'"):
        assert checksum(content[:-1]) == content[-1]
        assert checksum(content[:-2]) != content[-1]  # the historique rule would fail
        g, mode, _ = validate_group(content)
        assert mode == "standard" and g is not None


def test_historique_groups_of_a_real_meter():
    for line in HALLARD_HISTORIQUE:
        label, data = line[:-2].decode().split(" ", 1)
        assert encode_group(label, data, mode="historique") == b"\n" + line + b"\r"
        g, mode, reason = validate_group(line)
        assert (g.label, g.data, mode, reason) == (label, data, "historique", "")


def test_historique_frame_decodes_to_a_reading():
    frame = b"\x02" + b"".join(b"\n" + g + b"\r" for g in HALLARD_HISTORIQUE) + b"\x03"
    bad = frame.replace(b"PAPP 00180 *", b"PAPP 00190 *")  # one digit changed on the wire
    frames, c = decode(frame + bad + frame[:40])
    assert (c.frames, c.groups, c.rejected, c.incomplete) == (2, 21, 1, 1)
    assert frames[0].mode == "historique" and "PAPP" not in frames[1]
    j = frame_to_json(frames[0])
    assert j["ADCO"] == "021528603314" and j["MOTDETAT"] == "000000" and j["PTEC"] == "HP.."
    assert j["HCHC"] == 723392 and j["PAPP"] == 180 and j["ISOUSC"] == 15
    r = reading_from_frame(frames[0], read_time_s=1_700_000_000.5)
    assert r.import_wh == 723392 + 1742238 and r.power_w == 180 and r.export_wh is None
    assert r.time_s == 1_700_000_000.5 and r.meter_id == "021528603314"


def test_a_locked_mode_rejects_the_other_kind():
    hist = b"\x02" + b"".join(b"\n" + g + b"\r" for g in HALLARD_HISTORIQUE) + b"\x03"
    frames, c = decode(hist, mode="standard")
    assert c.frames == 0 and c.rejected == len(HALLARD_HISTORIQUE)
    assert c.reasons == {"historique group in a standard stream": len(HALLARD_HISTORIQUE)}


@pytest.mark.parametrize("content, reason", [
    (b"EAST\t0804X0250\t+", "checksum"),
    (b"EAST\t08049025\x020\t+", "stray control byte"),
    (b"EAST 080490250\t+", "checksum"),
    (b"E", "too short"),
    (b"EAST\t080490250:+", "no separator before checksum"),
])
def test_bad_groups_are_rejected_with_a_reason(content, reason):
    g, _, why = validate_group(content)
    assert g is None and why == reason


def test_non_numeric_quantity_and_bad_horodate_are_rejected():
    body = b"EAST\t08049O250\t"  # letter O instead of a zero, valid checksum
    assert validate_group(body + bytes([checksum(body)]))[2] == "not a number"
    body = b"SMAXSN\tH251307060708\t09835\t"  # month 13
    assert validate_group(body + bytes([checksum(body)]))[2] == "bad horodate"


# -- horodates -----------------------------------------------------------------------------------
@pytest.mark.parametrize("horodate, utc, degraded", [
    ("E250615120000", "2025-06-15T10:00:00+00:00", False),
    ("H250115120000", "2025-01-15T11:00:00+00:00", False),
    ("e250615120000", "2025-06-15T10:00:00+00:00", True),
    ("h250115120000", "2025-01-15T11:00:00+00:00", True),
    # the repeated hour of the autumn change: only the letter tells them apart
    ("E251026023000", "2025-10-26T00:30:00+00:00", False),
    ("H251026023000", "2025-10-26T01:30:00+00:00", False),
])
def test_horodate_to_utc(horodate, utc, degraded):
    t, deg = horodate_to_utc_s(horodate)
    assert dt.datetime.fromtimestamp(t, dt.UTC).isoformat() == utc
    assert deg is degraded


@settings(max_examples=200, deadline=None)
@given(st.integers(1_577_836_800, 1_893_456_000), st.booleans())
def test_make_horodate_round_trips_through_dst(t_s, degraded):
    h = make_horodate(t_s, degraded)
    assert horodate_to_utc_s(h) == (t_s, degraded)


def test_degraded_date_gives_a_degraded_reading():
    frame = encode_frame([("ADSC", "041876543210"), ("DATE", "", "h250115120000"),
                          ("EAST", "000001234"), ("SINSTS", "00450")])
    (f,), _ = decode(frame)
    r = reading_from_frame(f, 0.0)
    assert r.quality == Quality.DEGRADED and r.import_wh == 1234 and r.power_w == 450
    assert frame_to_json(f)["DATE"] == {"time": "2025-01-15T12:00:00+01:00", "value": None,
                                        "degraded": True}
    assert parse_horodate(" 250115120000") == (None, False)


# -- resynchronisation rules ---------------------------------------------------------------------
GROUPS = [("ADSC", "041876543210"), ("VTIC", "02"), ("EAST", "000001000"),
          ("EAIT", "000000000"), ("SINSTS", "00120"), ("PRM", "09876543210123")]


def frame_bytes(east="000001000"):
    return encode_frame([(k, east if k == "EAST" else v) for k, v in GROUPS])


def test_lost_etx_is_an_incomplete_frame_and_the_next_survives():
    f1, f2 = frame_bytes("000001000"), frame_bytes("000001001")
    frames, c = decode(f1[:-1] + f2)           # ETX lost: STX between groups starts anew
    assert (c.frames, c.incomplete) == (1, 1) and frames[0].value("EAST") == 1001


def test_stx_and_etx_swallowed_by_a_corrupted_group():
    f1, f2 = frame_bytes("000001000"), frame_bytes("000001001")
    cut = f1.rindex(b"\r")                     # the last group lost its CR: ETX STX inside it
    frames, c = decode(f1[:cut] + f2[:1] + b"" + f1[-1:] + f2[1:])  # …<STX><ETX>…
    assert c.frames == 1 and frames[0].value("EAST") == 1001
    frames, c = decode(f1[:cut] + f1[-1:] + f2)  # …<ETX><STX><LF>ADSC: first frame complete
    assert c.frames == 2 and c.rejected == 1 and c.incomplete == 0
    assert "PRM" not in frames[0] and "PRM" in frames[1]


def test_stray_stx_inside_a_group_keeps_the_frame():
    f = frame_bytes().replace(b"\t00120\t", b"\t0\x02\x02120\t")
    frames, c = decode(f)
    assert (c.frames, c.groups, c.rejected) == (1, len(GROUPS) - 1, 1)


def test_stray_etx_inside_a_group_keeps_the_frame():
    f = frame_bytes().replace(b"\t02\t", b"\t\x03\x02\t")
    frames, c = decode(f)
    assert (c.frames, c.groups, c.rejected, c.incomplete) == (1, len(GROUPS) - 1, 1, 0)


def test_lost_cr_rejects_one_group_only():
    f = frame_bytes().replace(b"\r\n", b"\n", 1)
    frames, c = decode(f)
    assert (c.frames, c.groups, c.rejected) == (1, len(GROUPS) - 1, 1)
    assert c.reasons == {"no CR": 1}


@pytest.mark.parametrize("byte", [b"\x02", b"\x03"])
def test_stx_or_etx_as_the_first_byte_of_a_group_is_a_corrupted_byte(byte):
    f = frame_bytes().replace(b"\nVTIC", b"\n" + byte + b"TIC")
    frames, c = decode(f)
    assert (c.frames, c.groups, c.rejected, c.incomplete) == (1, len(GROUPS) - 1, 1, 0)


def test_meters_that_send_cr_lf_between_frames():
    # the real capture's shape: <STX><CR><LF>group<CR><LF>…group<CR><LF><ETX>
    crlf = [b"\x02\r" + frame_bytes(e)[1:-1] + b"\n\x03"
            for e in ("000001000", "000001001", "000001002")]
    d = Decoder()
    assert d.feed(crlf[0]) == []                 # its ETX came right after an LF: wait a byte
    (first,) = d.feed(crlf[1][:1])               # the next STX: the first frame is complete
    assert first.value("EAST") == 1000
    lost_etx = crlf[1][:-1]                      # …<CR><LF>, ETX lost, then <STX><CR><LF>…
    frames, c = decode(crlf[0] + lost_etx + crlf[2])
    assert [f.value("EAST") for f in frames] == [1000, 1002] and c.incomplete == 1
    frames, c = decode(crlf[0])                  # an ETX at the very end still ends a frame
    assert (c.frames, c.incomplete) == (1, 0)


def test_frame_cut_at_the_start_is_incomplete_not_invented():
    f = frame_bytes()
    frames, c = decode(f[25:] + f + f[:30])
    assert (c.frames, c.incomplete) == (1, 2)
    frames, c = decode(b"\x02\x03" + b"\x03\x02")  # nothing in it: not a frame
    assert (c.frames, c.incomplete) == (0, 0)


# -- fuzz ----------------------------------------------------------------------------------------
def check_consistent(frames, c, data):
    assert c.frames == len(frames)
    assert c.groups == sum(len(f) for f in frames)
    assert min(c.frames, c.groups, c.rejected, c.incomplete) >= 0
    for f in frames:
        for g in f.groups:  # every group returned is a valid group present in the input
            wire = encode_group(g.label, g.data, g.horodate, f.mode)
            assert wire[1:-1] in data
            ok, _, _ = validate_group(wire[1:-1], f.mode)
            assert ok == g


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_fuzz_random_bytes(data):
    d = Decoder()
    frames = d.feed(data) + d.finish()
    check_consistent(frames, d.counters, data)


@st.composite
def control_heavy_bytes(draw):
    alphabet = [b"\x02", b"\x03", b"\n", b"\r", b"\t", b" ", b"EAST", b"ADCO", b"0",
                b"000001000", b"H250307134349", b"+", b"A",
                encode_group("EAST", "000001000"), encode_group("ADSC", "041876543210"),
                encode_group("DATE", "", "e250307134349"),
                encode_group("PAPP", "00180", mode="historique")]
    return b"".join(draw(st.lists(st.sampled_from(alphabet), max_size=400)))


@settings(max_examples=300, deadline=None)
@given(control_heavy_bytes())
def test_fuzz_structured_garbage(data):
    d = Decoder()
    frames = d.feed(data) + d.finish()
    check_consistent(frames, d.counters, data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(control_heavy_bytes(), st.binary(max_size=1500)),
       st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_fuzz_chunking_never_changes_the_result(data, sizes):
    ref_frames, ref = decode(data)
    d, frames, pos, i = Decoder(), [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        frames += d.feed(data[pos:pos + n])
        pos, i = pos + n, i + 1
    frames += d.finish()
    assert frames == ref_frames and d.counters == ref


FRAMES = raw_groups()
# positions inside a group of one of the 9 complete frames, whose next group's label is not a
# repeat (a stray STX there followed by a repeated label is rule 4: a missed frame start)
_INSIDE = []
for fi, groups in enumerate(FRAMES[:9]):
    labels = [g[2].split(b"\t")[0] for g in groups]
    for gi, (s, e, _content) in enumerate(groups):
        nxt = labels[gi + 1] if gi + 1 < len(labels) else None
        if nxt is None or labels.count(nxt) == 1:
            _INSIDE += [(p, fi, gi) for p in range(s, e)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_INSIDE),
                          st.integers(0, 255).filter(lambda b: b not in (0x0A, 0x0D))),
                min_size=1, max_size=12))
def test_fuzz_corrupted_real_frames(hits):
    data = bytearray(RAW)
    touched = set()
    for (pos, fi, gi), byte in hits:
        if data[pos] != byte:
            data[pos] = byte
            touched.add((fi, gi))
    data = bytes(data)
    d = Decoder()
    frames = d.feed(data) + d.finish()
    c = d.counters
    check_consistent(frames, c, data)
    # every group ends valid or rejected, and no frame is lost
    assert (c.frames, c.incomplete) == (9, 1)
    assert c.groups + c.rejected == 429 + 4
    # every untouched valid group of the capture is still there, in its frame
    for fi, groups in enumerate(FRAMES[:9]):
        got = {(g.label, g.horodate or "", g.data) for g in frames[fi].groups}
        for gi, (_, _, content) in enumerate(groups):
            if (fi, gi) in touched:
                continue
            g, _, _ = validate_group(content)
            if g is not None:
                assert (g.label, g.horodate or "", g.data) in got


# -- pvshare tic decode --------------------------------------------------------------------------
def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "pvshare.cli", "tic", "decode", *args],
                          input=stdin, capture_output=True, timeout=60)


def test_cli_decodes_the_real_capture():
    p = run_cli(str(CAPTURE))
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.decode().splitlines()]
    assert len(lines) == 10
    assert lines[-1] == {"frames": 9, "groups": 429, "rejected": 4, "incomplete": 1}
    assert lines[0]["ADSC"] == "041876543210" and lines[0]["EAST"] == 80490250
    assert lines[8]["DATE"]["time"] == "2025-03-07T13:43:58+01:00"
    assert sum(len(x) - ("_repeated" in x) + len(x.get("_repeated", []))
               for x in lines[:-1]) + 1 == 429  # + the identical ADSC repeat merged
    # stdin gives the same
    p2 = run_cli("-", stdin=RAW)
    assert p2.returncode == 0 and p2.stdout == p.stdout


def test_cli_clear_errors(tmp_path):
    p = run_cli(str(tmp_path / "nope.log"))
    assert p.returncode == 2 and b"nope.log: no such file" in p.stderr
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"hello, this is not a TIC capture\n" * 20)
    p = run_cli(str(junk))
    assert p.returncode == 2 and b"no complete TIC frame found" in p.stderr
    assert json.loads(p.stdout.decode().splitlines()[-1])["frames"] == 0
    p = run_cli(str(CAPTURE), "--mode", "fast")
    assert p.returncode == 2 and b"unknown mode" in p.stderr


def test_cli_decodes_a_live_port_until_it_closes():
    import os

    from pvshare_simulators.tic import open_pty
    master, slave, path = open_pty()
    try:
        os.write(master, RAW[:2300])  # two frames, waiting in the terminal's buffer
        p = subprocess.Popen([sys.executable, "-m", "pvshare.cli", "tic", "decode", path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = json.loads(p.stdout.readline())  # printed as soon as it is decoded
        assert first["DATE"]["time"] == "2025-03-07T13:43:49+01:00"
    finally:
        os.close(master)  # the meter goes away: the reader sees the end of its input
        os.close(slave)
    rest = [json.loads(x) for x in p.stdout.read().splitlines()]
    assert p.wait(timeout=30) == 0
    assert rest[-1] == {"frames": 2, "groups": 95, "rejected": 1, "incomplete": 1}
