"""The HTML report in a real browser: headless Chromium (the Debian package) opens the reports of a
run, a comparison and a sweep, renders a screenshot, and a script run in the page checks that every
table and figure rendered (each image decoded with a width, the tables and key text present).

Chromium comes from ``.ci/run`` (it installs the Debian package when absent).  Here it is installed
the same way if missing and possible (root with apt-get); the test is skipped only when it cannot
be installed, and never under CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from doseesc.cli import main
from doseesc.report import build_report

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser")
CHECK = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const broken = images.filter((i) => !i.complete || i.naturalWidth === 0).length;
  const text = document.body.innerText;
  document.title = JSON.stringify({
    images: images.length,
    broken: broken,
    tables: document.querySelectorAll("table").length,
    bold: [...document.querySelectorAll("td")].filter(
      (td) => getComputedStyle(td).fontWeight >= 700).length,
    words: ["% selected", "% no selection", "Draft text for the statistical section"].filter(
      (w) => text.includes(w)).length,
  });
});
</script>
"""


def _browser() -> str:
    found = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True, check=False
        )
        found = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is missing: .ci/run must install the chromium package")
        pytest.skip("Chromium is not installed and cannot be installed here (not root, or no apt-get)")
    return found


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=180, check=False)


def _check(browser: str, html: Path, tmp: Path) -> dict:
    """Open ``html`` in Chromium: the in-page checks' results and a screenshot, from one start of
    the browser (the checks only set the page's title, which the screenshot does not show)."""
    checked = tmp / f"{html.stem}-checked.html"
    checked.write_text(html.read_text().replace("</body>", CHECK + "</body>"))
    shot = tmp / f"{html.stem}.png"
    dom = _chromium(
        browser,
        "--virtual-time-budget=10000",
        "--dump-dom",
        f"--screenshot={shot}",
        "--window-size=1000,2400",
        checked.as_uri(),
    )
    title = re.search(r"<title>(.*?)</title>", dom.stdout, re.S)
    assert title is not None, dom.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    ink = float(np.mean(pixels[..., :3].min(axis=2) < 0.9))  # share of pixels that are not white
    result = json.loads(title.group(1).replace("&quot;", '"'))
    result["ink"] = ink
    result["shape"] = pixels.shape
    return result


@pytest.fixture(scope="module")
def browser() -> str:
    return _browser()


def test_run_report_renders_tables_and_every_figure(browser, scenario_run, tmp_path):
    # the results of doseesc run with few trials (conftest.py), copied: the report is written beside them
    out = Path(
        shutil.copytree(scenario_run(ROOT / "scenarios" / "halpc_3p3_redesign.toml")[0], tmp_path / "R")
    )
    (html,) = build_report(out, "html", target=0.3)
    r = _check(browser, html, tmp_path)
    # selection, dose-toxicity, severe bleeding, sample size, duration, timeline
    assert r["images"] == 6 and r["broken"] == 0
    assert r["tables"] == 2 and r["words"] == 3
    assert r["bold"] >= 9  # the true MTD's row: its cells in both arms
    assert r["shape"][:2] == (2400, 1000) and r["ink"] > 0.05


def test_compare_report_renders(browser, tmp_path):
    names = ("textbook_3p3", "textbook_3p3_deescalate", "textbook_boin")
    files = [str(ROOT / "scenarios" / f"{n}.toml") for n in names]
    out = tmp_path / "C"
    assert main(["compare", *files, "--engine", "exact", "--out", str(out)]) == 0
    (html,) = build_report(out, "html", target=0.3)
    r = _check(browser, html, tmp_path)
    # comparison, dose-toxicity, sample size; BOIN's boundaries and the two tables of the three designs
    assert r["images"] == 3 and r["broken"] == 0 and r["words"] == 3
    assert r["tables"] == 3 and r["bold"] == 1 + 3 * 3 and r["ink"] > 0.05


def test_sweep_report_of_three_named_scenarios_and_two_designs_renders(browser, tmp_path):
    out = tmp_path / "S"
    assert main(["sweep", str(ROOT / "sweeps" / "protocol_three_scenarios.toml"), "--out", str(out)]) == 0
    (html,) = build_report(out, "html")
    r = _check(browser, html, tmp_path)
    # 2 sweep figures, and per scenario: comparison, dose-toxicity, sample size
    assert r["images"] == 2 + 3 * 3 and r["broken"] == 0
    assert r["tables"] == 1 + 3 * 2 * 2 and r["words"] == 3  # BOIN's boundaries, 3 x (3+3, BOIN) x 2
    assert r["ink"] > 0.05
