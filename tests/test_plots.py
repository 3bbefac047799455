"""Every figure of a report is written, marks what a protocol reader needs, and shows probabilities
as percentages only (never a proportion such as "0.31" beside a percent axis).

Expected values come from the inputs themselves (a median of the durations given, the quantile of
a distribution given, running totals of the decisions given), not from the plotting code.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure

from doseesc.engines.events import LogRecord
from doseesc.models.band import Band
from doseesc.plots import write_figure
from doseesc.plots.oc import (
    Arm,
    EventBurden,
    SampleSize,
    SelectionSeries,
    Truth,
    plot_comparison,
    plot_dose_toxicity,
    plot_duration,
    plot_event_burden,
    plot_sample_size,
    plot_selection,
)
from doseesc.plots.sweep import MetricLine, metric_by_axis, selection_figure
from doseesc.plots.timeline import timeline

LABELS = ["0.3", "0.6", "1.2", "2.5", "5"]
TRUTH = Truth(p_dlt=[0.01, 0.03, 0.09, 0.33, 0.66], target=0.3, true_mtd=3)
PROPORTION = re.compile(r"^0\.\d+$")


def texts(fig: Figure) -> list[str]:
    """Every piece of text drawn on ``fig`` (tick labels, annotations, legends, titles)."""
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text()]


def written(fig: Figure, tmp_path, stem: str) -> None:
    for suffix, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        path = tmp_path / f"{stem}{suffix}"
        write_figure(fig, path)
        assert path.read_bytes()[:5].startswith(magic)


def no_proportions(fig: Figure) -> None:
    """No proportion among the texts (dose values such as "0.3" aside)."""
    shown = [t.split("\n")[0] for t in texts(fig)]
    assert not [t for t in shown if PROPORTION.match(t) and t not in LABELS], shown


def series(name: str, p: list[float], n: int | None = None) -> SelectionSeries:
    p = np.array(p)
    if n is None:
        return SelectionSeries(name, p)
    se = np.sqrt(p * (1 - p) / n)
    return SelectionSeries(name, p, p - 2 * se, p + 2 * se)


def test_selection_marks_the_target_and_the_true_mtd_in_plain_engine_words(tmp_path):
    fig = plot_selection(
        LABELS,
        "dose (1e6 cells/kg)",
        [
            series("exact", [0.02, 0.09, 0.44, 0.34, 0.11, 0.0]),
            series("simulated", [0.02, 0.1, 0.43, 0.35, 0.1, 0.0], 4000),
        ],
        truth=TRUTH,
    )
    shown = texts(fig)
    assert "true MTD" in shown
    ax = fig.axes[0]
    bold = [t.get_text() for t in ax.get_xticklabels() if t.get_fontweight() in ("bold", 700)]
    assert bold == ["2.5\n33%"]
    assert "target P(DLT) 30%" in ax.get_xlabel()
    assert {"exact", "simulated"} <= set(shown) and "mc" not in shown
    assert "44%" in shown
    no_proportions(fig)
    written(fig, tmp_path, "selection")


def test_comparison_puts_every_design_on_one_dose_axis(tmp_path):
    designs = ["3+3", "boin, N = 24", "i3+3, N = 24"]
    arms = [
        Arm(
            d,
            series(d, [0.0, 0.1, 0.4, 0.4, 0.1, 0.0], 1000),
            np.array([3, 3, 4, 5, 2.0]),
            np.array([0, 0.1, 0.3, 1.5, 1.0]),
        )
        for d in designs
    ]
    fig = plot_comparison(LABELS, "dose", arms, truth=TRUTH)
    top = fig.axes[0]
    assert len(top.containers) == 3 + 3  # a bar group and an error bar per design, on one axis
    assert [c.get_label() for c in top.containers if c.get_label() in designs] == designs
    no_proportions(fig)
    written(fig, tmp_path, "comparison")


def test_bleeding_burden_per_dose_and_in_total_with_intervals(tmp_path):
    mean = np.array([0.03, 0.09, 0.31, 1.2, 0.86])
    burden = EventBurden("simulated", mean, float(mean.sum()), mean * 0.9, mean * 1.1, 2.3, 2.7)
    fig = plot_event_burden(LABELS, "dose", "severe bleeding", [burden], truth=TRUTH)
    shown = texts(fig)
    assert f"{mean.sum():.2f}" in shown
    assert "95% interval of a simulated mean" in shown
    left, right = fig.axes
    assert [b.get_height() for b in left.containers[0]] == pytest.approx(mean.tolist())
    assert right.containers[0][0].get_height() == pytest.approx(mean.sum())
    assert "severe bleeding" in left.get_ylabel()
    written(fig, tmp_path, "bleeding")


def test_sample_size_distribution_marks_the_mean_and_90th_percentile(tmp_path):
    pmf = np.zeros(19)
    pmf[[6, 9, 12, 15, 18]] = [0.1, 0.2, 0.3, 0.25, 0.15]  # P(N <= 15) = 0.85, so the 90th is 18
    fig = plot_sample_size([SampleSize("exact", pmf)], source="exact")
    shown = texts(fig)
    mean = float(np.arange(19) @ pmf)
    assert f"mean {mean:.1f}" in shown and "90th percentile 18" in shown
    assert "exact" in fig.axes[0].get_ylabel()
    no_proportions(fig)
    written(fig, tmp_path, "sample_size")


def test_duration_is_in_months(tmp_path):
    days = np.random.default_rng(1).gamma(9.0, 60.0, size=500)
    fig = plot_duration(days)
    month = 365.25 / 12
    assert "months" in fig.axes[0].get_xlabel()
    assert f"median: {np.median(days) / month:.1f} months" in texts(fig)
    written(fig, tmp_path, "duration")


def test_dose_toxicity_draws_the_target(tmp_path):
    fig = plot_dose_toxicity(LABELS, "dose", TRUTH.p_dlt, target=0.3)
    assert "target P(DLT) 30%" in texts(fig)
    no_proportions(fig)
    written(fig, tmp_path, "dose_toxicity")


def test_dose_toxicity_legend_stays_within_the_figure_with_a_long_label():
    """The calibration's label (150 characters) is wrapped: the legend is no wider than the figure,
    so that the saved image (cropped to its contents) keeps the figure's width."""
    label = (
        "calibration (prior weakly-informative, sentinel dose per_infusion): P(severe bleeding over the "
        "regimen), posterior median and 90% credible interval"
    )
    p = np.asarray(TRUTH.p_dlt)
    band = Band(label, p, p / 2, np.minimum(2 * p, 1))
    fig = plot_dose_toxicity(LABELS, "dose", TRUTH.p_dlt, band=band, target=0.3)
    (legend,) = fig.legends
    extent = legend.get_window_extent(fig.canvas.get_renderer())
    assert 0 <= extent.x0 and extent.x1 <= fig.bbox.x1
    assert " ".join(legend.get_texts()[-1].get_text().split()) == label


