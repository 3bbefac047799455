"""Exact operating characteristics of the model-assisted interval designs, and BOIN's Monte Carlo.

    python benchmarks/bench_designs.py [--quick] [--json FILE]

BOIN, Keyboard, mTPI-2 and i3+3 over 6 doses, p_tox = 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, target 0.3.
Every exact time is from a cold start: ``compile_design``'s cache is cleared first, so the call
compiles the decision table and then walks it (the import of doseesc is not counted; it is
measured on its own in fresh processes).  Figures are the best of a few runs (machines are shared
and noisy); the number of compiled (live) states is given with each.

* exact, 10 cohorts of 3 (N = 30): target < 1 s; 12 cohorts of 3 (N = 36): < 5 s;
* exact, cohorts of 1, N = 6 .. 18: < 10 s;
* the largest N (cohorts of 3, and of 1) whose exact computation finishes within 60 s: N is stepped
  up (by the cohort size) until a step takes over 60 s or the design refuses (more than
  1,000,000 states, a ValueError).  The search is bounded: a design stops stepping once one step
  takes over 20 s, no step is started that is predicted to take over 60 s, and all the searches
  share a budget (180 s; 30 s with ``--quick``), spent on the cheapest next step first.  Where a
  search stops without reaching the limit, the limit is extrapolated from the growth of the last
  two steps (states and seconds per step) and reported as extrapolated;
* Monte Carlo BOIN, cohorts of 3, N = 30: trials/s on one core (10^6 trials, jobs=1): target
  >= 2,000,000 (the other three designs alongside, for comparison).

Issue: "Model-assisted interval designs ... exact operating characteristics".
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time

from _cli import bench_main

from doseesc.designs import compile_design
from doseesc.designs.base import MAX_STATES
from doseesc.designs.boin import BOIN
from doseesc.designs.interval import MTPI2, I3plus3, Keyboard
from doseesc.engines import exact, simulate

P_TOX = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
TARGET_TOX = 0.3
DESIGNS = {"BOIN": BOIN, "Keyboard": Keyboard, "mTPI-2": MTPI2, "i3+3": I3plus3}

TARGET_EXACT_N30_S = 1.0
TARGET_EXACT_N36_S = 5.0
TARGET_EXACT_COHORT1_S = 10.0
TARGET_MC_PER_CORE = 2_000_000
LIMIT_S = 60.0
STOP_STEP_S = 20.0
SEARCH_BUDGET_S = 180.0
QUICK_SEARCH_BUDGET_S = 30.0
COHORT1_NS = range(6, 19)

IMPORT_CODE = (
    "import time;t=time.perf_counter();import doseesc;a=time.perf_counter();"
    "from doseesc.designs.boin import BOIN;from doseesc.designs.interval import Keyboard, MTPI2, I3plus3;"
    "from doseesc.engines import exact, simulate;print(a-t, time.perf_counter()-t)"
)


def make(name: str, cohort_size: int, max_n: int):
    """The design ``name`` over the 6 doses, target 0.3, cohorts of ``cohort_size``, N = ``max_n``."""
    return DESIGNS[name](len(P_TOX), target=TARGET_TOX, cohort_size=cohort_size, max_n=max_n)


def cold_exact(design) -> tuple[float, int]:
    """Seconds of one ``exact`` call that compiles the table itself, and the table's live states."""
    compile_design.cache_clear()
    gc.collect()
    t0 = time.perf_counter()
    exact(design, P_TOX)
    seconds = time.perf_counter() - t0
    states = compile_design(design).n_live  # the table the call compiled (cached)
    compile_design.cache_clear()
    return seconds, states


def exact_figures(design, repeats: int, warm: bool = False) -> dict:
    """Cold-start times (the first and the best of ``repeats``), states and, if asked, the best time
    with the table already compiled."""
    times, states = [], 0
    for _ in range(repeats):
        t, states = cold_exact(design)
        times.append(t)
    out = {"states": states, "first_cold_s": times[0], "cold_s": min(times)}
    if warm:
        exact(design, P_TOX)  # compiles and caches the table
        warm_times = []
        for _ in range(5):
            t0 = time.perf_counter()
            exact(design, P_TOX)
            warm_times.append(time.perf_counter() - t0)
        out["warm_s"] = min(warm_times)
        compile_design.cache_clear()
    return out


