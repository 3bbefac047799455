"""Sweeps: one scenario (or a folder of scenarios) run over every combination of some settings.

A sweep file (TOML, see ``docs/scenarios.md``) names a base scenario and axes, each a key path into
the scenario (``"toxicity.p_dlt"``, ``"design.name"``, ``"run.trials"`` ...) with the values it
takes.  Every combination of the axes (their cartesian product, first axis outermost) is checked by
the scenario parser before anything runs.

The work unit is a (combination, chunk) pair.  Combination ``i`` gets child ``i`` of
``SeedSequence(sweep seed)`` and its chunk ``j`` child ``j`` of that; a chunk runs the scenario's
simulation engines for its share of trials (``chunk_trials`` per engine and chunk), and chunk 0 also
runs the exact engine.  Chunks are merged in chunk order with pooled formulas, so a sweep's table is
bit-identical whichever backend or number of workers runs it.  The chunk size is part of what the
sweep seed means: another chunk size gives other (equally valid) numbers.

Each finished unit is saved at once (``DIR/units/<combination>-<chunk>.json``, temporary file and
rename), so an interrupted sweep resumes where it stopped, and the table is rebuilt from the units.
Unit and state files are strict JSON (:func:`json_text`): an undefined figure, such as the SD of a
chunk of one trial, is null.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from doseesc.build import SIMULATION_ENGINES
from doseesc.files import FileError, check_parent, plain, write_text, writing
from doseesc.interrupts import die_with_parent
from doseesc.results import json_ready
from doseesc.scenario import Scenario, ScenarioError, parse_data

DEFAULT_CHUNK_TRIALS = 20_000
MAX_COMBINATIONS = 10_000
"""Combinations a sweep may have: each is validated and held in memory before the first unit runs
(docs/limits.md)."""
SWEEP_KEYS = ("name", "description", "base", "scenarios", "seed", "chunk_trials", "exact_replaces_mc")
STATE = "sweep-state.json"
UNITS = "units"
_AXIS = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")
_NAME = re.compile(r"^[A-Za-z0-9_.+-]{1,100}$")
_STATE_TMP = re.compile(r"^\." + re.escape(STATE) + r"\.[0-9a-f]{8}\.tmp$")


class SweepError(ValueError):
    """A sweep file (or one of its combinations) that cannot be used: one line."""


# ---------------------------------------------------------------------------------------------
# The sweep file


@dataclass(frozen=True, eq=False)
class Combination:
    """One point of the grid: its index, the axis values that make it, and its scenario."""

    index: int
    params: tuple[tuple[str, Any], ...]
    label: str
    """Short text for figures (list values are shown by their position on the axis)."""
    scenario: Scenario

    def describe(self) -> str:
        return ", ".join(f"{k}={_json(v)}" for k, v in self.params)


@dataclass(frozen=True, eq=False)
class Sweep:
    name: str
    file: str
    digest: str
    """SHA-256 of the sweep file's text and of every scenario file it reads."""
    seed: int | None
    chunk_trials: int
    axes: tuple[str, ...]
    combinations: tuple[Combination, ...]
    description: str = ""

    def with_chunk_trials(self, n: int | None) -> Sweep:
        if n is None:
            return self
        if n < 1:
            raise SweepError(f"--chunk-trials {n}: allowed: a whole number >= 1")
        return replace(self, chunk_trials=n)


def _json(v: Any) -> str:
    return json.dumps(v, separators=(", ", ": "))


