"""Probabilities written as percentages, the one way every report, table and figure writes them."""

from __future__ import annotations

from typing import Literal


def percent(
    p: float,
    spec: str | None = None,
    *,
    small: Literal["decimal", "significant", "bounded"] = "decimal",
) -> str:
    """``p`` (a probability) as a percentage, e.g. ``"21%"``.

    With ``spec`` (a format spec such as ``".1f"``, or ``"g"`` for a level like 90% or 97.5%) the
    number is written so.  Without, in the short form: whole percents from 9.5% up (these are
    estimates or model risks whose uncertainty dwarfs a tenth of a percent), and below that, where a
    whole percent would hide the difference between 1% and 4%, by ``small``:

    * ``"decimal"``: one decimal (``"0.2%"``, ``"0.0%"``);
    * ``"significant"``: two significant digits (``"0.15%"``), so that small risks stay comparable;
    * ``"bounded"``: one decimal, then ``"<0.1%"`` and ``"0%"`` (axis labels, where ``"0.0%"``
      would read as exactly zero).
    """
    x = 100 * p
    if spec is not None:
        return f"{x:{spec}}%"
    if p >= 0.095:
        return f"{x:.0f}%"
    if small == "significant":
        return f"{x:#.2g}%"
    if small == "bounded" and not p >= 0.001:  # NaN included, as "<0.1%"
        return "0%" if p == 0 else "<0.1%"
    return f"{x:.1f}%"


__all__ = ["percent"]
