"""The on-disk cache (doseesc.cache): entries are used only when whole and written for the same key
and version; stale, corrupt or rejected entries are recomputed; processes filling an entry at once
leave one whole entry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from doseesc import cache
from doseesc.cache import cached_arrays, entry_path

KEY = {"what": "test", "n": 3}


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DOSEESC_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DOSEESC_CACHE", raising=False)
    return tmp_path


class Counting:
    """A computation that counts its calls."""

    def __init__(self, value: float = 1.5) -> None:
        self.calls = 0
        self.value = value

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        return {"a": np.full(3, self.value), "b": np.arange(4)}


def test_an_entry_is_computed_once_then_read(folder):
    compute = Counting()
    first = cached_arrays("test", KEY, compute)
    second = cached_arrays("test", KEY, compute)
    assert compute.calls == 1
    for name in ("a", "b"):
        np.testing.assert_array_equal(first[name], second[name])
        assert not second[name].flags.writeable
    assert list(folder.iterdir()) == [entry_path("test", KEY)]
    cached_arrays("test", KEY | {"n": 4}, compute)  # another key: another entry
    assert compute.calls == 2


def test_a_stale_entry_is_recomputed(folder, monkeypatch):
    """An entry at the key's file whose stored key differs (another version wrote it, or other
    inputs) is not trusted; nor is one the caller's check rejects."""
    path = entry_path("test", KEY)
    folder.mkdir(exist_ok=True)
    monkeypatch.setattr(cache, "__version__", "0.0.1")
    stale_text = cache.key_text("test", KEY)
    monkeypatch.undo()
    monkeypatch.setenv("DOSEESC_CACHE_DIR", str(folder))
    with open(path, "wb") as f:
        np.savez(f, __key__=np.array(stale_text), a=np.full(3, 9.0), b=np.arange(4))
    compute = Counting()
    np.testing.assert_array_equal(cached_arrays("test", KEY, compute)["a"], np.full(3, 1.5))
    assert compute.calls == 1
    cached_arrays("test", KEY, compute)  # rewritten: now valid
    assert compute.calls == 1
    rejecting = Counting(2.5)
    out = cached_arrays("test", KEY, rejecting, check=lambda arrays: arrays["a"][0] == 2.5)
    assert rejecting.calls == 1 and out["a"][0] == 2.5


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_corrupt_entry_is_recomputed(folder, damage):
    compute = Counting()
    cached_arrays("test", KEY, compute)
    path = entry_path("test", KEY)
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b""}[damage]
    )
    out = cached_arrays("test", KEY, compute)
    assert compute.calls == 2
    np.testing.assert_array_equal(out["a"], np.full(3, 1.5))
    cached_arrays("test", KEY, compute)
    assert compute.calls == 2


def test_two_processes_filling_one_entry_at_once(folder):
    """Both compute (slowly, overlapping) and rename their whole file over the entry: each gets the
    right arrays, the entry is whole, no temporary file is left."""
    code = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        from doseesc.cache import cached_arrays
        start = float(sys.argv[1])
        time.sleep(max(0.0, start - time.time()))
        def compute():
            time.sleep(1.0)
            return {"a": np.arange(100000.0)}
        out = cached_arrays("test", {"what": "race"}, compute)
        assert out["a"].sum() == np.arange(100000.0).sum()
        print("ok")
        """
    )
    env = os.environ | {"DOSEESC_CACHE_DIR": str(folder)}
    start = str(time.time() + 2.0)
    procs = [
        subprocess.Popen([sys.executable, "-c", code, start], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outputs == ["ok\n", "ok\n"]
    assert [p.name for p in folder.iterdir()] == [entry_path("test", {"what": "race"}).name]
    compute = Counting()
    out = cached_arrays("test", {"what": "race"}, compute)
    assert compute.calls == 0 and out["a"].sum() == np.arange(100000.0).sum()


def test_the_cache_can_be_turned_off(folder, monkeypatch):
    monkeypatch.setenv("DOSEESC_CACHE", "off")
    compute = Counting()
    cached_arrays("test", KEY, compute)
    cached_arrays("test", KEY, compute)
    assert compute.calls == 2 and entry_path("test", KEY) is None
    assert list(folder.iterdir()) == []


def test_an_unwritable_folder_is_not_an_error(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("DOSEESC_CACHE_DIR", str(blocked / "cache"))
    compute = Counting()
    assert cached_arrays("test", KEY, compute)["a"][0] == 1.5
    assert compute.calls == 1


def test_the_default_folder_is_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("DOSEESC_CACHE_DIR", raising=False)
    monkeypatch.delenv("DOSEESC_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    if sys.platform.startswith("linux"):
        assert cache.cache_dir() == tmp_path / "doseesc"


def test_the_halpc_calibration_and_model_table_read_back_bit_for_bit(folder, monkeypatch):
    """A cached posterior and model table equal those computed afresh."""
    from doseesc.models import DoseLevels, Regimen, halpc_bleeding_model
    from doseesc.models.halpc import COHORTS, SENTINEL, fit_bleeding

    records = SENTINEL + COHORTS["least-exposure"]
    doses = DoseLevels.parse("0.6,1.2", "1e6cells/kg")

    def table(post):
        from doseesc.models.halpc import bleeding_mechanism
        from doseesc.models.mechanisms import MechanismModel
        from doseesc.population import Population

        mech = bleeding_mechanism(-3.0, 1.0, 1.0, posterior=post)
        return MechanismModel(
            doses, (mech,), Regimen(2, 7.0), Population(), events=(mech.name,)
        ).probability_table

    written = fit_bleeding(records, log2_draws=8)
    written_table = table(written)
    names = {p.name.split("-")[0] for p in folder.iterdir()}
    # The population's fitted Table 1 marginals may be cached beside them (table1-parents).
    assert {"halpc", "mechanism"} <= names <= {"halpc", "mechanism", "table1"}
    read = fit_bleeding(records, log2_draws=8)
    monkeypatch.setenv("DOSEESC_CACHE", "off")
    fresh = fit_bleeding(records, log2_draws=8)
    for a, b in ((written, read), (written, fresh)):
        np.testing.assert_array_equal(a.draws, b.draws)
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.log_evidence == b.log_evidence
    np.testing.assert_array_equal(table(fresh), written_table)
    assert halpc_bleeding_model(doses, posterior=True).probability_table.shape[1:] == (2, 2)
