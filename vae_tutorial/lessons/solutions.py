"""Solutions to the lessons' exercises, all in one place: try each exercise before you read its solution.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).

Each lesson ends with exercises: a function to write (its stub raises ``NotImplementedError``)
and a ``check_<name>`` call that says what is wrong. The functions below are the reference
answers, in the order of the lessons; the tests run every check against them.
"""

from __future__ import annotations

# --- Lesson 1: the KL term (notebooks/01_kl_term.ipynb) -----------------------------------


# --- Lesson 2: the reconstruction term (notebooks/02_reconstruction_term.ipynb) -----------


# --- Lesson 3: training on CIFAR-10 (notebooks/03_train_on_cifar10.ipynb) -----------------


# --- Lesson 4: the latent space (notebooks/04_latent_space.ipynb) -------------------------


# --- Lesson 5: where the ELBO comes from (notebooks/05_the_elbo_gap.ipynb) -----------------