def json_text(data: Any, **options: Any) -> str:
    """``data`` as strict JSON: an undefined number (NaN, an infinity) is null, which reads back as
    NaN where the merge builds float arrays; one left unconverted raises instead of writing
    ``NaN``, which is no JSON."""
    return json.dumps(json_ready(plain(data)), allow_nan=False, **options)


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file and validate every combination (:class:`SweepError` on any problem)."""
    path = Path(path)
    file = str(path)

    def fail(message: str) -> SweepError:
        return SweepError(f"{file}: {message}")

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"cannot read the sweep file: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise fail("TOML nests too deeply; allowed: tables and lists nested a few levels") from None
    unknown = sorted(set(data) - {"sweep", "axes", "scenarios"})
    if unknown:
        raise fail(f"{unknown[0]}: not a section of a sweep file; allowed: [sweep], [[scenarios]], [axes]")
    meta = data.get("sweep")
    if not isinstance(meta, dict):
        raise fail("sweep: missing; allowed: a table [sweep] with base = SCENARIO or scenarios = FOLDER")
    for key in meta:
        if key not in SWEEP_KEYS:
            raise fail(f"sweep.{key}: not a key of [sweep]; allowed: {', '.join(SWEEP_KEYS)}")
    name = meta.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(f"sweep.name: {name!r}; allowed: 1 to 100 letters, digits and _ . + -")
    description = meta.get("description", "")
    if not isinstance(description, str):
        raise fail("sweep.description: allowed: a string")
    seed = meta.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise fail(f"sweep.seed: {seed!r}; allowed: a whole number >= 0")
    chunk = meta.get("chunk_trials", DEFAULT_CHUNK_TRIALS)
    if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
        raise fail(f"sweep.chunk_trials: {chunk!r}; allowed: a whole number >= 1")
    exact_replaces_mc = meta.get("exact_replaces_mc", True)
    if not isinstance(exact_replaces_mc, bool):
        raise fail(f"sweep.exact_replaces_mc: {exact_replaces_mc!r}; allowed: true or false")

    named = _named_scenarios(data.get("scenarios"), meta, fail)
    files = _scenario_files(meta, path.parent, fail, named)
    axes_table = data.get("axes", {})
    if not isinstance(axes_table, dict):
        raise fail('axes: allowed: a table [axes] of "key.path" = [values]')
    axes: list[tuple[str, list]] = []
    for key, values in axes_table.items():
        if isinstance(values, dict):  # an unquoted dotted key: toxicity.p_dlt = [...]
            raise fail(f'axes.{key}: allowed: a quoted key path, e.g. "{key}.KEY" = [values]')
        if not _AXIS.match(key):
            raise fail(f'axes."{key}": not a key path; allowed: SECTION.KEY such as "design.name"')
        if key == "run.seed" or key.startswith("scenario."):
            raise fail(f'axes."{key}": cannot vary; the sweep seed ([sweep] seed) seeds every combination')
        if not isinstance(values, list) or not values:
            raise fail(f'axes."{key}": allowed: a non-empty list of the values the key takes')
        odd = _odd_value(values)
        if odd is not None:
            kind = {"date": "date", "datetime": "date-time", "time": "time"}.get(type(odd).__name__, "table")
            raise fail(
                f'axes."{key}": {odd} is a TOML {kind}; allowed: strings, numbers, true/false and lists '
                "of them"
            )
        axes.append((key, values))
    size = len(named or files or [None]) * math.prod(len(v) for _, v in axes)
    if size > MAX_COMBINATIONS:
        raise fail(
            f"axes: {size:,} combinations; allowed: at most {MAX_COMBINATIONS:,} (each is validated and "
            "kept in memory before anything runs): split the sweep"
        )

    hasher = hashlib.sha256(text.encode())
    texts: dict[Path, tuple[str, dict]] = {}
    for f in dict.fromkeys(files):
        try:
            base_text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise fail(f"{f}: cannot read the scenario file: {reason}") from None
        hasher.update(b"\0" + f.name.encode() + b"\0" + base_text.encode())
        try:
            texts[f] = (base_text, tomllib.loads(base_text))
        except RecursionError:
            raise fail(f"{f}: TOML nests too deeply; allowed: tables and lists nested a few levels") from None
        except tomllib.TOMLDecodeError as exc:
            raise fail(f"{f}: TOML syntax error: {exc}") from None
    # Each source: the scenario's name on the "scenario" axis (None: its own), file and overrides.
    if named:
        sources = [(n.name, path.parent / n.base if n.base else files[0], n.overrides) for n in named]
    else:
        many = len(files) > 1 or "scenarios" in meta
        sources = [(f.stem if many else None, f, ()) for f in files]

    combos: list[Combination] = []
    seen: set[str] = set()
    grid = list(itertools.product(range(len(sources)), *(range(len(v)) for _, v in axes)))
    for i, (b, *picks) in enumerate(grid):
        scenario_name, f, overrides = sources[b]
        base_text, base_data = texts[f]
        scenario_data = copy.deepcopy(base_data)
        params: list[tuple[str, Any]] = []
        label = [scenario_name] if scenario_name is not None and len(sources) > 1 else []
        where = f"combination {i + 1} of {len(grid)}"
        for key, value in overrides:
            _set_path(scenario_data, key, value, lambda m, w=where: fail(f"{w}: {m}"))
        chosen = {key: values[k] for (key, values), k in zip(axes, picks, strict=True)}
        design_name = chosen.get("design.name", (scenario_data.get("design") or {}).get("name"))
        base_design = scenario_data.get("design")
        if (
            "design.name" in chosen
            and isinstance(base_design, dict)
            and base_design.get("name") != design_name
        ):
            # Settings of the base's design that another design does not have belong to the base's.
            for key in [k for k in base_design if not _applies(f"design.{k}", design_name)]:
                del base_design[key]
        for (key, values), k in zip(axes, picks, strict=True):
            value = values[k]
            if not _applies(key, design_name):  # e.g. cohort_size of the 3+3: not an axis of it
                params.append((key, None))
                continue
            params.append((key, value))
            short = key.rsplit(".", 1)[1]
            if len(values) > 1:  # an axis of one value tells no combination apart
                label.append(f"{short}={_fmt(value)}" if _scalar(value) else f"{short}#{k + 1}")
            where = f"combination {i + 1} of {len(grid)} ({_describe(params)})"
            _set_path(scenario_data, key, value, lambda m, w=where: fail(f"{w}: {m}"))
        identity = _json([b, params])
        if identity in seen:  # the same design, differing only on an axis it does not have
            continue
        seen.add(identity)
        where = f"combination {i + 1} of {len(grid)} ({_describe(params)})"
        try:
            s = parse_data(scenario_data, str(f), default_name=f.stem, text=base_text)
        except ScenarioError as exc:
            raise fail(f"{where}: {exc.message}") from None
        if exact_replaces_mc:
            s = _exact_for_mc(s)
        params.insert(0, ("scenario", scenario_name or s.name))
        combos.append(Combination(len(combos), tuple(params), ", ".join(label) or s.name, s))
    return Sweep(
        name, file, hasher.hexdigest(), seed, chunk, tuple(k for k, _ in axes), tuple(combos), description
    )


def _applies(key: str, design_name: Any) -> bool:
    """Whether axis ``key`` sets something of design ``design_name``: every axis does, except a
    parameter of other designs (``design.cohort_size`` for the 3+3) that this design does not have."""
    section, _, param = key.partition(".")
    if section != "design" or param in ("name", "target", "target_band") or not isinstance(design_name, str):
        return True
    from doseesc import registry

    if param not in registry.design_params():
        return True  # no design has it: the scenario reader names the unknown key
    try:
        entry = registry.design(design_name)
    except registry.ParamError:
        return True  # the scenario reader names the unknown design
    return entry.param(param) is not None


def exact_applies(s: Scenario) -> bool:
    """Whether the exact engine gives what the Monte Carlo engine of ``s`` would estimate: patients
    independent (no shared posterior draw) and no named kind of DLT (which only simulation counts)."""
    try:
        _, model = s.build("exact")
    except ValueError:
        return False
    return not getattr(model, "events", ())


def _exact_for_mc(s: Scenario) -> Scenario:
    """``s`` with its Monte Carlo engine replaced by the exact one where that applies (the exact
    engine's numbers have no simulation error; estimating them again is wasted work)."""
    if "mc" not in s.run.engines or not exact_applies(s):
        return s
    engines = tuple(dict.fromkeys("exact" if e == "mc" else e for e in s.run.engines))
    return replace(s, run=replace(s.run, engines=engines))


@dataclass(frozen=True)
class NamedScenario:
    """A ``[[scenarios]]`` table: its name (the value on the "scenario" axis), the scenario file it
    starts from (None: ``[sweep] base``) and the key paths it sets."""

    name: str
    base: str | None
    overrides: tuple[tuple[str, Any], ...]


def _named_scenarios(raw: Any, meta: dict, fail: Callable[[str], SweepError]) -> list[NamedScenario]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        raise fail('scenarios: allowed: [[scenarios]] tables, each with name = "..." and key paths to set')
    if "scenarios" in meta:
        raise fail("sweep.scenarios: allowed: a folder of scenario files, or [[scenarios]] tables, not both")
    out: list[NamedScenario] = []
    for k, entry in enumerate(raw, 1):
        where = f"scenarios[{k}]"
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f'{where}.name: missing; allowed: a name such as "S2: MTD at level 3"')
        if name in (n.name for n in out):
            raise fail(f"{where}.name: {name!r} is used twice; allowed: a different name per scenario")
        base = entry.get("base")
        if base is not None and not isinstance(base, str):
            raise fail(f"{where}.base: allowed: a path to a scenario file, relative to the sweep file")
        if base is None and "base" not in meta:
            raise fail(f"{where}.base: missing; allowed: base = SCENARIO here or in [sweep]")
        overrides: list[tuple[str, Any]] = []
        _flatten({k: v for k, v in entry.items() if k not in ("name", "base")}, "", overrides)
        for key, _ in overrides:
            if not _AXIS.match(key):
                raise fail(f'{where}."{key}": not a key path; allowed: SECTION.KEY such as "toxicity.p_dlt"')
            if key == "run.seed" or key.startswith("scenario."):
                raise fail(
                    f'{where}."{key}": cannot be set; the sweep seed ([sweep] seed) seeds every scenario'
                )
        out.append(NamedScenario(name, base, tuple(overrides)))
    return out


