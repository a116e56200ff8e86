"""The report in a real browser: headless Chromium loads it offline, runs its scripts without errors and
draws the 3-D state space."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from dynascope.report import SECTIONS
from dynascope.report.figures import index_colour

pytestmark = pytest.mark.browser


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        pytest.skip("chromium not installed: `make browser` (apt-get install chromium) installs it")
    return path


def headless(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium with networking features off and a throwaway profile."""
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--hide-scrollbars",
        "--enable-logging=stderr", "--v=0", *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


class Dom(HTMLParser):
    """Records, for each element, its attributes and the ids of the elements enclosing it."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str | None]] = []
        self.elements: list[tuple[str, dict, tuple[str, ...]]] = []

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a, tuple(i for _, i in self.stack if i)))
        if tag not in self.VOID:
            self.stack.append((tag, a.get("id")))

    def handle_startendtag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        self.elements.append((tag, a, tuple(i for _, i in self.stack if i)))

    def handle_endtag(self, tag):
        for k in range(len(self.stack) - 1, -1, -1):
            if self.stack[k][0] == tag:
                del self.stack[k:]
                break

    def inside(self, dom_id: str, cls: str) -> int:
        """How many elements with class `cls` lie inside the element with id `dom_id`."""
        return sum(1 for _, a, ids in self.elements if dom_id in ids and cls in a.get("class", "").split())


#: Console lines Chromium itself logs about its software WebGL, not messages of the page.
BROWSER_NOTICES = ("GL Driver Message", "Canvas2D: Multiple readback operations")


def page_console(stderr: str) -> list[str]:
    """The page's console messages (uncaught errors included) from Chromium's log, less its own notices."""
    lines = [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]
    return [ln for ln in lines if not any(n in ln for n in BROWSER_NOTICES)]


def test_report_loads_offline_without_errors_and_draws(full_report, tmp_path):
    url = full_report.resolve().as_uri()
    out = headless(tmp_path, "--dump-dom", url)
    assert out.returncode == 0, out.stderr[-2000:]
    # Two independent witnesses: Chromium's own log of the console, and the page's error trap below.
    assert page_console(out.stderr) == []
    dom = Dom()
    dom.feed(out.stdout)
    body = next(a for t, a, _ in dom.elements if t == "body")
    assert body.get("data-errors", "") == ""
    assert body.get("data-ready") == "1"
    ids = {a.get("id") for _, a, _ in dom.elements}
    assert {sid for sid, _ in SECTIONS} <= ids
    # the visible network's 3-D state space: plotly's SVG layers and its WebGL container
    assert dom.inside("net-0-3d", "main-svg") >= 1
    assert dom.inside("net-0-3d", "gl-container") == 1
    # hidden panels are drawn only when selected
    assert dom.inside("net-1-3d", "main-svg") == 0
    assert dom.inside("emb-cca", "main-svg") >= 1

    shot = tmp_path / "page.png"
    out = headless(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", url)
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert float(np.var(pixels)) > 1e-3
    not_white = np.mean(np.any(pixels < 0.95, axis=-1))
    assert 0.03 < not_white < 0.9


def test_page_console_sees_uncaught_errors(tmp_path):
    """The console check above is not vacuous: Chromium's log does carry a page's errors."""
    page = tmp_path / "broken.html"
    page.write_text("<html><body><script>console.error('boom'); notDefined();</script></body></html>")
    out = headless(tmp_path, "--dump-dom", page.as_uri())
    messages = page_console(out.stderr)
    assert any("boom" in m for m in messages) and any("Uncaught ReferenceError" in m for m in messages)


def test_the_3d_state_space_is_drawn_by_webgl(full_report, tmp_path):
    """Only the first network's 3-D plot left on the page, its legend hidden: the fixed points' colours can
    then only come from plotly's WebGL canvas, so finding them proves the scene was drawn."""
    only_plot = ("<style>header, section:not(#networks), #networks > :not(#net-0), #net-0 > :not(figure), "
                 "#net-0 figure ~ *, figcaption, g.legend, .modebar-container { display: none !important; }"
                 "</style></head>")
    page = tmp_path / "plot.html"
    page.write_text(full_report.read_text(encoding="utf-8").replace("</head>", only_plot, 1), encoding="utf-8")
    shot = tmp_path / "plot.png"
    out = headless(tmp_path, f"--screenshot={shot}", "--window-size=1000,700", page.as_uri())
    assert out.returncode == 0 and shot.is_file(), out.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)[..., :3] * 255
    for index in (0, 1, 2):  # stable points, index-1 and index-2 saddles (their markers and unstable segments)
        rgb = np.array(to_rgb(index_colour(index))) * 255
        assert np.sum(np.all(np.abs(pixels - rgb) < 30, axis=-1)) > 20, f"no pixels of index {index}'s colour"
