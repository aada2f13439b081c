"""``pvshare simulate tic``: a Linky's TIC port, written to a pseudo-terminal.

The simulator opens a pseudo-terminal (``os.openpty``) and writes TIC frames to it at the
line rate (standard mode: 9600 baud, historique: 1200 baud, 10 bits per byte in 7E1), so the
``tic`` meter type (or any TIC tool such as ``picocom``) reads it as it would a real dongle
on ``/dev/ttyUSB0``. The meter's index follows one participant's consumption in the bundled
sample year (one real household resampled, see :mod:`simulators.meters`), at the simulated
time of the shared clock (``--start``, ``--speed``), which also stamps each frame's DATE.

``--replay FILE`` writes a raw capture instead (e.g. the real one in ``tests/fixtures/tic``).
``--corrupt P``: each group is corrupted on the wire with probability P (random 7-bit bytes,
STX and ETX included), as a noisy line does.
"""

from __future__ import annotations

import os
import random
import sys
import time
import tty
from collections.abc import Callable
from pathlib import Path

import typer

from pvshare_simulators.clock import SimClock, parse_start
from pvshare_simulators.tic_encode import encode_frame, make_horodate

BAUD = {"standard": 9600, "historique": 1200}


def open_pty(link: str | os.PathLike | None = None) -> tuple[int, int, str]:
    """A raw pseudo-terminal: ``(master_fd, slave_fd, slave_path)``; ``link`` is made a
    symlink to the slave (replacing an old symlink).
    """
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no CR -> LF translation, even before a reader configures it
    path = os.ttyname(slave)
    if link is not None:
        link = Path(link)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(path)
    return master, slave, path


def standard_groups(t_s: float, adsc: str, prm: str, index_wh: int, power_va: int,
                    degraded: bool = False) -> list[tuple]:
    """The groups of a standard-mode frame of a single-phase Linky on a Base tariff."""
    h = make_horodate(t_s, degraded)
    e = f"{int(index_wh):09d}"
    return [
        ("ADSC", adsc), ("VTIC", "02"), ("DATE", "", h),
        ("NGTF", "      BASE      "), ("LTARF", "      BASE      "),
        ("EAST", e), ("EASF01", e), *[(f"EASF{i:02d}", "000000000") for i in range(2, 11)],
        ("EASD01", e), ("EASD02", "000000000"), ("EASD03", "000000000"),
        ("EASD04", "000000000"), ("IRMS1", f"{round(power_va / 230):03d}"), ("URMS1", "230"),
        ("PREF", "06"), ("PCOUP", "06"), ("SINSTS", f"{int(power_va):05d}"),
        ("SMAXSN", f"{int(power_va):05d}", h), ("UMOY1", "230", h), ("STGE", "003A0001"),
        ("MSG1", "PAS DE          MESSAGE         "), ("PRM", prm), ("RELAIS", "000"),
        ("NTARF", "01"), ("NJOURF", "00"), ("NJOURF+1", "00"),
    ]


def historique_groups(adco: str, index_wh: int, power_va: int) -> list[tuple]:
    """The groups of a historique-mode frame (Base option, 30 A)."""
    return [("ADCO", adco), ("OPTARIF", "BASE"), ("ISOUSC", "30"),
            ("BASE", f"{int(index_wh):09d}"), ("PTEC", "TH.."),
            ("IINST", f"{round(power_va / 230):03d}"), ("IMAX", "090"),
            ("PAPP", f"{int(power_va):05d}"), ("MOTDETAT", "000000")]


def corrupt_frame(frame: bytes, p: float, rng: random.Random) -> bytes:
    """Corrupt each group of ``frame`` with probability ``p``: a few of its bytes (after the
    LF) become random 7-bit bytes, as line noise makes them.
    """
    if p <= 0:
        return frame
    parts = frame.split(b"\n")
    for i in range(1, len(parts)):
        if rng.random() < p and len(parts[i]) > 2:
            g = bytearray(parts[i])
            for _ in range(rng.randint(1, 4)):
                g[rng.randrange(len(g) - 1)] = rng.randrange(0x80)
            parts[i] = bytes(g)
    return b"\n".join(parts)


class TicSimulator:
    """Frames of one Linky, on the shared clock.

    Parameters
    ----------
    clock : SimClock
    index_wh : callable
        ``index_wh(t_s) -> float``: the EAST/BASE index at simulated UTC time ``t_s``, Wh.
    power_va : callable
        ``power_va(t_s) -> float``: the apparent power, VA.
    adsc, prm : str
        The meter serial (ADSC / ADCO) and the delivery point (PRM).
    mode : {"standard", "historique"}
    corrupt : float
        Probability that a group is corrupted on the wire.
    """

    def __init__(self, clock: SimClock, index_wh: Callable[[float], float],
                 power_va: Callable[[float], float], adsc: str = "041876543210",
                 prm: str = "25460000000001", mode: str = "standard", corrupt: float = 0.0,
                 seed: int = 0, degraded_clock: bool = False):
        if mode not in BAUD:
            raise ValueError(f"unknown TIC mode {mode!r}: use standard or historique")
        self.clock, self.index_wh, self.power_va = clock, index_wh, power_va
        self.adsc, self.prm, self.mode = adsc, prm, mode
        self.corrupt, self.degraded_clock = corrupt, degraded_clock
        self.rng = random.Random(seed)
        self.frames_sent = 0

    def frame(self, t_s: float | None = None) -> bytes:
        """The frame the meter sends at simulated time ``t_s`` (default: now)."""
        t = self.clock.now() if t_s is None else t_s
        e, p = int(self.index_wh(t)), int(round(max(0.0, self.power_va(t))))
        if self.mode == "standard":
            groups = standard_groups(t, self.adsc, self.prm, e, p, self.degraded_clock)
        else:
            groups = historique_groups(self.adsc, e, p)
        return corrupt_frame(encode_frame(groups, self.mode), self.corrupt, self.rng)

    def run(self, fd: int, frames: int = 0, pace: bool = True,
            stop: Callable[[], bool] | None = None) -> int:
        """Write frames to ``fd`` (0: until ``stop()``), paced at the line rate when
        ``pace``; returns the number written.
        """
        n = 0
        while (frames == 0 or n < frames) and not (stop and stop()):
            data = self.frame()
            write_paced(fd, data, BAUD[self.mode] if pace else 0)
            n += 1
            self.frames_sent += 1
        return n


