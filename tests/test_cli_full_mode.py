"""The command line's full-mode path: ``python -m vae_tutorial --dataset cifar10``, then ``--resume``.

Issue 17.

The learner's command with the article's model (ResNet-18, 256-d latent: the defaults) on a
small fake CIFAR-10 in torchvision's real on-disk format (``tests/test_data.py`` writes it)
under ``data/`` of a scratch working directory, so the default ``--data-dir`` and ``--out``
are the ones used; only the sizes are tiny, and the device is the CPU.

Each run is a fresh Python process that runs the package's ``__main__`` exactly as
``python -m`` does (``runpy.run_module``), after one visible change: torchvision's md5 check
becomes an existence check, as in ``tests/test_data.py`` (our files have the real format but
not the real bytes). Warnings are errors there (``-W error``), as in the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_data import write_fake_cifar10

from vae_tutorial.checkpoint import read_checkpoint

FAKE_INTEGRITY_THEN_MAIN = """\
import runpy
import torchvision.datasets.cifar as tv_cifar
tv_cifar.check_integrity = lambda path, md5=None: tv_cifar.os.path.isfile(path)  # fake bytes, real format
runpy.run_module("vae_tutorial", run_name="__main__", alter_sys=True)  # what `python -m vae_tutorial` does
"""
TINY = ["--dataset", "cifar10", "--train-images", "32", "--val-images", "16", "--batch-size", "16",
        "--epochs", "1", "--device", "cpu"]


def python_m_vae_tutorial(cwd: Path, *arguments: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "VAE_TUTORIAL_QUICK"}
    return subprocess.run([sys.executable, "-W", "error", "-c", FAKE_INTEGRITY_THEN_MAIN, *arguments],
                          cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture
def learner_folder(tmp_path) -> Iterator[Path]:
    write_fake_cifar10(tmp_path / "data", n_per_batch=20)  # 100 training images, 20 test images
    yield tmp_path
    shutil.rmtree(tmp_path / "checkpoints", ignore_errors=True)  # ResNet-18 with Adam's state: 240 MB


def test_cifar10_run_then_resume_with_the_articles_model(learner_folder):
    first = python_m_vae_tutorial(learner_folder, *TINY)
    assert first.returncode == 0, first.stderr[-3000:]
    out = learner_folder / "checkpoints" / "vae_cifar10.pt"  # the default --out
    article_model = "VAEConfig(latent_dim=256, backbone='resnet18', likelihood='scalar')"
    assert f"new run: {article_model} on 32 cifar10 images" in first.stdout, first.stdout
    assert f"done: 1 epochs, 2 steps; saved {out.relative_to(learner_folder)}" in first.stdout, first.stdout
    stored = read_checkpoint(out)
    assert stored["config"] == {"latent_dim": 256, "backbone": "resnet18", "likelihood": "scalar"}

    again = python_m_vae_tutorial(learner_folder, *TINY, "--resume")  # no model flags: the checkpoint's model
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming after epoch 1: {article_model}" in again.stdout, again.stdout
    assert "done: 2 epochs, 4 steps" in again.stdout and "epoch 2:" in again.stdout, again.stdout
    resumed = read_checkpoint(out)
    history = resumed["history"]
    assert len(history["train"]["elbo"]) == 2 and len(history["val"]["elbo"]) == 2 and history["steps"] == 4
    assert history["train"]["elbo"][:1] == stored["history"]["train"]["elbo"]  # continued, not restarted
    adam_steps = {float(state["step"]) for state in resumed["optimizer"]["state"].values()}
    assert adam_steps == {4.0}  # Adam's state came back from the checkpoint
    assert "Traceback" not in first.stderr + again.stderr
