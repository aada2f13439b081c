"""The tenant's page in a real browser: Debian's headless Chromium driven by Playwright, loading
the page from the real server on a demo store (sample year), on a phone-sized screen.

It checks the figures the browser shows against ``pvshare export``, that the page makes no
request beyond its own address and is styled under its Content-Security-Policy, and the
accessibility basics: contrast of every piece of text against its background (WCAG 2 AA),
text size, labels, language. The screenshot in docs/web-tenant.png is made by
:func:`screenshot` here (``python -m tests.test_web_browser docs/web-tenant.png``).
"""

from __future__ import annotations

import csv
import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.report_support import parse_fr
from tests.test_web_support import AT, WebServer, build_site, issue, pvshare

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
TENANT = "A07"

#: Every element with text of its own: colour, effective background, size, weight.
PROBE = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const v = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const bg = el => { for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) return c; }
    return [255, 255, 255, 1]; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    if (r.width === 0 || s.visibility === 'hidden') continue;
    const svg = el instanceof SVGElement;
    out.push({tag: el.tagName, text: el.textContent.trim().slice(0, 30),
              fg: parse(svg ? s.fill : s.color), bg: bg(el), svg: svg,
              size: svg ? r.height : parseFloat(s.fontSize), weight: parseInt(s.fontWeight)});
  }
  return out; }"""


def contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255)."""
    def lum(c):
        ch = [x / 255 for x in c[:3]]
        ch = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def hex_rgb(h: str) -> tuple[int, int, int]:
    h = h.lstrip("#")
    return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))


def launch(p):
    assert shutil.which(CHROMIUM), "Debian package 'chromium' is needed (make system-deps)"
    return p.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("webbrowser")
    cfg = build_site(folder, months_back_s=30 * 86400)
    links = issue(cfg, folder / "links.csv", TENANT, "@pmo")
    server = WebServer(cfg)
    yield folder, cfg, links, server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(served, browser):
    folder, cfg, links, server = served
    requests, console = [], []
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True,
                              has_touch=True, locale="fr-FR")
    pg = ctx.new_page()
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("console", lambda m: console.append((m.type, m.text)))
    pg.goto(server.base + links[TENANT], wait_until="load")
    yield pg, requests, console, folder, cfg
    ctx.close()


def test_figures_in_the_browser_match_pvshare_export(page):
    pg, _, _, folder, cfg = page
    out = folder / "june.csv"
    r = pvshare("export", "--config", cfg, "--what", "allocation", "--from", "2025-06-01",
                "--to", AT, "--format", "csv", "--out", out)
    assert r.returncode == 0, r.stderr
    with open(out, newline="", encoding="utf-8") as fh:
        rows = [x for x in csv.DictReader(fh) if x["participant"] == TENANT]
    alloc = sum(float(x["allocated_wh"]) for x in rows) / 1000
    cons = sum(float(x["consumption_wh"]) for x in rows) / 1000
    shown = {el.get_attribute("data-figure"): parse_fr(el.inner_text())
             for el in pg.query_selector_all("[data-figure]")}
    assert shown["month_autocons_kwh"] == pytest.approx(alloc, abs=0.051)
    assert shown["month_consumption_kwh"] == pytest.approx(cons, abs=0.051)
    assert shown["month_saving_eur"] == pytest.approx(alloc * (0.194 - 0.120), abs=0.011)
    assert shown["month_share_pct"] == pytest.approx(100 * alloc / cons, abs=0.51)
    today = [x for x in rows if x["time"] >= "2025-06-20T22:00:00+00:00"]
    assert shown["today_consumption_kwh"] == pytest.approx(
        sum(float(x["consumption_wh"]) for x in today) / 1000, abs=0.0051)
    assert shown["step_allocated_wh"] == pytest.approx(float(today[-1]["allocated_wh"]), abs=0.51)
    # the chart: one or two bars per closed step of the day, drawn with a real size
    bars = pg.query_selector_all("svg.chart rect")
    assert len(today) <= len(bars) <= 2 * len(today)
    box = pg.query_selector("svg.chart").bounding_box()
    assert box["width"] > 300 and box["height"] > 80


