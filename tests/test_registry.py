"""The registry: parameters checked with messages naming the range, and the documentation derived
from it (the schema in docs/scenarios.md is what `doseesc designs` prints)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from doseesc import registry
from doseesc.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_scenario_docs_hold_the_generated_design_schema(capsys):
    text = (ROOT / "docs" / "scenarios.md").read_text()
    section = (
        text.split("<!-- design-schema:start")[1].split("-->", 1)[1].split("<!-- design-schema:end -->")[0]
    )
    assert section.strip() == registry.design_schema().strip(), "regenerate it with `doseesc designs`"
    assert main(["designs"]) == 0
    assert capsys.readouterr().out.strip() == registry.design_schema().strip()


@given(st.integers(-50, 50))
def test_an_integer_parameter_accepts_exactly_its_range(value):
    p = registry.Param("cohort_size", "int", 3, low=1, high=12)
    if 1 <= value <= 12:
        assert p.convert(value) == value
        assert p.convert(str(value), text=True) == value
    else:
        with pytest.raises(registry.ParamError, match="allowed: an integer from 1 to 12"):
            p.convert(value)


@pytest.mark.parametrize("value", [True, "3", 2.5, float("nan"), None, [3]])
def test_wrong_types_are_refused_not_coerced(value):
    with pytest.raises(registry.ParamError, match="allowed"):
        registry.Param("max_n", "int", None, low=1).convert(value)


def test_a_fixed_parameter_cannot_be_set():
    entry = registry.design("nct05727722")
    assert entry.build(4).deescalate and entry.build(4).expand_top
    for value in (True, False):
        with pytest.raises(registry.ParamError, match="cannot be set: the design always has it") as err:
            entry.build(4, {"deescalate": value})
        assert err.value.key == "deescalate"


def test_unknown_designs_get_the_nearest_name():
    with pytest.raises(registry.ParamError, match="did you mean 4\\+4"):
        registry.design("4+3")


def test_reserved_names_cannot_be_design_parameters():
    with pytest.raises(ValueError, match="reserved"):
        registry.register_design("bad", object, (registry.Param("target", "float"),))
