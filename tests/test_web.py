"""``pvshare web``: the real server (a subprocess) on a demo store built from the sample year.

Figures are checked against ``pvshare export`` of the same store; privacy by scanning every
answer of every tenant for every other tenant's id, PRM and name; links, revocation, rate
limiting, security headers and the read-only store through real HTTP requests.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import json
import re
import sqlite3
import stat
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.test_web_support import AT, AT_S, WebServer, build_site, issue, pvshare

TENANT = "A03"
#: One participant "A", always in, no prices (the reader tests' site).
ONE_TERMS = __import__("pvshare.billing.figures", fromlist=["Terms"]).Terms(
    "Europe/Paris", "PT30M", ("A",), ("30000000000001",), (-(2**62),), (2**62,))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    cfg = build_site(folder)
    links = issue(cfg, folder / "links.csv")
    server = WebServer(cfg)
    yield SimpleNamespace(folder=folder, config=cfg, links=links, server=server,
                          data=tomllib.loads(cfg.read_text(encoding="utf-8")))
    server.stop()


def export_rows(site, start: str, end: str) -> list[dict]:
    out = site.folder / f"export-{start[:10]}-{end[:10]}.csv"
    r = pvshare("export", "--config", site.config, "--what", "allocation", "--from", start,
                "--to", end, "--format", "csv", "--out", out)
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _sum(rows, pid, col) -> float:
    return sum(float(r[col]) for r in rows if r["participant"] == pid and r[col] != "")


def get_json(site, who: str) -> dict:
    status, headers, body = site.server.get(site.links[who] + "?format=json")
    assert status == 200, body[:300]
    assert headers["content-type"].startswith("application/json")
    return json.loads(body)


def test_tenant_figures_match_pvshare_export(site):
    f = get_json(site, TENANT)
    assert f["participant"] == TENANT
    month = export_rows(site, "2025-06-01", AT)
    a, c = _sum(month, TENANT, "allocated_wh") / 1000, _sum(month, TENANT, "consumption_wh") / 1000
    assert f["month"]["autocons_kwh"] == pytest.approx(a, abs=0.002)
    assert f["month"]["consumption_kwh"] == pytest.approx(c, abs=0.002)
    # example config's [[prices]]: 0.10 €/kWh before tax, VAT 20 %, supplier 0.194 €/kWh
    # all taxes included (largest remainders over the 48 tenants: within a cent each way)
    assert f["month"]["saving_eur"] == pytest.approx(a * (0.1940 - 0.1200), abs=0.011)
    assert f["month"]["saving_cents"] == round(100 * f["month"]["saving_eur"])
    assert f["month"]["autocons_wh"] == round(1000 * f["month"]["autocons_kwh"])
    assert f["month"]["share_pct"] == pytest.approx(100 * a / c, abs=0.06)
    # today: one entry per closed step since local midnight, the export's values
    today = [r for r in export_rows(site, "2025-06-21", AT) if r["participant"] == TENANT]
    # local midnight (22:00Z) to the last step closed at 15:10 local (14:30, 12:30Z)
    assert len(today) == len(f["today"]) == 30
    for got, row in zip(f["today"], today):
        assert got["start"] == row["time"]
        assert got["consumption_wh"] == pytest.approx(float(row["consumption_wh"]), abs=0.001)
        assert got["allocated_wh"] == pytest.approx(float(row["allocated_wh"]), abs=0.001)
    # now: the last closed step (14:30-15:00 local) and the inverter's last reading
    assert f["now"]["step_start"] == today[-1]["time"] == "2025-06-21T12:30:00+00:00"
    assert f["now"]["allocated_wh"] == pytest.approx(float(today[-1]["allocated_wh"]), abs=0.001)
    assert f["now"]["production_time"] == "2025-06-21T13:10:00+00:00"
    # last months: May and April in full
    may = export_rows(site, "2025-05-01", "2025-06-01")
    got = {m["month"]: m for m in f["months"]}
    assert set(got) == {"2025-05", "2025-04"}
    assert got["2025-05"]["autocons_kwh"] == pytest.approx(
        _sum(may, TENANT, "allocated_wh") / 1000, abs=0.002)


def test_tenant_page_shows_the_json_figures(site):
    from tests.report_support import figures
    status, _, body = site.server.get(site.links[TENANT])
    assert status == 200
    html = body.decode("utf-8")
    f, fig = get_json(site, TENANT), figures(html)
    assert fig["month_autocons_kwh"] == pytest.approx(f["month"]["autocons_kwh"], abs=0.051)
    assert fig["month_consumption_kwh"] == pytest.approx(f["month"]["consumption_kwh"], abs=0.051)
    assert fig["month_saving_eur"] == pytest.approx(f["month"]["saving_eur"], abs=0.0051)
    assert fig["today_consumption_kwh"] == pytest.approx(
        sum(x["consumption_wh"] for x in f["today"]) / 1000, abs=0.0051)
    assert fig["production_kw"] == pytest.approx(f["now"]["production_w"] / 1000, abs=0.051)
    assert "juin 2025" in html and 'lang="fr"' in html
    assert len(body) < 100_000
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "an external resource"
    assert "<script" not in html


def test_green_hours_follow_the_stored_forecast(site):
    """The forecast stored is the sample year's production: the green steps are those whose
    production beats the daemon's baseline (the same rule, recomputed here by hand)."""
    import numpy as np

    from pvshare.data.sample import load_sample_year
    from pvshare.forecast.green_hours import DEFAULT_DAILY_PROFILE, DEFAULT_KWH_PER_YEAR
    s = load_sample_year()
    t = s.times.astype("datetime64[s]").astype(np.int64)
    step0 = AT_S // 1800 * 1800
    end = int(dt.datetime(2025, 6, 23, tzinfo=dt.timezone(dt.timedelta(hours=2))).timestamp())
    sel = (t >= step0) & (t < end) & (t < AT_S + 36 * 3600)
    prof = np.asarray(DEFAULT_DAILY_PROFILE) / np.mean(DEFAULT_DAILY_PROFILE)
    hours = ((t[sel] + 7200 + 900) % 86400) // 3600           # Paris summer time
    base = prof[hours] * 48 * DEFAULT_KWH_PER_YEAR * 1000 / 8760 / 2
    green = t[sel][s.production_wh[sel] > base]
    f = get_json(site, TENANT)
    got = []
    for g in f["green_hours"]:
        a = dt.datetime.fromisoformat(g["start"]).timestamp()
        b = dt.datetime.fromisoformat(g["end"]).timestamp()
        got += list(range(int(a), int(b), 1800))
    assert got == green.tolist()
    assert len(got) > 10
    html = site.server.get(site.links[TENANT])[2].decode("utf-8")
    assert "Demain, le meilleur moment : " in html


