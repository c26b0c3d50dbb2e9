"""Run a lesson's code cells in this process, so that a test can swap in a wrong version of an idea.

Used by the ``test_asserts_bite*.py`` files: each runs a lesson's cells in order, with a part of
the package (or of the notebook's own namespace) replaced by a deliberately wrong version of
what the lesson teaches (the KL averaged instead of summed, q and p swapped, the ELBO's sign
flipped, σ fixed, ...), and requires that one of the lesson's ``assert`` cells fails.

How to use it (lessons 3 and 4 can follow the same pattern in their own file):

    def test_kl_averaged_is_caught(monkeypatch):
        monkeypatch.setattr(vae_tutorial, "kl_monte_carlo", averaged_kl)  # before the imports cell runs
        failure = first_failing_assert("01_kl_term.ipynb")
        assert failure is not None, "no assert of lesson 1 noticed the averaged KL"

``monkeypatch.setattr`` on a package module works because the lesson's imports cell runs
after it (``from vae_tutorial import kl_monte_carlo`` then picks the wrong version). To swap a
name only from a given cell on, pass ``replace={"name": value}`` and ``replace_from`` (a piece of
that cell's source).

IPython magics (``%matplotlib inline``, ``%pip``) are dropped; cells that build a widget
explorer are skipped by default (``skip``), since no assert depends on them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)  # an IPython magic line, and its indentation
EXPLORER_CELLS = ("_explorer(",)


def code_cells(notebook: str) -> list[str]:
    """The sources of ``notebook``'s code cells, in order, IPython magics removed."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return [MAGIC.sub(r"\1pass", "".join(cell["source"])) for cell in cells if cell["cell_type"] == "code"]


@dataclass
class Failure:
    """The first assert of a run that failed: which code cell (0-based among code cells) and why."""

    cell: int
    source: str
    message: str


def first_failing_assert(notebook: str, until: str | None = None, replace: Mapping[str, object] | None = None,
                         replace_from: str | None = None,
                         skip: Sequence[str] = EXPLORER_CELLS) -> Failure | None:
    """Run the code cells of ``notebook`` in one namespace; return the first ``AssertionError``, or None.

    Args:
        until: stop after the first cell whose source contains this text (None: run them all).
        replace: names to overwrite in the notebook's namespace, before every cell from the one
            containing ``replace_from`` on (from the first cell when ``replace_from`` is None).
        skip: cells containing any of these texts are not run (widget explorers).
    Any other exception propagates: a wrong version must be caught by an assert, not by a crash.
    """
    matplotlib.use("Agg")
    namespace: dict[str, object] = {"__name__": "__lesson__"}
    replacing = replace_from is None
    for index, source in enumerate(code_cells(notebook)):
        replacing = replacing or (replace_from is not None and replace_from in source)
        if any(text in source for text in skip):
            continue
        if replace and replacing:
            namespace.update(replace)
        try:
            exec(compile(source, f"<{notebook} code cell {index}>", "exec"), namespace)  # noqa: S102
        except AssertionError as error:
            return Failure(cell=index, source=source, message=str(error))
        finally:
            import matplotlib.pyplot as plt

            plt.close("all")
        if until is not None and until in source:
            break
    return None
