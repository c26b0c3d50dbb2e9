"""fit, evaluate and checkpoints: learning, resuming, interrupting, NaN and bad input."""

import os
import signal
from dataclasses import fields

import pytest
import torch

from vae_tutorial import VAE, History, NonFiniteLossError, evaluate, fit, load_checkpoint, save_checkpoint
from vae_tutorial.train import TrainConfig, autocast_dtype, make_optimizer

CONFIG_FIELDS = {field.name for field in fields(TrainConfig)}


def quick_fit(model, images, epochs=1, **kwargs):
    """``fit`` on the CPU; keyword arguments that are ``TrainConfig`` fields go into the config."""
    settings = {name: kwargs.pop(name) for name in list(kwargs) if name in CONFIG_FIELDS}
    config = TrainConfig(epochs=epochs, batch_size=64, lr=2e-3, **settings)
    return fit(model, images, config, device="cpu", progress=False, **kwargs)


def test_fit_improves_the_elbo_on_shapes(shapes_small):
    images, _ = shapes_small
    model = VAE(latent_dim=16, backbone="small")
    before = evaluate(model, images[:256])
    history = quick_fit(model, images, epochs=4, val_images=images[:256])
    assert history.epochs == 4 and len(history.val["elbo"]) == 4
    assert history.train["elbo"][-1] > history.train["elbo"][0]
    # Most of the early gain is the learned scale shrinking from 1; hundreds of nats per image.
    assert history.val["elbo"][-1] > before["elbo"] + 200
    assert history.val["bits_per_dim"][-1] < before["bits_per_dim"]
    assert history.steps == 4 * 8 and not history.interrupted


def test_evaluate_is_reproducible_and_consistent(shapes_small):
    images, _ = shapes_small
    model = VAE(latent_dim=8, backbone="small")
    first, second = evaluate(model, images[:100]), evaluate(model, images[:100])
    assert first == pytest.approx(second, rel=1e-5)
    assert first["elbo"] == pytest.approx(first["recon"] - first["kl"], rel=1e-5)
    assert model.training  # a new model is in training mode, and evaluate restores it


def test_bf16_and_channels_last_path_runs_on_cpu(shapes_small):
    """The CUDA speed-ups are plain PyTorch features: the same code path runs on the CPU."""
    images, _ = shapes_small
    model = VAE(latent_dim=8, backbone="small")
    history = quick_fit(model, images[:128], precision="bf16", channels_last=True)
    assert history.epochs == 1 and torch.isfinite(torch.tensor(history.train["elbo"])).all()
    assert next(model.encoder.parameters()).is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="precision"):
        quick_fit(model, images[:64], precision="fp16")


def test_checkpoint_round_trip(tmp_path, shapes_small):
    images, _ = shapes_small
    model = VAE(latent_dim=8, backbone="small", likelihood="channel")
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3))
    history = quick_fit(model, images[:128], optimizer=optimizer)
    path = tmp_path / "run" / "vae.pt"
    save_checkpoint(path, model, history, optimizer)
    assert [p.name for p in path.parent.iterdir()] == ["vae.pt"]  # no temporary file left
    loaded, loaded_history = load_checkpoint(path)
    assert loaded.config == model.config
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert loaded_history == history
    assert evaluate(loaded, images[:64]) == pytest.approx(evaluate(model, images[:64]), rel=1e-6)
    # Resuming: the optimiser state comes back, and training continues the numbering.
    new_optimizer = make_optimizer(loaded, TrainConfig(lr=1e-3))
    load_checkpoint(path, loaded, new_optimizer)
    assert new_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    resumed = quick_fit(loaded, images[:128], optimizer=new_optimizer, history=loaded_history)
    assert resumed.epochs == 2


def test_interrupted_save_keeps_the_old_checkpoint(tmp_path, monkeypatch, small_vae):
    path = tmp_path / "vae.pt"
    save_checkpoint(path, small_vae)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, VAE(latent_dim=4, backbone="small"))
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["vae.pt"]


def test_ctrl_c_during_a_save_waits_until_the_checkpoint_is_written(tmp_path, monkeypatch, small_vae):
    """A real SIGINT in the middle of torch.save: the checkpoint is completed, then Ctrl-C acts."""
    real_save = torch.save

    def save_hit_by_ctrl_c(obj, file):
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends, while the file is being written
        real_save(obj, file)

    monkeypatch.setattr(torch, "save", save_hit_by_ctrl_c)
    path = tmp_path / "vae.pt"
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, small_vae, History())
    loaded, history = load_checkpoint(path)  # complete and readable
    assert history.epochs == 0 and loaded.latent_dim == small_vae.latent_dim
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C works as before


