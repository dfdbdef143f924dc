"""The dependency rules of DESIGN.md: hdl never imports torch, golden never imports amaranth."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("package, forbidden", [
    ("spikeforge.hdl.network", "torch"),
    ("spikeforge.hdl.verilog", "torch"),
    ("spikeforge.golden", "amaranth"),
    ("spikeforge.golden.float_neurons", "amaranth"),
    ("spikeforge.netspec", "torch"),
    ("spikeforge.netspec", "amaranth"),
])
def test_package_does_not_import(package, forbidden):
    code = (f"import sys, {package}; "
            f"bad = sorted(m for m in sys.modules if m == {forbidden!r} or m.startswith({forbidden!r} + '.')); "
            "print(' '.join(bad)); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, f"{package} imports {done.stdout.strip()}"
