"""The notebooks' memory check (conftest.py at the repository root) reads the right number."""

import importlib.util
import os
import resource
from pathlib import Path

import pytest

# The repository root's conftest.py (tests/conftest.py would shadow it as a plain import).
ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
ROOT_CONFTEST = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(ROOT_CONFTEST)
peak_resident_bytes = ROOT_CONFTEST.peak_resident_bytes


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc (Linux)")
def test_peak_resident_bytes_is_the_peak_the_kernel_reports():
    """VmHWM of this process equals its ru_maxrss: the same peak, read two independent ways."""
    block = bytearray(200 * 1024**2)  # raise the peak by 200 MiB, so it is not just start-up
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
    peak = peak_resident_bytes(os.getpid())
    assert peak == pytest.approx(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, rel=0.01)
    assert peak > 200 * 1024**2
    assert peak_resident_bytes(2**22 + 12345) is None  # no such process