def test_no_external_request_styled_under_its_csp(page):
    pg, requests, console, _, _ = page
    base = re.match(r"https?://[^/]+", pg.url).group(0)
    assert requests and all(u.startswith(base) for u in requests), requests
    assert [m for m in console if m[0] == "error"] == []
    # the inline stylesheet was applied (its hash is in the CSP): the page's background
    assert pg.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(244, 241, 234)"
    size = pg.evaluate("performance.getEntriesByType('navigation')[0].transferSize")
    assert 0 < size < 100_000


def test_accessibility_basics(page):
    pg, _, _, _, _ = page
    assert pg.evaluate("document.documentElement.lang") == "fr"
    assert pg.evaluate("getComputedStyle(document.body).fontSize") == "16px"
    assert pg.evaluate("document.querySelectorAll('h1').length") == 1
    # no horizontal scrolling on a phone
    assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # every form field has a label; every image a text alternative
    unlabeled = pg.evaluate("""() => Array.from(document.querySelectorAll(
        'input, select, textarea')).filter(e => !(e.labels && e.labels.length)
        && !e.getAttribute('aria-label')).length""")
    assert unlabeled == 0
    assert pg.evaluate("""() => Array.from(document.querySelectorAll('svg, img')).every(
        e => (e.getAttribute('aria-label') || e.getAttribute('alt') || '').length > 10)""")
    texts = pg.evaluate(PROBE)
    assert len(texts) > 20
    for t in texts:
        large = t["size"] >= 24 or (t["size"] >= 18.66 and t["weight"] >= 700)
        ratio = contrast(t["fg"], t["bg"])
        assert ratio >= (3.0 if large else 4.5), (t, ratio)
        assert t["size"] >= (11 if t["svg"] else 14), t


def test_stylesheet_colours_meet_wcag_aa():
    """The colour pairs the stylesheet and the charts use, computed from their hex values:
    text at least 4.5:1 on both backgrounds, chart marks at least 3:1 (WCAG 1.4.11)."""
    from pvshare.web import views
    from pvshare.web.templating import css
    var = dict(re.findall(r"--([a-z]+):(#[0-9a-f]{6})", css()))
    link = re.search(r"a\{color:(#[0-9a-f]{6})\}", css()).group(1)
    for bg in ("bg", "card"):
        for fg in ("fg", "muted", "sun", "ok", "warn"):
            assert contrast(hex_rgb(var[fg]), hex_rgb(var[bg])) >= 4.5, (fg, bg)
        assert contrast(hex_rgb(link), hex_rgb(var[bg])) >= 4.5
    for mark in (views.SUN, views.GRID):
        assert contrast(hex_rgb(mark), hex_rgb(var["card"])) >= 3.0
    assert contrast(hex_rgb(views.SUN), hex_rgb(views.GRID)) >= 1.5   # told apart


def test_printed_qr_codes_read_back_as_the_links(served, browser, tmp_path):
    """The printable sheet as Chromium draws it: each card's QR code, photographed and decoded
    by an independent reader (zxing-cpp), gives back that card's link from the CSV."""
    import zxingcpp
    from PIL import Image
    folder = served[0]
    with open(folder / "links.csv", newline="", encoding="utf-8") as fh:
        urls = [r["url"] for r in csv.DictReader(fh)]
    pg = browser.new_page(viewport={"width": 900, "height": 1200})
    pg.goto((folder / "links.html").as_uri())
    cards = pg.query_selector_all(".card")
    assert len(cards) == len(urls) == 2
    for i, (card, url) in enumerate(zip(cards, urls)):
        shot = tmp_path / f"qr{i}.png"
        card.query_selector("svg").screenshot(path=str(shot))
        found = [b.text for b in zxingcpp.read_barcodes(Image.open(shot))]
        assert found == [url]
        assert url in card.inner_text().replace("\n", "")
    pg.close()


def test_phone_screenshot(page, tmp_path):
    pg, _, _, _, _ = page
    shot = tmp_path / "tenant.png"
    pg.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    assert width == PHONE["width"]


def screenshot(out: Path) -> None:
    """Write the docs' phone screenshot of a tenant's page (full page, 390 px wide, 2x)."""
    import tempfile

    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_site(Path(tmp))
        links = issue(cfg, Path(tmp) / "links.csv", TENANT)
        server = WebServer(cfg)
        try:
            with sync_playwright() as p:
                browser = launch(p)
                pg = browser.new_page(viewport=PHONE, device_scale_factor=2, is_mobile=True)
                pg.goto(server.base + links[TENANT], wait_until="load")
                pg.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]))