def _odd_value(v: Any) -> Any:
    """The first value in ``v`` (a list, searched depth first) that a sweep axis may not take: what
    JSON cannot record (TOML dates and times, inline tables); None if there is none."""
    if isinstance(v, list):
        return next((odd for x in v if (odd := _odd_value(x)) is not None), None)
    return None if isinstance(v, str | int | float | bool) else v


def _flatten(table: dict, prefix: str, out: list[tuple[str, Any]]) -> None:
    """Key paths of a TOML table (``toxicity.p_dlt = [...]`` and ``"toxicity.p_dlt" = [...]`` alike)."""
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, f"{path}.", out)
        else:
            out.append((path, value))


def _scalar(v: Any) -> bool:
    return isinstance(v, str | int | float | bool)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    return f"{v:g}" if isinstance(v, float) else str(v)


def _describe(params: Sequence[tuple[str, Any]]) -> str:
    text = ", ".join(f"{k}={_json(v)}" for k, v in params)
    return text if len(text) <= 160 else text[:157] + "..."


def _scenario_files(
    meta: dict, folder: Path, fail: Callable[[str], SweepError], named: Sequence[NamedScenario] = ()
) -> list[Path]:
    if named:
        return [folder / meta["base"]] * ("base" in meta) + [folder / n.base for n in named if n.base]
    if ("base" in meta) == ("scenarios" in meta):
        raise fail("sweep: give one of base = SCENARIO (a file) or scenarios = FOLDER (or a list of files)")
    if "base" in meta:
        if not isinstance(meta["base"], str):
            raise fail("sweep.base: allowed: a path to a scenario file, relative to the sweep file")
        return [folder / meta["base"]]
    raw = meta["scenarios"]
    if isinstance(raw, str):
        d = folder / raw
        if not d.is_dir():
            raise fail(f"sweep.scenarios: {raw} is not a folder; allowed: a folder of *.toml or a list")
        files = sorted(d.glob("*.toml"))
        if not files:
            raise fail(f"sweep.scenarios: {raw} holds no *.toml scenario file")
        return files
    if isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        return [folder / x for x in raw]
    raise fail("sweep.scenarios: allowed: a folder, or a non-empty list of scenario files")


