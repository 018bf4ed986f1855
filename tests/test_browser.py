"""The tearsheet, comparison and sweep pages in a real browser (headless Chromium).

Checks what a reader would notice: the page loads with no console error, every embedded figure
decodes to a non-zero image and is laid out with a non-zero size, nothing is fetched from the
network, and a screenshot of the tearsheet is a real (non-blank) PNG.

The figure probe is a small script injected into a *copy* of each page (the shipped pages carry
no script): it records each ``<img>``/``<svg>``'s natural and rendered size into the DOM, which
``--dump-dom`` prints after the load event.
"""

from __future__ import annotations

import html as htmllib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from test_tearsheet import base_config, make_artifacts, make_sweep

from squeeze_lab.tearsheet.render import render_comparison, render_sweep, render_tearsheet
from squeeze_lab.tearsheet.rundir import write_run


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = _find_chromium()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                       "(Debian: apt-get install chromium, or `make browser`)"),
]

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--enable-logging=stderr", "--v=0")

PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e)); }, true);
window.addEventListener("load", function () {
  var figs = Array.prototype.map.call(document.querySelectorAll("img, svg"), function (el) {
    var r = el.getBoundingClientRect();
    return {tag: el.tagName.toLowerCase(), alt: el.getAttribute("alt") || "",
            nw: el.naturalWidth || 0, nh: el.naturalHeight || 0,
            complete: el.complete === undefined ? true : el.complete,
            w: Math.round(r.width), h: Math.round(r.height)};
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify({figs: figs, errors: window.__errors,
                                    title: document.title, height: document.body.scrollHeight});
  document.body.appendChild(pre);
});
</script>"""


def chromium(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    """Run headless Chromium once with a fresh profile; return the completed process."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HOME": str(tmp)})


def console_problems(stderr: str) -> list[str]:
    """Console messages (any level) and uncaught errors Chromium logged for the page."""
    return [line for line in stderr.splitlines()
            if ":CONSOLE" in line or "Uncaught" in line or "ERR_NAME_NOT_RESOLVED" in line]


def probe(page: Path, tmp: Path) -> dict:
    """Load a copy of ``page`` with the probe script; return what it recorded."""
    text = page.read_text()
    assert "<head>" in text
    copy = tmp / f"probe-{page.name}"
    copy.write_text(text.replace("<head>", "<head>\n" + PROBE, 1))
    proc = chromium(tmp, copy.as_uri(), "--virtual-time-budget=15000", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not console_problems(proc.stderr), console_problems(proc.stderr)
    m = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert m, "the probe did not run (no load event?)\n" + proc.stdout[-500:]
    return json.loads(htmllib.unescape(m.group(1)))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("browser")
    a = write_run(out, "crowded_book", make_artifacts(), render=render_tearsheet)
    b = write_run(out, "degross", make_artifacts(seed=1, shock=0.5, config=base_config(
        name="degross", overlay={"threshold": 2.0})), render=render_tearsheet)
    cmp_page = render_comparison([a, b], out / "comparison.html")
    sweep = render_sweep(make_sweep(out / "sweep.csv"), out / "sweep.html", x="overlay.threshold",
                         y="overlay.lookback",
                         metrics=["jan_2026.max_drawdown_in_window", "sharpe_ratio"])
    return {"tearsheet": a / "tearsheet.html", "comparison": cmp_page, "sweep": sweep}


@pytest.mark.parametrize(("page", "n_figures"), [("tearsheet", 5), ("comparison", 2), ("sweep", 2)])
def test_page_renders_without_errors_and_figures_have_size(pages: dict[str, Path], tmp_path: Path,
                                                           page: str, n_figures: int) -> None:
    rec = probe(pages[page], tmp_path)
    assert rec["errors"] == []
    figs = rec["figs"]
    assert len(figs) == n_figures, figs
    for f in figs:
        assert f["complete"], f
        assert f["w"] > 100 and f["h"] > 50, f  # laid out at a visible size
        if f["tag"] == "img":
            assert f["nw"] > 0 and f["nh"] > 0, f  # the embedded PNG decoded
    assert rec["height"] > 1000


def test_tearsheet_screenshot(pages: dict[str, Path], tmp_path: Path) -> None:
    shot = tmp_path / "tearsheet.png"
    proc = chromium(tmp_path, pages["tearsheet"].as_uri(), f"--screenshot={shot}",
                    "--window-size=1280,2000", "--virtual-time-budget=15000")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not console_problems(proc.stderr), console_problems(proc.stderr)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    with Image.open(shot) as im:
        gray = im.convert("L")
        hist = gray.histogram()
    dark = sum(hist[:60])  # the header band and text
    assert dark > 1280 * 40, "no dark header band: the page looks blank"
    lo, hi = gray.getextrema()
    assert hi - lo > 150
    if os.environ.get("SQUEEZE_LAB_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["SQUEEZE_LAB_KEEP_SCREENSHOT"])
