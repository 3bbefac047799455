"""doseesc report: Markdown and LaTeX tables parsed back equal the exact rational oracle's numbers
after rounding; HTML is self-contained; compare and sweep folders; generated design text; errors.

Independent truths: ``tests/oracle.py`` enumerates every path of the 3+3 in exact rational
arithmetic (selection, mean patients and DLTs per dose, the distribution of N, correct selection).
A parsed cell must lie within half a unit of its last printed digit of the oracle's value (what
rounding allows, and nothing more).
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import pytest
from oracle import exact_oracle, oracle_metrics

from doseesc import registry
from doseesc.cli import main
from doseesc.report import build_report
from doseesc.report.model import read_report
from doseesc.report.paragraph import design_sentences

ROOT = Path(__file__).resolve().parents[1]
P = ["0.05", "0.10", "0.20", "0.30", "0.50", "0.70"]
TARGET = "0.25"
SCENARIO = f"""
[scenario]
name = "rep"
title = "Textbook 3+3 for the report"

[design]
name = "3+3"
target = {TARGET}

[toxicity]
model = "table"
p_dlt = [{", ".join(P)}]

[run]
engines = ["exact", "mc"]
trials = 2000
seed = 4
"""


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    (folder / "rep.toml").write_text(SCENARIO)
    assert main(["run", str(folder / "rep.toml"), "--out", str(folder / "R")]) == 0
    return folder / "R"


@pytest.fixture(scope="module")
def oracle():
    oc = exact_oracle(P)
    return oc, oracle_metrics(oc, P, TARGET)


def close(cell: str, truth: Fraction | float, decimals: int) -> bool:
    """A printed cell agrees with the truth up to rounding to ``decimals`` places."""
    return abs(float(cell) - float(truth)) <= 0.5 * 10**-decimals + 1e-9


def quantile(dist: dict[int, Fraction], q: Fraction) -> int:
    total = Fraction(0)
    for m in sorted(dist):
        total += dist[m]
        if total >= q:
            return m
    raise AssertionError("a distribution must sum to 1")


# -- Markdown -----------------------------------------------------------------------------------


def md_tables(text: str) -> list[list[list[str]]]:
    """Every pipe table of ``text``: rows of cells, header first, the separator row left out."""
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if not all(re.fullmatch(r"-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.fixture(scope="module")
def md_report(run_folder, tmp_path_factory) -> Path:
    """``doseesc report --format md`` of the run, written with umask 022 into a folder of its own."""
    out = tmp_path_factory.mktemp("md") / "r.md"
    old = os.umask(0o022)
    try:
        assert main(["report", str(run_folder), "--format", "md", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    return out


def test_markdown_tables_equal_the_oracle_after_rounding(run_folder, md_report, oracle):
    oc, metrics = oracle
    text = md_report.read_text()
    tables = md_tables(text)
    dose, trial = tables[-2], tables[-1]  # the last study's two tables (after any boundary table)
    assert dose[0][:5] == [
        "dose",
        "true P(DLT) %",
        "exact: % selected",
        "exact: mean patients",
        "exact: mean DLTs",
    ]
    assert dose[0][5] == "simulated: % selected"
    true_mtd = metrics["true_mtd"]
    for d, row in enumerate(dose[1:]):
        bold = all(c.startswith("**") and c.endswith("**") for c in row)
        assert bold == (d == true_mtd)
        cells = [c.strip("*") for c in row]
        assert cells[0] == str(d + 1)
        assert close(cells[1], 100 * Fraction(P[d]), 1)
        assert close(cells[2], 100 * oc.p_select[d], 1)
        assert close(cells[3], oc.mean_n[d], 1)
        assert close(cells[4], oc.mean_dlt[d], 2)
    rows = {r[0]: r[1:] for r in trial[1:]}
    assert trial[0] == ["per trial", "exact", "simulated"]
    assert close(rows["% no selection"][0], 100 * oc.p_none, 1)
    mean_total = sum(m * q for m, q in oc.total_n.items())
    assert close(rows["mean N (patients)"][0], mean_total, 1)
    assert int(rows["90th percentile of N"][0]) == quantile(oc.total_n, Fraction(9, 10))
    assert close(rows["% correct selection"][0], 100 * metrics["p_correct"], 1)
    assert close(rows["% selecting above the MTD"][0], 100 * metrics["p_select_above_mtd"], 1)
    assert close(rows["expected DLTs"][0], sum(m * q for m, q in oc.total_dlt.items()), 2)
    # The simulated column: its own results, rounded the same way.
    mc = json.loads((run_folder / "results.json").read_text())["engines"]["mc"]
    assert close(rows["% correct selection"][1], 100 * mc["p_correct"], 1)
    assert "seed 4" in text and "2,000 simulated trials" in text and "doseesc 0.1.0" in text
    for name in re.findall(r"\]\((r_figures/[^)]+)\)", text):
        assert (md_report.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- LaTeX --------------------------------------------------------------------------------------


def tex_tables(text: str) -> list[list[list[str]]]:
    """Rows of cells of every tabular of ``text`` (rules and heading rows left out)."""
    out = []
    for body in re.findall(r"\\begin\{tabular\}\{[^}]*\}(.*?)\\end\{tabular\}", text, re.S):
        rows = []
        for line in body.split("\\\\"):
            line = re.sub(r"\\(toprule|midrule|bottomrule)", "", line).strip()
            if line:
                rows.append([c.strip() for c in line.split("&")])
        out.append(rows)
    return out


def test_latex_tables_equal_the_oracle_after_rounding(run_folder, oracle, tmp_path):
    oc, metrics = oracle
    out = tmp_path / "r.tex"
    build_report(run_folder, "tex", out)
    text = out.read_text()
    assert text.count(r"\begin{document}") == 1 and text.rstrip().endswith(r"\end{document}")
    dose, trial = tex_tables(text)[-2:]
    body = [r for r in dose if re.fullmatch(r"(\\bfseries )?\d", r[0])]
    assert len(body) == len(P)
    for d, row in enumerate(body):
        assert all(c.startswith(r"\bfseries") for c in row) == (d == metrics["true_mtd"])
        cells = [c.replace(r"\bfseries", "").strip() for c in row]
        assert close(cells[2], 100 * oc.p_select[d], 1)
        assert close(cells[3], oc.mean_n[d], 1)
        assert close(cells[4], oc.mean_dlt[d], 2)
    rows = {r[0]: r[1:] for r in trial}
    assert close(rows[r"\% correct selection"][0], 100 * metrics["p_correct"], 1)
    assert int(rows["90th percentile of N"][0]) == quantile(oc.total_n, Fraction(9, 10))
    for name in re.findall(r"\\includegraphics\[[^]]*\]\{([^}]+)\}", text):
        assert (tmp_path / name).read_bytes()[:4] == b"%PDF"


# -- HTML ---------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0
        self.links: list[str] = []
        self.bold_cells = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "table":
            self.tables += 1
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.links.append(a.get("href") or a.get("src"))


def test_html_is_one_self_contained_file(run_folder):
    (path,) = build_report(run_folder, "html")
    assert path == run_folder / "report.html"
    page = _Page()
    text = path.read_text()
    page.feed(text)
    assert page.tables == 2 and not page.links
    assert len(page.images) == 3  # selection, dose-toxicity, sample size
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "@media print" in text and "font-weight: bold" in text


# -- compare and sweep folders ------------------------------------------------------------------


def test_compare_report_puts_the_designs_of_one_curve_in_one_table(compare_3p3, tmp_path):
    folder, _ = compare_3p3  # textbook_3p3 and textbook_3p3_deescalate (conftest.py)
    report = read_report(folder, target=0.25)
    (study,) = report.studies
    assert [arm.label for arm in study.arms] == ["3+3", "3+3, deescalate"]
    assert study.true_mtd == 2
    (md,) = build_report(folder, "md", tmp_path / "c.md", target=0.25)[:1]
    header = md_tables(md.read_text())[-2][0]
    assert "3+3: % selected" in header and "3+3, deescalate: % selected" in header
    assert (folder / "comparison.png").is_file()


SWEEP = """
[sweep]
name = "named"
base = "base.toml"
seed = 3

