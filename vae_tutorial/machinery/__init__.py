"""Machinery the core leans on but a learner need not read: Ctrl-C held where it would break
something (``interrupts``), and checkpoint files written safely (``files``)."""