def _set_path(data: dict, key: str, value: Any, fail: Callable[[str], SweepError]) -> None:
    *tables, last = key.split(".")
    node = data
    for depth, part in enumerate(tables):
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise fail(f"{'.'.join(tables[: depth + 1])} is not a table, so {key} cannot be set")
        node = nxt
    node[last] = value


# ---------------------------------------------------------------------------------------------
# Work units


@dataclass(frozen=True, eq=False)
class Unit:
    """Chunk ``chunk`` of combination ``combo``: trials per simulation engine, and the exact engine
    (chunk 0 only)."""

    combo: int
    chunk: int
    seed: int
    trials: tuple[tuple[str, int], ...]
    exact: bool
    scenario: Scenario

    @property
    def key(self) -> str:
        return f"{self.combo:05d}-{self.chunk:04d}"

    @property
    def n_trials(self) -> int:
        return sum(n for _, n in self.trials)


def unit_seed(sweep_seed: int, combo: int, chunk: int) -> int:
    """The integer seed of a unit: 128 bits of child ``chunk`` of child ``combo`` of
    ``SeedSequence(sweep_seed)``."""
    words = np.random.SeedSequence(sweep_seed, spawn_key=(combo, chunk)).generate_state(4, np.uint32)
    return sum(int(w) << (32 * k) for k, w in enumerate(words))


def units_of(sweep: Sweep, seed: int) -> list[Unit]:
    out = []
    for c in sweep.combinations:
        s = c.scenario
        trials = {e: s.run.trials_for(e) for e in s.run.engines if e in SIMULATION_ENGINES}
        n_chunks = max([math.ceil(n / sweep.chunk_trials) for n in trials.values()] or [1])
        for j in range(n_chunks):
            share = tuple(
                (e, min(sweep.chunk_trials, n - j * sweep.chunk_trials))
                for e, n in trials.items()
                if n > j * sweep.chunk_trials
            )
            out.append(
                Unit(c.index, j, unit_seed(seed, c.index, j), share, j == 0 and "exact" in s.run.engines, s)
            )
    return out


_OC_ARRAYS = ("p_tox", "p_select", "mean_n", "sd_n", "mean_dlt", "sd_dlt")
_OC_SCALARS = ("p_none", "mean_total_n", "sd_total_n", "mean_total_dlt", "sd_total_dlt")


def run_unit(unit: Unit) -> dict[str, Any]:
    """Run one unit (in a worker): per engine, its operating characteristics as plain data (and each
    trial's duration for the events engine)."""
    from doseesc import build

    s = unit.scenario
    trials = dict(unit.trials)
    models: dict[str, Any] = {}
    engines: dict[str, Any] = {}
    for engine in s.run.engines:
        skip = not unit.exact if engine == "exact" else engine not in trials
        if skip:
            continue
        design, model = s.build(engine, models)
        result = build.run_engine(
            engine,
            design,
            model,
            trials=trials.get(engine, 1),
            seed=unit.seed,
            jobs=1,
            conduct=s.build_conduct(design) if engine == "events" else None,
            courses=s.engine_courses(engine),
            target=s.design.target_spec(),
        )
        oc = getattr(result, "oc", result)
        rec: dict[str, Any] = {k: np.asarray(getattr(oc, k), dtype=float).tolist() for k in _OC_ARRAYS}
        rec |= {k: float(getattr(oc, k)) for k in _OC_SCALARS}
        rec["n_trials"] = None if engine == "exact" else trials[engine]
        rec["total_n_pmf"] = np.asarray(oc.total_n_pmf, dtype=float).tolist()
        rec["events"] = {
            name: {
                "mean": ev.mean.tolist(),
                "sd": ev.sd.tolist(),
                "mean_total": ev.mean_total,
                "sd_total": ev.sd_total,
            }
            for name, ev in oc.events.items()
        }
        if engine == "events":
            rec["durations"] = np.asarray(result.durations, dtype=float).tolist()
            rec["out_of_time"] = int(result.out_of_time.sum())
        engines[engine] = rec
    return {"combo": unit.combo, "chunk": unit.chunk, "engines": engines}


