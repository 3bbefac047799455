"""A signal that arrives during an import is raised just after it (doseesc.interrupts): raising
inside a compiled extension's initialisation made the interpreter abort at exit."""

from __future__ import annotations

import importlib
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
