"""Results as pandas tables: one generic reading of every result's JSON form.

Every result (:class:`~doseesc.results.OperatingCharacteristics`, the events and course engines'
results) has a JSON form whose key names are a stable interface (``to_dict``).  This module reads
that form alone, so one function serves live results, ``results.json`` files and sweeps, and a new
design's extra figures appear without code here:

* a list with one number per dose becomes a column of the per-dose table (``p_select``,
  ``se_p_select``, ``p_switch`` ...);
* everything else that is a number, a string, a bool or None becomes a trial-level figure; nested
  objects are flattened with dots (``duration_days.median``, ``events.severe bleeding.mean_total``)
  and short lists get their position (``p_total_dlt_at_least.1`` is P(total DLTs >= 1)).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SKIP = ("version", "total_n_distribution", "log", "conduct")
"""Keys left out of the tables (the version, distributions and inputs stay in the JSON)."""
LABELS = ("design", "engine")
TRIAL_LISTS = ("p_total_dlt_at_least", "se_p_total_dlt_at_least", "target_band")
"""Lists that are trial-level figures, whatever their length (every other list with one entry per
dose is a per-dose column)."""


def split(result: dict[str, Any]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Per-dose columns and trial-level figures of a result's JSON form."""
    n_doses = len(result["p_select"])
    per_dose: dict[str, list[Any]] = {}
    trial: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
            return
        key = prefix[:-1]
        by_dose = isinstance(value, list) and len(value) == n_doses and key not in TRIAL_LISTS
        if by_dose and all(_scalar(v) for v in value):
            per_dose[key.replace(".per_dose", "").replace("_per_dose", "")] = value
        elif isinstance(value, list):
            for i, v in enumerate(value, start=1 if key.endswith("at_least") else 0):
                walk(f"{key}.{i}.", v)
        else:
            trial[key] = value

    for key, value in result.items():
        if key not in SKIP:
            walk(f"{key}.", value)
    return per_dose, trial


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def dose_frame(result: dict[str, Any], **labels: Any) -> Any:
    """One row per dose (``dose``: 0-based index): the per-dose columns of ``result``, after the
    ``labels`` given (e.g. ``scenario=``) and the result's design and engine."""
    import pandas as pd

    per_dose, _ = split(result)
    n = len(result["p_select"])
    head = {k: [v] * n for k, v in labels.items()}
    head |= {k: [result.get(k)] * n for k in LABELS}
    return pd.DataFrame(head | {"dose": list(range(n))} | per_dose)


def summary_frame(result: dict[str, Any], **labels: Any) -> Any:
    """One row: the trial-level figures of ``result`` (options as ``options.NAME``)."""
    import pandas as pd

    _, trial = split(result)
    return pd.DataFrame([labels | trial])


class Tabular:
    """``to_frame()`` and ``summary_frame()`` for a result class with a JSON form (``to_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_frame(self) -> Any:
        """One row per dose: estimates, standard errors and SDs, and the design's per-dose extras
        (a tidy pandas DataFrame; see :mod:`doseesc.tables`)."""
        return dose_frame(self.to_dict())

    def summary_frame(self) -> Any:
        """One row of trial-level figures: no selection, totals, metrics against the target,
        duration (events engine), with their standard errors where simulated."""
        return summary_frame(self.to_dict())


RESULT_FILES = ("results.json", "comparison.json", "sweep.csv")
"""What a ``doseesc run``, ``compare`` and ``sweep`` folder holds, in that order of lookup."""


def read_results(path: str | Path) -> Any:
    """A ``doseesc run``, ``compare`` or ``sweep`` results folder (or its ``results.json``,
    ``comparison.json`` or ``sweep.csv``) as one tidy pandas DataFrame: one row per scenario (or
    sweep combination), engine and dose, with the trial-level figures as columns (repeated on the
    rows of one result), as in ``sweep.csv``."""
    import pandas as pd

    path = Path(path)
    file = next((path / name for name in RESULT_FILES if (path / name).is_file()), path)
    if not file.is_file() or file.name not in RESULT_FILES:
        raise ValueError(f"{path}: not a doseesc results folder; expected one of {', '.join(RESULT_FILES)}")
    if file.name == "sweep.csv":
        return pd.read_csv(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{file}: cannot be read as doseesc results ({exc})") from None
    runs = data["scenarios"] if file.name == "comparison.json" else [data]
    return pd.concat([_run_frame(run) for run in runs], ignore_index=True)


def _run_frame(run: dict[str, Any]) -> Any:
    """The tidy rows of one scenario run's JSON (``results.json``)."""
    import pandas as pd

    name = run["scenario"]["name"]
    labels = run["toxicity"]["dose_labels"]
    frames = []
    for result in run["engines"].values():
        doses = dose_frame(result, scenario=name)
        doses.insert(doses.columns.get_loc("dose") + 1, "dose_label", labels)
        _, trial = split(result)
        trial = {k: v for k, v in trial.items() if k not in doses.columns}
        frames.append(doses.assign(**trial))
    return pd.concat(frames, ignore_index=True)
