"""Every notebook fits Binder's 2 GB of memory in quick mode (issue 8).

Each notebook runs in a fresh subprocess that executes it with nbclient, as Binder's
kernel would, then reads ``ru_maxrss`` of its children: the peak resident memory of the
kernel, the process that holds the lesson's tensors and models. The Jupyter server and
the browser tab's share are not in that number, so the kernel must stay under the limit
with room to spare (``SERVER_ROOM``). The measured peaks are printed with the test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MIB = 1024**2
BINDER_LIMIT = 2048 * MIB  # mybinder.org's memory limit per session
SERVER_ROOM = 512 * MIB  # left for the Jupyter server (~150 MB) and the image's other processes

# Runs in the subprocess: execute the notebook, shut its kernel down (which reaps it),
# and report the largest child's peak resident set size (Linux gives it in KiB).
MEASURE = """
import json, resource, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

path = Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
start = time.perf_counter()
NotebookClient(notebook, timeout=1200, resources={"metadata": {"path": str(path.parent)}}).execute()
print(json.dumps({"peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
                  "seconds": time.perf_counter() - start}))
"""


def kernel_peak_memory(path: Path) -> dict:
    """Run ``path`` in quick mode in a subprocess; its kernel's peak memory (bytes) and wall time."""
    env = {**os.environ, "VAE_TUTORIAL_QUICK": "1", "MPLBACKEND": "agg"}
    result = subprocess.run([sys.executable, "-c", MEASURE, str(path)], env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, f"{path.name} failed to run:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_fits_in_binder_memory(path, capsys):
    measured = kernel_peak_memory(path)
    peak = measured["peak_bytes"]
    with capsys.disabled():
        print(f"\n[memory] {path.name}: kernel peak {peak / MIB:.0f} MiB in quick mode "
              f"({measured['seconds']:.0f} s), Binder limit {BINDER_LIMIT / MIB:.0f} MiB")
    assert peak > 50 * MIB, "implausibly small: the measurement did not see the kernel"
    assert peak < BINDER_LIMIT - SERVER_ROOM, f"{path.name} needs {peak / MIB:.0f} MiB in quick mode"
