"""The command line: output keys, readable table, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from doseesc.cli import main
from doseesc.designs import ThreePlusThree
from doseesc.designs.titration import AcceleratedTitration
from doseesc.engines import exact

P6 = "0.05,0.1,0.2,0.3,0.5,0.7"
REQUIRED = {
    "design",
    "engine",
    "p_tox",
    "p_none",
    "p_select",
    "mean_n",
    "mean_dlt",
    "mean_total_n",
    "mean_total_dlt",
}
MC_REQUIRED = {"n_trials", "seed", "se_p_select"}


def run_json(capsys, *args: str) -> dict:
    assert main(["simulate", "--design", "3+3", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_exact_json_matches_the_engine(capsys):
    out = run_json(capsys, "--p-tox", P6, "--engine", "exact", "--deescalate")
    assert REQUIRED <= out.keys()
    assert not MC_REQUIRED & out.keys()
    oc = exact(ThreePlusThree(6, deescalate=True), np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7]))
    assert out["p_select"] == oc.p_select.tolist()
    assert out["p_none"] == oc.p_none
    assert out["options"] == {"deescalate": True, "expand_top": False}
    assert sum(out["total_n_distribution"].values()) == pytest.approx(1.0, abs=1e-12)


def test_mc_json_has_standard_errors_and_repeats_with_its_seed(capsys):
    first = run_json(capsys, "--p-tox", P6, "--engine", "mc", "--trials", "20000", "--seed", "11")
    assert (REQUIRED | MC_REQUIRED) <= first.keys()
    assert first["n_trials"] == 20000 and first["seed"] == 11
    assert len(first["se_p_select"]) == 6 and all(se > 0 for se in first["se_p_select"])
    again = run_json(
        capsys, "--p-tox", P6, "--engine", "mc", "--trials", "20000", "--seed", "11", "--jobs", "2"
    )
    assert again == first


def test_mc_without_seed_reports_the_entropy_it_drew(capsys):
    first = run_json(capsys, "--p-tox", "0.1,0.3", "--engine", "mc", "--trials", "500")
    again = run_json(
        capsys, "--p-tox", "0.1,0.3", "--engine", "mc", "--trials", "500", "--seed", str(first["seed"])
    )
    assert again == first


def test_table_lists_every_dose_none_and_totals(capsys):
    assert (
        main(
            [
                "simulate",
                "--design",
                "3+3",
                "--p-tox",
                P6,
                "--engine",
                "mc",
                "--trials",
                "5000",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("3+3 (deescalate=no, expand_top=no), engine mc, 5,000 trials, seed 3")
    assert [ln.split()[0] for ln in lines[2:]] == ["1", "2", "3", "4", "5", "6", "none", "total"]
    assert "±" in lines[2]


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        (["--p-tox", "0.1,1.5"], "--p-tox", "[0, 1]"),
        (["--p-tox", "0.1,-0.2"], "--p-tox", "[0, 1]"),
        (["--p-tox", "0.1,nan"], "--p-tox", "[0, 1]"),
        (["--p-tox", ""], "--p-tox", "[0, 1]"),
        (["--p-tox", "0.1,,0.2"], "--p-tox", "[0, 1]"),
        (["--p-tox", "a,b"], "--p-tox", "[0, 1]"),
        (["--p-tox", "0.1", "--engine", "mc", "--trials", "0"], "--trials", "1 or more"),
        (["--p-tox", "0.1", "--engine", "mc", "--trials", "x"], "--trials", "1 or more"),
        (["--p-tox", "0.1", "--jobs", "0"], "--jobs", "1 or more"),
        (["--p-tox", "0.1", "--seed", "-4"], "--seed", "0 or more"),
        (["--p-tox", "0.1", "--engine", "bayes"], "--engine", "'exact', 'mc'"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, args, option, allowed):
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "--design", "3+3", *args])
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert option in lines[0] and allowed in lines[0]


def test_unknown_design_in_a_real_process_is_one_line_exit_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "doseesc.cli", "simulate", "--design", "no-such-design", "--p-tox", "0.1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--design" in proc.stderr and "'3+3'" in proc.stderr


def test_nct05727722_hybrid_exact_matches_the_engine(capsys):
    out = run_json(
        capsys, "--design", "nct05727722", "--p-tox", "0.05,0.1,0.25,0.4", "--p-grade2", "0.1,0.1,0.15,0.2"
    )
    oc = exact(
        AcceleratedTitration.nct05727722(4), np.array([0.05, 0.1, 0.25, 0.4]), np.array([0.1, 0.1, 0.15, 0.2])
    )
    assert out["p_select"] == oc.p_select.tolist()
    assert out["p_switch"] == oc.extras["p_switch"]
    assert out["options"]["deescalate"] and out["options"]["expand_top"]


def test_course_engine_from_the_command_line(capsys):
    out = run_json(
        capsys,
        "--design",
        "atd3",
        "--latent",
        "0,0.8,0.4,1.84,3.04,3.44",
        "--levels",
        "12",
        "--engine",
        "courses",
        "--courses",
        "3",
        "--trials",
        "3000",
        "--seed",
        "4",
    )
    assert out["engine"] == "courses" and out["courses"] == 3 and out["intrapatient"] is True
    assert sum(out["worst_grade"].values()) == pytest.approx(1.0)
    assert out["mean_patients"] == pytest.approx(out["mean_total_n"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--design", "atd2", "--p-tox", "0.1,0.2"], "--p-grade2"),
        (["--design", "3+3"], "--p-tox, --latent or --model"),
        (["--design", "atd2", "--latent", "1,2", "--levels", "3"], "--latent"),
        (["--design", "3+3", "--p-tox", "0.1,0.2", "--courses", "3"], "--engine courses"),
        (["--design", "3+3", "--p-tox", "0.1,0.2", "--p-grade2", "0.1"], "--p-grade2"),
        (["--design", "3+3", "--p-tox", "0.1,0.2", "--p-grade4", "0.1,0.3"], "--p-grade4"),
        (["--design", "atd2", "--latent", "0,1,1,1,x,3", "--levels", "3"], "--latent"),
    ],
)
def test_bad_titration_input_is_one_line_exit_2(capsys, args, words):
    with pytest.raises(SystemExit) as stop:
        main(["simulate", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_events_engine_from_the_command_line_writes_a_timeline(capsys, tmp_path):
    png = tmp_path / "timeline.png"
    out = run_json(
        capsys,
        "--p-tox",
        "0.05,0.1,0.2,0.3",
        "--engine",
        "events",
        "--accrual-per-month",
        "2",
        "--window-days",
        "28",
        "--infusions",
        "2",
        "--stagger-days",
        "7",
        "--aclf-fraction",
        "0.6",
        "--trials",
        "300",
        "--seed",
        "5",
        "--timeline",
        str(png),
    )
    assert out["engine"] == "events" and out["duration_days"]["mean"] > 28
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.png"]  # no temporary left behind


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--engine", "events"], "--accrual-per-month"),
        (["--engine", "events", "--accrual-per-month", "2", "--stagger-days", "40"], "--stagger-days"),
        (["--stagger-days", "4"], "--engine events"),
    ],
)
def test_bad_events_input_is_one_line_exit_2(capsys, args, words):
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "--design", "3+3", "--p-tox", "0.1,0.2", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_calibrate_halpc_prints_both_priors_and_writes_the_plot(capsys, tmp_path):
    svg = tmp_path / "risk.svg"
    assert main(["calibrate", "halpc", "--json", "--plot", str(svg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 2
    assert svg.read_text().lstrip().startswith("<?xml")
    assert main(["calibrate", "halpc"]) == 0
    text = capsys.readouterr().out
    assert "weakly-informative" in text and "sceptical" in text and "Posterior predictive" in text


HALPC = [
    "--design",
    "3+3",
    "--model",
    "halpc-bleeding",
    "--doses",
    "0.3,0.6,1.2,2.5,5",
    "--dose-unit",
    "1e6cells/kg",
]


def test_halpc_model_reports_expected_bleeds(capsys):
    out = run_json(
        capsys,
        *HALPC[2:],
        "--infusions",
        "2",
        "--engine",
        "mc",
        "--posterior",
        "--trials",
        "20000",
        "--seed",
        "3",
    )
    bleeds = out["events"]["severe bleeding"]
    assert len(bleeds["mean_per_dose"]) == 5 and bleeds["se_total"] > 0
    # Bleeding is the only DLT mechanism of this model: every DLT is a bleed.
    assert bleeds["mean_total"] == pytest.approx(out["mean_total_dlt"])


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--posterior"], "--engine exact"),
        (["--dose-unit", "furlongs"], "dose_unit"),
        (["--p-tox", "0.1,0.2"], "exactly one of"),
    ],
)
def test_bad_model_input_is_one_line_exit_2(capsys, args, words):
    argv = [a for a in ["simulate", *HALPC] if not (a == "1e6cells/kg" and "--dose-unit" in args)]
    if "--dose-unit" in args:
        argv.remove("--dose-unit")
    with pytest.raises(SystemExit) as stop:
        main([*argv, *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


METRIC_KEYS = (
    "p_correct",
    "p_select_above_mtd",
    "share_patients_at_mtd",
    "share_patients_above_mtd",
    "share_patients_below_mtd",
)


@pytest.mark.parametrize("band", [None, "0.2,0.3"])
def test_target_metrics_on_the_command_line_equal_the_oracle_path_enumeration(capsys, band):
    """``--target 0.25 --engine exact --json`` against the metrics summed over every trial path in
    exact rational arithmetic (tests/oracle.py, independent of doseesc); Monte Carlo within 4 SE."""
    from oracle import exact_oracle, oracle_metrics

    extra = () if band is None else ("--target-band", band)
    out = run_json(capsys, "--p-tox", P6, "--target", "0.25", *extra, "--engine", "exact")
    p = P6.split(",")
    truth = oracle_metrics(exact_oracle(p), p, "0.25", None if band is None else tuple(band.split(",")))
    assert out["target"] == 0.25 and out["true_mtd"] == truth["true_mtd"] == 2
    for key in METRIC_KEYS:
        assert out[key] == pytest.approx(float(truth[key]), abs=1e-12), key
    np.testing.assert_allclose(
        out["p_total_dlt_at_least"], [float(q) for q in truth["p_total_dlt_at_least"]], atol=1e-12
    )
    mc = run_json(
        capsys,
        "--p-tox",
        P6,
        "--target",
        "0.25",
        *extra,
        "--engine",
        "mc",
        "--trials",
        "100000",
        "--seed",
        "9",
    )
    for key in METRIC_KEYS:
        assert abs(mc[key] - out[key]) <= 4 * mc[f"se_{key}"], key
    at_least = np.array(mc["p_total_dlt_at_least"]) - out["p_total_dlt_at_least"]
    assert np.all(np.abs(at_least) <= 4 * np.array(mc["se_p_total_dlt_at_least"]) + 1e-12)


def test_a_plus_b_designs_from_the_command_line(capsys):
    four = run_json(capsys, "--p-tox", P6, "--engine", "exact")
    assert main(["simulate", "--design", "4+4", "--p-tox", P6, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design"] == "4+4" and out["mean_total_n"] > four["mean_total_n"]
    args = ["simulate", "--design", "a+b", "--p-tox", P6, "--a", "4", "--b", "4", "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["p_select"] == out["p_select"]
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--design", "a+b", "--p-tox", P6, "--a", "13"])
    assert info.value.code == 2
    assert "--a: got 13; allowed: an integer from 1 to 12" in capsys.readouterr().err


def test_version_and_help_import_no_heavy_library():
    """doseesc --version answers without numpy, scipy, matplotlib or the designs (start-up time);
    a command builds only its own options."""
    code = (
        "import sys\n"
        "from doseesc.cli import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('numpy', 'scipy', 'matplotlib', 'pandas', 'doseesc.designs')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "doseesc 0.1.0" in out and "report" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_max_days_ends_every_trial_that_cannot_finish_in_time(capsys):
    """One patient a month cannot complete a 28-day cohort of three within 40 days: every trial runs
    out of time and selects no dose."""
    out = run_json(
        capsys, "--p-tox", P6, "--engine", "events", "--accrual-per-month", "1", "--accrual", "regular",
        "--max-days", "40", "--trials", "20", "--seed", "1",
    )  # fmt: skip
    assert out["p_out_of_time"] == 1.0 and out["p_none"] == 1.0


def test_several_courses_run_in_calendar_time_and_need_a_simulation_engine_that_has_them(capsys):
    argv = [
        "simulate",
        "--design",
        "atd2",
        "--p-tox",
        P6,
        "--p-grade2",
        "0.1,0.1,0.2,0.2,0.2,0.2",
        "--courses",
        "3",
    ]
    assert main([*argv, "--engine", "events", "--accrual-per-month", "2", "--trials", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["courses"] == 3 and 1.0 < out["mean_courses_per_patient"] <= 3.0
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--engine", "mc"])
    assert exc.value.code == 2
    assert "--courses and --intrapatient need --engine courses or --engine events" in capsys.readouterr().err
