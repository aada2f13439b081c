"""The HTML pages in headless Chromium (Debian ``chromium``): the charts really render."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from tests.report_support import CONFIG, pvshare

FIX = __import__("pathlib").Path(__file__).parent / "fixtures" / "enedis"
PROBE = """<script>
document.body.setAttribute('data-probe', JSON.stringify(
  Array.from(document.querySelectorAll('svg.chart')).map(function (e) {
    var r = e.getBoundingClientRect();
    return {w: r.width, h: r.height, marks: e.querySelectorAll('path, rect, use').length,
            text: e.querySelectorAll('text').length};
  })));
</script></body>"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Debian package 'chromium' is needed for this test (apt-get install chromium)"
    return exe


def _run(args, tmp_path):
    return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                           *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("pages")
    for args in (["household", "--input", FIX / "enedis_rows_2023-10.csv"],
                 ["tenant", "--config", CONFIG, "--participant", "A07", "--month", "2025-04",
                  "--sample-year"],
                 ["building", "--config", CONFIG, "--month", "2025-04", "--sample-year"]):
        r = pvshare("report", *args, "--out", out, "--format", "html")
        assert r.returncode == 0, r.stderr
    return sorted(out.glob("*.html"))


def test_charts_have_a_size_and_marks_in_chromium(pages, tmp_path):
    assert len(pages) == 3
    for page in pages:
        probe = tmp_path / page.name
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE),
                         encoding="utf-8")
        r = _run(["--dump-dom", probe.as_uri()], tmp_path)
        m = re.search(r'data-probe="([^"]*)"', r.stdout)
        assert m, (page.name, r.stderr[-500:])
        charts = json.loads(m.group(1).replace("&quot;", '"'))
        assert len(charts) >= 1, page.name
        for c in charts:
            assert c["w"] > 300 and c["h"] > 100, (page.name, c)
            assert c["marks"] > 10 and c["text"] > 3, (page.name, c)


def test_screenshot_is_not_blank_and_shows_the_chart_colours(pages, tmp_path):
    import matplotlib.image as mpimg
    for page in pages:
        png = tmp_path / (page.stem + ".png")
        r = _run([f"--screenshot={png}", "--window-size=900,1400", page.as_uri()], tmp_path)
        assert png.exists(), r.stderr[-500:]
        img = (mpimg.imread(png)[..., :3] * 255).round().astype(int)
        assert img.shape[0] == 1400 and img.shape[1] == 900
        nonwhite = (img < 245).any(axis=2).mean()
        assert nonwhite > 0.05, (page.name, nonwhite)
        # The charts' own colours (roof orange #e8a317 or consumption blue #1f5f8b) are painted.
        colours = {(0xE8, 0xA3, 0x17), (0x1F, 0x5F, 0x8B)}
        hits = sum(int((np.abs(img - np.array(c)).sum(axis=2) < 12).sum()) for c in colours)
        assert hits > 2000, (page.name, hits)