# ---------------------------------------------------------------------------------------------
# Merging chunks


def pool(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Merge one engine's chunk records (in chunk order): counts-weighted means, pooled SDs, SEs
    from the pooled SD; events durations concatenated."""
    if records[0]["n_trials"] is None:  # exact: one record, no sampling error
        return dict(records[0])
    n = np.array([r["n_trials"] for r in records], dtype=float)
    total = float(n.sum())
    out: dict[str, Any] = {"n_trials": int(total)}

    def mean(key: str) -> np.ndarray:
        x = np.array([r[key] for r in records], dtype=float)
        w = n.reshape((-1,) + (1,) * (x.ndim - 1))
        return (w * x).sum(axis=0) / total

    def sd(mkey: str, skey: str, m: np.ndarray) -> np.ndarray:
        x = np.array([r[mkey] for r in records], dtype=float)
        s = np.array([r[skey] for r in records], dtype=float)
        return _pooled_sd(n, x, s, m)

    for key in ("p_tox", "p_select", "p_none", "mean_n", "mean_dlt", "mean_total_n", "mean_total_dlt"):
        out[key] = mean(key)
    for mkey in ("n", "dlt", "total_n", "total_dlt"):
        out[f"sd_{mkey}"] = sd(f"mean_{mkey}", f"sd_{mkey}", out[f"mean_{mkey}"])
        out[f"se_mean_{mkey}"] = out[f"sd_{mkey}"] / math.sqrt(total)
    for key in ("p_select", "p_none"):
        out[f"se_{key}"] = np.sqrt(out[key] * (1 - out[key]) / total)
    if all("total_n_pmf" in r for r in records):  # units saved by an older doseesc lack it
        width = max(len(r["total_n_pmf"]) for r in records)
        pmfs = np.array([np.pad(r["total_n_pmf"], (0, width - len(r["total_n_pmf"]))) for r in records])
        out["total_n_pmf"] = (n[:, None] * pmfs).sum(axis=0) / total
    events: dict[str, dict[str, Any]] = {}
    for name in records[0].get("events", {}):
        parts = [r["events"][name] for r in records]
        mean = (n[:, None] * np.array([p["mean"] for p in parts])).sum(axis=0) / total
        mean_total = float(n @ np.array([p["mean_total"] for p in parts]) / total)
        sd = _pooled_sd(n, np.array([p["mean"] for p in parts]), np.array([p["sd"] for p in parts]), mean)
        sd_total = _pooled_sd(
            n,
            np.array([p["mean_total"] for p in parts]),
            np.array([p["sd_total"] for p in parts]),
            mean_total,
        )
        events[name] = {"mean": mean, "sd": sd, "mean_total": mean_total, "sd_total": float(sd_total)}
    out["events"] = events
    if "durations" in records[0]:
        d = np.concatenate([np.asarray(r["durations"], dtype=float) for r in records])
        out["duration_mean_days"] = float(d.mean())
        out["se_duration_mean_days"] = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan
        out["duration_median_days"] = float(np.median(d))
        out["duration_q90_days"] = float(np.quantile(d, 0.9))
    if all("out_of_time" in r for r in records):  # units saved by an older doseesc lack it
        p = sum(r["out_of_time"] for r in records) / total
        out["p_out_of_time"] = p
        out["se_p_out_of_time"] = math.sqrt(p * (1 - p) / total)
    return out


def _pooled_sd(n: np.ndarray, means: np.ndarray, sds: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
    """The SD over all trials of chunks of ``n`` trials with these means and SDs (first axis: chunk)
    around the pooled ``mean``; NaN for fewer than 2 trials."""
    means, sds = np.asarray(means, dtype=float), np.asarray(sds, dtype=float)
    w = n.reshape((-1,) + (1,) * (means.ndim - 1))
    total = float(n.sum())
    within = np.where(w > 1, (w - 1) * np.nan_to_num(sds) ** 2, 0.0).sum(axis=0)
    between = (w * (means - mean) ** 2).sum(axis=0)
    if total < 2:
        return np.full(np.shape(mean), np.nan)
    return np.sqrt((within + between) / (total - 1))


def result_dict(r: dict[str, Any]) -> dict[str, Any]:
    """A pooled engine record in the JSON form of a result
    (:meth:`doseesc.results.OperatingCharacteristics.to_dict`, and the events engine's
    ``duration_days``), which :mod:`doseesc.tables` and ``doseesc report`` read."""
    simulated = r.get("n_trials") is not None
    out: dict[str, Any] = {
        k: plain(r[k])
        for k in (
            "p_tox",
            "p_select",
            "p_none",
            "mean_n",
            "mean_dlt",
            "sd_n",
            "sd_dlt",
            "mean_total_n",
            "mean_total_dlt",
            "sd_total_n",
            "sd_total_dlt",
            "n_trials",
        )
    }
    if r.get("total_n_pmf") is not None:
        out["total_n_distribution"] = {str(m): float(q) for m, q in enumerate(r["total_n_pmf"]) if q > 0}
    events = {}
    for name, ev in (r.get("events") or {}).items():
        events[name] = {
            "mean_per_dose": plain(ev["mean"]),
            "mean_total": float(ev["mean_total"]),
            "sd_per_dose": plain(ev["sd"]),
            "sd_total": float(ev["sd_total"]),
        }
        if simulated:
            root = math.sqrt(r["n_trials"])
            events[name]["se_per_dose"] = plain(np.asarray(ev["sd"], dtype=float) / root)
            events[name]["se_total"] = float(ev["sd_total"]) / root
    if events:
        out["events"] = events
    if simulated:
        out |= {k: plain(r[k]) for k in r if k.startswith("se_")}
    if "duration_median_days" in r:
        out["duration_days"] = {
            "mean": r["duration_mean_days"],
            "se": r["se_duration_mean_days"],
            "median": r["duration_median_days"],
            "q90": r["duration_q90_days"],
        }
    if "p_out_of_time" in r:
        out["p_out_of_time"] = r["p_out_of_time"]
    return out


TABLE_TAIL = (
    "engine",
    "dose_index",
    "dose",
    "p_tox",
    "p_select",
    "se_p_select",
    "mean_n",
    "se_mean_n",
    "mean_dlt",
    "se_mean_dlt",
    "p_none",
    "se_p_none",
    "mean_total_n",
    "se_mean_total_n",
    "mean_total_dlt",
    "se_mean_total_dlt",
    "n_trials",
    "duration_mean_days",
    "se_duration_mean_days",
    "duration_median_days",
    "duration_q90_days",
    "p_out_of_time",
    "se_p_out_of_time",
)


def dose_labels(s: Scenario, n: int) -> list[str]:
    values = s.doses.array()
    if values is None:
        return [str(k + 1) for k in range(n)]
    return [f"{v:.3g}" if v < 100 else f"{v:,.0f}" for v in values]


def table_rows(sweep: Sweep, merged: dict[int, dict[str, dict]]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the tidy table: one row per complete combination, engine and dose."""
    header = ["combination", *(k for k, _ in sweep.combinations[0].params), *TABLE_TAIL]
    rows = []
    for c in sweep.combinations:
        if c.index not in merged:
            continue
        axis_cells = [
            None if v is None else _fmt(v) if isinstance(v, bool) else v if _scalar(v) else _json(v)
            for _, v in c.params
        ]
        for engine in c.scenario.run.engines:
            r = merged[c.index][engine]
            labels = dose_labels(c.scenario, len(r["p_select"]))
            for d, label in enumerate(labels):
                cells = {
                    "engine": engine,
                    "dose_index": d,
                    "dose": label,
                    **{k: r[k][d] for k in ("p_tox", "p_select", "mean_n", "mean_dlt")},
                    **{k: r.get(k, [None] * (d + 1))[d] for k in ("se_p_select", "se_mean_n", "se_mean_dlt")},
                }
                for k in TABLE_TAIL[10:]:
                    if k not in cells:
                        cells[k] = r.get(k)
                rows.append([c.index + 1, *axis_cells, *(plain(cells[k]) for k in TABLE_TAIL)])
    return header, rows


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Failure:
    combo: int
    chunk: int
    params: tuple[tuple[str, Any], ...]
    error: str


@dataclass
class SweepOutcome:
    out: Path
    seed: int
    units: int
    skipped: int
    complete: list[int] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)


