"""The model-based designs: CRM and BLRM-EWOC, exact and Monte Carlo.

    python benchmarks/bench_model_based.py [--quick] [--json FILE]

Six doses, p_tox = 0.05, 0.1, 0.2, 0.3, 0.5, 0.7.  The CRM: dfcrm's defaults (empiric model,
N(0, 1.34) prior, restrictions on), target 0.3, skeleton 0.05, 0.12, 0.25, 0.4, 0.55, 0.7.  The
BLRM-EWOC: doses 1, 2, 4, 8, 16, 32 (reference 4), Neuenschwander et al.'s intervals and EWOC 0.25,
prior log(alpha) ~ N(logit 0.25, 2^2), log(beta) ~ N(0, 1).  Times are from a cold start (the
decision table is compiled inside the call: ``compile_design``'s cache cleared and a new design
object, so its quadrature tables are rebuilt too); best of a few runs.

* exact, 10 cohorts of 3 (N = 30): CRM < 2 s, BLRM < 20 s;
* Monte Carlo, one core, cold (tabulation included): N = 30 in cohorts of 3, 10^5 trials (the whole
  table is compiled, then trials advance by look-ups) and N = 60 in cohorts of 1, 2,000 trials (more
  states than the Monte Carlo engine tabulates in advance: decisions tabulated for the states the
  trials reach, :mod:`doseesc.engines.reached`; the rate is per trial and does not improve with more
  trials, since most states a trial reaches are new): CRM >= 200,000 trials/s, BLRM >= 20,000
  trials/s.

Issue: "Model-based designs: CRM and BLRM with overdose control".
"""

from __future__ import annotations

import os
import time

from _cli import bench_main

from doseesc.designs import compile_design
from doseesc.designs.base import TooManyStates
from doseesc.designs.blrm import BLRM
from doseesc.designs.crm import CRM
from doseesc.engines import exact, simulate
from doseesc.engines.reached import _table, simulate_reached

P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
SKELETON = (0.05, 0.12, 0.25, 0.4, 0.55, 0.7)
DOSES = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
TARGET_EXACT_S = {"CRM": 2.0, "BLRM": 20.0}
TARGET_MC_PER_CORE = {"CRM": 200_000, "BLRM": 20_000}


def make(name: str, cohort: int, n: int):
    if name == "CRM":
        return CRM(6, target=0.3, skeleton=SKELETON, cohort_size=cohort, max_n=n)
    return BLRM(6, doses=DOSES, cohort_size=cohort, max_n=n)


def _cold() -> None:
    compile_design.cache_clear()
    _table.cache_clear()


def time_exact(name: str, repeats: int) -> dict:
    best, states = float("inf"), 0
    for _ in range(repeats):
        _cold()
        d = make(name, 3, 30)
        t = time.perf_counter()
        exact(d, P_TOX)
        best = min(best, time.perf_counter() - t)
        states = compile_design(d).n_live
    return {"cold_s": best, "states": states}


def time_mc(name: str, cohort: int, n: int, trials: int) -> dict:
    _cold()
    d = make(name, cohort, n)
    t = time.perf_counter()
    try:
        compile_design(d, d.mc_max_states)  # what the Monte Carlo engine does
        how = "compiled table"
        simulate(d, P_TOX, trials, seed=1)
    except TooManyStates:
        how = "states reached"
        attempt = time.perf_counter() - t
        simulate_reached(d, P_TOX, trials, seed=1)
    elapsed = time.perf_counter() - t
    out = {"trials": trials, "seconds": elapsed, "trials_per_s": trials / elapsed, "how": how}
    if how == "states reached":
        out["states_reached"] = _table(d).n_states
        # the engine first tries to tabulate every state and gives up beyond mc_max_states
        out["attempt_s"] = attempt
        out["trials_per_s_after_attempt"] = trials / (elapsed - attempt)
    return out


def measure(quick: bool = False) -> dict:
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    figures: dict = {"scenario": P_TOX, "exact_n30": {}, "mc": {}}
    for name in ("CRM", "BLRM"):
        figures["exact_n30"][name] = time_exact(name, 1 if quick else 3)
        figures["mc"][name] = {
            "n30_cohorts_of_3": time_mc(name, 3, 30, 20_000 if quick else 100_000),
            "n60_cohorts_of_1": time_mc(name, 1, 60, 300 if quick else 2_000),
        }
    figures["seconds"] = time.perf_counter() - t0
    figures["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return figures


def target_rows(f: dict) -> list[str]:
    """Rows of the summary table (figure / measured / target / met)."""
    rows = []
    for name in ("CRM", "BLRM"):
        e = f["exact_n30"][name]
        ok = "yes" if e["cold_s"] < TARGET_EXACT_S[name] else "**no**"
        rows.append(
            f"| {name} exact, cold start, N = 30 (cohorts of 3) | {e['cold_s']:.2f} s "
            f"({e['states']:,} states) | < {TARGET_EXACT_S[name]:g} s | {ok} |"
        )
        for key, label in (
            ("n30_cohorts_of_3", "N = 30, cohorts of 3"),
            ("n60_cohorts_of_1", "N = 60, cohorts of 1"),
        ):
            m = f["mc"][name][key]
            ok = "yes" if m["trials_per_s"] >= TARGET_MC_PER_CORE[name] else "**no**"
            rows.append(
                f"| {name} Monte Carlo, 1 core, cold, {label} ({m['how']}) "
                f"| {m['trials_per_s']:,.0f} trials/s | >= {TARGET_MC_PER_CORE[name]:,} trials/s | {ok} |"
            )
    return rows


def markdown_sections(f: dict) -> list[str]:
    lines = [
        "## Model-based designs (CRM, BLRM-EWOC)",
        "",
        f"6 doses, p_tox = {', '.join(f'{p:g}' for p in f['scenario'])}. Cold starts (table and quadrature "
        f"built inside the call). This part took {f['seconds']:.0f} s; 1-minute load average "
        f"{f['load_average_1min']['before']:.2f} before, {f['load_average_1min']['after']:.2f} after.",
        "",
        "| figure | measured | target | met |",
        "| --- | ---: | ---: | --- |",
        *target_rows(f),
    ]
    for name in ("CRM", "BLRM"):
        m = f["mc"][name]["n60_cohorts_of_1"]
        if "states_reached" in m:
            lines.append(
                f"\n{name}, N = 60 in cohorts of 1: {m['trials']:,} trials reached {m['states_reached']:,} "
                f"distinct states, each needing its own posterior; {m['attempt_s']:.1f} s of the "
                f"{m['seconds']:.1f} s went to the engine's attempt to tabulate every state first (given up "
                f"beyond {make(name, 1, 60).mc_max_states:,}), the trials after it ran at "
                f"{m['trials_per_s_after_attempt']:,.0f} trials/s."
            )
    return lines


def print_figures(f: dict) -> None:
    print("\n".join(markdown_sections(f)))


if __name__ == "__main__":
    bench_main(__doc__, measure, print_figures, "fewer trials and repeats (for trying the script)")