def test_loading_into_a_model_of_another_shape_is_a_clear_error(tmp_path, small_vae):
    path = tmp_path / "vae.pt"
    save_checkpoint(path, small_vae)
    with pytest.raises(ValueError, match="latent_dim=16.*latent_dim=32"):
        load_checkpoint(path, VAE(latent_dim=32, backbone="small"))
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "other.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_ctrl_c_returns_what_was_learned(shapes_small, monkeypatch):
    images, _ = shapes_small
    model = VAE(latent_dim=8, backbone="small")
    calls = {"n": 0}
    original_step = torch.optim.Adam.step

    def step_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:  # during the second epoch: a real Ctrl-C, inside the step
            os.kill(os.getpid(), signal.SIGINT)
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step_then_interrupt)
    before = [p.detach().clone() for p in model.parameters()]
    history = quick_fit(model, images, epochs=5)
    # The step it hit was completed; training stopped before the next one; epoch 2 is not recorded.
    assert history.interrupted and history.epochs == 1 and history.steps == 12
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_state(shapes_small):
    images, _ = shapes_small
    model = VAE(latent_dim=8, backbone="small")
    history = History()

    def poison(history):
        model.log_scale.data.fill_(float("nan"))  # after epoch 1 every loss is NaN

    quick_fit(model, images[:128], on_epoch_end=poison, history=history)
    good = {name: p.detach().clone() for name, p in model.named_parameters() if name != "log_scale"}
    with pytest.raises(NonFiniteLossError, match="epoch 2, step 1"):
        quick_fit(model, images[:128], history=history)
    for name, p in model.named_parameters():
        if name != "log_scale":
            assert torch.equal(p, good[name]), name


@pytest.mark.parametrize("kwargs, error, message", [
    ({"images": torch.rand(8, 3, 32, 32)}, TypeError, "uint8"),
    ({"images": torch.zeros(8, 1, 28, 28, dtype=torch.uint8)}, ValueError, r"\(8, 1, 28, 28\)"),
    ({"epochs": -1}, ValueError, "epochs"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"val_images": torch.rand(4, 3, 32, 32)}, TypeError, "val_images"),
])
def test_fit_rejects_bad_arguments(shapes_small, kwargs, error, message):
    arguments = {"images": shapes_small[0][:16], "epochs": 1, "batch_size": 8, "lr": 1e-3}
    arguments.update(kwargs)
    images = arguments.pop("images")
    settings = {name: arguments.pop(name) for name in list(arguments) if name in CONFIG_FIELDS}
    with pytest.raises(error, match=message):
        fit(VAE(latent_dim=4, backbone="small"), images, TrainConfig(**settings), device="cpu",
            progress=False, **arguments)


def test_compiled_networks_compute_the_same_elbo():
    """The CUDA path's torch.compile, checked on the CPU: same numbers, same state-dict names."""
    from vae_tutorial import elbo
    from vae_tutorial.train import compile_networks

    model = VAE(latent_dim=8, backbone="small").eval()
    x = torch.rand(16, 3, 32, 32)
    names = list(model.state_dict())
    torch.manual_seed(1)
    eager = elbo(model, x).elbo
    compile_networks(model)
    torch.manual_seed(1)
    compiled = elbo(model, x).elbo
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-2)
    assert list(model.state_dict()) == names


@pytest.mark.parametrize(("device", "native_bf16", "expected"), [
    ("cpu", True, None), ("cuda", True, torch.bfloat16), ("cuda", False, None)])
def test_auto_precision_is_bf16_only_on_gpus_built_for_it(monkeypatch, device, native_bf16, expected):
    """Colab's free T4 only emulates bf16 (slowly; torch.compile may fail there): "auto" is fp32 there."""
    asked = []
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: asked.append(including_emulation) or native_bf16)
    assert autocast_dtype("auto", torch.device(device)) == expected
    assert asked in ([], [False])  # emulation does not count
    assert autocast_dtype("bf16", torch.device(device)) == torch.bfloat16  # asked for explicitly: bf16
