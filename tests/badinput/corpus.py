"""The bad-input corpus: every command that reads a file or a configuration, given the inputs
an adversarial user (or a tired one) would give it. See :mod:`tests.badinput.harness` for
how each case is run and classified.

Each case builds its own files in a fresh folder. The store cases copy one small real store
(written once per session through :class:`pvshare.store.Store`); the damaged-store cases
write random bytes over pages of that copy and assert that no command changes the file.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
from pathlib import Path

from tests.badinput.harness import Case

# --- valid inputs -----------------------------------------------------------------------
T = ["2025-06-01T10:00:00+00:00", "2025-06-01T10:30:00+00:00",
     "2025-06-01T11:00:00+00:00", "2025-06-01T11:30:00+00:00"]
PROD = "time,production_wh\n" + "".join(f"{t},{v}\n" for t, v in zip(T, [9000, 12000, 600, 0]))
CONS = "time,A,B,C\n" + "".join(f"{t},{a},{b},{c}\n" for t, (a, b, c) in zip(
    T, [(300, 500, 250), (400, 350, 120), (200, 210, 600), (100, 90, 80)]))
COEF = "participant,coefficient,rank\nA,0.2,1\nB,0.3,2\nC,0.5,2\n"
CUSTOM = "time,A,B,C\n" + "".join(f"{t},0.2,0.3,0.5\n" for t in T)
PRM_MAP = "participant,prm\nA,30001234560001\nB,30001234560002\nC,30001234560003\n"

CONFIG = """\
[site]
name = "corpus"
latitude = 45.958
longitude = 5.357

[producer]
prm = "25460000009001"
meter = "inverter"

[array]
kwp = 36.0
tilt_deg = 15
azimuth_deg = 180

[store]
path = "pvshare.db"

[[meters]]
id = "inverter"
type = "sunspec"
host = "127.0.0.1"
port = 1502
unit = 1

[[participants]]
id = "A"
prm = "25460000000001"

[[participants]]
id = "B"
prm = "25460000000002"

[[participants]]
id = "C"
prm = "25460000000003"
"""
SECRET = "s3cr3t-Pa55w0rd"
#: What the daemon needs beyond CONFIG: a meter for every flat, and a broker (nothing listens).
RUN_CONFIG = CONFIG + """
[[meters]]
id = "linky-{participant}"
type = "mqtt"
format = "zlinky"
topic = "zigbee2mqtt/linky-{participant}"

[mqtt]
host = "127.0.0.1"
port = 9
"""
TIC = Path(__file__).resolve().parent.parent / "fixtures" / "tic" / \
    "standard_mode_capture_2025-03-07.log"

# --- helpers ----------------------------------------------------------------------------


def w(tmp: Path, name: str, content: str | bytes) -> str:
    p = tmp / name
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return name


def cfg_with(replace: dict[str, str] | None = None, append: str = "") -> str:
    text = CONFIG
    for a, b in (replace or {}).items():
        assert a in text, a
        text = text.replace(a, b, 1)
    return text + append


_STORE_CACHE: dict[str, Path] = {}
STORE_FROM, STORE_TO = "2025-06-01T00:00:00+00:00", "2025-06-08T00:00:00+00:00"


def real_store() -> Path:
    """A small real store (one week of readings, step energies and allocation results of A,
    B, C), written once per session and checkpointed (no WAL beside it)."""
    if "store" in _STORE_CACHE:
        return _STORE_CACHE["store"]
    import numpy as np

    from pvshare.meters.base import Reading
    from pvshare.store import Store
    folder = Path(tempfile.mkdtemp(prefix="pvshare-corpus-"))
    path = folder / "pvshare.db"
    t0 = 1748736000  # 2025-06-01T00:00:00Z
    steps = t0 + 1800 * np.arange(7 * 48)
    rng = np.random.default_rng(1)
    cons = rng.uniform(50, 400, size=(len(steps), 3))
    prod = np.maximum(0, 9000 * np.sin((steps % 86400) / 86400 * 2 * np.pi - np.pi / 2))
    alloc = np.minimum(cons, prod[:, None] / 3)
    with Store.open(path) as s:
        s.write_allocation(steps, ["A", "B", "C"], prod, cons, alloc,
                           np.zeros(len(steps), bool), "prorata")
        s.write_readings([Reading(m, float(t0 + 60 * i), import_wh=1000.0 + i, power_w=100.0)
                          for i in range(7 * 24 * 6) for m in ("A", "inverter")])
        for m in ("A", "inverter"):
            s.write_step_energy(m, steps, cons[:, 0])
        s.checkpoint()
    _STORE_CACHE["store"] = path
    return path


def store_in(tmp: Path, damage: int | None = None) -> Path:
    """Copy the real store into ``tmp``; with ``damage`` (a seed) write random bytes over
    a few pages of the copy (never page 1, so the header still says SQLite)."""
    dst = tmp / "pvshare.db"
    shutil.copyfile(real_store(), dst)
    if damage is not None:
        rnd = random.Random(damage)
        size = dst.stat().st_size
        page = 4096
        n = size // page
        with open(dst, "r+b") as fh:
            for _ in range(3):
                k = rnd.randrange(2, n)
                fh.seek(k * page + rnd.randrange(0, page - 512))
                fh.write(rnd.randbytes(512))
    (tmp / "store.sha256").write_text(_sha(dst))
    return dst


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def store_unchanged(tmp: Path) -> str | None:
    """The store's bytes are those written before the command ran (and it left no WAL)."""
    p = tmp / "pvshare.db"
    if _sha(p) != (tmp / "store.sha256").read_text():
        return "the damaged store was modified"
    return None


# --- allocate ---------------------------------------------------------------------------


def alloc(prod: str | bytes = PROD, cons: str | bytes = CONS, *extra: str, key: str = "prorata",
          coef: str | bytes | None = None, prm: str | bytes | None = None,
          ) -> callable:
    def build(tmp: Path) -> list[str]:
        args = ["allocate", "--production", w(tmp, "p.csv", prod),
                "--consumption", w(tmp, "c.csv", cons), "--key", key, "--out", "out.csv"]
        if coef is not None:
            args += ["--coefficients", w(tmp, "k.csv", coef)]
        if prm is not None:
            args += ["--prm-map", w(tmp, "m.csv", prm), "--enedis-keys", "keys",
                     "--operation", "00000001"]
        return args + list(extra)
    return build


def prod_rows(*values: str) -> str:
    return "time,production_wh\n" + "".join(f"{t},{v}\n" for t, v in zip(T, values))


def cons_line(i: int, line: str) -> str:
    lines = CONS.splitlines(keepends=True)
    lines[i] = line
    return "".join(lines)


def prod_line(i: int, line: str) -> str:
    lines = PROD.splitlines(keepends=True)
    lines[i] = line
    return "".join(lines)


BIG_LINE = "x" * (8 * 1024 * 1024)

