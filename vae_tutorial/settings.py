"""Quick mode, read in one place.

``VAE_TUTORIAL_QUICK=1`` (set by ``make test``) shrinks every long run — data as well as
epochs — so all notebooks run on a 2-core CPU in minutes, offline, on the shapes data.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")


def is_quick() -> bool:
    """True when the environment asks for quick mode (``VAE_TUTORIAL_QUICK`` = 1/true/yes)."""
    return os.environ.get("VAE_TUTORIAL_QUICK", "").strip().lower() in {"1", "true", "yes"}


def quick_or_full(quick: T, full: T) -> T:
    """``quick`` in quick mode, else ``full``: the one switch a settings cell uses."""
    return quick if is_quick() else full
