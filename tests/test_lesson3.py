"""Lesson 3's helpers: posterior tracking, the live training monitor, the posterior widget,
the run-time estimate and the literature table."""

import pytest
import torch
from blitting import assert_same_moving_parts, differing_share
from matplotlib.figure import Figure
from torch.distributions import Normal, kl_divergence

from vae_tutorial import VAE, History, fit
from vae_tutorial.data import to_unit_interval
from vae_tutorial.lessons.shared.figures import mosaic
from vae_tutorial.lessons.shared.literature import CIFAR10_BITS_PER_DIM, bits_per_dim_table
from vae_tutorial.lessons.shared.posteriors import kl_per_dimension
from vae_tutorial.lessons.train_on_cifar10 import figures
from vae_tutorial.lessons.train_on_cifar10.explorers import posterior_explorer, training_monitor
from vae_tutorial.lessons.train_on_cifar10.figures import posterior_through_training, training_dashboard
from vae_tutorial.lessons.train_on_cifar10.tracking import PosteriorTrack, decode_fixed
from vae_tutorial.tools.estimate import estimate_run
from vae_tutorial.train import TrainConfig


def short_fit(model, images, epochs, **kwargs):
    config = TrainConfig(epochs=epochs, batch_size=32, lr=3e-3)
    return fit(model, images, config, device="cpu", progress=False, **kwargs)


@pytest.fixture(scope="module")
def trained_track():
    """A small VAE trained for 3 short epochs on shapes, with 4 other images tracked at epochs 0..3."""
    from vae_tutorial import shapes_dataset

    torch.manual_seed(0)
    images, _ = shapes_dataset(132, seed=2)
    model = VAE(latent_dim=8, backbone="small")
    track = PosteriorTrack(images[-4:])
    track.record(model, 0)
    short_fit(model, images[:128], 3, on_epoch_end=lambda history: track.record(model, history.epochs))
    return model, track


# --- tracking --------------------------------------------------------------------------------

def test_kl_per_dimension_matches_torch_distributions():
    loc, scale = torch.randn(5, 7) * 2, torch.rand(5, 7) * 3 + 0.01
    expected = kl_divergence(Normal(loc, scale), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_per_dimension(Normal(loc, scale)), expected, rtol=1e-5, atol=1e-6)
    assert kl_per_dimension(Normal(torch.zeros(3), torch.ones(3))).abs().max() == 0  # q = p


def test_track_records_the_posterior_of_the_bin_centres(trained_track):
    model, track = trained_track
    assert track.epochs == [0, 1, 2, 3] and len(track) == 4
    assert track.locs[0].shape == (4, 8) and track.scales[-1].shape == (4, 8)
    model.eval()
    with torch.no_grad():
        q = model.encode(to_unit_interval(track.images, dequantize=False))
    torch.testing.assert_close(track.locs[-1], q.loc)  # the last record is the trained model's q
    torch.testing.assert_close(track.scales[-1], q.scale)
    assert not torch.equal(track.locs[0], track.locs[-1])  # training moved the posteriors


def test_record_restores_training_mode():
    model = VAE(latent_dim=4, backbone="small").train()
    PosteriorTrack(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)).record(model, 0)
    assert model.training


def test_kl_and_dimensions_by_kl(trained_track):
    _, track = trained_track
    kl = track.kl()
    assert kl.shape == (4, 4, 8) and (kl >= -1e-6).all()
    order = track.dimensions_by_kl()
    mean_kl = kl[-1].mean(dim=0)
    assert sorted(order.tolist()) == list(range(8))
    assert (mean_kl[order].diff() <= 0).all()  # largest first
    with pytest.raises(ValueError, match="track is empty"):
        PosteriorTrack(torch.zeros(1, 3, 32, 32, dtype=torch.uint8)).kl()


def test_track_refuses_float_images():
    with pytest.raises(TypeError, match="uint8"):
        PosteriorTrack(torch.rand(2, 3, 32, 32))


def test_decode_fixed(trained_track):
    model, track = trained_track
    model.train()
    z = torch.randn(6, 8)
    reconstructions, samples = decode_fixed(model, track.images, z)
    assert model.training  # mode restored
    assert reconstructions.shape == (4, 3, 32, 32) and samples.shape == (6, 3, 32, 32)
    assert 0 <= samples.min() and samples.max() <= 1
    model.eval()
    with torch.no_grad():
        expected = model.decode(track.locs[-1]).clamp(0, 1)
        torch.testing.assert_close(reconstructions, expected)  # decoded mean of q
        torch.testing.assert_close(samples, model.decode(z).clamp(0, 1))
    assert not torch.equal(samples[0], samples[1])  # different z, different images


# --- figures ---------------------------------------------------------------------------------

def test_mosaic_places_each_image_in_its_cell():
    images = torch.rand(5, 3, 4, 6)
    canvas = mosaic(images, ncols=3, gap=1)
    assert canvas.shape == (2 * 5 - 1, 3 * 7 - 1, 3)
    torch.testing.assert_close(canvas[5:9, 7:13], images[4].permute(1, 2, 0))  # row 1, column 1
    assert (canvas[4] == 1).all() and (canvas[5:9, 14:] == 1).all()  # white gap, empty cell


def test_training_dashboard_before_and_after_training(trained_track):
    model, track = trained_track
    reconstructions, samples = decode_fixed(model, track.images, torch.randn(9, 8))
    for history in (History(), History(train={"elbo": [-3e3, -2e3], "kl": [5.0, 9.0], "recon": [-3e3, -2e3],
                                              "bits_per_dim": [9.0, 8.5]})):
        figure = training_dashboard(history, track.images, reconstructions, samples)
        assert isinstance(figure, Figure) and len(figure.axes) == 5
    assert figure.axes[0].get_xlabel() == "epoch" and "ELBO" in figure.axes[0].get_title()
    assert figure._suptitle.get_text() == "after epoch 2"