def import_seconds(repeats: int = 3) -> dict:
    """Seconds a fresh interpreter takes to import doseesc alone, and with the designs and engines."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", IMPORT_CODE], check=True, capture_output=True, text=True)
        runs.append([float(x) for x in out.stdout.split()])
    return {
        "doseesc_s": min(r[0] for r in runs),
        "designs_and_engines_s": min(r[1] for r in runs),
        "first_designs_and_engines_s": runs[0][1],
    }


def _per_step(points: list[dict], key: str, step: int) -> float:
    """Growth factor of ``key`` per step of N, from the last two measured points."""
    a, b = points[-2], points[-1]
    return (b[key] / a[key]) ** (step / (b["n"] - a["n"]))


def _extrapolate(points: list[dict], step: int) -> dict:
    """Project the last two measured points forward step by step (constant growth per step) until the
    states pass MAX_STATES or the time passes LIMIT_S."""
    grow_s, grow_t = _per_step(points, "states", step), _per_step(points, "seconds", step)
    n, states, seconds = points[-1]["n"], float(points[-1]["states"]), points[-1]["seconds"]
    if grow_s <= 1.0 or grow_t <= 1.0:
        return {"largest_n": None, "why": "no growth to extrapolate from"}
    for _ in range(100):
        n_next, states_next, seconds_next = n + step, states * grow_s, seconds * grow_t
        if states_next > MAX_STATES:
            return {
                "largest_n": n,
                "seconds": seconds,
                "states": states,
                "limit": "refused",
                "limit_n": n_next,
                "limit_states": states_next,
            }
        if seconds_next > LIMIT_S:
            return {
                "largest_n": n,
                "seconds": seconds,
                "states": states,
                "limit": "over 60 s",
                "limit_n": n_next,
                "limit_seconds": seconds_next,
            }
        n, states, seconds = n_next, states_next, seconds_next
    return {"largest_n": None, "why": "no limit within 100 steps"}


def search_largest_n(seeds: dict[tuple[str, int], list[dict]], budget_s: float) -> dict:
    """The largest N within LIMIT_S for each (design, cohort size), stepping N up from the measured
    points in ``seeds`` (at least two each, ascending N); the cheapest predicted step runs first."""
    searches = {
        key: {"design": key[0], "cohort_size": key[1], "points": list(pts), "steps": [], "stop": None}
        for key, pts in seeds.items()
    }
    t_start = time.perf_counter()
    while True:
        pending = [s for s in searches.values() if s["stop"] is None]
        if not pending:
            break
        for s in pending:
            s["predicted_s"] = s["points"][-1]["seconds"] * _per_step(
                s["points"], "seconds", s["cohort_size"]
            )
        s = min(pending, key=lambda s: s["predicted_s"])
        if s["predicted_s"] > LIMIT_S:
            s["stop"] = "next step predicted over 60 s"
            continue
        if time.perf_counter() - t_start + s["predicted_s"] > budget_s:
            for other in pending:
                other["stop"] = "search budget spent"
            break
        n = s["points"][-1]["n"] + s["cohort_size"]
        design = make(s["design"], s["cohort_size"], n)
        t_step = time.perf_counter()
        try:
            seconds, states = cold_exact(design)
        except ValueError as err:
            if f"{MAX_STATES:,} reachable states" not in str(err):
                raise
            compile_design.cache_clear()
            s["steps"].append({"n": n, "seconds": time.perf_counter() - t_step, "outcome": "refused"})
            s["stop"] = "refused"
            s["refused_n"] = n
            continue
        finally:
            gc.collect()
        s["steps"].append({"n": n, "seconds": seconds, "states": states, "outcome": "ok"})
        if seconds > LIMIT_S:
            s["stop"] = "over 60 s"
            s["over_n"] = n
            continue
        s["points"].append({"n": n, "seconds": seconds, "states": states})
        if seconds > STOP_STEP_S:
            s["stop"] = "step over 20 s"
    out = {}
    for (name, cs), s in searches.items():
        last = s["points"][-1]
        r = {
            "design": name,
            "cohort_size": cs,
            "stop": s["stop"],
            "steps": s["steps"],
            "largest_n_measured": last["n"],
            "largest_n_seconds": last["seconds"],
            "largest_n_states": last["states"],
        }
        if s["stop"] == "refused":
            r["refused_n"] = s["refused_n"]
        elif s["stop"] == "over 60 s":
            r["over_60s_n"] = s["over_n"]
        else:
            r["extrapolated"] = _extrapolate(s["points"], cs)
        out[f"{name}, cohorts of {cs}"] = r
    return {"budget_s": budget_s, "seconds": time.perf_counter() - t_start, "results": out}


def mc_rate(name: str, n_trials: int, repeats: int = 3) -> float:
    """Best Monte Carlo trials/s on one core, cohorts of 3, N = 30 (table compiled beforehand)."""
    design = make(name, 3, 30)
    simulate(design, P_TOX, 10_000, seed=0)  # compile the table, warm the caches
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate(design, P_TOX, n_trials, seed=1, jobs=1)
        best = min(best, time.perf_counter() - t0)
    return n_trials / best


def measure(quick: bool = False, search_budget_s: float | None = None) -> dict:
    """Run the measurements; return the figures (the JSON written by ``--json``)."""
    t0 = time.perf_counter()
    load_before = os.getloadavg()[0]
    figures: dict = {
        "scenario": P_TOX,
        "target_tox": TARGET_TOX,
        "targets": {
            "exact_n30_cold_s": TARGET_EXACT_N30_S,
            "exact_n36_cold_s": TARGET_EXACT_N36_S,
            "exact_cohort1_n18_cold_s": TARGET_EXACT_COHORT1_S,
            "limit_s": LIMIT_S,
            "mc_boin_trials_per_s_per_core": TARGET_MC_PER_CORE,
        },
        "import": import_seconds(),
    }
    repeats = 2 if quick else 3
    figures["exact_n30"] = {name: exact_figures(make(name, 3, 30), repeats, warm=True) for name in DESIGNS}
    figures["exact_n36"] = {name: exact_figures(make(name, 3, 36), repeats, warm=True) for name in DESIGNS}
    figures["exact_cohort1"] = {
        name: {str(n): exact_figures(make(name, 1, n), repeats) for n in COHORT1_NS} for name in DESIGNS
    }
    n_mc = 10**5 if quick else 10**6
    figures["mc_trials"] = n_mc
    figures["mc_trials_per_s"] = {name: mc_rate(name, n_mc) for name in DESIGNS}

    seeds = {}
    for name in DESIGNS:
        seeds[(name, 3)] = [
            {
                "n": 30,
                "seconds": figures["exact_n30"][name]["cold_s"],
                "states": figures["exact_n30"][name]["states"],
            },
            {
                "n": 36,
                "seconds": figures["exact_n36"][name]["cold_s"],
                "states": figures["exact_n36"][name]["states"],
            },
        ]
        c1 = figures["exact_cohort1"][name]
        seeds[(name, 1)] = [
            {"n": n, "seconds": c1[str(n)]["cold_s"], "states": c1[str(n)]["states"]} for n in (17, 18)
        ]
    budget = (
        search_budget_s
        if search_budget_s is not None
        else (QUICK_SEARCH_BUDGET_S if quick else SEARCH_BUDGET_S)
    )
    figures["largest_n"] = search_largest_n(seeds, budget)
    figures["seconds"] = time.perf_counter() - t0
    figures["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    return figures


def _m(x: float) -> str:
    """States in millions, for extrapolated counts."""
    return f"{x / 1e6:.2f} M" if x >= 1e5 else f"{x:,.0f}"


def largest_n_text(r: dict) -> str:
    """One cell: the largest N measured within 60 s and what limits it (measured or extrapolated)."""
    head = f"{r['largest_n_measured']} ({r['largest_n_seconds']:.1f} s, {r['largest_n_states']:,} states)"
    if r["stop"] == "refused":
        return f"{head}; refused at N = {r['refused_n']}"
    if r["stop"] == "over 60 s":
        return f"{head}; N = {r['over_60s_n']} took over 60 s"
    e = r["extrapolated"]
    why = {
        "step over 20 s": "stopped (step over 20 s)",
        "search budget spent": "stopped (search budget)",
    }.get(r["stop"], f"stopped ({r['stop']})")
    if e.get("largest_n") is None:
        return f"{head}; {why}, not extrapolated ({e['why']})"
    if e["largest_n"] == r["largest_n_measured"]:
        lead = f"{head}; {why}: N = {e['limit_n']} extrapolated"
    else:
        lead = (
            f"{head}; {why}: extrapolated largest N = {e['largest_n']} (~{e['seconds']:.0f} s, "
            f"~{_m(e['states'])} states), N = {e['limit_n']}"
        )
    if e["limit"] == "refused":
        return f"{lead} to ~{_m(e['limit_states'])} states, so refused"
    return f"{lead} to ~{e['limit_seconds']:.0f} s"


def worst(per_design: dict, key: str = "cold_s") -> tuple[str, dict]:
    """The design with the largest ``key`` and its figures."""
    name = max(per_design, key=lambda k: per_design[k][key])
    return name, per_design[name]


def markdown_sections(f: dict) -> list[str]:
    """The Markdown sections (lines) of the designs' figures, for ``run_all.py`` and ``print_figures``."""
    names = list(DESIGNS)
    imp = f["import"]
    lines = [
        "## Model-assisted interval designs (BOIN, Keyboard, mTPI-2, i3+3)",
        "",
        f"6 doses, p_tox = {', '.join(f'{p:g}' for p in f['scenario'])}, target {f['target_tox']:g}. Exact "
        "times are from a cold start: the decision table is compiled inside the call (`compile_design`'s "
        "cache cleared first); best of a few calls, with the first call and the time with the table already "
        "compiled alongside. Not counted: the import, which takes "
        f"{imp['designs_and_engines_s']:.2f} s in a fresh interpreter (`import doseesc` alone "
        f"{imp['doseesc_s']:.2f} s; the designs and engines bring in scipy). This part took "
        f"{f['seconds']:.0f} s; 1-minute load average {f['load_average_1min']['before']:.2f} before it, "
        f"{f['load_average_1min']['after']:.2f} after.",
        "",
        "| design | states N=30 | exact N=30, cold (s) | first call (s) | cached table (s) | states N=36 "
        "| exact N=36, cold (s) | MC trials/s (1 core) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        a, b = f["exact_n30"][name], f["exact_n36"][name]
        lines.append(
            f"| {name} | {a['states']:,} | {a['cold_s']:.3f} | {a['first_cold_s']:.3f} | {a['warm_s']:.3f} "
            f"| {b['states']:,} | {b['cold_s']:.3f} | {f['mc_trials_per_s'][name]:,.0f} |"
        )
    lines += [
        "",
        f"Monte Carlo: {f['mc_trials']:.0e} trials, cohorts of 3, N = 30, jobs=1, table compiled beforehand.",
        "",
        "### Cohorts of 1 (exact, cold start)",
        "",
        "| N | " + " | ".join(f"{n} states | {n} (s)" for n in names) + " |",
        "| ---: | " + " | ".join("---: | ---:" for _ in names) + " |",
    ]
    for n in COHORT1_NS:
        cells = [
            f"{f['exact_cohort1'][d][str(n)]['states']:,} | {f['exact_cohort1'][d][str(n)]['cold_s']:.3f}"
            for d in names
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    s = f["largest_n"]
    lines += [
        "",
        "### Largest N whose exact computation (cold start) finishes within 60 s",
        "",
        "N stepped up by the cohort size from the last measured N (36, and 18 for cohorts of 1) until a step "
        "takes over 60 s or the design refuses (over 1,000,000 states). Bounded: a search stops once one "
        "step takes over 20 s, and all eight share a budget of "
        f"{s['budget_s']:.0f} s (spent on the cheapest next step first; this search took "
        f"{s['seconds']:.0f} s). "
        "Where a search stops short of the limit, the limit is extrapolated from the growth per step of the "
        "last two measured points (states and seconds) and marked so.",
        "",
        "| design | cohorts of 3: largest N | cohorts of 1: largest N |",
        "| --- | --- | --- |",
    ]
    for name in names:
        r3, r1 = s["results"][f"{name}, cohorts of 3"], s["results"][f"{name}, cohorts of 1"]
        lines.append(f"| {name} | {largest_n_text(r3)} | {largest_n_text(r1)} |")
    return lines


def target_rows(f: dict) -> list[str]:
    """Rows of the summary table (figure / measured / target / met)."""

    def below(value: float, target: float) -> str:
        return "yes" if value < target else "**no**"

    n30, r30 = worst(f["exact_n30"])
    n36, r36 = worst(f["exact_n36"])
    c1 = {d: f["exact_cohort1"][d][str(max(COHORT1_NS))] for d in DESIGNS}
    slowest_c1 = max(max(v["cold_s"] for v in f["exact_cohort1"][d].values()) for d in DESIGNS)
    n18, r18 = worst(c1)
    mc = f["mc_trials_per_s"]["BOIN"]
    rows = [
        f"| exact, cold start, N = 30 (cohorts of 3), slowest of BOIN/Keyboard/mTPI-2/i3+3 "
        f"| {r30['cold_s']:.3f} s ({n30}, {r30['states']:,} states) | < {TARGET_EXACT_N30_S:g} s "
        f"| {below(r30['cold_s'], TARGET_EXACT_N30_S)} |",
        f"| exact, cold start, N = 36 (cohorts of 3), slowest of the four "
        f"| {r36['cold_s']:.3f} s ({n36}, {r36['states']:,} states) | < {TARGET_EXACT_N36_S:g} s "
        f"| {below(r36['cold_s'], TARGET_EXACT_N36_S)} |",
        f"| exact, cold start, cohorts of 1, N = 6 to 18, slowest of the four "
        f"| {slowest_c1:.3f} s ({n18}, N = 18, {r18['states']:,} states) | < {TARGET_EXACT_COHORT1_S:g} s "
        f"| {below(slowest_c1, TARGET_EXACT_COHORT1_S)} |",
        f"| Monte Carlo BOIN trials/s per core (cohorts of 3, N = 30, {f['mc_trials']:.0e} trials) "
        f"| {mc:,.0f} | {TARGET_MC_PER_CORE:,} | {'yes' if mc >= TARGET_MC_PER_CORE else '**no**'} |",
    ]
    for cs in (3, 1):
        cells = []
        for d in DESIGNS:
            r = f["largest_n"]["results"][f"{d}, cohorts of {cs}"]
            if r["stop"] == "refused":
                cells.append(f"{d} {r['largest_n_measured']} (refused at {r['refused_n']})")
            elif r["stop"] == "over 60 s":
                cells.append(f"{d} {r['largest_n_measured']} ({r['over_60s_n']} over 60 s)")
            else:
                e = r["extrapolated"]
                if e.get("largest_n") is None:
                    cells.append(f"{d} >= {r['largest_n_measured']}")
                elif e["largest_n"] == r["largest_n_measured"]:
                    limit = "refused" if e["limit"] == "refused" else "over 60 s"
                    cells.append(f"{d} {e['largest_n']} ({e['limit_n']} {limit}: extrapolated)")
                else:
                    cells.append(
                        f"{d} {e['largest_n']} (extrapolated; measured to {r['largest_n_measured']})"
                    )
        rows.append(f"| largest N exact within 60 s, cohorts of {cs} | {'; '.join(cells)} | (reported) | - |")
    return rows


def print_figures(figures: dict) -> None:
    """Print the figures of :func:`measure` as Markdown tables."""
    print("| figure | measured | target | met |")
    print("| --- | ---: | ---: | :---: |")
    print("\n".join(target_rows(figures)))
    print()
    print("\n".join(markdown_sections(figures)))


def main() -> None:
    bench_main(
        __doc__,
        measure,
        print_figures,
        f"10^5 Monte Carlo trials, 2 runs per figure, a {QUICK_SEARCH_BUDGET_S:.0f} s search budget",
    )


if __name__ == "__main__":
    main()