def _prepare(sweep: Sweep, out: Path) -> int:
    """Create or check ``out``; the seed to use (the sweep's, or the one recorded on a first run).

    The state file is written before anything else, so a folder interrupted at any moment is either
    one this sweep resumes (it has the state) or holds nothing but what its creation leaves (an
    empty ``units/``, a temporary file of the state): a new folder."""
    state_path = out / STATE
    check_parent(out)
    if out.exists() and not out.is_dir():
        raise FileError(f"--out {out}: exists and is not a folder; allowed: a new or sweep results folder")
    if state_path.is_file():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        if not isinstance(state, dict) or state.get("digest") != sweep.digest:
            raise ValueError(
                f"--out {out}: holds units of another sweep (its sweep or scenario files have changed); "
                "allowed: the same sweep files, or a new --out folder"
            )
        if state.get("chunk_trials") != sweep.chunk_trials:
            raise ValueError(
                f"--out {out}: was run with --chunk-trials {state.get('chunk_trials')}, not "
                f"{sweep.chunk_trials} (the chunk size is part of the seed's meaning); allowed: the same "
                "chunk size, or a new --out folder"
            )
        if sweep.seed is not None and state.get("seed") != sweep.seed:
            raise ValueError(
                f"--out {out}: was run with seed {state.get('seed')}; allowed: a new --out folder"
            )
        return int(state["seed"])
    foreign = _foreign(out) if out.exists() else []
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileError(
            f"--out {out}: the folder holds files not written by a sweep ({shown}); allowed: a new or "
            "empty folder, or the folder of an earlier run of this sweep"
        )
    with writing(out):
        out.mkdir(parents=True, exist_ok=True)
    seed = sweep.seed if sweep.seed is not None else int(np.random.SeedSequence().entropy)
    state = {"digest": sweep.digest, "chunk_trials": sweep.chunk_trials, "seed": seed, "file": sweep.file}
    write_text(state_path, json_text(state, indent=1) + "\n")
    with writing(out):
        (out / UNITS).mkdir(exist_ok=True)
    return seed


