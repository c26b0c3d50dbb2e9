"""Lesson machinery: what each lesson's experiments, figures and explorers need.

A learner need not read this folder: the VAE itself is the core one folder up
(``vae_tutorial/*.py``). One sub-package per lesson, named after its notebook, plus
``shared`` for what several lessons use (the explorer base, image grids, posterior
statistics, the published bits/dim table). No lesson imports another lesson's module.
"""