def _identity(p: dict) -> list[str]:
    return [p["id"], p["prm"], p.get("name") or p["id"]]


def test_a_tenant_sees_nobody_else(site):
    """Every answer of every tenant (page, JSON, headers) is scanned for every other tenant's
    id, PRM and name (and for its own PRM, which no page shows)."""
    parts = site.data["participants"]
    assert len(parts) == 48

    def check(p):
        me = p["id"]
        others = [x for q in parts if q["id"] != me for x in _identity(q)]
        for suffix in ("", "?format=json"):
            status, headers, body = site.server.get(site.links[me] + suffix)
            assert status == 200
            text = body.decode("utf-8") + json.dumps(headers)
            assert me in text
            leaks = [x for x in others + [p["prm"], site.data["producer"]["prm"]] if x in text]
            assert not leaks, (me, suffix, leaks)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check, parts))


def test_building_page_has_no_names_the_pmo_page_has_them(site):
    parts = site.data["participants"]
    for suffix in ("", "?format=json"):
        body = site.server.get(site.links["@building"] + suffix)[2].decode("utf-8")
        leaks = [x for p in parts for x in _identity(p) if x in body]
        assert not leaks, leaks
        pmo = site.server.get(site.links["@pmo"] + suffix)[2].decode("utf-8")
        assert all(p["name"] in pmo for p in parts)
    f = json.loads(site.server.get(site.links["@building"] + "?format=json")[2])
    month = export_rows(site, "2025-06-01", AT)
    total = sum(float(r["allocated_wh"]) for r in month) / 1000
    assert f["month"]["autocons_kwh"] == pytest.approx(total, abs=0.01)
    assert sorted(x["autocons_kwh"] for x in f["shares"]) == pytest.approx(sorted(
        _sum(month, p["id"], "allocated_wh") / 1000 for p in parts), abs=0.002)
    # the demo store: one Linky reading an hour old (A01's), every other meter fresh
    assert f["meters"] == {"total": 49, "fresh": 48, "stale": 1}
    pmo = json.loads(site.server.get(site.links["@pmo"] + "?format=json")[2])
    assert [m["meter"] for m in pmo["meters"]["stale_meters"]] == ["linky-A01"]


