"""Results as text, JSON, CSV and figures, written into a folder that is replaced all at once.

:func:`staged_folder` is how every file reaches its folder: everything is written into a temporary
sibling folder (``.NAME.tmp-*``) and only once it is complete is that folder renamed into place
(with SIGINT and SIGTERM blocked between the two renames that replace an earlier folder).  An
interrupted run therefore leaves the output folder as it was before, or complete, never half
written.  A folder is only replaced if it is empty or everything in it was written by doseesc: its
manifest (:data:`MARKER`) lists every file and folder in it.  A file the user added (notes, a copy
of a figure) is foreign and the run is refused naming it, so a repeated or mistyped ``--out``
cannot wipe what is not doseesc's.  Operating-system errors become one line
(:class:`doseesc.files.FileError`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from doseesc import __version__, interrupts
from doseesc.conduct import HORIZON_DAYS
from doseesc.files import FileError, atomic_file, check_parent, plain, write_text, writing
from doseesc.formatting import percent
from doseesc.results import OperatingCharacteristics, json_ready

MARKER = ".doseesc"
"""The manifest of a folder written by doseesc: a first line saying so, then the name of every file
and folder doseesc wrote into it, one per line.  Only a folder that holds nothing else is replaced."""
_MANIFEST_HEAD = (
    "Written by doseesc {version}. The next run with this folder as --out replaces it whole; its files:"
)


# ---------------------------------------------------------------------------------------------
# Text


def format_oc(oc: OperatingCharacteristics, labels: Sequence[str] | None = None, model: Any = None) -> str:
    """The operating characteristics as a table: per dose the mean DLT probability, P(selected)
    (± its Monte Carlo standard error), mean patients and DLTs; then no selection and the totals;
    then each kind of DLT tallied (``oc.events``) that the toxicity ``model`` can give (every one
    when the model is not given)."""
    mc = oc.n_trials is not None
    opts = ", ".join(
        f"{k}={('yes' if v else 'no') if isinstance(v, bool) else v}" for k, v in oc.options.items()
    )
    head = f"{oc.design} ({opts}), engine {oc.engine}"
    if mc:
        head += f", {oc.n_trials:,} trials, seed {oc.seed}"
    pm = (lambda v, se: f"{v:.5f} ± {se:.5f}") if mc else (lambda v, se: f"{v:.6f}")
    width = len(pm(0.5, 0.5))
    names = [str(d + 1) for d in range(len(oc.p_select))] if labels is None else list(labels)
    w0 = max(5, *(len(n) for n in names))
    lines = [head, f"{'dose':>{w0}}  {'P(DLT)':>6}  {'P(select)':>{width}}  {'mean n':>7}  {'mean DLT':>8}"]
    se_sel = oc.se_p_select if mc else [None] * len(oc.p_select)
    for d in range(len(oc.p_select)):
        lines.append(
            f"{names[d]:>{w0}}  {oc.p_tox[d]:6.3f}  {pm(oc.p_select[d], se_sel[d]):>{width}}  "
            f"{oc.mean_n[d]:7.3f}  {oc.mean_dlt[d]:8.3f}"
        )
    lines.append(f"{'none':>{w0}}  {'':6}  {pm(oc.p_none, oc.se_p_none):>{width}}")
    lines.append(f"{'total':>{w0}}  {'':6}  {'':>{width}}  {oc.mean_total_n:7.3f}  {oc.mean_total_dlt:8.3f}")
    for name, ev in oc.events.items():
        if not can_give(model, name):
            continue
        se = oc.se_mean_n is not None
        per_dose = ", ".join(
            f"{m:.4f}" + (f" ± {e:.4f}" if se else "")
            for m, e in zip(ev.mean, ev.sd / np.sqrt(oc.n_trials or 1), strict=True)
        )
        total = f"{ev.mean_total:.3f}" + (f" ± {ev.sd_total / np.sqrt(oc.n_trials):.3f}" if se else "")
        lines.append(f"{name} per trial, by dose: {per_dose}; in total: {total}")
    for key, value in _estimates(oc.extras):
        se = oc.extras.get(f"se_{key}")
        if isinstance(value, list):
            per_dose = ", ".join(f"{names[d]}: {q:.3f}" for d, q in enumerate(value) if q > 0)
            lines.append(f"{key.replace('_', ' ')}, by dose: {per_dose}")
        else:
            lines.append(f"{key.replace('_', ' ')}: {pm(value, se) if se is not None else f'{value:.3f}'}")
    if oc.metrics is not None:
        lines.extend(format_metrics(oc.metrics, names))
    return "\n".join(lines)


def can_give(model: Any, event: str) -> bool:
    """Whether toxicity ``model`` gives the kind of DLT ``event`` with a positive probability at some
    dose (its row of the probability table, :class:`~doseesc.models.base.ToxicityModel`): a graded
    table without a grade-4 part never gives grade 4, in any course.  True when ``model`` is None."""
    if model is None or event not in model.events:
        return True
    return bool(np.any(model.probability_table[:, 1 + model.events.index(event), :] > 0))


def _estimates(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """The estimates among a result's figures (their ``se_`` and ``sd_`` companions left out, and
    groups of figures, which their engine's own section writes)."""
    return [
        (k, v) for k, v in figures.items() if not k.startswith(("se_", "sd_")) and not isinstance(v, dict)
    ]


