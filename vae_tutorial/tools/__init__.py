"""Tools around the VAE: the command line, DDP, the benchmark and the article's reference pipeline.

A learner need not read these to learn the VAE. ``cli`` is ``python -m vae_tutorial``
(and ``vae-tutorial-train``); ``distributed`` trains under ``torchrun``; ``bench`` times
our pipeline against ``reference`` (the article's); ``hardware`` knows FLOPs and device
peaks; ``estimate`` projects a run's length from a few timed steps. The core and the
lessons never import from here.
"""