def write_paced(fd: int, data: bytes, baud: int, chunk: int = 64) -> None:
    """Write ``data`` to ``fd`` at ``baud`` (7E1: 10 bits a byte); ``baud=0``: at once."""
    for i in range(0, len(data), chunk):
        part = data[i:i + chunk]
        while part:
            part = part[os.write(fd, part):]
        if baud:
            time.sleep(len(data[i:i + chunk]) * 10 / baud)


def wait_for_reader(slave_fd: int, timeout_s: float = 30.0) -> bool:
    """Wait until a reader opens the port: a serial reader sets the line's attributes (baud,
    7E1) when it opens it, so watch them change. True when one did within ``timeout_s``.
    """
    import termios
    before = termios.tcgetattr(slave_fd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if termios.tcgetattr(slave_fd) != before:
            time.sleep(0.2)  # let it finish opening (pyserial flushes its input last)
            return True
        time.sleep(0.05)
    return False


def replay(fd: int, data: bytes, baud: int = 9600) -> None:
    """Write a raw capture to ``fd`` as the meter sent it (``baud=0``: at once)."""
    write_paced(fd, data, baud)


def cli_tic(
    config: Path | None = typer.Option(None, "--config", "-c", help="site config (default: the "
                                          "bundled example building)"),
    participant: str | None = typer.Option(None, "--participant", help="whose meter "
                                              "(default: the first participant)"),
    mode: str = typer.Option("standard", "--mode", help="standard | historique"),
    start: str | None = typer.Option(None, "--start", help="simulated start, ISO 8601 "
                                        "(no offset = UTC; default: now)"),
    speed: float = typer.Option(1.0, "--speed", help="simulated seconds per second"),
    link: Path | None = typer.Option(None, "--link", help="also make this path a symlink "
                                        "to the pseudo-terminal (e.g. /tmp/ttyTIC)"),
    frames: int = typer.Option(0, "--frames", help="stop after N frames (0: until Ctrl-C)"),
    corrupt: float = typer.Option(0.0, "--corrupt", help="probability that a group is "
                                  "corrupted on the wire"),
    degraded_clock: bool = typer.Option(False, "--degraded-clock", help="lower-case season "
                                        "letter in horodates (the meter lost its clock)"),
    replay_file: Path | None = typer.Option(None, "--replay", help="write this raw TIC "
                                               "capture instead (once)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """One Linky's TIC port on a pseudo-terminal: read it with a `type = "tic"` meter."""
    if mode not in BAUD:
        raise typer.BadParameter("use standard or historique", param_hint="--mode")
    if not 0 <= corrupt <= 1:
        raise typer.BadParameter("a probability, 0..1", param_hint="--corrupt")
    master, slave, path = open_pty(link)
    where = f"{path}" + (f" (also {link})" if link else "")
    try:
        if replay_file is not None:
            data = replay_file.read_bytes()
            print(f"TIC replay of {replay_file} ({len(data)} bytes) on {where}: waiting for "
                  "a reader to open it", flush=True)
            wait_for_reader(slave)
            replay(master, data, BAUD[mode])
            return
        from pvshare.config import load_config
        from pvshare_simulators.meters import adsc_of, default_config_path, fleet_from_sample_year
        cfg = load_config(config or default_config_path())
        people = cfg.participants
        if participant is not None:
            people = [p for p in people if p.id == participant]
            if not people:
                raise typer.BadParameter(f"no participant {participant!r} in the config",
                                         param_hint="--participant")
        who = people[0]
        fleet = fleet_from_sample_year([who], seed)
        sim = TicSimulator(SimClock(parse_start(start), speed),
                           lambda t: fleet.index_wh(t)[0], lambda t: fleet.power_w(t)[0],
                           adsc_of(who.prm), who.prm, mode, corrupt, seed, degraded_clock)
        print(f"TIC {mode} ({BAUD[mode]} baud) of {who.id} (PRM {who.prm}) on {where}; "
              "Ctrl-C to stop", flush=True)
        sim.run(master, frames)
    except KeyboardInterrupt:
        pass
    finally:
        os.close(master)
        os.close(slave)
        if link is not None and Path(link).is_symlink():
            Path(link).unlink()
        sys.stdout.flush()