ALLOCATE: list[Case] = [
    Case("allocate-valid-prorata", alloc(), "ok"),
    Case("allocate-valid-static", alloc(key="static", coef=COEF), "ok"),
    Case("allocate-valid-priority", alloc(key="priority", coef=COEF), "ok"),
    Case("allocate-valid-custom", alloc(key="custom", coef=CUSTOM), "ok"),
    Case("allocate-valid-enedis-keys", alloc(prm=PRM_MAP), "ok"),
    Case("allocate-valid-crlf", alloc(PROD.replace("\n", "\r\n"), CONS.replace("\n", "\r\n")),
         "ok"),
    Case("allocate-valid-bom", alloc(b"\xef\xbb\xbf" + PROD.encode(), CONS), "ok"),
    Case("allocate-valid-pt15m", alloc(
        "time,production_wh\n2025-06-01T10:00:00+00:00,100\n2025-06-01T10:15:00+00:00,100\n",
        "time,A\n2025-06-01T10:00:00+00:00,10\n2025-06-01T10:15:00+00:00,10\n",
        "--step", "PT15M"), "ok"),
    # missing and odd files
    Case("allocate-production-missing", lambda tmp: [
        "allocate", "--production", "nope.csv", "--consumption", w(tmp, "c.csv", CONS),
        "--key", "prorata", "--out", "o.csv"], mention=("nope.csv",)),
    Case("allocate-production-folder", lambda tmp: (
        (tmp / "dir.csv").mkdir(), ["allocate", "--production", "dir.csv", "--consumption",
                                    w(tmp, "c.csv", CONS), "--key", "prorata",
                                    "--out", "o.csv"])[1], mention=("dir.csv",)),
    Case("allocate-consumption-folder", lambda tmp: (
        (tmp / "dir").mkdir(), ["allocate", "--production", w(tmp, "p.csv", PROD),
                                "--consumption", "dir", "--key", "prorata",
                                "--out", "o.csv"])[1], mention=("dir",)),
    Case("allocate-coefficients-folder", lambda tmp: (
        (tmp / "kdir").mkdir(), ["allocate", "--production", w(tmp, "p.csv", PROD),
                                 "--consumption", w(tmp, "c.csv", CONS), "--key", "static",
                                 "--coefficients", "kdir", "--out", "o.csv"])[1],
         mention=("kdir",)),
    Case("allocate-prm-map-folder", lambda tmp: (
        (tmp / "mdir").mkdir(), ["allocate", "--production", w(tmp, "p.csv", PROD),
                                 "--consumption", w(tmp, "c.csv", CONS), "--key", "prorata",
                                 "--prm-map", "mdir", "--enedis-keys", "keys", "--operation", "00000001",
                                 "--out", "o.csv"])[1], mention=("mdir",)),
    Case("allocate-out-is-folder", lambda tmp: (
        (tmp / "odir").mkdir(), alloc()(tmp)[:-1] + ["odir"])[1], mention=("odir",)),
    Case("allocate-out-folder-missing", lambda tmp: alloc()(tmp)[:-1] + ["no/such/dir/o.csv"],
         "ok"),
    Case("allocate-production-empty", alloc(""), mention=("p.csv",)),
    Case("allocate-consumption-empty", alloc(PROD, ""), mention=("c.csv",)),
    Case("allocate-production-header-only", alloc("time,production_wh\n"),
         mention=("p.csv", "line 2")),
    Case("allocate-production-binary", alloc(bytes(range(256)) * 4), mention=("p.csv",)),
    Case("allocate-production-latin1", alloc("time,production_wh\n# été\n".encode("latin-1")),
         mention=("p.csv",)),
    Case("allocate-production-nul-bytes", alloc(PROD.replace("9000", "90\x0000")),
         mention=("p.csv",)),
    # gzip-compressed CSV is read as its text (the bundled sample year is .csv.gz)
    Case("allocate-production-gzip", alloc(__import__("gzip").compress(PROD.encode())), "ok"),
    Case("allocate-production-gzip-cut", alloc(__import__("gzip").compress(PROD.encode())[:-9]),
         mention=("p.csv",)),
    Case("allocate-production-semicolon", alloc(PROD.replace(",", ";")),
         mention=("p.csv", "line 1")),
    Case("allocate-production-wrong-header", alloc(PROD.replace("production_wh", "prod")),
         mention=("p.csv", "line 1")),
    Case("allocate-production-extra-column", alloc(PROD.replace("production_wh",
                                                                "production_wh,x")),
         mention=("p.csv",)),
    Case("allocate-production-extra-cell", alloc(prod_line(2, f"{T[1]},12000,100\n")),
         mention=("p.csv", "line 3")),
    Case("allocate-consumption-extra-cell", alloc(PROD, cons_line(2, f"{T[1]},1,2,3,100\n")),
         mention=("c.csv", "line 3")),
    Case("allocate-consumption-missing-cell", alloc(PROD, cons_line(2, f"{T[1]},1,2\n")),
         "ok"),
    Case("allocate-production-empty-cell", alloc(prod_rows("9000", "", "600", "0")),
         mention=("p.csv", "line 3", "production_wh")),
    Case("allocate-production-text", alloc(prod_rows("9000", "abc", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-comma-decimal", alloc(prod_rows("9000", '"12,5"', "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-negative", alloc(prod_rows("9000", "-1", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-nan", alloc(prod_rows("9000", "nan", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-inf", alloc(prod_rows("9000", "inf", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-1e308", alloc(prod_rows("9000", "1e308", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-1e30", alloc(prod_rows("9000", "1e30", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-1e12", alloc(prod_rows("9000", "1e12", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-production-above-kwp", alloc(
        prod_rows("9000", "30000", "600", "0"), CONS, "--kwp", "36"),
         mention=("p.csv", "line 3")),
    Case("allocate-production-above-site-kwp", lambda tmp: alloc(
        prod_rows("9000", "30000", "600", "0"))(tmp) + ["--config", w(tmp, "site.toml", CONFIG)],
         mention=("p.csv", "line 3", "array")),
    Case("allocate-valid-with-site", lambda tmp: alloc()(tmp) + ["--config",
                                                                 w(tmp, "site.toml", CONFIG)],
         "ok"),
    Case("allocate-consumption-1e308", alloc(PROD, cons_line(1, f"{T[0]},1e308,1,1\n")),
         mention=("c.csv", "line 2")),
    Case("allocate-consumption-above-kva", alloc(PROD, cons_line(1, f"{T[0]},9000,1,1\n"),
                                                 "--kva", "6"),
         mention=("c.csv", "line 2", "A")),
    Case("allocate-consumption-negative", alloc(PROD, cons_line(1, f"{T[0]},-5,1,1\n")),
         mention=("c.csv", "line 2", "A")),
    Case("allocate-consumption-hex", alloc(PROD, cons_line(1, f"{T[0]},0x10,1,1\n")),
         mention=("c.csv", "line 2")),
    Case("allocate-consumption-dup-columns", alloc(PROD, CONS.replace("time,A,B,C",
                                                                      "time,A,B,A")),
         mention=("c.csv", "line 1", "'A'")),
    Case("allocate-consumption-dup-mangled-name", alloc(PROD, CONS.replace(
        "time,A,B,C", "time,A,A.1,A")), mention=("c.csv", "line 1")),
    Case("allocate-consumption-empty-column-name", alloc(PROD, CONS.replace("time,A,B,C",
                                                                            "time,A,,C")),
         mention=("c.csv", "line 1")),
    Case("allocate-consumption-no-participant", alloc(PROD, "time\n" + "\n".join(T) + "\n"),
         mention=("c.csv",)),
    Case("allocate-consumption-only-header", alloc(PROD, "time,A,B,C\n"),
         mention=("c.csv",)),
    Case("allocate-time-no-offset", alloc(prod_line(1, "2025-06-01T10:00:00,9000\n")),
         mention=("p.csv", "line 2", "time")),
    Case("allocate-time-garbage", alloc(prod_line(1, "yesterday,9000\n")),
         mention=("p.csv", "line 2")),
    Case("allocate-time-year-0001", alloc(prod_line(1, "0001-01-01T00:00:00+00:00,9000\n")),
         mention=("p.csv", "line 2")),
    Case("allocate-time-year-9999", alloc(prod_line(4, "9999-12-31T23:30:00+00:00,0\n")),
         mention=("p.csv", "line 5")),
    Case("allocate-years-0001-enedis-keys", alloc(
        "time,production_wh\n0001-01-01T00:00:00+00:00,100\n0001-01-01T00:30:00+00:00,100\n",
        "time,A,B,C\n0001-01-01T00:00:00+00:00,1,1,1\n0001-01-01T00:30:00+00:00,1,1,1\n",
        prm=PRM_MAP), mention=("p.csv",)),
    Case("allocate-years-9999-enedis-keys", alloc(
        "time,production_wh\n9999-12-31T23:00:00+00:00,100\n9999-12-31T23:30:00+00:00,100\n",
        "time,A,B,C\n9999-12-31T23:00:00+00:00,1,1,1\n9999-12-31T23:30:00+00:00,1,1,1\n",
        prm=PRM_MAP), mention=("p.csv",)),
    Case("allocate-time-misaligned", alloc(prod_line(2, "2025-06-01T10:31:00+00:00,1\n")),
         mention=("p.csv", "line 3")),
    Case("allocate-time-duplicate", alloc(prod_line(2, f"{T[0]},1\n")),
         mention=("p.csv", "line 3")),
    Case("allocate-time-unsorted", alloc(prod_line(1, f"{T[3]},1\n")),
         mention=("p.csv",)),
    Case("allocate-steps-differ", alloc(PROD, CONS.replace(T[3], "2025-06-01T12:00:00+00:00")),
         mention=("line 5",)),
    Case("allocate-step-pt10m", alloc(PROD, CONS, "--step", "PT10M"), mention=("--step",)),
    Case("allocate-step-garbage", alloc(PROD, CONS, "--step", "half-hour"),
         mention=("--step",)),
    Case("allocate-30min-file-with-pt15m", alloc(PROD, CONS, "--step", "PT15M"),
         mention=("p.csv", "PT15M")),
    Case("allocate-15min-file-with-pt30m", alloc(
        "time,production_wh\n2025-06-01T10:00:00+00:00,1\n2025-06-01T10:15:00+00:00,1\n",
        "time,A\n2025-06-01T10:00:00+00:00,1\n2025-06-01T10:15:00+00:00,1\n"),
         mention=("p.csv", "line 3")),
    Case("allocate-gap-in-steps-pt15m", alloc(
        "time,production_wh\n2025-06-01T10:00:00+00:00,1\n2025-06-01T10:15:00+00:00,1\n"
        "2025-06-01T11:00:00+00:00,1\n",
        "time,A\n2025-06-01T10:00:00+00:00,1\n2025-06-01T10:15:00+00:00,1\n"
        "2025-06-01T11:00:00+00:00,1\n", "--step", "PT15M"), "ok"),
    Case("allocate-key-unknown", alloc(key="fair"), mention=("--key",)),
    Case("allocate-key-static-no-coefficients", alloc(key="static"), "ok"),
    Case("allocate-key-priority-no-coefficients", alloc(key="priority"),
         mention=("--coefficients",)),
    Case("allocate-key-custom-no-coefficients", alloc(key="custom"),
         mention=("--coefficients",)),
    Case("allocate-enedis-keys-without-prm-map", alloc(PROD, CONS, "--enedis-keys", "k.txt"),
         mention=("--enedis-keys",)),
    # truncated at the end
    Case("allocate-production-cut-mid-line", alloc(PROD + f"{T[3][:-6]}"),
         mention=("p.csv",)),
    Case("allocate-production-cut-in-value", alloc(
        prod_rows("9000", "12000", "600", "600")[:-3]), "warn", mention=("p.csv",)),
    Case("allocate-consumption-cut-in-row", alloc(PROD, CONS[:-5]), mention=("c.csv",)),
    Case("allocate-consumption-no-final-newline-complete", alloc(PROD, CONS[:-1]), "warn",
         mention=("c.csv",)),
    # bounds
    Case("allocate-production-8mb-line", alloc(prod_line(2, f"{T[1]},{BIG_LINE}\n")),
         mention=("p.csv", "line 3")),
    Case("allocate-consumption-8mb-header", alloc(PROD, CONS.replace("time,A,B,C",
                                                                     "time,A,B," + BIG_LINE)),
         mention=("c.csv", "line 1")),
    Case("allocate-production-8mb-no-newline", alloc(BIG_LINE), mention=("p.csv",)),
    Case("allocate-consumption-100k-columns", alloc(PROD, "time," + ",".join(
        f"P{i}" for i in range(100_000)) + "\n"), mention=("c.csv", "line 1")),
    Case("allocate-participant-name-huge", alloc(PROD, CONS.replace("time,A,B,C",
                                                                    "time,A,B," + "C" * 5000)),
         mention=("c.csv", "line 1")),
    # coefficients
    Case("allocate-coef-sum-above-1", alloc(key="static", coef=COEF.replace("0.5", "0.9")),
         mention=("k.csv",)),
    Case("allocate-coef-negative", alloc(key="static", coef=COEF.replace("0.2", "-0.2")),
         mention=("k.csv", "line 2")),
    Case("allocate-coef-nan", alloc(key="static", coef=COEF.replace("0.2", "nan")),
         mention=("k.csv", "line 2")),
    Case("allocate-coef-above-1", alloc(key="static", coef=COEF.replace("0.2", "2")),
         mention=("k.csv", "line 2")),
    Case("allocate-coef-unknown-participant", alloc(key="static", coef=COEF.replace("C,",
                                                                                     "Z,")),
         mention=("k.csv", "line 4")),
    Case("allocate-coef-duplicate", alloc(key="static", coef=COEF + "A,0.0,1\n"),
         mention=("k.csv", "line 5")),
    Case("allocate-coef-missing-participant", alloc(key="static",
                                                    coef="participant,coefficient\nA,0.2\n"),
         mention=("k.csv", "'B'")),
    Case("allocate-coef-bad-header", alloc(key="static", coef=COEF.replace("coefficient",
                                                                           "coef")),
         mention=("k.csv", "line 1")),
    Case("allocate-coef-rank-fraction", alloc(key="priority", coef=COEF.replace(",1\n",
                                                                               ",1.5\n")),
         mention=("k.csv", "line 2", "rank")),
    Case("allocate-coef-rank-zero", alloc(key="priority", coef=COEF.replace(",1\n", ",0\n")),
         mention=("k.csv", "line 2")),
    Case("allocate-coef-rank-huge", alloc(key="priority", coef=COEF.replace(",1\n",
                                                                           ",1e300\n")),
         mention=("k.csv", "line 2")),
    Case("allocate-coef-priority-no-rank", alloc(key="priority",
                                                 coef="participant,coefficient\nA,0.2\nB,0.3\n"
                                                      "C,0.5\n"), mention=("k.csv",)),
    Case("allocate-coef-folder-empty-file", alloc(key="static", coef=""), mention=("k.csv",)),
    Case("allocate-custom-sum-above-1", alloc(key="custom", coef=CUSTOM.replace("0.5", "0.7")),
         mention=("k.csv", "line 2")),
    Case("allocate-custom-unknown-participant", alloc(key="custom", coef=CUSTOM.replace(
        "time,A,B,C", "time,A,B,Z")), mention=("k.csv", "line 1")),
    Case("allocate-custom-missing-step", alloc(key="custom", coef="".join(
        CUSTOM.splitlines(keepends=True)[:-1])), mention=("line 5",)),
    Case("allocate-custom-empty-cell", alloc(key="custom", coef=CUSTOM.replace(
        "0.2,0.3,0.5\n", "0.2,,0.5\n", 1)), mention=("k.csv", "line 2", "B")),
    Case("allocate-custom-dup-columns", alloc(key="custom", coef=CUSTOM.replace(
        "time,A,B,C", "time,A,B,C,A")), mention=("k.csv", "line 1")),
    # prm map
    Case("allocate-prm-short", alloc(prm=PRM_MAP.replace("30001234560001", "3000123")),
         mention=("m.csv", "line 2", "prm")),
    Case("allocate-prm-duplicate-participant", alloc(prm=PRM_MAP + "A,30001234560009\n"),
         mention=("m.csv", "line 5")),
    Case("allocate-prm-same-prm", alloc(prm=PRM_MAP.replace("30001234560003",
                                                            "30001234560001")),
         mention=("m.csv",)),
    Case("allocate-prm-missing-participant", alloc(prm="participant,prm\nA,30001234560001\n"),
         mention=("m.csv", "'B'")),
    Case("allocate-prm-bad-header", alloc(prm=PRM_MAP.replace("prm", "PRM", 1)),
         mention=("m.csv", "line 1")),
    Case("allocate-prm-scientific", alloc(prm=PRM_MAP.replace("30001234560001",
                                                              "3.00012E+13")),
         mention=("m.csv", "line 2")),
    Case("allocate-prm-empty", alloc(prm=""), mention=("m.csv",)),
]

# --- config check -----------------------------------------------------------------------


def cfg(text: str | bytes, cmd: tuple[str, ...] = ("config", "check")) -> callable:
    def build(tmp: Path) -> list[str]:
        return [*cmd, w(tmp, "site.toml", text)] if cmd == ("config", "check") \
            else [*cmd, "--config", w(tmp, "site.toml", text)]
    return build


def nested(n: int, open_: str, close: str) -> str:
    return cfg_with(append="\n[extra]\nx = " + open_ * n + "1" + close * n + "\n")


INFLUX = '\n[influxdb]\nurl = "http://127.0.0.1:8086"\norg = "o"\nbucket = "b"\n'
MQTT = '\n[mqtt]\nhost = "127.0.0.1"\n'

CONFIG_CASES: list[Case] = [
    Case("config-valid", cfg(CONFIG), "ok"),
    Case("config-valid-crlf", cfg(CONFIG.replace("\n", "\r\n")), "ok"),
    Case("config-valid-bom", cfg(b"\xef\xbb\xbf" + CONFIG.encode()), "ok"),
    Case("config-valid-example", lambda tmp: ["config", "check", str(
        Path(__file__).resolve().parents[2] / "config" / "example.toml")], "ok"),
    Case("config-missing", lambda tmp: ["config", "check", "nope.toml"],
         mention=("nope.toml",)),
    Case("config-folder", lambda tmp: ((tmp / "cdir").mkdir(), ["config", "check", "cdir"])[1],
         mention=("cdir",)),
    Case("config-empty", cfg(""), mention=("site.toml", "site")),
    Case("config-binary", cfg(bytes(range(256))), mention=("site.toml",)),
    Case("config-latin1", cfg(cfg_with({'"corpus"': '"corpus" # résidence'}).encode("latin-1")),
         mention=("site.toml",)),
    Case("config-utf16", cfg(CONFIG.encode("utf-16")), mention=("site.toml",)),
    Case("config-syntax-error", cfg(cfg_with({"kwp = 36.0": "kwp = = 36"})),
         mention=("site.toml", "line 11")),
    Case("config-duplicate-key", cfg(cfg_with({"kwp = 36.0": "kwp = 36.0\nkwp = 30"})),
         mention=("site.toml",)),
    Case("config-nested-arrays-5000", cfg(nested(5000, "[", "]")), mention=("site.toml",)),
    Case("config-nested-tables-5000", cfg(nested(5000, "{a=", "}")), mention=("site.toml",)),
    Case("config-nested-arrays-50", cfg(nested(50, "[", "]")), mention=("site.toml",)),
    Case("config-huge-string", cfg(cfg_with({'"corpus"': '"corpus"\n# ' + "x" * (8 << 20)})),
         mention=("site.toml",)),
    Case("config-huge-file-many-lines", cfg(CONFIG + "# padding\n" * 600_000),
         mention=("site.toml",)),
    Case("config-unknown-field", cfg(cfg_with({"kwp = 36.0": "kwp = 36.0\nkwpp = 3"})),
         mention=("array.kwpp",)),
    Case("config-unknown-section", cfg(CONFIG + "\n[sites]\nx = 1\n"), mention=("sites",)),
    Case("config-missing-site", cfg(CONFIG.replace("[site]", "[sitex]")), mention=("site",)),
    Case("config-kwp-inf", cfg(cfg_with({"kwp = 36.0": "kwp = inf"})), mention=("array.kwp",)),
    Case("config-kwp-nan", cfg(cfg_with({"kwp = 36.0": "kwp = nan"})), mention=("array.kwp",)),
    Case("config-kwp-negative", cfg(cfg_with({"kwp = 36.0": "kwp = -3"})),
         mention=("array.kwp",)),
    Case("config-kwp-string", cfg(cfg_with({"kwp = 36.0": 'kwp = "36 kWc"'})),
         mention=("array.kwp",)),
    Case("config-kwp-huge", cfg(cfg_with({"kwp = 36.0": "kwp = 1e30"})),
         mention=("array.kwp",)),
    Case("config-latitude-nan", cfg(cfg_with({"latitude = 45.958": "latitude = nan"})),
         mention=("site.latitude",)),
    Case("config-altitude-inf", cfg(cfg_with({"latitude = 45.958": "latitude = 45.958\n"
                                                                   "altitude_m = inf"})),
         mention=("site.altitude_m",)),
    Case("config-tilt-100", cfg(cfg_with({"tilt_deg = 15": "tilt_deg = 100"})),
         mention=("array.tilt_deg",)),
    Case("config-horizon-nan", cfg(cfg_with({"azimuth_deg = 180": "azimuth_deg = 180\n"
                                                                  "horizon = [[0, nan]]"})),
         mention=("array.horizon",)),
    Case("config-inverter-kw-inf", cfg(cfg_with({"azimuth_deg = 180": "azimuth_deg = 180\n"
                                                                      "inverter_kw = inf"})),
         mention=("array.inverter_kw",)),
    Case("config-step-pt10m", cfg(cfg_with({"longitude = 5.357": 'longitude = 5.357\n'
                                                                 'step = "PT10M"'})),
         mention=("site.step",)),
    Case("config-timezone-unknown", cfg(cfg_with({"longitude = 5.357": 'longitude = 5.357\n'
                                                                       'timezone = "Mars/Olympus"'})),
         mention=("site.timezone",)),
    Case("config-timezone-path", cfg(cfg_with({"longitude = 5.357": 'longitude = 5.357\n'
                                                                    'timezone = "../../etc/passwd"'})),
         mention=("site.timezone",)),
    Case("config-site-name-space", cfg(cfg_with({'"corpus"': '"my site"'})),
         mention=("site.name",)),
    Case("config-prm-13-digits", cfg(cfg_with({'"25460000000001"': '"2546000000001"'})),
         mention=("participants[0].prm",)),
    Case("config-prm-number", cfg(cfg_with({'"25460000000001"': '25460000000001'})),
         mention=("participants[0].prm",)),
    Case("config-duplicate-participant", cfg(cfg_with({'id = "B"': 'id = "A"'})),
         mention=("participants[1].id",)),
    Case("config-duplicate-prm", cfg(cfg_with({'"25460000000002"': '"25460000000001"'})),
         mention=("participants[1].prm",)),
    Case("config-producer-prm-participant", cfg(cfg_with({'"25460000009001"':
                                                          '"25460000000001"'})),
         mention=("producer.prm",)),
    Case("config-no-participants", cfg(CONFIG.split("[[participants]]")[0]),
         mention=("participants",)),
    Case("config-participant-id-slash", cfg(cfg_with({'id = "C"': 'id = "../C"'})),
         mention=("participants[2].id",)),
    Case("config-producer-meter-unknown", cfg(cfg_with({'meter = "inverter"':
                                                        'meter = "onduleur"'})),
         mention=("producer.meter",)),
    Case("config-participant-meter-unknown", cfg(cfg_with({'id = "C"\n': 'id = "C"\n'},
                                                          'meter = "linky-z"\n')),
         mention=("participants[2].meter",)),
    Case("config-meter-type-unknown", cfg(cfg_with({'type = "sunspec"': 'type = "fronius"'})),
         mention=("meters[0]",)),
    Case("config-meter-port-huge", cfg(cfg_with({"port = 1502": "port = 99999"})),
         mention=("meters[0].port",)),
    Case("config-meter-duplicate-id", cfg(CONFIG.replace(
        "[[participants]]", '[[meters]]\nid = "inverter"\ntype = "sunspec"\nhost = "h"\n\n'
        "[[participants]]", 1)), mention=("meters[1].id",)),
    Case("config-key-unknown", cfg(CONFIG + '\n[key]\ntype = "fair"\n'), mention=("key.type",)),
    Case("config-key-custom-no-file", cfg(CONFIG + '\n[key]\ntype = "custom"\n'),
         mention=("key.file",)),
    Case("config-coefficients-sum", cfg(CONFIG.replace(
        'prm = "25460000000001"', 'prm = "25460000000001"\ncoefficient = 0.6').replace(
        'prm = "25460000000002"', 'prm = "25460000000002"\ncoefficient = 0.6').replace(
        'prm = "25460000000003"', 'prm = "25460000000003"\ncoefficient = 0.6')
        + '\n[key]\ntype = "static"\n'), mention=("coefficients",)),
    Case("config-coefficient-nan", cfg(CONFIG.replace(
        'prm = "25460000000001"', 'prm = "25460000000001"\ncoefficient = nan')),
         mention=("participants[0].coefficient",)),
    Case("config-priority-no-rank", cfg(CONFIG + '\n[key]\ntype = "priority"\n'),
         mention=("participants[0].rank",)),
    Case("config-subscribed-kva-inf", cfg(CONFIG + "\n[tariffs]\nsubscribed_kva = inf\n"),
         mention=("tariffs.subscribed_kva",)),
    Case("config-price-nan", cfg(CONFIG + "\n[tariffs]\nsupplier_eur_per_kwh = nan\n"),
         mention=("tariffs.supplier_eur_per_kwh",)),
    Case("config-subscription-inf", cfg(CONFIG + '\n[tariffs]\nsubscription_eur_per_year = '
                                                 '{"6" = inf}\n'),
         mention=("tariffs.subscription_eur_per_year",)),
    Case("config-poll-zero", cfg(CONFIG + "\n[daemon]\npoll_interval_s = 0\n"),
         mention=("daemon.poll_interval_s",)),
    Case("config-poll-inf", cfg(CONFIG + "\n[daemon]\npoll_interval_s = inf\n"),
         mention=("daemon.poll_interval_s",)),
    Case("config-grace-nan", cfg(CONFIG + "\n[daemon]\ngrace_s = nan\n"),
         mention=("daemon.grace_s",)),
    Case("config-retention-zero", cfg(cfg_with({'path = "pvshare.db"':
                                                'path = "pvshare.db"\nraw_retention_days = 0'})),
         mention=("store.raw_retention_days",)),
    Case("config-store-path-folder", lambda tmp: ((tmp / "dbdir").mkdir(), cfg(cfg_with(
        {'path = "pvshare.db"': 'path = "dbdir"'}))(tmp))[1], mention=("store.path",)),
    Case("config-store-path-no-folder", cfg(cfg_with({'path = "pvshare.db"':
                                                      'path = "no/such/folder/p.db"'})),
         mention=("store.path",)),
    Case("config-store-path-empty", cfg(cfg_with({'path = "pvshare.db"': 'path = ""'})),
         mention=("store.path",)),
    Case("config-mqtt-port-zero", cfg(CONFIG + MQTT + "port = 0\n"), mention=("mqtt.port",)),
    Case("config-mqtt-password-number", cfg(CONFIG + MQTT + 'username = "u"\npassword = '
                                            "918273645546\n"),
         mention=("mqtt.password",), absent=("918273645546",)),
    Case("config-mqtt-password-table", cfg(CONFIG + MQTT + 'username = "u"\n'
                                           f'password = {{value = "{SECRET}"}}\n'),
         mention=("mqtt.password",), absent=(SECRET,)),
    Case("config-mqtt-password-remote-plain", cfg(CONFIG + '\n[mqtt]\nhost = "broker.example.org"'
                                                  f'\nusername = "u"\npassword = "{SECRET}"\n'),
         "warn", mention=("mqtt", "tls"), absent=(SECRET,)),
    Case("config-mqtt-client-id-empty", cfg(CONFIG + MQTT + 'client_id = ""\n'),
         mention=("mqtt.client_id",)),
    Case("config-mqtt-ca-file-missing", cfg(CONFIG + MQTT + 'tls = true\nca_file = "ca.pem"\n'),
         mention=("mqtt.ca_file",)),
    Case("config-influx-url-not-url", cfg(CONFIG + INFLUX.replace("http://127.0.0.1:8086",
                                                                  "localhost 8086")),
         mention=("influxdb.url",)),
    Case("config-influx-url-ftp", cfg(CONFIG + INFLUX.replace("http://", "ftp://")),
         mention=("influxdb.url",)),
    Case("config-influx-url-no-host", cfg(CONFIG + INFLUX.replace("http://127.0.0.1:8086",
                                                                  "http://")),
         mention=("influxdb.url",)),
    Case("config-influx-url-credentials", cfg(CONFIG + INFLUX.replace(
        "http://127.0.0.1", f"http://admin:{SECRET}@influx.example.org")),
         "warn", mention=("influxdb.url",), absent=(SECRET,)),
    Case("config-influx-token-file-missing", cfg(CONFIG + INFLUX + 'token_file = "tok.txt"\n'),
         mention=("influxdb.token_file", "tok.txt")),
    Case("config-influx-token-file-folder", lambda tmp: (
        (tmp / "tokdir").mkdir(), cfg(CONFIG + INFLUX + 'token_file = "tokdir"\n')(tmp))[1],
         mention=("influxdb.token_file",)),
    Case("config-influx-token-number", cfg(CONFIG + INFLUX + "token = 123456789123\n"),
         mention=("influxdb.token",), absent=("123456789123",)),
    Case("config-influx-token-remote-plain", cfg(CONFIG + INFLUX.replace(
        "127.0.0.1", "influx.example.org") + f'token = "{SECRET}"\n'), "warn",
         mention=("influxdb",), absent=(SECRET,)),
    Case("config-influx-batch-zero", cfg(CONFIG + INFLUX + "batch_size = 0\n"),
         mention=("influxdb.batch_size",)),
]

# --- the daemon and the store commands --------------------------------------------------


def with_store(cmd: list[str], text: str = CONFIG, damage: int | None = None,
               store: bool = True) -> callable:
    def build(tmp: Path) -> list[str]:
        if store:
            store_in(tmp, damage)
        return [cmd[0], *cmd[1:2], "--config", w(tmp, "site.toml", text), *cmd[2:]] \
            if len(cmd) > 1 and not cmd[1].startswith("-") else \
            [cmd[0], "--config", w(tmp, "site.toml", text), *cmd[1:]]
    return build


EXPORT = ["export", "--what", "allocation", "--from", STORE_FROM, "--to", STORE_TO,
          "--out", "out.csv"]


def export(*over: str, damage: int | None = None, store: bool = True,
           text: str = CONFIG) -> callable:
    args = list(EXPORT)
    for i in range(0, len(over), 2):
        k = args.index(over[i])
        args[k + 1] = over[i + 1]
    def build(tmp: Path) -> list[str]:
        if store:
            store_in(tmp, damage)
        return [args[0], "--config", w(tmp, "site.toml", text), *args[1:]]
    return build


def store_cmd(*cmd: str, damage: int | None = None, store: bool = True,
              text: str = CONFIG) -> callable:
    def build(tmp: Path) -> list[str]:
        if store:
            store_in(tmp, damage)
        return [*cmd, "--config", w(tmp, "site.toml", text)]
    return build


def not_sqlite(tmp: Path) -> list[str]:
    w(tmp, "pvshare.db", "time,A\n" * 100)
    return [*EXPORT[:1], "--config", w(tmp, "site.toml", CONFIG), *EXPORT[1:]]


def store_folder(cmd: tuple[str, ...]) -> callable:
    def build(tmp: Path) -> list[str]:
        (tmp / "pvshare.db").mkdir()
        return [*cmd, "--config", w(tmp, "site.toml", CONFIG)]
    return build


def export_out_folder(tmp: Path) -> list[str]:
    (tmp / "odir").mkdir()
    return export("--out", "odir")(tmp)


def rows_complete(tmp: Path) -> str | None:
    out = tmp / "out.csv"
    if not out.exists():
        return None
    n = sum(1 for _ in open(out)) - 1
    return None if n == 7 * 48 * 3 else f"export wrote {n} rows instead of {7 * 48 * 3}"


def no_output(tmp: Path) -> str | None:
    return store_unchanged(tmp) or (
        "an output file was left behind" if (tmp / "out.csv").exists() else None)


DAMAGE_SEEDS = [11, 12, 13, 14, 15, 16]

STORE_CASES: list[Case] = [
    Case("export-valid-allocation", export(), "ok", check=rows_complete),
    Case("export-valid-readings", export("--what", "readings"), "ok"),
    Case("export-valid-steps", export("--what", "steps"), "ok"),
    Case("export-what-unknown", export("--what", "everything"), mention=("--what",)),
    Case("export-format-unknown", export("--out", "o.xlsx") if False else
         (lambda tmp: export()(tmp) + ["--format", "xlsx"]), mention=("--format",)),
    Case("export-from-garbage", export("--from", "last monday"), mention=("--from",)),
    Case("export-from-year-0001", export("--from", "0001-01-01"), "ok", check=rows_complete),
    Case("export-to-year-9999", export("--to", "9999-12-31T23:59:59"), "ok"),
    Case("export-to-before-from", export("--to", "2025-05-01"), mention=("--to",)),
    Case("export-out-folder", export_out_folder, mention=("odir",)),
    Case("export-store-missing", export(store=False), mention=("pvshare.db",)),
    Case("export-store-not-sqlite", not_sqlite, mention=("pvshare.db",)),
    Case("export-store-folder", store_folder(("export",)) if False else (
        lambda tmp: ((tmp / "pvshare.db").mkdir(), export(store=False)(tmp))[1]),
         mention=("pvshare.db",)),
    Case("export-config-bad", export(text=cfg_with({"kwp = 36.0": "kwp = inf"})),
         mention=("array.kwp",)),
    *[Case(f"export-damaged-store-{s}", export(damage=s), mention=("pvshare.db",),
           check=no_output) for s in DAMAGE_SEEDS],
    *[Case(f"export-readings-damaged-store-{s}", export("--what", "readings", damage=s),
           mention=("pvshare.db",), check=no_output) for s in DAMAGE_SEEDS[:3]],
    *[Case(f"store-stats-damaged-{s}", store_cmd("store", "stats", damage=s),
           mention=("pvshare.db",), check=store_unchanged) for s in DAMAGE_SEEDS[:3]],
    *[Case(f"status-damaged-{s}", store_cmd("status", damage=s),
           mention=("pvshare.db",), check=store_unchanged) for s in DAMAGE_SEEDS[:3]],
    *[Case(f"requeue-damaged-{s}", lambda tmp, s=s: store_cmd("store", "requeue", damage=s)(tmp)
           + ["--from", "2025-06-01", "--to", "2025-06-02"],
           mention=("pvshare.db",), check=store_unchanged) for s in DAMAGE_SEEDS[:3]],
    Case("store-stats-valid", store_cmd("store", "stats"), "ok"),
    Case("store-stats-store-missing", store_cmd("store", "stats", store=False),
         mention=("pvshare.db",)),
    Case("store-stats-store-folder", lambda tmp: (
        (tmp / "pvshare.db").mkdir(), store_cmd("store", "stats", store=False)(tmp))[1],
         mention=("pvshare.db",)),
    Case("store-stats-url-credentials", store_cmd("store", "stats", text=CONFIG + INFLUX.replace(
        "http://", f"http://admin:{SECRET}@")), "ok", absent=(SECRET,)),
    Case("store-push-no-influx", store_cmd("store", "push"), mention=("influxdb",)),
    Case("store-push-token-file-missing", store_cmd("store", "push", text=CONFIG + INFLUX
                                                    + 'token_file = "tok.txt"\n'),
         mention=("token_file",)),
    Case("store-push-url-credentials-refused", lambda tmp: store_cmd(
        "store", "push", text=CONFIG + INFLUX.replace("http://127.0.0.1:8086",
                                                      f"http://admin:{SECRET}@127.0.0.1:9")
    )(tmp) + ["--attempts", "1"], mention=("127.0.0.1",), absent=(SECRET,)),
    Case("store-requeue-bad-time", lambda tmp: store_cmd("store", "requeue")(tmp)
         + ["--from", "soon", "--to", "2025-06-02"], mention=("--from",)),
    Case("store-requeue-year-0001", lambda tmp: store_cmd("store", "requeue")(tmp)
         + ["--from", "0001-01-01", "--to", "2025-06-02"], "ok"),
    # the corpus store's readings are from June 2025: status says "stale meter" (exit 3)
    Case("status-valid", store_cmd("status"), "ok", codes=(3,)),
    # no store: exit 7, said in plain words (docs/troubleshooting.md)
    Case("status-store-missing", store_cmd("status", store=False), "ok", codes=(7,)),
    Case("status-status-file-garbage", lambda tmp: (
        w(tmp, "pvshare.db.status.json", b"\xff\x00garbage"),
        store_cmd("status")(tmp))[1], "ok", codes=(3,)),
    Case("status-url-credentials", store_cmd("status", text=CONFIG + INFLUX.replace(
        "http://", f"http://admin:{SECRET}@")), "ok", absent=(SECRET,), codes=(3,)),
    Case("run-store-folder", lambda tmp: ((tmp / "pvshare.db").mkdir(), store_cmd(
        "run", store=False, text=RUN_CONFIG)(tmp))[1], mention=("pvshare.db",)),
    Case("run-store-not-sqlite", lambda tmp: (w(tmp, "pvshare.db", "hello\n" * 10), store_cmd(
        "run", store=False, text=RUN_CONFIG)(tmp))[1], mention=("pvshare.db",), check=lambda tmp: None if (
        tmp / "pvshare.db").read_text() == "hello\n" * 10 else "the file was modified"),
    Case("run-config-nested", cfg(nested(5000, "[", "]"), ("run",)), mention=("site.toml",)),
    Case("run-config-missing", lambda tmp: ["run", "--config", "nope.toml"],
         mention=("nope.toml",)),
    Case("report-building-month-bad", store_cmd("report", "building") if False else (
        lambda tmp: store_cmd("report", "building")(tmp) + ["--month", "2025-13"]),
         mention=("--month",)),
    Case("report-building-year-0", lambda tmp: store_cmd("report", "building")(tmp)
         + ["--year", "0", "--format", "html"], mention=("--year",)),
    Case("report-building-year-99999", lambda tmp: store_cmd("report", "building")(tmp)
         + ["--year", "99999", "--format", "html"], mention=("--year",)),
    Case("report-tenant-unknown", lambda tmp: store_cmd("report", "tenant")(tmp)
         + ["--month", "2025-06", "--participant", "Z", "--format", "html"],
         mention=("--participant",)),
    Case("report-tenant-damaged", lambda tmp: store_cmd("report", "tenant", damage=12)(tmp)
         + ["--month", "2025-06", "--participant", "A", "--format", "html"],
         mention=("pvshare.db",), check=store_unchanged),
]

# --- tic decode -------------------------------------------------------------------------


def tic(content: str | bytes | None, *extra: str) -> callable:
    def build(tmp: Path) -> list[str]:
        if content is None:
            return ["tic", "decode", str(TIC), *extra]
        return ["tic", "decode", w(tmp, "cap.log", content), *extra]
    return build


TIC_CASES: list[Case] = [
    Case("tic-valid", tic(None), "ok"),
    Case("tic-missing", lambda tmp: ["tic", "decode", "nope.log"], mention=("nope.log",)),
    Case("tic-folder", lambda tmp: ((tmp / "tdir").mkdir(), ["tic", "decode", "tdir"])[1],
         mention=("tdir",)),
    Case("tic-empty", tic(b""), mention=("cap.log",)),
    Case("tic-random", tic(random.Random(3).randbytes(100_000)), mention=("cap.log",)),
    Case("tic-text", tic(CONFIG), mention=("cap.log",)),
    Case("tic-mode-unknown", tic(None, "--mode", "linky"), mention=("--mode",)),
    Case("tic-huge-line", tic(b"\x02\n" + b"A" * (16 << 20)), mention=("cap.log",)),
    Case("tic-huge-group", tic(b"\x02\nADSC\t" + b"1" * (4 << 20) + b"\t6\r\x03"),
         mention=("cap.log",)),
    Case("tic-endless-frame", tic(b"\x02" + b"\nEAST\t000001234\t#\r" * 400_000),
         mention=("cap.log",)),
    Case("tic-nul", tic(b"\x00" * 1_000_000), mention=("cap.log",)),
]

# --- meters decode: numbers that break decoders (issues 18 and 21) ------------------------


def decode_case(fmt: str, line: bytes | str) -> callable:
    def build(tmp: Path) -> list[str]:
        return ["meters", "decode", "--format", fmt, "--received-at", "2025-06-01T10:00:00Z",
                w(tmp, "msgs.jsonl", line)]
    return build


Z = '{"current_summ_delivered": 12.5, '
T_EAST = '"EAST": {"raw": "012345678", "value": 12345678}'
METERS_CASES: list[Case] = [
    # each refused message: exit 0, the reason on stdout, the detail on stderr
    Case("meters-decode-zlinky-last-seen-10e400", decode_case(
        "zlinky", Z + '"last_seen": 1' + "0" * 400 + "}\n"), "warn", mention=("bad_time",)),
    Case("meters-decode-zlinky-last-seen-1e300", decode_case(
        "zlinky", Z + '"last_seen": 1e300}\n'), "warn", mention=("bad_time",)),
    Case("meters-decode-zlinky-last-seen-year-0001", decode_case(
        "zlinky", Z + '"last_seen": "0001-01-01T00:00:00Z"}\n'), "warn", mention=("bad_time",)),
    Case("meters-decode-zlinky-last-seen-year-9999", decode_case(
        "zlinky", Z + '"last_seen": "9999-12-31T23:59:59+01:00"}\n'), "warn",
         mention=("bad_time",)),
    Case("meters-decode-teleinfo-date-year-0001", decode_case(
        "teleinfo2mqtt", "{" + T_EAST + ', "DATE": {"raw": "", "value": "", "timestamp": '
        '{"date": "0001-01-01T00:00:00.000Z", "dst": "winter"}}}\n'), "warn",
         mention=("bad_time", "DATE")),
    Case("meters-decode-teleinfo-date-year-2150", decode_case(
        "teleinfo2mqtt", "{" + T_EAST + ', "DATE": {"raw": "", "value": "", "timestamp": '
        '{"date": "2150-01-01T00:00:00.000Z", "dst": "winter"}}}\n'), "warn",
         mention=("bad_time",)),
    Case("meters-decode-zlinky-index-10e400", decode_case(
        "zlinky", '{"current_summ_delivered": 1' + "0" * 400 + "}\n"), "warn",
         mention=("non_numeric",)),
    Case("meters-decode-zlinky-index-nan", decode_case(
        "zlinky", '{"current_summ_delivered": NaN}\n'), "warn", mention=("non_numeric",)),
    Case("meters-decode-zlinky-index-inf", decode_case(
        "zlinky", '{"current_summ_delivered": 1e999}\n'), "warn", mention=("non_numeric",)),
    Case("meters-decode-zlinky-index-minus-inf", decode_case(
        "zlinky", '{"current_summ_delivered": -Infinity}\n'), "warn", mention=("non_numeric",)),
    Case("meters-decode-teleinfo-arabic-indic-digits", decode_case(
        "teleinfo2mqtt", '{"EAST": {"raw": "١٢٣", "value": "١٢٣"}}\n'), "warn",
         mention=("non_numeric", "EAST")),
    Case("meters-decode-teleinfo-digit-separator", decode_case(
        "teleinfo2mqtt", '{"EAST": {"raw": "1_000", "value": "1_000"}}\n'), "warn",
         mention=("non_numeric", "EAST")),
    Case("meters-decode-zlinky-fullwidth-digits", decode_case(
        "zlinky", '{"current_summ_delivered": "１２３"}\n'), "warn", mention=("non_numeric",)),
    Case("meters-decode-teleinfo-hchc-without-hchp", decode_case(
        "teleinfo2mqtt", '{"HCHC": {"raw": "009058688", "value": 9058688}, '
        '"PAPP": {"raw": "01230", "value": 1230}}\n'), "warn", mention=("incomplete", "HCHP")),
    Case("meters-decode-tasmota-changed-mode-hchp-only", decode_case(
        "tasmota", '{"TIC": {"HCHP": 9752846}}\n'), "warn", mention=("incomplete", "HCHC")),
    Case("meters-decode-zlinky-sinsts-sinsti-power-null", decode_case(
        "zlinky", '{"current_summ_delivered": 1234.567, "apparent_power": 1130, '
        '"injected_v_a": 1770}\n'), "ok",
         check=lambda tmp: None),
    Case("meters-decode-tasmota-flat-valid", decode_case(
        "tasmota", '{"TIC": {"ADCO": "031961257463", "OPTARIF": "BASE", "BASE": 12345678, '
        '"PAPP": 230}}\n'), "ok"),
    Case("meters-decode-teleinfo-flat-valid", decode_case(
        "teleinfo2mqtt", '{"EAST": 12345, "SINSTS": 300}\n'), "ok"),
    Case("meters-decode-binary", decode_case("zlinky", random.Random(5).randbytes(300)
                                             .replace(b"\n", b" ") + b"\n"), "warn",
         mention=("bad_json",)),
]

#: What ``meters decode`` must print on stdout for a case (the value seen by the user).
METERS_STDOUT = {
    "meters-decode-zlinky-last-seen-10e400": '"rejected": "bad_time"',
    "meters-decode-teleinfo-date-year-0001": '"rejected": "bad_time"',
    "meters-decode-teleinfo-arabic-indic-digits": '"rejected": "non_numeric"',
    "meters-decode-teleinfo-digit-separator": '"rejected": "non_numeric"',
    "meters-decode-teleinfo-hchc-without-hchp": '"rejected": "incomplete"',
    "meters-decode-zlinky-sinsts-sinsti-power-null": '"power_w": null',
    "meters-decode-tasmota-flat-valid": '"import_wh": 12345678.0',
    "meters-decode-teleinfo-flat-valid": '"import_wh": 12345.0',
}

CASES: list[Case] = ALLOCATE + CONFIG_CASES + STORE_CASES + TIC_CASES + METERS_CASES

# --- issue 21: identifiers, look-alike digits, totals, config values that do nothing -----
# (each case is an input an adversarial user gave; see docs/design.md and issue 21)

NFC, NFD = "\u00e9lodie", "e\u0301lodie"          # élodie, composed and decomposed
ZWSP, NBSP = "\u200b", "\u00a0"
FULLWIDTH_PRM = "３０００１２３４５６０００１"       # 30001234560001 in fullwidth digits
ARABIC_PRM = "٣٠٠٠١٢٣٤٥٦٠٠٠١"                      # the same in Arabic-Indic digits
FORMULA = '=HYPERLINK("http://evil.example","clic")'


def cons_named(*names: str) -> str:
    """CONS with its participant columns renamed (same values)."""
    return CONS.replace("time,A,B,C", "time," + ",".join(
        '"' + n.replace('"', '""') + '"' if any(c in n for c in ',"') else n
        for n in names), 1)


def prm_map(*pairs: tuple[str, str]) -> str:
    return "participant,prm\n" + "".join(f"{a},{b}\n" for a, b in pairs)


def out_cells(tmp: Path) -> list[list[str]]:
    import csv
    with open(tmp / "out.csv", newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def formula_safe(*names: str) -> callable:
    """out.csv holds each name as text a spreadsheet shows (a leading ' where it starts like
    a formula), and no text cell that starts like a formula."""
    def check(tmp: Path) -> str | None:
        rows = out_cells(tmp)
        written = {r[1] for r in rows[1:]}
        for n in names:
            if n not in written:
                return f"{n!r} not written as is: {sorted(written)[:5]}"
        for r in rows[1:]:
            cell = r[1]
            if cell[:1] in ("=", "+", "@", "\t", "\r") or (
                    cell.startswith("-") and not cell.lstrip("-").replace(".", "").isdigit()):
                return f"formula cell {cell!r} in out.csv"
            for num in r[2:]:
                if num and num.startswith("'"):
                    return f"a number was quoted: {num!r}"
        return None
    return check


def participants_file(text: str) -> callable:
    def build(tmp: Path) -> list[str]:
        return alloc()(tmp) + ["--participants", w(tmp, "parts.csv", text),
                               "--enedis-keys", "keys", "--operation", "00000001"]
    return build


PARTS = ("participant,prm,from,to\nA,30001234560001,,\nB,30001234560002,,\n"
         "C,30001234560003,,\n")
WIDE = 2000


def wide_consumption(value: str) -> str:
    head = "time," + ",".join(f"P{i}" for i in range(WIDE)) + "\n"
    return head + "".join(f"{t}," + ",".join([value] * WIDE) + "\n" for t in T)


def lone_cr(text: str) -> str:
    return text.replace("\n", "\r")


ALLOCATE_21: list[Case] = [
    # participant names: one canonical form, visible, unique after normalisation
    Case("allocate-name-nfc-nfd-twice", alloc(PROD, cons_named("A", NFC, NFD)),
         mention=("c.csv", "line 1", "twice")),
    Case("allocate-name-zero-width-twin", alloc(PROD, cons_named("A", "B", "B" + ZWSP)),
         mention=("c.csv", "line 1", "U+200B")),
    Case("allocate-name-zero-width-only", alloc(PROD, cons_named("A", "B", ZWSP)),
         mention=("c.csv", "line 1", "U+200B")),
    Case("allocate-name-nbsp-inside", alloc(PROD, cons_named("A", "B", "Jean" + NBSP + "D")),
         mention=("c.csv", "line 1", "U+00A0")),
    Case("allocate-name-bidi-override", alloc(PROD, cons_named("A", "B", "\u202eC")),
         mention=("c.csv", "line 1", "U+202E")),
    Case("allocate-name-control-char", alloc(PROD, cons_named("A", "B", "C\x07")),
         mention=("c.csv", "line 1", "U+0007")),
    Case("allocate-valid-name-nfd", alloc(PROD, cons_named("A", "B", NFD)), "ok",
         check=lambda tmp: None if NFC in {r[1] for r in out_cells(tmp)[1:]}
         else "the name was not written in its NFC form"),
    Case("allocate-valid-names-nfd-vs-nfc-map", alloc(
        PROD, cons_named("A", "B", NFC), prm=prm_map(("A", "30001234560001"),
                                                     ("B", "30001234560002"),
                                                     (NFD, "30001234560003"))), "ok"),
    Case("allocate-coef-name-zero-width", alloc(key="static", coef=COEF.replace(
        "C,0.5", "C" + ZWSP + ",0.5")), mention=("k.csv", "line 4", "U+200B")),
    Case("allocate-coef-name-nfd-listed-twice", alloc(
        PROD, cons_named("A", "B", NFC), key="static",
        coef=f"participant,coefficient\nA,0.2\nB,0.3\n{NFC},0.2\n{NFD},0.3\n"),
         mention=("k.csv", "line 5", "twice")),
    # formulas in what pvshare writes (OWASP CSV injection): neutralised, numbers kept
    Case("allocate-name-formula-hyperlink", alloc(PROD, cons_named("A", "B", FORMULA)), "ok",
         check=formula_safe("'" + FORMULA)),
    Case("allocate-name-formula-plus-at-minus", alloc(PROD, cons_named("+33x", "@SUM(A1)",
                                                                      "-2+3")), "ok",
         check=formula_safe("'+33x", "'@SUM(A1)", "'-2+3")),
    Case("allocate-name-negative-number-kept", alloc(PROD, cons_named("A", "B", "-12")), "ok",
         check=formula_safe("-12")),
    # PRMs: 14 ASCII digits, nothing hidden
    Case("allocate-prm-trailing-newline", alloc(prm=PRM_MAP.replace(
        "30001234560002", '"30001234560002\n"')), mention=("m.csv", "line 3", "line break")),
    Case("allocate-prm-newline-hides-duplicate", alloc(prm=PRM_MAP.replace(
        "30001234560002", '"30001234560001\n"')), mention=("m.csv", "line 3", "prm")),
    Case("allocate-prm-space-hides-duplicate", alloc(prm=PRM_MAP.replace(
        "30001234560002", '"30001234560001 "')), mention=("m.csv", "line 3", "same PRM")),
    Case("allocate-prm-fullwidth", alloc(prm=PRM_MAP.replace("30001234560001", FULLWIDTH_PRM)),
         mention=("m.csv", "line 2", "U+FF13")),
    Case("allocate-prm-arabic-indic", alloc(prm=PRM_MAP.replace("30001234560001", ARABIC_PRM)),
         mention=("m.csv", "line 2", "ARABIC-INDIC")),
    Case("allocate-prm-nbsp-inside", alloc(prm=PRM_MAP.replace(
        "30001234560001", "3000123456" + NBSP + "0001")), mention=("m.csv", "line 2", "prm")),
    Case("allocate-prm-zero-width-inside", alloc(prm=PRM_MAP.replace(
        "30001234560001", "300012345600" + ZWSP + "01")), mention=("m.csv", "line 2", "U+200B")),
    Case("allocate-prm-map-name-zero-width", alloc(prm=PRM_MAP.replace("B,", "B" + ZWSP + ",")),
         mention=("m.csv", "line 3", "U+200B")),
    Case("allocate-participants-prm-fullwidth", participants_file(PARTS.replace(
        "30001234560002", FULLWIDTH_PRM)), mention=("parts.csv", "line 3", "prm")),
    Case("allocate-participants-nfd-listed-twice", lambda tmp: alloc(
        PROD, cons_named("A", "B", NFC))(tmp) + [
        "--participants", w(tmp, "parts.csv", f"participant,prm\nA,30001234560001\n"
                                              f"B,30001234560002\n{NFC},30001234560003\n"
                                              f"{NFD},30001234560004\n")],
         mention=("parts.csv", "line 5", "twice")),
    Case("allocate-participants-prm-newline", participants_file(PARTS.replace(
        "30001234560003", '"30001234560003\r\n"')), mention=("parts.csv", "line 4", "prm")),
    Case("allocate-valid-participants", participants_file(PARTS), "ok"),
    # look-alike digits in times and values
    Case("allocate-time-arabic-month", alloc(prod_line(1, "2025-٦-01T10:00:00+00:00,9000\n")),
         mention=("p.csv", "line 2")),
    Case("allocate-time-fullwidth-offset", alloc(prod_line(
        1, "2025-06-01T10:00:00+０0:00,9000\n")), mention=("p.csv", "line 2")),
    Case("allocate-value-arabic-indic", alloc(prod_rows("9000", "١٢٣", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-value-underscore", alloc(prod_rows("9000", "1_000", "600", "0")),
         mention=("p.csv", "line 3")),
    Case("allocate-value-fullwidth", alloc(PROD, cons_line(1, f"{T[0]},１２,1,1\n")),
         mention=("c.csv", "line 2", "A")),
    # totals across columns
    Case("allocate-consumption-2000-columns-max", alloc(PROD, wide_consumption("9999999")),
         mention=("c.csv", "line 2", "adds up")),
    Case("allocate-consumption-3-columns-over-site", alloc(PROD, cons_line(
        1, f"{T[0]},4000000,4000000,4000000\n")), mention=("c.csv", "line 2", "adds up")),
    Case("allocate-valid-2000-columns", alloc(PROD, wide_consumption("100")), "ok"),
    # line ends
    Case("allocate-lone-cr-production", alloc(lone_cr(PROD)), mention=("p.csv", "CR")),
    Case("allocate-lone-cr-consumption", alloc(PROD, lone_cr(CONS)), mention=("c.csv", "CR")),
    Case("allocate-lone-cr-prm-map", alloc(prm=lone_cr(PRM_MAP)), mention=("m.csv", "CR")),
    Case("allocate-lone-cr-2mb", alloc(lone_cr(PROD + "".join(PROD.splitlines(keepends=True)[1:])
                                               * 15_000)), mention=("p.csv", "CR")),
    # devices given as files: read no further than the limits
    Case("allocate-production-dev-zero", lambda tmp: alloc()(tmp)[:2] + ["/dev/zero"]
         + alloc()(tmp)[3:], mention=("/dev/zero", "NUL")),
    Case("allocate-prm-map-dev-zero", lambda tmp: alloc()(tmp) + [
        "--prm-map", "/dev/zero", "--enedis-keys", "keys", "--operation", "00000001"],
         mention=("/dev/zero", "NUL")),
    Case("allocate-unclosed-quote", alloc(PROD, CONS.replace("time,A,B,C", 'time,A,B,"C')),
         mention=("c.csv",)),
]


def cfg_participant(i: int, field: str, value: str) -> str:
    """CONFIG with participant ``i``'s ``field`` line replaced by ``value`` (TOML source)."""
    old = {"id": f'id = "{"ABC"[i]}"', "prm": f'prm = "2546000000000{i + 1}"'}[field]
    return cfg_with({old: f"{field} = {value}"})


CONFIG_21: list[Case] = [
    # PRMs and ids in the config
    Case("config-prm-trailing-newline", cfg(cfg_participant(1, "prm", r'"25460000000002\n"')),
         mention=("participants[1].prm", "line break")),
    Case("config-prm-newline-hides-duplicate", cfg(cfg_participant(
        1, "prm", r'"25460000000001\n"')), mention=("participants[1].prm",)),
    Case("config-prm-trailing-space", cfg(cfg_participant(1, "prm", '"25460000000002 "')),
         mention=("participants[1].prm", "spaces")),
    Case("config-prm-fullwidth", cfg(cfg_participant(0, "prm", '"２５４６００００００００００１"')),
         mention=("participants[0].prm", "U+FF12")),
    Case("config-prm-arabic-indic", cfg(cfg_participant(0, "prm", '"٢٥٤٦٠٠٠٠٠٠٠٠٠١"')),
         mention=("participants[0].prm", "ARABIC-INDIC")),
    Case("config-producer-prm-fullwidth", cfg(cfg_with({'"25460000009001"':
                                                        '"２５４６００００００９００１"'})),
         mention=("producer.prm",)),
    Case("config-id-zero-width", cfg(cfg_participant(1, "id", '"A\u200b"')),
         mention=("participants[1].id", "U+200B")),
    Case("config-id-zero-width-only", cfg(cfg_participant(1, "id", '"\u200b"')),
         mention=("participants[1].id", "U+200B")),
    Case("config-id-nfd", cfg(cfg_participant(1, "id", f'"{NFD}"')),
         mention=("participants[1].id",)),
    Case("config-id-newline", cfg(cfg_participant(1, "id", r'"B\n"')),
         mention=("participants[1].id",)),
    # values that make the daemon (or the forecast) do nothing, or something absurd
    Case("config-horizon-out-of-range", cfg(cfg_with({"azimuth_deg = 180": "azimuth_deg = 180\n"
                                                     "horizon = [[400, -20], [-50, 95]]"})),
         mention=("array.horizon", "400")),
    Case("config-horizon-elevation-95", cfg(cfg_with({"azimuth_deg = 180": "azimuth_deg = 180\n"
                                                     "horizon = [[90, 95]]"})),
         mention=("array.horizon", "95")),
    Case("config-valid-horizon", cfg(cfg_with({"azimuth_deg = 180": "azimuth_deg = 180\n"
                                              "horizon = [[0, 5], [180, 2.5], [360, 5]]"})),
         "ok"),
    Case("config-poll-1e300", cfg(CONFIG + "\n[daemon]\npoll_interval_s = 1e300\n"),
         mention=("daemon.poll_interval_s",)),
    Case("config-poll-1e-300", cfg(CONFIG + "\n[daemon]\npoll_interval_s = 1e-300\n"),
         mention=("daemon.poll_interval_s",)),
    Case("config-poll-negative", cfg(CONFIG + "\n[daemon]\npoll_interval_s = -10\n"),
         mention=("daemon.poll_interval_s",)),
    Case("config-flush-1e300", cfg(CONFIG + "\n[daemon]\nflush_interval_s = 1e300\n"),
         mention=("daemon.flush_interval_s",)),
    Case("config-grace-1e300", cfg(CONFIG + "\n[daemon]\ngrace_s = 1e300\n"),
         mention=("daemon.grace_s",)),
    Case("config-recompute-window-1e300", cfg(CONFIG + "\n[daemon]\nrecompute_window_h = "
                                              "1e300\n"), mention=("daemon.recompute_window_h",)),
    Case("config-weather-refresh-1e300", cfg(CONFIG + "\n[forecast.weather]\nrefresh_h = "
                                             "1e300\n"), mention=("forecast.weather.refresh_h",)),
    Case("config-kwp-50-mw", cfg(cfg_with({"kwp = 36.0": "kwp = 50000"})),
         mention=("array.kwp",)),
    Case("config-influx-batch-huge", cfg(CONFIG + INFLUX + "batch_size = 9000000000000000000\n"),
         mention=("influxdb.batch_size",)),
    Case("config-topic-prefix-hash", cfg(CONFIG + MQTT + 'topic_prefix = "pvshare/#"\n'),
         mention=("mqtt.topic_prefix", "#")),
    Case("config-topic-prefix-plus", cfg(CONFIG + MQTT + 'topic_prefix = "pvshare/+/x"\n'),
         mention=("mqtt.topic_prefix", "+")),
    Case("config-topic-prefix-nul", cfg(CONFIG + MQTT + 'topic_prefix = "pv\\u0000share"\n'),
         mention=("mqtt.topic_prefix",)),
    Case("config-topic-prefix-empty", cfg(CONFIG + MQTT + 'topic_prefix = "/"\n'),
         mention=("mqtt.topic_prefix",)),
    Case("config-topic-prefix-sys", cfg(CONFIG + MQTT + 'topic_prefix = "$SYS/pvshare"\n'),
         mention=("mqtt.topic_prefix",)),
    Case("config-valid-topic-prefix", cfg(CONFIG + MQTT + 'topic_prefix = "maison/pvshare"\n'),
         "ok"),
    Case("config-group-unknown", cfg(cfg_with({'path = "pvshare.db"':
                                               'path = "pvshare.db"\ngroup = "no-such-group"'})),
         mention=("store.group", "no-such-group")),
    Case("run-group-unknown", cfg(cfg_with({'path = "pvshare.db"': 'path = "pvshare.db"\n'
                                                                   'group = "no-such-group"'}),
                                  ("run",)), mention=("store.group",)),
    Case("config-subscription-unknown-key", cfg(CONFIG + '\n[tariffs]\nsubscription_eur_per_year'
                                                ' = {"6" = 185, "six" = 200}\n'),
         mention=("tariffs.subscription_eur_per_year", "six")),
    Case("config-subscription-key-nan", cfg(CONFIG + '\n[tariffs]\nsubscription_eur_per_year'
                                            ' = {"nan" = 185}\n'),
         mention=("tariffs.subscription_eur_per_year",)),
    Case("config-subscription-key-arabic", cfg(CONFIG + '\n[tariffs]\nsubscription_eur_per_year'
                                               ' = {"٦" = 185}\n'),
         mention=("tariffs.subscription_eur_per_year",)),
    # files the config points to: never read past a small bound, never called missing
    Case("config-influx-token-file-dev-zero", cfg(CONFIG + INFLUX + 'token_file = "/dev/zero"\n'),
         mention=("influxdb.token_file", "not a regular file"), absent=("does not exist",)),
    Case("config-dev-zero", lambda tmp: ["config", "check", "/dev/zero"],
         mention=("/dev/zero",)),
    Case("config-influx-token-file-huge", lambda tmp: (
        w(tmp, "tok.txt", "x" * 100_000),
        cfg(CONFIG + INFLUX + 'token_file = "tok.txt"\n')(tmp))[1],
         mention=("influxdb.token_file", "bytes"), absent=("xxxx",)),
    Case("store-push-token-file-beside-config", lambda tmp: (
        w(tmp, "etc/tok.txt", "x"), w(tmp, "etc/site.toml", CONFIG.replace(
            'path = "pvshare.db"', 'path = "../pvshare.db"') + INFLUX.replace(
            "127.0.0.1:8086", "127.0.0.1:9") + 'token_file = "tok.txt"\n'),
        store_in(tmp), ["store", "push", "--config", "etc/site.toml", "--attempts", "1"])[-1],
         mention=("127.0.0.1",), absent=("token_file",)),
    Case("store-push-token-file-dev-zero", store_cmd("store", "push", text=CONFIG + INFLUX
                                                     + 'token_file = "/dev/zero"\n'),
         mention=("token_file", "not a regular file")),
    Case("config-mqtt-ca-file-dev-zero", cfg(CONFIG + MQTT + 'tls = true\nca_file = "/dev/zero"\n'),
         mention=("mqtt.ca_file", "not a regular file"), absent=("does not exist",)),
]


def masked_curve(tmp: Path, prm_in_file: str = "1429xxxxxxxxxx") -> str:
    src = Path(__file__).resolve().parent.parent / "fixtures" / "enedis" / \
        "enedis_preamble_2024-03.csv"
    text = src.read_text(encoding="utf-8").replace("09990000000042;", prm_in_file + ";", 1)
    return w(tmp, "Enedis_Conso_Heure_20240325-20240407_1429xxxxxxxxxx.csv", text)


ENEDIS_21: list[Case] = [
    Case("enedis-curves-masked-prm-no-option", lambda tmp: [
        "enedis", "curves", masked_curve(tmp), "--out", "c.csv"], mention=("--prm",)),
    Case("enedis-curves-masked-prm-with-option", lambda tmp: [
        "enedis", "curves", masked_curve(tmp), "--out", "c.csv", "--prm", "14290000000042"],
         "ok", check=lambda tmp: None if (tmp / "c.csv").read_text().startswith(
             "time,14290000000042") else "the PRM given is not the column written"),
    Case("enedis-curves-masked-prm-other-digits", lambda tmp: [
        "enedis", "curves", masked_curve(tmp), "--out", "c.csv", "--prm", "14390000000042"],
         mention=("--prm", "differ")),
    Case("enedis-curves-prm-option-arabic", lambda tmp: [
        "enedis", "curves", masked_curve(tmp), "--out", "c.csv", "--prm", ARABIC_PRM],
         mention=("--prm", "ARABIC-INDIC")),
    Case("enedis-curves-prm-option-conflict", lambda tmp: [
        "enedis", "curves", masked_curve(tmp, "09990000000042"), "--out", "c.csv", "--prm",
        "14290000000042"], mention=("09990000000042", "--prm")),
]

# names and paths handed to the system or a server as they are
CONFIG_21 += [
    Case("config-store-path-nul", cfg(cfg_with({'path = "pvshare.db"': 'path = "pv\\u0000.db"'})),
         mention=("store.path",)),
    Case("config-influx-token-file-nul", cfg(CONFIG + INFLUX + 'token_file = "t\\u0000k"\n'),
         mention=("influxdb.token_file",)),
    Case("config-mqtt-ca-file-nul", cfg(CONFIG + MQTT + 'tls = true\nca_file = "c\\u0000a"\n'),
         mention=("mqtt.ca_file",)),
    Case("config-key-dir-nul", cfg(CONFIG + '\n[operation]\nid = "00000001"\nkey_dir = '
                                            '"k\\u0000d"\n'), mention=("operation.key_dir",)),
    Case("config-key-file-nul", cfg(CONFIG + '\n[key]\ntype = "custom"\nfile = "k\\u0000d"\n'),
         mention=("key.file",)),
    Case("config-mqtt-host-empty", cfg(CONFIG + '\n[mqtt]\nhost = ""\n'), mention=("mqtt.host",)),
    Case("config-mqtt-host-space", cfg(CONFIG + '\n[mqtt]\nhost = "my broker"\n'),
         mention=("mqtt.host",)),
    Case("config-mqtt-client-id-nul", cfg(CONFIG + MQTT + 'client_id = "a\\u0000b"\n'),
         mention=("mqtt.client_id",)),
    Case("config-influx-bucket-empty", cfg(CONFIG + INFLUX.replace('bucket = "b"', 'bucket = ""')),
         mention=("influxdb.bucket",)),
    Case("config-from-arabic-indic", cfg(cfg_with({'prm = "25460000000001"':
                                                   'prm = "25460000000001"\nfrom = "٢٠٢٥-09-01"'})),
         mention=("participants[0].from",)),
]
CONFIG_21 += [
    # config check says OK (the file commands can use it) but names what run would refuse
    Case("config-run-would-refuse-meters", cfg(CONFIG), "warn",
         mention=("pvshare run", "participants[0].meter")),
    Case("config-run-would-refuse-custom-key", cfg(RUN_CONFIG + '\n[key]\ntype = "custom"\n'
                                                   'file = "k.csv"\n'), "warn",
         mention=("pvshare run", "key.type")),
    Case("config-valid-for-run", cfg(RUN_CONFIG), "ok",
         check=lambda tmp: None),
]
ALLOCATE_21 += [
    Case("allocate-operation-fullwidth", lambda tmp: alloc(prm=PRM_MAP)(tmp)[:-2]
         + ["--operation", "００００１"], mention=("--operation",)),
    Case("allocate-coef-from-fullwidth", alloc(key="static", coef=(
        "participant,coefficient,from,to\nA,0.2,２０２５-01-01,\nB,0.3,,\nC,0.5,,\n")),
         mention=("k.csv", "line 2", "from")),
]
STORE_21: list[Case] = [
    Case("export-meter-unknown", lambda tmp: export("--what", "readings")(tmp)
         + ["--meter", "nosuch"], mention=("--meter", "nosuch"), check=no_output),
    Case("export-meter-with-allocation", lambda tmp: export()(tmp) + ["--meter", "A"],
         mention=("--meter",), check=no_output),
    Case("export-valid-meter", lambda tmp: export("--what", "readings")(tmp)
         + ["--meter", "inverter"], "ok"),
    Case("report-tenant-zero-width", lambda tmp: store_cmd("report", "tenant")(tmp)
         + ["--month", "2025-06", "--participant", "A\u200b", "--format", "html"],
         mention=("--participant",)),
    Case("report-month-arabic-indic", lambda tmp: store_cmd("report", "building")(tmp)
         + ["--month", "٢٠٢٥-06"], mention=("--month",)),
]

CASES += ALLOCATE_21 + CONFIG_21 + ENEDIS_21 + STORE_21
