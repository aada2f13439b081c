"""TIC parse rate (issue 3): frames decoded per second.

Input: the 9 complete frames of the real standard-mode capture (``tests/fixtures/tic``, about
50 groups each, 4 groups corrupted on the wire) repeated 200 times (about 2 MB, 1,800
frames). Figures: the decoder's rate in frames/s (one ``feed`` of the whole input, and fed in
64-byte chunks as a serial port delivers it), each as a ratio to a baseline measured in the
same run beside it: a plain ``bytes.split`` pass (frames on ETX, groups on LF) that checks
nothing.

Target: at least 500 frames/s fed in 64-byte chunks. A Linky sends about one standard frame a
second (9600 baud), so this is under 0.2 % of a core per meter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pvshare.meters.tic import Decoder

CAPTURE = (Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tic"
           / "standard_mode_capture_2025-03-07.log")
REPEAT = 200
TARGET_FRAMES_S = 500.0


def _split_baseline(data: bytes) -> int:
    n = 0
    for frame in data.split(b"\x03"):
        n += len(frame.split(b"\n"))
    return n


def _decode_whole(data: bytes) -> int:
    d = Decoder()
    return len(d.feed(data)) + len(d.finish())


def _decode_chunked(data: bytes, chunk: int = 64) -> int:
    d = Decoder()
    n = 0
    for i in range(0, len(data), chunk):
        n += len(d.feed(data[i:i + chunk]))
    return n + len(d.finish())


def _timed(fn, data) -> float:
    t0 = time.perf_counter()
    fn(data)
    return time.perf_counter() - t0


def main() -> bool:
    raw = CAPTURE.read_bytes()
    data = raw[raw.index(b"\x02"):raw.rindex(b"\x03") + 1] * REPEAT  # the 9 complete frames
    frames = _decode_whole(data)
    assert frames == 9 * REPEAT, frames
    print(f"input: the 9 complete frames of the real capture x {REPEAT} = "
          f"{len(data) / 1e6:.2f} MB, {frames} frames")
    ok = True
    for name, fn in (("one feed", _decode_whole), ("64-byte chunks", _decode_chunked)):
        times, ratios = [], []
        for _ in range(5):
            base = min(_timed(_split_baseline, data) for _ in range(3))
            t = _timed(fn, data)
            times.append(t)
            ratios.append(t / base)
        t, ratio = float(np.median(times)), float(np.median(ratios))
        rate = frames / t
        print(f"decode, {name:15s}: {rate:10,.0f} frames/s ({len(data) / t / 1e6:.1f} MB/s), "
              f"{ratio:.1f} x the time of a plain bytes.split pass")
        if name == "64-byte chunks":
            ok = rate >= TARGET_FRAMES_S
    print(f"target: >= {TARGET_FRAMES_S:.0f} frames/s in 64-byte chunks: "
          f"{'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