def test_wrong_revoked_and_missing_pages_are_the_same_404(site, tmp_path):
    srv = site.server
    missing = srv.get("/nothing-here")
    wrong = srv.get("/l/" + "x" * 32)
    malformed = srv.get("/l/%00..%2f")
    statuses = {missing[0], wrong[0], malformed[0]}
    assert statuses == {404}
    assert missing[2] == wrong[2] == malformed[2]
    # revoke a link while the server runs: it answers exactly like a wrong one at once
    links = issue(site.config, tmp_path / "b02.csv", "B02", replace=True)
    assert srv.get(links["B02"])[0] == 200
    assert srv.get(site.links["B02"])[0] == 404        # re-issued: the old link is dead
    r = pvshare("web", "revoke", "--config", site.config, "--participant", "B02")
    assert r.returncode == 0, r.stderr
    revoked = srv.get(links["B02"])
    assert revoked[0] == 404 and revoked[2] == wrong[2]
    assert {k for k in revoked[1] if k != "date"} == {k for k in wrong[1] if k != "date"}
    r = pvshare("web", "revoke", "--config", site.config, "--participant", "B02")
    assert r.returncode == 2 and "no valid link for 'B02'" in r.stderr


def test_links_are_stored_hashed_and_private(site):
    store_links = Path(str(site.folder / "pvshare.db") + ".web-links.json")
    for f in (store_links, site.folder / "links.csv", site.folder / "links.html"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    text = store_links.read_text(encoding="utf-8")
    data = json.loads(text)
    for path in site.links.values():
        token = path.rsplit("/", 1)[1]
        assert len(token) == 32 and token not in text
        assert hashlib.sha256(token.encode()).hexdigest() in {x["sha256"] for x in data["links"]}
    # never in the server's log either
    log = site.server.output()
    assert not any(p.rsplit("/", 1)[1] in log for p in site.links.values())
    sheet = (site.folder / "links.html").read_text(encoding="utf-8")
    assert sheet.count("<svg") == 50 and "Studio A03 (étage 0)" in sheet


def test_links_sheet_carries_each_link_and_its_qr_code(site):
    """Each card of the printable sheet carries the CSV's link and segno's QR code of that
    very link (no QR decoder is available here to read it back)."""
    import segno
    sheet = (site.folder / "links.html").read_text(encoding="utf-8")
    with open(site.folder / "links.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:5]:
        url = row["url"]
        assert url in sheet
        expected = segno.make(url, error="m").svg_inline(
            scale=4, border=2, omitsize=True, title=f"Lien de {row['participant']}")
        assert expected in sheet


def test_only_get_bounded_requests_and_security_headers(site):
    srv = site.server
    ok = srv.get(site.links[TENANT])
    html = ok[2].decode("utf-8")
    h = ok[1]
    assert h["referrer-policy"] == "no-referrer" and h["x-content-type-options"] == "nosniff"
    assert h["x-frame-options"] == "DENY" and h["cache-control"] == "no-store"
    assert "server" not in h
    csp = h["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp
    assert srv.get(site.links[TENANT], method="POST", body=b"x")[0] == 405
    assert srv.get(site.links[TENANT], method="PUT")[0] == 405
    assert srv.get(site.links[TENANT], headers={"Content-Length": "5"}, body=b"hello")[0] == 413
    assert srv.get("/l/" + "a" * 5000)[0] == 414
    assert srv.get("/l/" + "a" * 1000, headers={"X-Big": "b" * 20_000})[0] == 431
    for path in ("/", "/static/", "/templates/", "/l/", "/l/../pvshare.toml", "/pvshare.db"):
        status, headers, body = srv.get(path)
        assert status == 404 and "content-security-policy" in headers, path
    head = srv.get(site.links[TENANT], method="HEAD")
    assert head[0] == 200 and head[2] == b""
    assert srv.get("/robots.txt")[2] == b"User-agent: *\nDisallow: /\n"


def test_repeated_failures_are_rate_limited_per_client(site):
    """Wrong links are limited per client address (here 127.0.0.5, its own loopback
    address); a valid link from that client is still answered, never 429; another client is
    not blocked. (X-Forwarded-For and proxies: tests/test_web_attack.py.)"""
    import http.client

    def get(path, source):
        conn = http.client.HTTPConnection("127.0.0.1", site.server.port, timeout=10,
                                          source_address=(source, 0))
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    codes = [get("/l/" + f"{i:032d}", "127.0.0.5")[0] for i in range(25)]
    assert codes[:20] == [404] * 20 and set(codes[20:]) == {429}
    blocked = get("/l/" + "7" * 32, "127.0.0.5")
    assert blocked[0] == 429 and int(blocked[1]["retry-after"]) > 0
    assert get(site.links[TENANT], "127.0.0.5")[0] == 200
    assert get("/l/" + "7" * 32, "127.0.0.6")[0] == 404


def test_refuses_a_public_address_without_allow_public(site):
    r = pvshare("web", "--config", site.config, "--host", "0.0.0.0", "--port", "9")
    assert r.returncode == 2
    assert "'0.0.0.0' is not a loopback address" in r.stderr and "--allow-public" in r.stderr


def test_the_store_is_never_written(site):
    db = site.folder / "pvshare.db"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    wal = Path(str(db) + "-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    for who in ("A01", "@pmo", "@building"):
        assert site.server.get(site.links[who])[0] == 200
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert (wal.stat().st_size if wal.exists() else 0) == wal_before
    from pvshare.web.data import open_readonly
    conn = open_readonly(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only"):
        conn.execute("DELETE FROM allocation")
    conn.close()


def test_a_reader_never_blocks_the_daemon(tmp_path):
    """While the web reader is inside its read transaction the daemon commits, and while the
    daemon holds its write transaction the reader reads the last committed state."""
    import numpy as np

    from pvshare.store import Store
    from pvshare.web.data import Site, StoreReader
    site = Site("t", "Europe/Paris", 1800, ("A",), ("A",), None, (None,), ONE_TERMS)
    db = tmp_path / "s.db"
    t0 = AT_S // 1800 * 1800 - 7200
    with Store.open(db, busy_timeout_s=0.5) as writer:
        writer.write_allocation([t0], ["A"], [10.0], np.array([[4.0]]), np.array([[4.0]]),
                                [False], "prorata")
        reader = StoreReader(db, site)
        conn = reader._connection()
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM allocation").fetchone()      # holds a read snapshot
        t = time.monotonic()
        writer.write_allocation([t0 + 1800], ["A"], [20.0], np.array([[5.0]]),
                                np.array([[5.0]]), [False], "prorata")
        assert time.monotonic() - t < 0.4
        conn.execute("COMMIT")
        with writer._tx() as c:                                          # the daemon writes
            c.execute("DELETE FROM allocation WHERE step_s = ?", (t0,))
            snap = reader.snapshot(AT_S)                                 # not blocked
            assert snap.last_step_s == t0 + 1800
            assert snap.months[0].allocated_wh["A"] == pytest.approx(9.0)
        # shown as at a moment before that step closed (--at): neither now nor the month has it
        early = reader.snapshot(t0 + 1800 + 1799)
        assert early.last_step_s == t0 and early.months[0].steps == 1
        reader.close()


def test_period_end_revokes_the_link(tmp_path):
    """A participant whose period (``to``, excluded) is over: the same 404 as a wrong link."""
    import asyncio

    from pvshare.web.app import WebState
    from pvshare.web.data import site_from_config
    from pvshare.web.links import LinkStore
    p = [SimpleNamespace(id="A", name=None, to=dt.date(2025, 7, 1)),
         SimpleNamespace(id="B", name=None, to="2025-06-21T15:00"),
         SimpleNamespace(id="C", name="C")]                       # no period at all
    open_ = (-(2**62),) * 3, (2**62,) * 3
    cfg = SimpleNamespace(participants=[SimpleNamespace(**x.__dict__, prm=f"{i:014d}")
                                        for i, x in enumerate(p)],
                          participant_ids=["A", "B", "C"], participant_bounds=lambda: open_,
                          prices=[], producer=SimpleNamespace(meter=None),
                          site=SimpleNamespace(name="s", timezone="Europe/Paris", step="PT30M"))
    site = site_from_config(cfg)
    assert site.period_ends_s[0] == dt.datetime(2025, 6, 30, 22, tzinfo=dt.UTC).timestamp()
    assert site.period_ends_s[1] == AT_S - 600 and site.period_ends_s[2] is None
    links = LinkStore(tmp_path / "l.json")
    tokens = links.issue(["A", "B", "C"])
    now = [float(AT_S)]
    state = WebState(site, tmp_path / "none.db", links, clock=lambda: now[0])
    assert [state.who(tokens[x]) for x in "ABC"] == ["A", None, "C"]
    now[0] = site.period_ends_s[0]
    assert [state.who(tokens[x]) for x in "ABC"] == [None, None, "C"]
    assert asyncio.run(state.snapshot()) is None      # no store: no page, no crash


def test_mixed_load_without_errors(site):
    """A short burst of mixed pages from 8 clients at once: every answer is a full page
    (timing is measured by benchmarks/bench_web.py, never asserted here)."""
    ids = [p["id"] for p in site.data["participants"] if p["id"] != "B02"]   # B02: revoked
    paths = [site.links[ids[i % len(ids)]] + ("?format=json" if i % 3 == 0 else "")
             for i in range(240)]
    errors = []

    def one(path):
        status, _, body = site.server.get(path)
        if status != 200 or len(body) < 500:
            errors.append((path, status))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, paths))
    assert errors == []
    assert site.server.proc.poll() is None


def test_links_command_checks_its_input(site, tmp_path):
    r = pvshare("web", "links", "--config", site.config, "--base-url", "ftp://x",
                "--out", tmp_path / "l.csv")
    assert r.returncode == 2 and "--base-url" in r.stderr
    r = pvshare("web", "links", "--config", site.config, "--base-url", "https://x.org",
                "--participant", "Z99", "--out", tmp_path / "l.csv")
    assert r.returncode == 2 and "no participant 'Z99'" in r.stderr
    assert not (tmp_path / "l.csv").exists()



def test_demo_prints_a_working_link(site, tmp_path):
    """What ``pvshare demo`` ends with: the command that serves its pages, and a tenant's
    link that this very command then serves (on a copy of the store)."""
    import shlex
    import shutil

    from pvshare.config import load_config
    from pvshare.web.links import demo_links
    for f in ("pvshare.toml", "pvshare.db"):
        shutil.copy(site.folder / f, tmp_path / f)
    lines = demo_links(load_config(tmp_path / "pvshare.toml"), tmp_path, AT_S)
    command = shlex.split(lines[0].split(": ", 1)[1])
    assert command[:2] == ["pvshare", "web"]
    url = re.search(r"http://127\.0\.0\.1:8080(/l/\S+)", lines[1]).group(1)
    opts = dict(zip(command[2::2], command[3::2]))
    assert opts["--at"] == "2025-06-21T15:10+02:00"
    server = WebServer(Path(opts["--config"]), at=opts["--at"])
    try:
        status, _, body = server.get(url + "?format=json")
        assert status == 200 and json.loads(body)["participant"] == "A01"
    finally:
        server.stop()


def test_any_path_gets_a_clean_answer(site):
    """Fuzz: random paths and queries never crash the server (no 5xx) and never show a page
    without a valid token."""
    from urllib.parse import quote

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seen = []

    @settings(max_examples=150, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.text(min_size=0, max_size=80), st.sampled_from(["", "/l/", "/l/x/", "/static/"]),
           st.text(max_size=30), st.integers(1, 250))
    def one(text, prefix, query, client):
        path = prefix + quote(text, safe="/%?&=.") + ("?" + quote(query, safe="=&") if query
                                                        else "")
        status, headers, _ = site.server.get(path or "/",
                                             headers={"X-Forwarded-For": f"198.51.100.{client}"})
        seen.append(status)
        assert status in (404, 414, 429), (path, status)
        assert "content-security-policy" in headers
    one()
    assert 404 in seen and site.server.proc.poll() is None


@pytest.mark.parametrize("day, steps, six_am_step", [("2025-03-30", 46, 10),
                                                      ("2025-10-26", 50, 14),
                                                      ("2025-06-21", 48, 12)])
def test_days_of_the_clock_change(tmp_path, day, steps, six_am_step):
    """A local day has 46, 48 or 50 half-hours: all of them are today's, and the chart's
    '6 h' tick sits where 6:00 local is."""
    from zoneinfo import ZoneInfo

    import numpy as np

    from pvshare.store import Store
    from pvshare.web.data import Site, StoreReader
    from pvshare.web.views import bars_svg
    zone = ZoneInfo("Europe/Paris")
    d = dt.date.fromisoformat(day)
    start = int(dt.datetime(d.year, d.month, d.day, tzinfo=zone).timestamp())
    end = int(dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), zone).timestamp())
    t = np.arange(start - 3600, end + 3600, 1800)
    with Store.open(tmp_path / "s.db") as s:
        s.write_allocation(t, ["A"], np.full(len(t), 100.0), np.full((len(t), 1), 50.0),
                           np.full((len(t), 1), 40.0), np.zeros(len(t), bool), "prorata")
    reader = StoreReader(tmp_path / "s.db", Site("t", "Europe/Paris", 1800, ("A",), ("A",),
                                                 None, (None,), ONE_TERMS))
    snap = reader.snapshot(end - 1)             # at 23:59:59 local
    reader.close()
    assert (snap.today_start_s, snap.today_end_s) == (start, end)
    assert len(snap.today_steps) == steps - 1   # the last step closes at midnight
    svg = str(bars_svg(start, end, 1800, snap.today_steps, [40.0] * (steps - 1),
                       [50.0] * (steps - 1), "x", zone))
    assert svg.count("<rect") == 2 * (steps - 1)
    assert f'<text x="{six_am_step * 6 + 1}" ' in svg.split("6 h</text>")[0][-60:]


@pytest.mark.parametrize("content", [b"", b"{", b"\xff\xfe", b'{"links": 3}', b"[]",
                                     b'{"links": [{"participant": "A"}]}'])
def test_a_damaged_links_file_is_named_and_opens_nothing(tmp_path, content):
    from pvshare.web.app import WebState
    from pvshare.web.data import Site
    from pvshare.web.links import LinksError, LinkStore
    links = LinkStore(tmp_path / "l.json")
    token = links.issue(["A"])["A"]
    (tmp_path / "l.json").write_bytes(content)
    with pytest.raises(LinksError, match="l.json: not a pvshare links file"):
        links.lookup(token)
    state = WebState(Site("t", "Europe/Paris", 1800, ("A",), ("A",), None, (None,), ONE_TERMS),
                     tmp_path / "none.db", links)
    assert state.who(token) is None


def test_issuing_links_never_cancels_others_without_replace(tmp_path):
    """The demo issues A01's and the landlord's links; `pvshare web links` for everyone
    afterwards keeps them (and says so); cancelling a valid link takes --replace.
    """
    from pvshare.web.links import LinkStore
    cfg = build_site(tmp_path)
    first = issue(cfg, tmp_path / "first.csv", "A01", "@pmo")
    store = LinkStore(Path(str(tmp_path / "pvshare.db") + ".web-links.json"))

    def token(path: str) -> str:
        return path.rsplit("/", 1)[1]

    r = pvshare("web", "links", "--config", cfg, "--base-url", "https://solaire.example.org",
                "--out", tmp_path / "all.csv")
    assert r.returncode == 0, r.stderr
    assert "kept (a valid link each, not in" in r.stdout and "A01, @pmo" in r.stdout
    with open(tmp_path / "all.csv", newline="", encoding="utf-8") as fh:
        issued = [row["participant"] for row in csv.DictReader(fh)]
    assert "A01" not in issued and "@pmo" not in issued and "@building" in issued
    assert store.lookup(token(first["A01"])) == "A01"
    assert store.lookup(token(first["@pmo"])) == "@pmo"
    # Asking for A01 alone: nothing to issue, said plainly, the link still valid.
    r = pvshare("web", "links", "--config", cfg, "--base-url", "https://solaire.example.org",
                "--participant", "A01", "--out", tmp_path / "a01.csv")
    assert r.returncode == 2 and "--replace" in r.stderr and not (tmp_path / "a01.csv").exists()
    assert store.lookup(token(first["A01"])) == "A01"
    # --replace: a new link, the old one cancelled; the landlord's untouched.
    new = issue(cfg, tmp_path / "a01.csv", "A01", replace=True)
    assert store.lookup(token(new["A01"])) == "A01"
    assert store.lookup(token(first["A01"])) is None
    assert store.lookup(token(first["@pmo"])) == "@pmo"