def _foreign(out: Path) -> list[str]:
    """Entries of a sweep folder without a state file that its creation cannot have left."""
    with writing(out):
        names = sorted(p.name for p in out.iterdir())
        units = out / UNITS
        empty_units = units.is_dir() and not any(units.iterdir())
    return [n for n in names if not (n == UNITS and empty_units) and not _STATE_TMP.match(n)]


def _load_unit(path: Path, digest: str) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if data.get("digest") == digest else None


Runner = Callable[[Sequence[Unit], Callable[[Unit, dict | None, BaseException | None], None]], None]


def worker_count(jobs: int, units: int) -> int:
    """Worker processes to start: ``jobs``, but no more than the work units or the machine's cores
    (more would only wait; docs/limits.md)."""
    return max(1, min(jobs, units, os.cpu_count() or 1))


def local_runner(jobs: int) -> Runner:
    """Units in this process (``jobs`` 1) or in a pool of ``jobs`` worker processes."""

    def run(units: Sequence[Unit], done) -> None:
        if jobs <= 1:
            for u in units:
                try:
                    payload = run_unit(u)
                except Exception as exc:
                    done(u, None, exc)
                else:
                    done(u, payload, None)
            return
        # Workers die with this process even when it is used as a library (not through the CLI).
        with ProcessPoolExecutor(
            max_workers=worker_count(jobs, len(units)), initializer=die_with_parent
        ) as pool:
            futures = {pool.submit(run_unit, u): u for u in units}
            for fut in as_completed(futures):
                exc = fut.exception()
                done(futures[fut], None if exc else fut.result(), exc)

    return run


def dask_runner(address: str, jobs: int) -> Runner:
    """Units on Dask distributed: ``local`` starts a LocalCluster (``jobs`` worker processes, one
    thread each, on 127.0.0.1); ``tcp://HOST:PORT`` connects to a running scheduler."""
    if address != "local" and not address.startswith("tcp://"):
        raise ValueError(f"--dask {address}: allowed: local, or tcp://HOST:PORT of a running scheduler")
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ValueError(
            "--dask needs the optional dependency dask[distributed]; allowed: pip install 'doseesc[dask]'"
        ) from None

    def run(units: Sequence[Unit], done) -> None:
        cluster = None
        if address == "local":
            cluster = LocalCluster(
                n_workers=worker_count(jobs, len(units)),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout="10s")
            except OSError as exc:
                raise ValueError(f"--dask {address}: cannot connect to the scheduler: {exc}") from None
        try:
            futures = client.map(run_unit, list(units), pure=False)
            by_key = {f.key: u for f, u in zip(futures, units, strict=True)}
            for fut in dask_completed(futures):
                u = by_key[fut.key]
                try:
                    payload = fut.result()
                except Exception as exc:
                    done(u, None, exc)
                else:
                    done(u, payload, None)
                fut.release()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    runner: Runner | None = None,
    progress=None,
    stderr: TextIO | None = None,
    figures: bool = True,
) -> SweepOutcome:
    """Run every unit of ``sweep`` not already complete in ``out``, then write the table
    (``sweep.csv``), the manifest (``sweep.json``) and the figures from every unit on disk."""
    out = Path(out)
    stderr = stderr or sys.stderr
    seed = _prepare(sweep, out)
    units_dir = out / UNITS
    units_dir.mkdir(exist_ok=True)
    units = units_of(sweep, seed)
    pending = [u for u in units if _load_unit(units_dir / f"{u.key}.json", sweep.digest) is None]
    outcome = SweepOutcome(out, seed, len(units), len(units) - len(pending))
    by_combo = {c.index: c for c in sweep.combinations}
    total_trials = sum(u.n_trials for u in pending)
    state = {"units": 0, "trials": 0}

    def show() -> None:
        if progress is not None:
            label = f"{sweep.name}: {outcome.skipped + state['units']}/{len(units)} units"
            progress.stage(label, total_trials or None)(state["trials"])

    def done(u: Unit, payload: dict | None, exc: BaseException | None) -> None:
        state["units"] += 1
        state["trials"] += u.n_trials
        if exc is not None:
            c = by_combo[u.combo]
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            outcome.failures.append(Failure(u.combo, u.chunk, c.params, error))
            print(
                f"doseesc: sweep {sweep.name}: combination {u.combo + 1} ({_describe(c.params) or c.label}) "
                f"chunk {u.chunk} failed: {error}",
                file=stderr,
            )
        else:
            payload = {"digest": sweep.digest, "seed": u.seed} | payload
            write_text(units_dir / f"{u.key}.json", json_text(payload) + "\n")
        show()

    show()
    if pending:
        (runner or local_runner(1))(pending, done)
    _finish(sweep, outcome, units, figures)
    return outcome


