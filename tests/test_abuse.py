"""Issue 15: the training run and the public functions under abuse, as a hostile but realistic user.

Three classes, as the issue counts them: work that was lost (an unwritable checkpoint found only
after an epoch, temporary files of killed saves), results that were silently wrong (a foreign
optimiser, a torn optimiser step, a resume that repeats the first epoch's noise, empty data),
and failures that reached the learner as PyTorch's or Python's raw message. Every case here
failed before the fix.
"""

import os
import signal
import warnings

import numpy as np
import pytest
import torch

import vae_tutorial.train
from vae_tutorial import (
    VAE,
    History,
    NonFiniteLossError,
    bits_per_dim,
    fit,
    iwae_bound,
    load_checkpoint,
    save_checkpoint,
)
from vae_tutorial.checkpoint import read_checkpoint
from vae_tutorial.train import TrainConfig, make_optimizer

CPU = {"device": "cpu", "progress": False}


def small(latent_dim=4):
    return VAE(latent_dim=latent_dim, backbone="small")


def config(epochs=1, **kwargs):
    return TrainConfig(epochs=epochs, batch_size=32, lr=2e-3, **kwargs)


def count_steps(monkeypatch):
    """Count Adam's steps (``calls["n"]``) without changing them."""
    calls, real_step = {"n": 0}, torch.optim.Adam.step

    def counted(self, *args, **kwargs):
        calls["n"] += 1
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counted)
    return calls


# --- Lost work -------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["under_a_file", "proc"])
def test_an_unwritable_checkpoint_fails_before_training(tmp_path, shapes_small, monkeypatch, where):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "vae.pt" if where == "under_a_file" else "/proc/vae_tutorial/vae.pt"
    steps = count_steps(monkeypatch)
    with pytest.raises(PermissionError, match="cannot write the checkpoint .*vae.pt"):
        fit(small(), shapes_small[0][:64], config(), checkpoint=path, **CPU)
    assert steps["n"] == 0  # refused before the first step: no epoch to lose


def test_stale_temporary_files_of_killed_saves_are_removed_and_reported(tmp_path, shapes_small):
    path = tmp_path / "vae.pt"
    stale = [tmp_path / ".vae.pt.abc123.tmp", tmp_path / ".vae.pt.zz9.tmp"]
    for file in stale:
        file.write_bytes(b"half a checkpoint")  # what a SIGKILL during torch.save leaves
    (tmp_path / ".other.pt.abc.tmp").write_bytes(b"")  # another checkpoint's: not ours to remove
    with pytest.warns(UserWarning, match=r"removed 2 temporary file\(s\).*\.vae\.pt\.abc123\.tmp"):
        save_checkpoint(path, small())
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.abc.tmp", "vae.pt"]
    stale[0].write_bytes(b"")
    with pytest.warns(UserWarning, match="removed 1 temporary"):  # also when a run starts
        fit(small(), shapes_small[0][:32], config(epochs=0), checkpoint=path, **CPU)
    assert not stale[0].exists()


# --- Silently wrong --------------------------------------------------------------------------

def test_an_optimizer_of_another_model_is_refused(tmp_path, shapes_small):
    model, other = small(), small()
    with pytest.raises(ValueError, match="does not update this model"):
        fit(model, shapes_small[0][:32], config(), optimizer=make_optimizer(other), **CPU)
    path = tmp_path / "vae.pt"
    save_checkpoint(path, model, optimizer=make_optimizer(model))
    with pytest.raises(ValueError, match="does not update this model"):
        load_checkpoint(path, model, make_optimizer(other))


def test_fit_keeps_its_optimizer_so_a_notebook_checkpoint_resumes_on_the_command_line(tmp_path, shapes_small):
    from vae_tutorial.tools.cli import main

    model = VAE(latent_dim=8, backbone="small")
    history = fit(model, shapes_small[0][:64], config(), **CPU)
    assert isinstance(history.optimizer, torch.optim.Adam)
    kept = {id(p) for group in history.optimizer.param_groups for p in group["params"]}
    assert kept == {id(p) for p in model.parameters()}
    path = tmp_path / "vae.pt"
    save_checkpoint(path, model, history)  # no optimizer argument: fit's own one is stored
    assert read_checkpoint(path)["optimizer"] is not None
    assert main(["--dataset", "shapes", "--train-images", "64", "--val-images", "0", "--batch-size", "32",
                 "--epochs", "1", "--device", "cpu", "--out", str(path), "--resume"]) == 0
    assert read_checkpoint(path)["history"]["steps"] == 4


