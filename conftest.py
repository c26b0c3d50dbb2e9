"""Every notebook fits Binder's 2 GB, measured inside the one nbval run (no second execution).

nbval runs each notebook's cells as pytest items in one kernel per notebook. After the last
cell this adds one more item, "kernel peak memory", that reads the kernel's peak resident
memory (``VmHWM`` in ``/proc/<pid>/status``, Linux) before nbval shuts the kernel down, and
fails when it would not fit in mybinder.org's 2 GB with room for the Jupyter server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MIB = 1024**2
BINDER_LIMIT = 2048 * MIB  # mybinder.org's memory limit per session
SERVER_ROOM = 512 * MIB  # left for the Jupyter server (~150 MB) and the image's other processes
PEAKS = pytest.StashKey[dict]()  # notebook name -> its kernel's peak memory in bytes


def peak_resident_bytes(pid: int) -> int | None:
    """The peak resident set size of process ``pid`` in bytes, or None where /proc cannot tell."""
    status = Path(f"/proc/{pid}/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # the kernel reports kB
    return None


class KernelPeakMemory(pytest.Item):
    """The notebook's kernel, after its last cell, must have stayed under Binder's limit."""

    def runtest(self) -> None:
        kernel = self.parent.kernel
        if kernel is None or not kernel.is_alive():
            pytest.skip("the notebook's kernel is not running (an earlier cell failed or timed out)")
        peak = peak_resident_bytes(kernel.km.provisioner.process.pid)
        if peak is None:
            pytest.skip("peak memory is read from /proc, which this system does not have")
        self.config.stash.setdefault(PEAKS, {})[self.parent.path.name] = peak
        assert peak > 50 * MIB, "implausibly small: the measurement did not see the kernel"
        assert peak < BINDER_LIMIT - SERVER_ROOM, f"{self.parent.path.name} needs {peak / MIB:.0f} MiB"

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::kernel peak memory"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """After each notebook's last cell, one ``KernelPeakMemory`` item on the same kernel."""
    last_of_notebook = {}
    for index, item in enumerate(items):
        if type(item.parent).__name__ == "IPyNbFile":  # nbval's collector: one kernel per notebook
            last_of_notebook[item.parent] = index
    for notebook, index in sorted(last_of_notebook.items(), key=lambda pair: -pair[1]):
        items.insert(index + 1, KernelPeakMemory.from_parent(notebook, name="kernel peak memory"))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Each notebook's measured peak, so the test log shows how much room is left."""
    peaks = config.stash.get(PEAKS, {})
    if peaks:
        terminalreporter.section("kernel peak memory per notebook")
        for name, peak in sorted(peaks.items()):
            terminalreporter.write_line(f"{name}: {peak / MIB:.0f} MiB (Binder: {BINDER_LIMIT // MIB} MiB)")