def _finish(sweep: Sweep, outcome: SweepOutcome, units: list[Unit], figures: bool) -> None:
    from doseesc import __version__
    from doseesc.output import write_csv, write_json

    out = outcome.out
    per_combo: dict[int, list[dict | None]] = {}
    for u in units:
        per_combo.setdefault(u.combo, []).append(_load_unit(out / UNITS / f"{u.key}.json", sweep.digest))
    merged: dict[int, dict[str, dict]] = {}
    for i, records in per_combo.items():
        if any(r is None for r in records):
            continue
        engines = sweep.combinations[i].scenario.run.engines
        merged[i] = {e: pool([r["engines"][e] for r in records if e in r["engines"]]) for e in engines}
        outcome.complete.append(i)
    header, rows = table_rows(sweep, merged)
    outcome.header, outcome.rows = header, rows
    write_csv(out / "sweep.csv", header, rows)
    files = ["sweep.csv", "sweep.json"]
    failed = {f.combo for f in outcome.failures}
    manifest = {
        "version": __version__,
        "sweep": sweep.name,
        "description": sweep.description,
        "file": sweep.file,
        "digest": sweep.digest,
        "seed": outcome.seed,
        "chunk_trials": sweep.chunk_trials,
        "axes": list(sweep.axes),
        "units": outcome.units,
        "units_skipped": outcome.skipped,
        "combinations": [
            {
                "combination": c.index + 1,
                "label": c.label,
                "params": {k: v for k, v in c.params},
                "scenario": c.scenario.name,
                "engines": list(c.scenario.run.engines),
                "trials": {
                    e: c.scenario.run.trials_for(e) for e in c.scenario.run.engines if e in SIMULATION_ENGINES
                },
                "status": "complete"
                if c.index in merged
                else "failed"
                if c.index in failed
                else "incomplete",
            }
            | (_combination_results(c, merged[c.index]) if c.index in merged else {})
            for c in sweep.combinations
        ],
        "failures": [
            {"combination": f.combo + 1, "chunk": f.chunk, "params": dict(f.params), "error": f.error}
            for f in outcome.failures
        ],
        "files": sorted(files),
    }
    write_json(out / "sweep.json", manifest)
    if figures and merged:
        files += _figures(out)
        manifest["files"] = sorted(files)
        write_json(out / "sweep.json", manifest)
    outcome.files = sorted(files)


def _combination_results(c: Combination, merged: dict[str, dict]) -> dict[str, Any]:
    """What a report needs of a complete combination: its scenario's settings, the true toxicity
    curve and each engine's result in the JSON form of a result."""
    from doseesc.running import toxicity_curve

    s = c.scenario
    _, model = s.build(s.run.engines[0])
    return {
        "settings": s.to_dict(),
        "toxicity": toxicity_curve(s, model).to_dict(),
        "results": {e: result_dict(r) for e, r in merged.items()},
    }


def _figures(out: Path) -> list[str]:
    """The sweep's figures (those of its report: :func:`doseesc.report.figures.sweep_figures`),
    drawn from the manifest just written; the file names."""
    from doseesc.output import save_figure
    from doseesc.report.figures import sweep_figures
    from doseesc.report.model import read_report

    return [
        name for fig in sweep_figures(read_report(out)) for name in save_figure(fig.figure, out, fig.stem)
    ]


def format_summary(outcome: SweepOutcome, sweep: Sweep) -> str:
    """A short text summary: per combination and engine, P(none) and the mean patients."""
    lines = [f"{'combination':<56} {'engine':<7} {'P(none)':>8} {'mean n':>8}  P(select) by dose"]
    index = outcome.header.index
    seen = set()
    for row in outcome.rows:
        key = (row[0], row[index("engine")])
        if key in seen:
            continue
        seen.add(key)
        cells = [r for r in outcome.rows if (r[0], r[index("engine")]) == key]
        label = sweep.combinations[row[0] - 1].label
        ps = " ".join(f"{r[index('p_select')]:.3f}" for r in cells)
        p_none, mean_n = row[index("p_none")], row[index("mean_total_n")]
        lines.append(f"{label[:56]:<56} {key[1]:<7} {p_none:>8.4f} {mean_n:>8.2f}  {ps}")
    return "\n".join(lines)


__all__ = [
    "Combination",
    "Sweep",
    "SweepError",
    "SweepOutcome",
    "Unit",
    "dask_runner",
    "load_sweep",
    "local_runner",
    "pool",
    "run_sweep",
    "run_unit",
    "unit_seed",
    "units_of",
]
