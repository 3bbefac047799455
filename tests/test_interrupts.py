"""A signal that arrives during an import is raised just after it (doseesc.interrupts): raising
inside a compiled extension's initialisation made the interpreter abort at exit."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import time

import pytest

from doseesc import interrupts

MODULE = """
import os, signal, time
os.kill(os.getpid(), signal.{name})
deadline = time.monotonic() + 0.3
while time.monotonic() < deadline:  # Python code inside the import: a handler could run here
    pass
COMPLETE = True
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_an_import_is_raised_after_the_import_completes(tmp_path, monkeypatch, signum):
    name = f"doseesc_interrupt_probe_{signum.name.lower()}"
    (tmp_path / f"{name}.py").write_text(MODULE.format(name=signum.name))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.handled():
        module = importlib.import_module(name)
        assert module.COMPLETE  # the import ran to its end
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the signal is sent again within RETRY_SECONDS
            time.sleep(0.01)
    assert caught.value.signum == signum
    assert sys.modules[name].COMPLETE
    assert interrupts.received() == signum


def test_a_signal_recorded_during_an_import_ends_the_command_even_if_the_block_returns(tmp_path, monkeypatch):
    name = "doseesc_interrupt_probe_quick"
    (tmp_path / f"{name}.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(interrupts, "RETRY_SECONDS", 0.5)
    with interrupts.handled():
        importlib.import_module(name)  # the block ends long before the signal would be sent again
    assert interrupts.received() == signal.SIGTERM
    with pytest.raises(interrupts.Interrupted):
        interrupts.check()
    late: list[int] = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: late.append(signum))
    try:
        time.sleep(1.0)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert late == []  # the retry was cancelled when the block ended


def test_an_interrupt_a_library_turns_into_its_own_error_still_exits_as_the_interrupt(
    monkeypatch, capsys, tmp_path
):
    """pybind11 (matplotlib's transforms) reports an exception raised during argument conversion as
    a TypeError; found by sending SIGTERM during ``doseesc run``'s figures."""
    from doseesc import cli

    def converted(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)  # the handler raises here
        except KeyboardInterrupt:
            raise TypeError("incompatible function arguments") from None
        return 0

    monkeypatch.setattr(cli, "_validate", converted)
    (tmp_path / "s.toml").write_text("")
    status = cli.main(["validate", str(tmp_path / "s.toml")])
    err = capsys.readouterr().err
    assert status == 128 + signal.SIGTERM
    assert err.count("\n") == 1 and err.startswith("doseesc: interrupted (SIGTERM)"), err