def test_timeline_counts_every_patient_at_a_dose_and_numbers_patients_from_1(tmp_path):
    log = []
    t = 0.0
    for i in range(9):
        dose = 0 if i < 6 else 1
        log += [
            LogRecord(t, "arrival", i),
            LogRecord(t + 1, "eligible", i),
            LogRecord(t + 2, "infusion", i, dose, "1 of 1"),
        ]
        kind = "dlt" if i in (1, 4) else "window_complete"
        log.append(LogRecord(t + 20, kind, i, dose))
        t += 5
    log += [
        LogRecord(30.0, "decision", -1, 0, "1/3 DLT"),
        LogRecord(60.0, "decision", -1, 0, "1/3 DLT"),
        LogRecord(90.0, "decision", -1, 1, "0/3 DLT, 1 slot closed"),
        LogRecord(95.0, "end", -1, 1, ""),
    ]
    log.sort(key=lambda r: r.time)
    fig = timeline(log, dose_labels=["a", "b"])
    fig.canvas.draw()
    decisions = fig.axes[0].child_axes[0]  # the top axis that names the decisions
    labels = [t.get_text() for t in decisions.get_xticklabels()]
    assert labels == ["a: 1/3 DLT", "a: 2/6 DLT", "b: 0/3 DLT, 1 slot closed"]
    patients = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert patients[0] == "1" and "5" in patients and "0" not in patients
    written(fig, tmp_path, "timeline")


def test_sweep_figures_show_percentages(tmp_path):
    rows = [
        ("S1: 3+3", np.array([0.4, 0.3, 0.2, 0.1]), 12.0, None),
        ("S1: boin", np.array([0.2, 0.5, 0.3, 0.0]), 24.0, 0.1),
    ]
    fig = selection_figure([("exact", rows)], ["1", "2", "3"])
    shown = texts(fig)
    assert "40%" in shown and "50%" in shown
    no_proportions(fig)
    written(fig, tmp_path, "sweep_selection")
    line = MetricLine(
        "S1: boin", np.array([18, 24, 30]), np.array([0.5, 0.55, 0.6]), np.array([0.01, 0.01, 0.01])
    )
    fig = metric_by_axis([line], xlabel="maximum sample size N", ylabel="correct selection")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["18", "24", "30"]
    no_proportions(fig)
    written(fig, tmp_path, "correct_by_n")