def test_ctrl_c_inside_an_optimizer_step_never_tears_it(tmp_path, shapes_small, monkeypatch):
    """A real SIGINT lands inside Adam's loop over the parameters: the step still completes."""
    real_step, calls = torch.optim.Adam.step, {"n": 0}

    def step_hit_by_ctrl_c(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # delivered at the next bytecode: inside the step
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step_hit_by_ctrl_c)
    path = tmp_path / "vae.pt"
    before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN in a background job
    history = fit(small(), shapes_small[0][:256], config(epochs=3), checkpoint=path, **CPU)
    assert history.interrupted and history.steps == 3
    steps = {float(s["step"]) for s in read_checkpoint(path)["optimizer"]["state"].values()}
    assert steps == {3.0}  # every parameter took the same number of steps
    assert signal.getsignal(signal.SIGINT) is before  # fit put the handler back


def test_ctrl_c_during_validation_records_the_epoch_whole(tmp_path, shapes_small, monkeypatch):
    real_evaluate = vae_tutorial.train.evaluate

    def evaluate_hit_by_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(vae_tutorial.train, "evaluate", evaluate_hit_by_ctrl_c)
    images = shapes_small[0]
    path = tmp_path / "vae.pt"
    history = fit(small(), images[:64], config(epochs=3), val_images=images[64:96], checkpoint=path, **CPU)
    assert history.interrupted and history.epochs == 1 and len(history.val["elbo"]) == 1
    stored = read_checkpoint(path)["history"]
    assert len(stored["train"]["elbo"]) == len(stored["val"]["elbo"]) == 1


