"""Ctrl-C (SIGINT) recorded instead of raised, where a ``KeyboardInterrupt`` would break something.

Inside ``torch.save`` it would break the zip writer and lose the file; inside an optimiser step
it would leave some parameters updated and others not. ``fit`` records presses for the whole
run and stops between two steps; ``ctrl_c_held`` holds them for one block (a save) and then
acts on them as the handler before it would have. Only the main thread handles signals;
elsewhere nothing is recorded and the block runs as it is.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Presses:
    """How many times Ctrl-C was pressed while recording."""

    def __init__(self) -> None:
        self.count = 0

    def record(self, signum: int = signal.SIGINT, frame: object = None) -> None:
        self.count += 1


@contextmanager
def deferred_interrupts() -> Iterator[Presses]:
    """Record SIGINT for the block instead of raising; the block checks ``count`` where it is safe."""
    presses = Presses()
    if threading.current_thread() is not threading.main_thread():
        yield presses
        return
    previous = signal.signal(signal.SIGINT, presses.record)
    try:
        yield presses
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, then hand it to the handler before (Python's raises
    ``KeyboardInterrupt``; ``fit``'s records it)."""
    previous = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as presses:
        try:
            yield
        finally:
            if presses.count and callable(previous):
                signal.signal(signal.SIGINT, previous)  # restored before it acts (it may raise)
                previous(signal.SIGINT, None)
