"""The decision rules a protocol states: an interval design's boundary table, and the dose-transition
pathways of any compiled design.

Both are read from what the engines use, so they cannot disagree with the simulations: the boundary
table from the design's own ``boundaries`` (interval designs: escalate if DLTs <=, de-escalate if
>=, eliminate if >=, for n = 1..N patients at a dose), the pathways from the compiled
:class:`~doseesc.designs.base.DecisionTable` (each sequence of cohort outcomes from the start, the
dose each cohort received and, under a given dose-toxicity curve, the sequence's probability).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from doseesc.designs.base import Design, compile_design

FORMATS = ("text", "markdown", "csv", "json")
MAX_PATHWAYS = 100_000
"""More pathways than a protocol (or a terminal) can show: refused, asking for fewer cohorts."""


@dataclass(frozen=True)
class Step:
    """One cohort of a pathway: its dose (0-based), size and DLTs, and its grade-2 toxicities where
    the design's next step depends on them (else -1)."""

    dose: int
    size: int
    dlt: int
    g2: int = -1


@dataclass(frozen=True)
class Pathway:
    """The first cohorts of a trial; ``selected`` is the dose the trial ended with (-1: none) or
    None while it goes on; ``probability`` is None without a dose-toxicity curve."""

    steps: tuple[Step, ...]
    selected: int | None
    probability: float | None


def pathways(
    design: Design,
    k_cohorts: int,
    p_tox: np.ndarray | None = None,
    p_grade2: np.ndarray | None = None,
) -> list[Pathway]:
    """Every pathway of the first ``k_cohorts`` cohorts (fewer when the trial ends first), in the
    order of the outcomes (fewest DLTs first), with probabilities under ``p_tox`` when given."""
    if k_cohorts < 1:
        raise ValueError(f"pathways must be at least 1 cohort, got {k_cohorts}")
    table = compile_design(design)
    probs = None
    if p_tox is not None:
        from doseesc.engines.exact import outcome_probabilities
        from doseesc.models.table import validate_probabilities

        p = validate_probabilities(p_tox)
        if p.shape[0] != design.n_doses:
            raise ValueError(f"p_tox has {p.shape[0]} values but the design has {design.n_doses} doses")
        if p_grade2 is None and "g2" in design.outcomes:
            raise ValueError(f"p_grade2 is required: the {design.name} design counts grade-2 toxicities")
        g = np.zeros_like(p) if p_grade2 is None else validate_probabilities(p_grade2, "p_grade2")
        probs = outcome_probabilities(table, p, g)
    dlt, g2 = table.decode("dlt"), table.decode("g2")
    out: list[Pathway] = []

    def outcomes(state: int) -> list[tuple[Step, int, float | None]]:
        """The state's cohort outcomes as (step, next id, probability); grade-2 counts that lead
        to the same next state (the rule ignores them there) are merged, shown as g2 = -1."""
        dose, size = int(table.dose[state]), int(table.size[state])
        found = []
        for k in range(size + 1):
            codes = [c for c in np.flatnonzero((table.next[state] >= 0) & (dlt == k))]
            nexts = {int(table.next[state, c]) for c in codes}
            groups = [codes] if len(nexts) == 1 else [[c] for c in codes]
            for group in groups:
                q = None if probs is None else float(probs[state, group].sum())
                shown = int(g2[group[0]]) if len(nexts) > 1 else -1
                found.append((Step(dose, size, k, shown), int(table.next[state, group[0]]), q))
        return found

    def walk(state: int, steps: tuple[Step, ...], prob: float | None) -> None:
        for step, after, q in outcomes(state):
            q = None if prob is None else prob * q
            if q == 0.0:
                continue
            path = (*steps, step)
            if len(out) >= MAX_PATHWAYS:
                raise ValueError(
                    f"the first {k_cohorts} cohorts have more than {MAX_PATHWAYS:,} pathways; ask for fewer"
                )
            if after >= table.n_live:
                out.append(Pathway(path, int(table.selected(after)), q))
            elif len(path) == k_cohorts:
                out.append(Pathway(path, None, q))
            else:
                walk(after, path, q)

    walk(0, (), None if probs is None else 1.0)
    return out


def pathway_rows(paths: list[Pathway], labels: list[str]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one row per pathway, its cohorts as ``dose: DLTs/size``."""
    header = ["pathway", "cohorts", "selected", "probability"]
    rows = []
    for i, path in enumerate(paths, 1):
        cohorts = " -> ".join(
            f"{labels[s.dose]}: {s.dlt}/{s.size}" + (f" (grade 2: {s.g2})" if s.g2 >= 0 else "")
            for s in path.steps
        )
        selected = (
            "(continues)" if path.selected is None else "none" if path.selected < 0 else labels[path.selected]
        )
        rows.append([i, cohorts, selected, path.probability])
    return header, rows


def decision_rows(design: Design, n_max: int | None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of an interval design's boundary table (its ``boundaries``, BOIN's layout:
    for n patients at a dose, escalate if DLTs <=, de-escalate if >=, eliminate if >=; "-" where
    no count does)."""
    method = getattr(design, "boundaries", None)
    if method is None:
        raise ValueError(
            f"the {design.name} design has no boundary table (its decisions depend on more than the counts "
            "at one dose); use --pathways K for its dose-transition pathways"
        )
    if n_max is None:
        raise ValueError(f"the boundary table runs to N patients: give the {design.name} design a max_n")
    table = method(n_max)
    rows = []
    for n, e, d, x in zip(
        table["n"], table["escalate"], table["deescalate"], table["eliminate"], strict=True
    ):
        rows.append(
            [int(n), int(e) if e >= 0 else None, int(d) if d <= n else None, int(x) if x <= n else None]
        )
    return ["n", "escalate if DLTs <=", "de-escalate if DLTs >=", "eliminate if DLTs >="], rows


def render(header: list[str], rows: list[list[Any]], fmt: str) -> str:
    """The table as plain text, Markdown, CSV or JSON (a list of objects)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "json":
        return json.dumps([dict(zip(header, row, strict=True)) for row in rows], indent=1)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v) for v in row] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max(len(h), *(len(row[j]) for row in cells)) if cells else len(h) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
