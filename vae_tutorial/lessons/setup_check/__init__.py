"""Lesson machinery for lesson 0, the setup check (``notebooks/00_setup_check.ipynb``).

A learner need not read it. ``exercises``: the checks of the lesson's exercises.
"""