def format_metrics(m: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Lines for the metrics against a target (:mod:`doseesc.metrics`), with standard errors when
    simulated."""

    def pm(key: str, value: float | None = None, se: float | None = None) -> str:
        value = m[key] if value is None else value
        se = m.get(f"se_{key}") if se is None else se
        return f"{value:.3f}" + ("" if se is None else f" ± {se:.3f}")

    band = "" if m["target_band"] is None else f", acceptable {m['target_band'][0]:g}-{m['target_band'][1]:g}"
    mtd = "none (every dose above the band)" if m["true_mtd"] is None else names[m["true_mtd"]]
    se_k = m.get("se_p_total_dlt_at_least") or [None] * len(m["p_total_dlt_at_least"])
    at_least = ", ".join(
        f">={k}: {pm('', q, e)}"
        for k, (q, e) in enumerate(zip(m["p_total_dlt_at_least"], se_k, strict=True), 1)
    )
    return [
        f"target P(DLT) {m['target']:g}{band}; true MTD: dose {mtd}",
        f"P(correct selection) {pm('p_correct')}; P(selecting above the MTD) {pm('p_select_above_mtd')}",
        f"share of patients at the MTD {pm('share_patients_at_mtd')}, "
        f"above {pm('share_patients_above_mtd')}, below {pm('share_patients_below_mtd')}",
        f"P(total DLTs): {at_least}",
    ]


def format_events(r, model: Any = None) -> str:
    """Calendar-time figures of an :class:`~doseesc.engines.events.EventsResult`: duration, patients
    per trial, waits, the trials that ran out of time (``Conduct.max_days``) and, with a disease
    course, the deaths or transplants beside CANONIC's transplant-free mortality over the window
    (which they, not the deaths alone, follow: :class:`~doseesc.conduct.DiseaseCourse`); over
    several courses, the course figures (:func:`format_courses`, with ``model``)."""
    d = r.duration
    counts = ", ".join(f"{name} {c.mean:.2f}" for name, c in r.counts.items())
    lines = [
        f"duration (days): mean {d.mean:.1f} ± {d.se:.1f}, median {d.median:.1f}, "
        f"quartiles {d.q25:.1f}-{d.q75:.1f}, 90th percentile {d.q90:.1f}",
        f"per trial: {counts}",
        f"mean wait from eligibility to first dose: {r.mean_wait_days:.1f} days",
    ]
    if r.conduct.max_days < HORIZON_DAYS or r.p_out_of_time > 0:  # a horizon the user set, or one reached
        lines.append(
            f"ran out of time (undecided at the horizon, {r.conduct.max_days:,g} days; no dose selected): "
            f"{percent(r.p_out_of_time, '.2f')} ± {100 * r.se_p_out_of_time:.2f} of trials"
        )
    disease = r.conduct.disease
    dosed = r.counts["dosed"].mean
    if disease is not None and dosed > 0 and r.courses is not None:
        # Over several courses the exits span the patients' whole time on study, which no single
        # CANONIC window matches.
        exits = (r.counts["deaths"].mean + r.counts["transplants"].mean) / dosed
        lines.append(
            f"deaths or transplants while on study, over the courses: {percent(exits, '.1f')} "
            "of dosed patients"
        )
    elif disease is not None and dosed > 0:
        # The disease course's exits (deaths or transplants) follow CANONIC's transplant-free
        # mortality; deaths alone are only the share not labelled as transplants.
        w = r.conduct.window_days
        deaths, transplants = r.counts["deaths"].mean / dosed, r.counts["transplants"].mean / dosed
        lines.append(
            f"deaths or transplants in the {w:g}-day window before any DLT: "
            f"{percent(deaths + transplants, '.1f')} of dosed patients (deaths {percent(deaths, '.1f')}, "
            f"transplants {percent(transplants, '.1f')}); CANONIC's transplant-free mortality (deaths or "
            f"transplants) over {w:g} days for this mix ({percent(disease.aclf_fraction, '.1f')} with ACLF): "
            f"{percent(disease.window_risk(w), '.1f')}"
        )
    if r.courses is not None:
        lines.append(format_courses(r.courses, model))
    return "\n".join(lines)


def format_courses(r, model: Any = None) -> str:
    """Per-patient course figures of a :class:`~doseesc.engines.courses.CourseResult` (or of the
    events engine's :class:`~doseesc.engines.events_courses.CourseFigures`); grade 4 among the worst
    grades only when ``model``, the toxicity model run, can give it (:func:`can_give`)."""
    grades = list(zip(("0-1", "2", "3", "4"), r.worst_grade, r.se_worst_grade, strict=True))
    if not can_give(model, "grade 4"):
        grades = grades[:3]
    lines = [
        f"patients: {r.mean_patients:.2f} ± {r.se_mean_patients:.2f}; courses per patient: "
        f"{r.mean_courses_per_patient:.2f} ± {r.se_mean_courses_per_patient:.2f}",
        "worst grade over courses: "
        + ", ".join(f"{g}: {percent(w, '.1f')} ± {100 * se:.1f}" for g, w, se in grades),
    ]
    if r.options.low_level:
        lines.append(
            f"patients first treated below dose {r.options.low_level + 1}: "
            f"{r.mean_low_dose:.2f} ± {r.se_mean_low_dose:.2f}"
        )
    return "\n".join(lines)


def format_result(engine: str, result: Any, labels: Sequence[str] | None = None, model: Any = None) -> str:
    """One engine's result as text (table, then course or calendar-time figures); ``model``, the
    toxicity model it ran, leaves out the kinds of DLT it cannot give (:func:`format_oc`)."""
    oc = getattr(result, "oc", result)
    parts = [format_oc(oc, labels, model)]
    if engine == "courses":
        parts.append(format_courses(result, model))
    if engine == "events":
        parts.append(format_events(result, model) if hasattr(result, "oc") else format_tite(result))
    return "\n".join(parts)


def format_tite(oc: Any) -> str:
    """The TITE-CRM's calendar-time figures (:func:`doseesc.engines.tite.simulate_tite`'s extras)."""
    days, se = oc.extras["duration_days"], oc.extras["se_duration_days_mean"]
    spread = "" if se is None else f" ± {se:.1f}"
    return (
        f"duration (days): mean {days['mean']:.1f}{spread}, median {days['median']:.1f}, "
        f"90th percentile {days['p90']:.1f}"
    )


def format_run(res) -> str:
    """The summary of a :class:`~doseesc.scenario.ScenarioResult` printed by ``doseesc run``."""
    s = res.scenario
    tox = res.toxicity
    head = [f"{s.name}" + (f": {s.title}" if s.title else "")]
    doses = ", ".join(tox.labels)
    unit = f" ({tox.unit_text})" if tox.unit_text else ""
    model = s.toxicity.model + (" with posterior" if getattr(s.toxicity, "posterior", False) else "")
    head.append(f"doses{unit}: {doses}; toxicity model: {model}; seed {res.seed}")
    if tox.band is not None:
        band = ", ".join(
            f"{lab}: {percent(m)} [{percent(lo)}, {percent(hi)}]"
            for lab, m, lo, hi in zip(
                tox.labels, tox.band.median, tox.band.lower, tox.band.upper, strict=True
            )
        )
        head.append(f"{tox.band.label}: {band}")
    blocks = ["\n".join(head)]
    for engine, result in res.results.items():
        blocks.append(f"[{engine}]\n" + format_result(engine, result, tox.labels, res.models.get(engine)))
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------------------------------
# Folders


def check_folder(out: Path) -> None:
    """:class:`~doseesc.files.FileError` unless ``out`` can receive results: absent (in a folder
    that can be made), an empty folder, or a folder whose manifest lists everything in it."""
    out = Path(out)
    if str(out) in ("", "."):
        raise FileError(
            "--out: an empty path or the current folder; allowed: a new or doseesc results folder"
        )
    check_parent(out)
    with writing(out):
        if not out.exists() and not out.is_symlink():
            return
        if not out.is_dir():
            raise FileError(
                f"--out {out}: exists and is not a folder; allowed: a new or doseesc results folder"
            )
        foreign = foreign_files(out)
    if foreign and (out / MARKER).is_file() and not manifest(out):
        raise FileError(
            f"--out {out}: was written by a doseesc older than its file lists ({MARKER} names no files), "
            "so doseesc cannot tell its files from yours; allowed: a new or empty folder (remove or "
            "rename this one)"
        )
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileError(
            f"--out {out}: holds files not written by doseesc ({shown}), which a run would delete; "
            "allowed: a new, empty or doseesc results folder (move those files out first)"
        )


def foreign_files(folder: Path) -> list[str]:
    """Names of the entries of ``folder`` its manifest does not list (all of them without one)."""
    names = sorted(p.name for p in Path(folder).iterdir())
    return [n for n in names if n != MARKER and n not in manifest(folder)]


def manifest(folder: Path) -> set[str]:
    """The names ``folder``'s manifest lists (none if it has none or cannot be read)."""
    try:
        lines = (Path(folder) / MARKER).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return set()
    if not lines or not lines[0].startswith("Written by doseesc"):
        return set()
    return {line for line in lines[1:] if line and "/" not in line and line not in (".", "..")}


def write_manifest(folder: Path, names: Sequence[str]) -> None:
    """Write ``folder``'s manifest listing ``names`` (top-level entries: a folder covers its files)."""
    body = "".join(f"{n}\n" for n in sorted(set(names)))
    write_text(Path(folder) / MARKER, _MANIFEST_HEAD.format(version=__version__) + "\n" + body)


def add_to_manifest(paths: Sequence[Path]) -> None:
    """Record files doseesc wrote into an existing doseesc folder afterwards (a report beside the
    results), so that the next run still finds only its own files there."""
    by_folder: dict[Path, set[str]] = {}
    for p in paths:
        p = Path(p).absolute()
        for folder in p.parents:
            if (folder / MARKER).is_file():
                by_folder.setdefault(folder, set()).add(p.relative_to(folder).parts[0])
                break
    for folder, names in by_folder.items():
        write_manifest(folder, sorted(manifest(folder) | names))


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder of ``out``; when the block ends normally, it replaces
    ``out`` as a whole; on any exception (Ctrl-C included) it is removed and ``out`` is untouched."""
    out = Path(out)
    check_folder(out)
    with writing(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name[:64]}.tmp-", dir=out.parent))
    try:
        with writing(out):
            tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the results folder is not
        yield tmp
        write_manifest(tmp, [p.name for p in tmp.iterdir() if p.name != MARKER])
        interrupts.check()  # an interrupt a library swallowed still stops the replacement
        with writing(out):
            _replace(tmp, out)
    except BaseException:
        with _signals_held():  # a second Ctrl-C does not leave the temporary folder half removed
            shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (on the main thread, where the platform allows) until the end
    of the block; one that arrived meanwhile is delivered then."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    mask = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if mask:
        signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        if mask:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _replace(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out`` (moving an earlier ``out`` aside first, then deleting it), with
    SIGINT and SIGTERM held back between the renames, so that ``out`` is always whole."""
    old = None
    try:
        with _signals_held():
            if out.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{out.name[:64]}.old-", dir=out.parent))
                old.rmdir()
                os.replace(out, old)
            os.replace(tmp, out)
            interrupts.note_written()
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON (numpy values as plain numbers, undefined ones as null)."""
    write_text(path, json.dumps(json_ready(plain(data)), indent=1, allow_nan=False) + "\n")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A CSV table; an undefined number is an empty cell."""
    with atomic_file(path, newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([_cell(v) for v in row])


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        return "" if not math.isfinite(v) else repr(float(v))
    return v


def save_figure(fig, folder: Path, stem: str) -> list[str]:
    """Write ``fig`` as PNG and SVG; the file names written."""
    from doseesc.plots import write_figure

    names = [f"{stem}.png", f"{stem}.svg"]
    for name in names:
        write_figure(fig, folder / name)
    return names


# ---------------------------------------------------------------------------------------------
# A scenario's results


def selection_rows(engine: str, oc: OperatingCharacteristics, tox) -> list[list[Any]]:
    """Rows of ``selection.csv`` for one engine (doses, then "none")."""
    from doseesc.plots.oc import wilson

    n = len(oc.p_select)
    p = np.append(oc.p_select, oc.p_none)
    se = None if oc.n_trials is None else np.append(oc.se_p_select, oc.se_p_none)
    lo, hi = (None, None) if oc.n_trials is None else wilson(p, oc.n_trials)
    rows = []
    for d in range(n + 1):
        dose = d < n
        rows.append(
            [
                engine,
                tox.labels[d] if dose else "none",
                (tox.values[d] if tox.values is not None else d + 1) if dose else None,
                tox.infusions[d] if dose else None,
                oc.p_tox[d] if dose else None,
                p[d],
                None if se is None else se[d],
                None if lo is None else lo[d],
                None if hi is None else hi[d],
                oc.mean_n[d] if dose else None,
                None if oc.se_mean_n is None or not dose else oc.se_mean_n[d],
                oc.mean_dlt[d] if dose else None,
                None if oc.se_mean_dlt is None or not dose else oc.se_mean_dlt[d],
            ]
        )
    return rows


SELECTION_HEADER = (
    "engine",
    "dose_label",
    "dose",
    "infusions",
    "p_dlt",
    "p_select",
    "se_p_select",
    "ci95_lower",
    "ci95_upper",
    "mean_patients",
    "se_mean_patients",
    "mean_dlt",
    "se_mean_dlt",
)


def summary_rows(engine: str, result: Any) -> list[list[Any]]:
    """Rows (engine, quantity, estimate, standard error) of ``summary.csv``."""
    oc = getattr(result, "oc", result)
    rows = [
        [engine, "p_none", oc.p_none, oc.se_p_none],
        [engine, "mean_total_patients", oc.mean_total_n, oc.se_mean_total_n],
        [engine, "mean_total_dlt", oc.mean_total_dlt, oc.se_mean_total_dlt],
        [engine, "sd_total_patients", oc.sd_total_n, None],
    ]
    n = oc.n_trials
    for name, ev in oc.events.items():
        rows.append(
            [engine, f"mean_total[{name}]", ev.mean_total, None if n is None else ev.sd_total / n**0.5]
        )
    for key, value in _estimates(oc.extras):
        if not isinstance(value, list):
            rows.append([engine, key, value, oc.extras.get(f"se_{key}")])
    for key, value in _estimates(oc.metrics or {}):
        if key in ("target", "target_band", "true_mtd"):
            continue
        se = (oc.metrics or {}).get(f"se_{key}")
        if isinstance(value, list):
            rows += [
                [engine, f"{key}[{k}]", q, None if se is None else se[k - 1]] for k, q in enumerate(value, 1)
            ]
        else:
            rows.append([engine, key, value, se])
    if engine == "events":
        d = result.duration
        rows += [
            [engine, "duration_days_mean", d.mean, d.se],
            [engine, "duration_days_sd", d.sd, None],
            [engine, "duration_days_q25", d.q25, None],
            [engine, "duration_days_median", d.median, None],
            [engine, "duration_days_q75", d.q75, None],
            [engine, "duration_days_q90", d.q90, None],
            [engine, "mean_wait_days", result.mean_wait_days, None],
        ]
        rows += [[engine, f"mean_{name}", c.mean, c.se] for name, c in result.counts.items()]
    if engine == "courses":
        rows += [
            [engine, "mean_patients", result.mean_patients, result.se_mean_patients],
            [
                engine,
                "mean_courses_per_patient",
                result.mean_courses_per_patient,
                result.se_mean_courses_per_patient,
            ],
        ]
        for g, w, se in zip(("0-1", "2", "3", "4"), result.worst_grade, result.se_worst_grade, strict=True):
            rows.append([engine, f"share_worst_grade_{g}", w, se])
    return rows


def write_run(res, folder: Path) -> list[str]:
    """Write a :class:`~doseesc.scenario.ScenarioResult` into ``folder`` (the staged folder): JSON,
    the scenario file, CSV tables and figures.  Returns the file names."""
    from doseesc.plots.timeline import timeline
    from doseesc.report.figures import study_figures
    from doseesc.report.model import read_report

    s, tox = res.scenario, res.toxicity
    names = ["results.json", "scenario.toml"]
    write_json(folder / "results.json", res.to_dict())
    write_text(folder / "scenario.toml", s.text)

    rows = [row for e in res.results for row in selection_rows(e, res.oc(e), tox)]
    write_csv(folder / "selection.csv", SELECTION_HEADER, rows)
    write_csv(
        folder / "summary.csv",
        ("engine", "quantity", "estimate", "se"),
        [row for e, r in res.results.items() for row in summary_rows(e, r)],
    )
    band = tox.band
    event_names = list(tox.events)
    write_csv(
        folder / "toxicity.csv",
        (
            "dose_label",
            "dose",
            "unit",
            "infusions",
            "p_dlt",
            "p_grade2",
            *(f"p[{e}]" for e in event_names),
            "band_median",
            "band_lower",
            "band_upper",
        ),
        [
            [
                lab,
                None if tox.values is None else tox.values[d],
                tox.unit_text,
                tox.infusions[d],
                tox.p_dlt[d],
                None if tox.p_grade2 is None else tox.p_grade2[d],
                *(tox.events[e][d] for e in event_names),
                *((None,) * 3 if band is None else (band.median[d], band.lower[d], band.upper[d])),
            ]
            for d, lab in enumerate(tox.labels)
        ],
    )
    names += ["selection.csv", "summary.csv", "toxicity.csv"]

    if "events" in res.results:
        ev = res.results["events"]
        write_csv(
            folder / "durations.csv",
            ("trial", "duration_days"),
            [[i + 1, float(v)] for i, v in enumerate(ev.durations)],
        )
        names.append("durations.csv")
    # The figures are the report's (doseesc report), drawn from the files just written.
    report = read_report(folder)
    for fig in study_figures(report, report.studies[0]):
        names += save_figure(fig.figure, folder, fig.stem)
    if "events" in res.results:
        names += save_figure(
            timeline(
                res.results["events"].log,
                dose_labels=list(tox.labels),
                title=f"{s.name}: one simulated trial (the first)"
                + (f"; doses in {tox.unit_text}" if tox.unit_text else ""),
            ),
            folder,
            "timeline",
        )
    return names
