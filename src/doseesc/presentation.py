"""Scenarios and engines as text for people: the one-line description ``doseesc validate`` prints,
and the engines named in plain words for tables and figures ("simulated", not "mc"), so that two
engines of one run never read as if they disagreed about the same quantity."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from doseesc.scenario import Scenario


ENGINE_WORDS = {
    "exact": "exact",
    "mc": "simulated",
    "courses": "simulated over courses",
    "events": "simulated in calendar time",
}
"""What each engine's figures are, in the words of a protocol."""


def engine_words(engine: str, *, competing_risks: bool = False) -> str:
    """``engine`` in plain words; the calendar-time engine says when deaths and transplants compete
    with the DLT window (``competing_risks``)."""
    words = ENGINE_WORDS.get(engine, engine)
    if engine == "events" and competing_risks:
        words += ", with deaths and transplants"
    return words


def summary(s: Scenario) -> str:
    """One line describing a valid scenario (``doseesc validate``)."""
    doses = s.doses.array()
    if doses is None:
        dose_text = f"{s.n_doses} dose levels"
    else:
        shown = [f"{v:.4g}" for v in doses]
        if len(shown) > 8:
            shown = [*shown[:3], "...", shown[-1]]
        unit = f" {s.doses.unit}" if s.doses.unit else ""
        dose_text = f"{len(doses)} dose{'s' if len(doses) > 1 else ''} {', '.join(shown)}{unit}"
    tox = s.toxicity.model + (" with posterior" if getattr(s.toxicity, "posterior", False) else "")
    infusions = s.regimen.infusions
    regimen = (
        f", infusions {list(infusions) if isinstance(infusions, tuple) else infusions}"
        if infusions != 1
        else ""
    )
    engines = ", ".join(s.run.engines)
    return f"{s.name}: design {s.design.name}, {dose_text}{regimen}, model {tox}, engines {engines}"


__all__ = ["ENGINE_WORDS", "engine_words", "summary"]