def test_posterior_figure_titles_name_dimension_epoch_and_kl(trained_track):
    _, track = trained_track
    figure = posterior_through_training(track, record=2, image=1, dim=3)
    kl = track.kl()[2, 1, 3].item()
    assert f"z[3] after epoch 2: KL(q || p) = {kl:.2f} nats" in figure.axes[1].get_title()
    assert figure.axes[2].get_xlabel() == "epoch"


# --- explorers ---------------------------------------------------------------------------------

def test_training_monitor_updates_in_place_after_each_epoch():
    from vae_tutorial import shapes_dataset

    images, _ = shapes_dataset(96, seed=3)
    model = VAE(latent_dim=8, backbone="small")
    history = History()
    monitor = training_monitor(model, images=images[-4:], z=torch.randn(4, 8), history=history)
    assert monitor.values == {"epoch": 0}
    pictures = [monitor.output.value]
    short_fit(model, images[:64], 2, val_images=images[64:], history=history,
              on_epoch_end=lambda h: pictures.append(monitor.refresh() or monitor.output.value))
    assert monitor.values["epoch"] == 2 and monitor.redraws == 3
    assert monitor.values["validation bits/dim"] == history.val["bits_per_dim"][-1]
    assert len(set(pictures)) == 3  # a new picture each epoch, in the same Image widget


def test_posterior_explorer_follows_its_controls(trained_track):
    _, track = trained_track
    explorer = posterior_explorer(track)
    kl = track.kl()
    first_dim = explorer.controls["dimension"].value
    assert first_dim == int(track.dimensions_by_kl()[0])  # the most used dimension first
    labels = [label for label, _ in explorer.controls["dimension"].options]
    assert labels[0].startswith(f"z[{first_dim}]: KL ")
    assert explorer.values["epoch"] == 3 and explorer.values["KL of this dimension (nats)"] == pytest.approx(
        kl[3, 0, first_dim].item())
    seen = {explorer.output.value}
    for name, value in (("epoch", 0), ("image", 2), ("dimension", int(track.dimensions_by_kl()[-1]))):
        explorer.controls[name].value = value
        seen.add(explorer.output.value)
    record, image, dim = 0, 2, int(track.dimensions_by_kl()[-1])
    assert explorer.values["epoch"] == 0
    assert explorer.values["KL of this dimension (nats)"] == pytest.approx(kl[record, image, dim].item())
    assert explorer.values["q mean"] == pytest.approx(track.locs[record][image, dim].item())
    assert explorer.values["KL of all dimensions (nats)"] == pytest.approx(kl[record, image].sum().item())
    assert len(seen) == 4 and explorer.redraws == 4


# --- run-time estimate -----------------------------------------------------------------------

def test_estimate_run_projects_measured_steps_and_leaves_the_model_alone():
    from vae_tutorial import shapes_dataset

    images, _ = shapes_dataset(64, seed=4)
    model = VAE(latent_dim=4, backbone="small")
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    config = TrainConfig(epochs=3, batch_size=16)
    estimate = estimate_run(model, images, num_images=1000, config=config, device="cpu", steps=2)
    assert estimate.steps_per_epoch == 63 and estimate.epochs == 3 and estimate.device == "cpu"
    assert estimate.seconds_per_step > 0
    assert estimate.seconds == pytest.approx(estimate.seconds_per_step * 63 * 3)
    assert str(estimate).startswith("3 epochs × 63 steps × ")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    with pytest.raises(ValueError, match="need at least steps"):
        estimate_run(model, images[:8], 1000, config, steps=2)


# --- literature table ------------------------------------------------------------------------

def test_literature_table_places_our_numbers():
    table = bits_per_dim_table({"ours (ELBO)": 4.1, "ours (IWAE, k = 100)": 3.95})
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]  # after the caption and header
    assert len(rows) == len(CIFAR10_BITS_PER_DIM) + 2
    names = [row.split("|")[1].strip() for row in rows]
    assert names[:2] == ["independent Gaussian per pixel", "uniform over 256 values"]  # worst first
    assert names.index("**ours (ELBO)**") == names.index("multivariate Gaussian (full covariance)") + 1
    assert names.index("**ours (IWAE, k = 100)**") == names.index("**ours (ELBO)**") + 1
    assert "| **4.10** | this notebook |" in table


def test_literature_table_says_when_we_are_not_on_cifar10():
    table = bits_per_dim_table({"ours": 7.5}, dataset="shapes")
    assert "this notebook, on shapes, not CIFAR-10" in table


def test_moving_to_another_epoch_in_place_draws_what_drawing_anew_does(trained_track):
    _, track = trained_track
    moved = posterior_through_training(track, record=0, image=1, dim=3)
    figures.show_epoch(moved, track, record=2, image=1, dim=3)
    fresh = posterior_through_training(track, record=2, image=1, dim=3)
    assert_same_moving_parts(moved, fresh, figures.EPOCH_PARTS)
    assert [ax.get_ylim() for ax in moved.axes] == [ax.get_ylim() for ax in fresh.axes]


def test_posterior_explorer_redraws_only_q_when_the_epoch_moves(trained_track):
    _, track = trained_track
    explorer = posterior_explorer(track)
    for record in (0, 1, 2):
        explorer.controls["epoch"].value = record
    assert explorer.renderer.full_renders == 1 and explorer.redraws == 4
    assert differing_share(explorer) < 0.01  # the same picture
    explorer.controls["image"].value = 2  # new axes for another image
    assert explorer.renderer.full_renders == 2
