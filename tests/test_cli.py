"""The command line ``python -m vae_tutorial``: runs, resumes, stops on Ctrl-C, refuses bad input."""

import inspect
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import vae_tutorial.tools.cli
import vae_tutorial.train
from vae_tutorial.checkpoint import read_checkpoint
from vae_tutorial.tools.cli import DEFAULTS, EXIT_INTERRUPTED, build_parser, main, model_config, train_config
from vae_tutorial.train import TrainConfig

TINY = ["--dataset", "shapes", "--backbone", "small", "--latent-dim", "8", "--train-images", "64",
        "--val-images", "16", "--batch-size", "32", "--lr", "2e-3", "--device", "cpu"]


def train(tmp_path, *extra: str) -> int:
    return main([*TINY, "--out", str(tmp_path / "vae.pt"), *extra])


def patch_saves(monkeypatch, replacement):
    """Checkpoints are written by ``fit`` after each epoch (``vae_tutorial.train.save_checkpoint``)
    and by the command line after an interruption (``vae_tutorial.tools.cli.save_checkpoint``):
    route both through ``replacement``."""
    monkeypatch.setattr(vae_tutorial.train, "save_checkpoint", replacement)
    monkeypatch.setattr(vae_tutorial.tools.cli, "save_checkpoint", replacement)


def test_trains_and_writes_a_checkpoint_each_epoch(tmp_path, monkeypatch, capsys):
    saved_epochs = []
    real_save = vae_tutorial.train.save_checkpoint

    def spy(path, model, history, *args, **kwargs):
        saved_epochs.append(history.epochs)
        real_save(path, model, history, *args, **kwargs)

    patch_saves(monkeypatch, spy)
    assert train(tmp_path, "--epochs", "2") == 0
    assert saved_epochs == [1, 2]
    output = capsys.readouterr().out
    assert "epoch 1:" in output and "epoch 2:" in output and "val elbo" in output
    state = read_checkpoint(tmp_path / "vae.pt")
    assert state["config"] == {"latent_dim": 8, "backbone": "small", "likelihood": "scalar"}
    assert state["train_config"]["epochs"] == 2 and state["train_config"]["batch_size"] == 32
    assert state["train_config"]["lr"] == pytest.approx(2e-3)
    assert [p.name for p in tmp_path.iterdir()] == ["vae.pt"]  # no temporary files left


def test_resume_continues_history_and_optimiser(tmp_path):
    assert train(tmp_path, "--epochs", "2") == 0
    first = read_checkpoint(tmp_path / "vae.pt")
    assert train(tmp_path, "--epochs", "1", "--resume") == 0
    resumed = read_checkpoint(tmp_path / "vae.pt")
    history = resumed["history"]
    steps_per_epoch = 64 // 32
    assert len(history["train"]["elbo"]) == 3 and len(history["val"]["elbo"]) == 3  # N + M epochs
    assert history["train"]["elbo"][:2] == first["history"]["train"]["elbo"]
    assert history["steps"] == 3 * steps_per_epoch
    # Adam's own step counters went on from the stored ones: its state was restored, not restarted.
    adam_steps = {float(s["step"]) for s in resumed["optimizer"]["state"].values()}
    assert adam_steps == {3.0 * steps_per_epoch}
    networks, scale = resumed["optimizer"]["param_groups"]
    assert networks["lr"] == pytest.approx(2e-3) and scale["lr"] == pytest.approx(DEFAULTS.scale_lr)
    assert not torch.equal(resumed["model"]["log_scale"], first["model"]["log_scale"])  # it trained


def test_resume_takes_the_model_settings_from_the_checkpoint(tmp_path):
    assert train(tmp_path, "--epochs", "1", "--likelihood", "channel") == 0
    # Without model flags the stored model is rebuilt: no need to repeat them.
    assert main(["--dataset", "shapes", "--train-images", "64", "--val-images", "0", "--epochs", "1",
                 "--device", "cpu", "--out", str(tmp_path / "vae.pt"), "--resume"]) == 0
    state = read_checkpoint(tmp_path / "vae.pt")
    assert state["config"] == {"latent_dim": 8, "backbone": "small", "likelihood": "channel"}
    assert len(state["history"]["train"]["elbo"]) == 2


def test_model_config_prefers_the_command_line_then_the_checkpoint():
    args = build_parser().parse_args(["--latent-dim", "32"])
    assert model_config(args, None).backbone == "resnet18"  # the article's model by default
    config = model_config(args, {"latent_dim": 8, "backbone": "small", "likelihood": "pixel"})
    assert (config.latent_dim, config.backbone, config.likelihood) == (32, "small", "pixel")


def test_cures_for_collapse_reach_the_training_config():
    plain = train_config(build_parser().parse_args([]), None, 1)
    assert (plain.kl_warmup_epochs, plain.free_bits) == (0, 0)  # no cure unless asked for
    args = build_parser().parse_args(["--kl-warmup-epochs", "2.5", "--free-bits", "0.5"])
    config = train_config(args, None, 1)
    assert (config.kl_warmup_epochs, config.free_bits) == (2.5, 0.5)


def test_ctrl_c_in_a_step_saves_and_exits_cleanly(tmp_path, monkeypatch, capsys):
    """Ctrl-C arrives as KeyboardInterrupt in the middle of the second epoch."""
    real_epoch = vae_tutorial.train.train_epoch

    def interrupted_in_epoch_2(*args, **kwargs):
        if inspect.signature(real_epoch).bind(*args, **kwargs).arguments["history"].epochs == 1:  # 0-based
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(vae_tutorial.train, "train_epoch", interrupted_in_epoch_2)
    assert train(tmp_path, "--epochs", "5") == EXIT_INTERRUPTED
    assert "continue with the same command and --resume" in capsys.readouterr().out
    history = read_checkpoint(tmp_path / "vae.pt")["history"]
    assert len(history["train"]["elbo"]) == 1 and history["interrupted"]