def test_one_epoch_and_a_resume_equal_two_epochs_in_one_go(tmp_path, shapes_small):
    images, val = shapes_small[0][:96], shapes_small[0][96:128]
    torch.manual_seed(0)
    straight = small()
    whole = fit(straight, images, config(epochs=2), val_images=val, **CPU)

    torch.manual_seed(0)
    path = tmp_path / "vae.pt"
    fit(small(), images, config(epochs=1), val_images=val, checkpoint=path, **CPU)
    torch.rand(1000)  # the session goes on: the generator moves
    model, history = load_checkpoint(path)
    load_checkpoint(path, model, optimizer := make_optimizer(model, config()))
    resumed = fit(model, images, config(epochs=1), val_images=val, optimizer=optimizer, history=history,
                  **CPU)
    assert resumed.train == whole.train and resumed.val == whole.val and resumed.steps == whole.steps
    for (name, a), b in zip(straight.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("what", ["images", "val_images"])
def test_empty_data_is_refused(shapes_small, what):
    images = shapes_small[0]
    arguments = {"images": images[:32], "val_images": images[:16]}
    arguments[what] = images[:0]
    with pytest.raises(ValueError, match=rf"{what} must have shape .*N >= 1.*\(0, 3, 32, 32\)"):
        fit(small(), arguments.pop("images"), config(), **arguments, **CPU)


def test_fewer_images_than_ranks_times_batch_is_refused(monkeypatch):
    import contextlib

    from vae_tutorial.tools import cli, distributed

    monkeypatch.setattr(distributed, "main_first", lambda ranks: contextlib.nullcontext())
    args = cli.build_parser().parse_args(["--dataset", "shapes", "--train-images", "1", "--val-images", "0",
                                          "--batch-size", "16"])
    with pytest.raises(ValueError, match="1 training images do not give each of the 2 ranks one batch of 8"):
        cli.load_training_images(args, distributed.Ranks(0, 2))


@pytest.mark.parametrize("call, message", [
    (lambda m, x: fit(m, x, TrainConfig(epochs=1, beta=-1), **CPU), "beta"),
    (lambda m, x: fit(m, x, TrainConfig(epochs=1, beta=float("nan")), **CPU), "beta"),
    (lambda m, x: fit(m, x, TrainConfig(epochs=True), **CPU), "epochs"),
    (lambda m, x: iwae_bound(m, torch.rand(2, 3, 32, 32), k=True), "k must be a positive integer"),
    (lambda m, x: bits_per_dim(1.0, dims=True), "dims"),
    (lambda m, x: bits_per_dim(1.0, dims=3072.5), "dims"),
])
def test_arguments_a_run_cannot_use_are_refused(shapes_small, call, message):
    with pytest.raises(ValueError, match=message):
        call(small(), shapes_small[0][:32])


def test_numpy_integers_are_accepted(shapes_small):
    settings = TrainConfig(epochs=np.int64(1), batch_size=np.int64(32))
    history = fit(small(), shapes_small[0][:32], settings, **CPU)
    assert history.epochs == 1 and bits_per_dim(0.0, dims=np.int64(2)) == 8.0


# --- Unclear ---------------------------------------------------------------------------------

def test_nan_parameters_are_reported_as_such(shapes_small):
    model = small()

    def poison(history):
        model.log_scale.data.fill_(float("nan"))

    history = fit(model, shapes_small[0][:64], config(), on_epoch_end=poison, **CPU)
    with pytest.raises(NonFiniteLossError, match="parameters are already NaN or infinite .log_scale."):
        fit(model, shapes_small[0][:64], config(), history=history, **CPU)


def test_finite_parameters_with_a_non_finite_loss_are_reported_as_such(shapes_small):
    model = small()
    model.log_scale.data.fill_(-200.0)  # finite, but exp(-200) is 0 in float32: log p(x|z) = -inf
    with pytest.raises(NonFiniteLossError, match="parameters are finite") as error:
        fit(model, shapes_small[0][:64], config(), **CPU)
    assert "mean log p(x|z) nan" in str(error.value) and "already NaN" not in str(error.value)


def test_two_quick_ctrl_c_presses_save_and_say_so(tmp_path, monkeypatch, capsys):
    """The first press lands in a step, the second while fit writes the checkpoint."""
    from vae_tutorial.tools.cli import EXIT_INTERRUPTED, main

    real_step, real_save, calls = torch.optim.Adam.step, torch.save, {"n": 0}

    def step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, *args, **kwargs)

    def save(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)
        real_save(*args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "vae.pt"
    code = main(["--dataset", "shapes", "--backbone", "small", "--latent-dim", "8", "--train-images", "64",
                 "--val-images", "0", "--batch-size", "32", "--epochs", "5", "--device", "cpu",
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == EXIT_INTERRUPTED and "interrupted: saved" in captured.out
    assert "nothing saved" not in captured.err
    assert read_checkpoint(out)["history"]["interrupted"]


def checkpoint_with(tmp_path, state):
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("call, error, message", [
    (lambda: fit(small().double(), torch.zeros(8, 3, 32, 32, dtype=torch.uint8), config(), **CPU), TypeError,
     "fit trains float32 models"),
    (lambda: save_checkpoint(small(), "vae.pt"), TypeError, "takes the path first"),
    (lambda: fit(small(), torch.zeros(8, 3, 32, 32, dtype=torch.uint8), config(), device="gpu",
                 progress=False), ValueError, "device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"),
])
def test_raw_messages_become_the_packages_own(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(ValueError, match="this machine has 0 CUDA GPU"):
        fit(small(), torch.zeros(8, 3, 32, 32, dtype=torch.uint8), config(), device="cuda", progress=False)


def test_a_random_bytes_checkpoint_never_repeats_torchs_unsafe_advice(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a readable checkpoint") as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value) and error.value.__cause__ is None


def test_a_checkpoint_with_code_in_it_is_refused_unread(tmp_path):
    state = {"format": 1, "config": {}, "model": {}, "hook": warnings.WarningMessage}  # a class: code
    path = checkpoint_with(tmp_path, state)
    with pytest.raises(ValueError, match="refused unread") as error:
        load_checkpoint(path)
    assert "weights_only" not in str(error.value)


@pytest.mark.parametrize("state, message", [
    ({"format": 1, "config": {"latent_dim": 0}, "model": {}}, "model config that is not valid.*latent_dim"),
    ({"format": 1, "config": {"latent_dim": 4, "depth": 3}, "model": {}},
     "model config that is not valid.*depth"),
    ({"format": 1, "config": {"latent_dim": 4}}, "missing: model"),
])
def test_a_format_1_checkpoint_with_a_bad_config_is_named(tmp_path, state, message):
    with pytest.raises(ValueError, match=message):
        load_checkpoint(checkpoint_with(tmp_path, state))


@pytest.mark.parametrize("extra, message", [
    (["--device", "gpu"], "device must be 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu'"),
    pytest.param(["--device", "cuda"], "device 'cuda' asked for, but this machine has 0 CUDA GPU(s)",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")),
    (["--lr", "-1e-3"], "argument --lr: must be a positive number, got -1e-3"),
    (["--beta", "inf"], "argument --beta: must be 0 or a positive number, got inf"),
    (["--lr", "nan"], "argument --lr: must be a positive number, got nan"),
])
def test_command_line_mistakes_get_the_packages_message(tmp_path, capsys, extra, message):
    from vae_tutorial.tools.cli import main

    arguments = ["--dataset", "shapes", "--backbone", "small", "--train-images", "32", "--val-images", "0",
                 "--out", str(tmp_path / "vae.pt"), *extra]
    try:
        code = main(arguments)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    assert code in (1, 2) and message in capsys.readouterr().err


def test_a_folder_as_out_is_refused_before_training(tmp_path, capsys):
    from vae_tutorial.tools.cli import main

    assert main(["--dataset", "shapes", "--backbone", "small", "--train-images", "32", "--val-images", "0",
                 "--device", "cpu", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert f"--out {tmp_path} is a folder; give a file path in it" in captured.err
    assert "epoch 1" not in captured.out


def test_history_equality_ignores_the_optimizer():
    assert History(optimizer=object()) == History() and "optimizer" not in History().to_dict()
