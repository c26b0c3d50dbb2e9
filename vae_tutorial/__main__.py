"""``python -m vae_tutorial``: the training command line (``vae_tutorial.tools.cli``), lesson 3."""

from vae_tutorial.tools.cli import main

raise SystemExit(main())