[[scenarios]]
name = "S1: MTD at level 2"
"toxicity.p_dlt" = [0.10, 0.30, 0.45, 0.60]

[[scenarios]]
name = "S2: MTD at level 3"
toxicity = { p_dlt = [0.05, 0.12, 0.30, 0.45] }

[[scenarios]]
name = "S3: MTD at level 4"
"toxicity.p_dlt" = [0.02, 0.05, 0.12, 0.30]

[axes]
"design.name" = ["3+3", "boin"]
"design.cohort_size" = [3]
"design.max_n" = [12, 18]
"""
BASE = """
[scenario]
name = "base4"

[design]
name = "3+3"
deescalate = false
target = 0.3

[toxicity]
model = "table"
p_dlt = [0.05, 0.10, 0.25, 0.40]

[run]
engines = ["mc"]
trials = 1000
"""


def test_sweep_over_named_scenarios_and_designs(tmp_path, oracle):
    (tmp_path / "base.toml").write_text(BASE)
    (tmp_path / "sweep.toml").write_text(SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path / "sweep.toml"), "--out", str(out)]) == 0
    manifest = json.loads((out / "sweep.json").read_text())
    combos = manifest["combinations"]
    assert len(combos) == 3 * 2 * 2  # scenarios x designs x N (cohort_size applies to boin only)
    assert {c["params"]["scenario"] for c in combos} == {
        "S1: MTD at level 2",
        "S2: MTD at level 3",
        "S3: MTD at level 4",
    }
    three = [c for c in combos if c["params"]["design.name"] == "3+3"]
    assert {c["params"]["design.cohort_size"] for c in three} == {None}
    # The exact engine replaced the Monte Carlo one: no simulated trial was run again.
    assert {tuple(c["engines"]) for c in combos} == {("exact",)}
    with (out / "sweep.csv").open() as f:
        header = f.readline().strip().split(",")
        first = f.readline()
    assert header[:3] == ["combination", "scenario", "design.name"]
    assert first.startswith("1,S1: MTD at level 2,3+3,")
    # The 3+3 capped at N = 18 on S2 against the oracle (the same rule with max_n = 18).
    files = build_report(out, "md", tmp_path / "s.md")
    tables = md_tables(files[0].read_text())
    assert sum(1 for t in tables if t[0][0] == "dose") == 3 * 2  # 3 studies, 2 parts (3+3, boin)
    oc = exact_oracle(["0.05", "0.12", "0.30", "0.45"], max_n=18)
    s2 = [t for t in tables if t[0][0] == "dose"][2]
    assert s2[0][2] == "3+3, N = 12: % selected" and s2[0][5] == "3+3, N = 18: % selected"
    for d, row in enumerate(s2[1:]):
        assert close(row[5].strip("*"), 100 * oc.p_select[d], 1)
    assert (out / "sweep_correct_by_max_n.png").is_file() and (out / "sweep_selection.png").is_file()


def test_named_scenario_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "base.toml").write_text(BASE)
    bad = SWEEP.replace('name = "S2: MTD at level 3"', 'name = "S1: MTD at level 2"')
    (tmp_path / "bad.toml").write_text(bad)
    with pytest.raises(SystemExit) as stop:
        main(["sweep", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "o")])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scenarios[2].name" in err and "used twice" in err


# -- text generated from the registry, errors, permissions ---------------------------------------


def test_design_text_comes_from_the_registry_entry():
    entry = registry.register_design(
        "toy-report",
        lambda n_doses, **kw: None,
        (registry.Param("spread", "int", 2, low=1, high=5, help="doses skipped after a quiet cohort"),),
        help="a toy design that skips doses",
    )
    try:
        text = design_sentences([{"name": entry.name, "spread": 3}, {"name": entry.name, "spread": 4}], 5)
    finally:
        del registry.REGISTRY.designs[entry.name]
    assert "a toy design that skips doses" in text and "over 5 dose levels" in text
    assert "doses skipped after a quiet cohort (spread): 3 or 4" in text


def test_a_folder_without_results_is_one_line_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", str(tmp_path)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds none of results.json" in err and "results folder" in err
    with pytest.raises(SystemExit):
        main(["report", str(tmp_path), "--format", "pdf"])
    assert "--format" in capsys.readouterr().err


def test_every_file_written_is_as_readable_as_the_csv_files(run_folder, md_report):
    csv_mode = stat.S_IMODE((run_folder / "selection.csv").stat().st_mode)
    assert all(stat.S_IMODE(p.stat().st_mode) == csv_mode for p in run_folder.iterdir())
    written = [p for p in md_report.parent.rglob("*") if p.is_file()]  # the report, written with umask 022
    assert len(written) > 1 and all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in written)