def test_ctrl_c_while_saving_still_saves(tmp_path, monkeypatch):
    real_save = vae_tutorial.train.save_checkpoint
    calls = []

    def interrupted_first_save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_save(*args, **kwargs)

    patch_saves(monkeypatch, interrupted_first_save)
    assert train(tmp_path, "--epochs", "3") == EXIT_INTERRUPTED
    history = read_checkpoint(tmp_path / "vae.pt")["history"]
    assert len(history["train"]["elbo"]) == 1 and history["interrupted"]


def test_sigint_to_the_process_saves_and_exits_130(tmp_path):
    """The real thing: ``python -m vae_tutorial`` sent SIGINT (what Ctrl-C sends)."""
    out = tmp_path / "vae.pt"
    command = [sys.executable, "-m", "vae_tutorial", *TINY, "--epochs", "1000", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=tmp_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)  # the checkpoint appears after the first epoch
    assert out.exists(), process.communicate(timeout=60)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == EXIT_INTERRUPTED, stderr[-2000:]
    assert "Traceback" not in stderr and "interrupted: saved" in stdout
    history = read_checkpoint(out)["history"]
    assert history["interrupted"] and len(history["train"]["elbo"]) >= 1


def test_module_runs_without_warnings():
    """``python -m vae_tutorial`` runs its ``__main__`` without warnings (e.g. a module imported twice)."""
    result = subprocess.run([sys.executable, "-W", "error", "-m", "vae_tutorial", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--resume" in result.stdout and "--dataset {cifar10,shapes}" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, got 0"),
    (["--batch-size", "-8"], "argument --batch-size: must be a positive integer, got -8"),
    (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
    (["--beta", "-1"], "argument --beta: must be 0 or a positive number, got -1"),
    (["--epochs", "-1"], "argument --epochs: must be 0 or a positive integer, got -1"),
    (["--kl-warmup-epochs", "-1"], "argument --kl-warmup-epochs: must be 0 or a positive number, got -1"),
    (["--free-bits", "nan"], "argument --free-bits: must be 0 or a positive number, got nan"),
    (["--backbone", "vgg"], "argument --backbone: invalid choice: 'vgg'"),
    (["--precision", "fp16"], "argument --precision: invalid choice: 'fp16'"),
])
def test_bad_arguments_are_refused_by_the_parser(arguments, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(arguments)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_resume_of_another_model_shape_is_refused(tmp_path, capsys):
    assert train(tmp_path, "--epochs", "1") == 0
    assert train(tmp_path, "--epochs", "1", "--resume", "--latent-dim", "16") == 1
    error = capsys.readouterr().err
    assert "error: checkpoint" in error and "latent_dim=8" in error and "latent_dim=16" in error


def test_resume_without_a_checkpoint_is_refused(tmp_path, capsys):
    assert train(tmp_path, "--epochs", "1", "--resume") == 1
    assert "--resume: no checkpoint at" in capsys.readouterr().err


def test_validation_may_not_take_every_image(tmp_path, monkeypatch, capsys):
    fake_cifar10 = torch.zeros(100, 3, 32, 32, dtype=torch.uint8), torch.zeros(100, dtype=torch.int64)
    monkeypatch.setattr(vae_tutorial.tools.cli, "load_cifar10", lambda *args, **kwargs: fake_cifar10)
    assert main(["--val-images", "100", "--out", str(tmp_path / "vae.pt"), "--device", "cpu"]) == 1
    assert "--val-images 100 leaves no training images out of 100" in capsys.readouterr().err


def test_a_new_run_does_not_overwrite_a_checkpoint(tmp_path, capsys):
    assert train(tmp_path, "--epochs", "1") == 0
    before = (tmp_path / "vae.pt").read_bytes()
    assert train(tmp_path, "--epochs", "1") == 1
    assert "exists: add --resume to continue that run" in capsys.readouterr().err
    assert (tmp_path / "vae.pt").read_bytes() == before


def test_cifar10_offline_is_a_clear_error_not_a_fallback(tmp_path, capsys):
    code = main(["--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--no-download",
                 "--out", str(tmp_path / "vae.pt"), "--device", "cpu"])
    assert code == 1
    error = capsys.readouterr().err
    assert "CIFAR-10 was not found under" in error and "cifar-10-python.tar.gz" in error
    assert not (tmp_path / "vae.pt").exists()


def test_log_scale_gets_its_own_step_size():
    """make_optimizer(TrainConfig(scale_lr=...)): Adam's first step moves each parameter by about its lr."""
    from vae_tutorial import VAE
    from vae_tutorial.train import make_optimizer

    model = VAE(latent_dim=4, backbone="small")
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3, scale_lr=1e-2))
    networks, scale = optimizer.param_groups
    assert scale["params"] == [model.log_scale] and scale["lr"] == 1e-2 and networks["lr"] == 1e-3
    assert len(networks["params"]) + 1 == len(list(model.parameters()))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    moved = {name: (p - before[name]).abs().max().item() for name, p in model.named_parameters()}
    assert moved["log_scale"] == pytest.approx(1e-2, rel=1e-3)
    assert moved["fc_mu.weight"] == pytest.approx(1e-3, rel=1e-3)


def test_console_script_points_at_main():
    """pyproject's ``vae-tutorial-train`` runs the same ``main`` as ``python -m vae_tutorial``."""
    import importlib
    from pathlib import Path

    tomllib = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    module, _, name = pyproject["project"]["scripts"]["vae-tutorial-train"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
