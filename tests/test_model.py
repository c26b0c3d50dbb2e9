"""The VAE: shapes, parameter counts, the prior, sampling and bad input."""

import pytest
import torch
from torch.distributions import Normal

from vae_tutorial import VAE, count_parameters, elbo, iwae_bound


def test_resnet18_vae_matches_the_article_size():
    model = VAE()  # latent 256, ResNet-18: the article's model
    assert model.latent_dim == 256
    # The article's model: 20.06 M parameters (encoder 11.17 M, decoder 8.63 M).
    assert count_parameters(model) == pytest.approx(20.06e6, rel=0.005)
    assert count_parameters(model.encoder) == pytest.approx(11.17e6, rel=0.005)
    assert count_parameters(model.decoder) == pytest.approx(8.63e6, rel=0.005)


@pytest.mark.parametrize("backbone", ["resnet18", "small"])
def test_encode_decode_shapes(backbone):
    model = VAE(latent_dim=32, backbone=backbone).eval()
    q = model.encode(torch.rand(3, 3, 32, 32))
    assert isinstance(q, Normal) and q.batch_shape == (3, 32)
    assert bool((q.scale > 0).all())
    assert model.decode(q.rsample()).shape == (3, 3, 32, 32)


def test_std_is_exp_of_half_the_log_variance(small_vae):
    x = torch.rand(2, 3, 32, 32)
    q = small_vae.encode(x)
    log_var = small_vae.fc_var(small_vae.encoder(x))
    torch.testing.assert_close(q.scale, torch.exp(0.5 * log_var))


@pytest.mark.parametrize("likelihood, shape",
                         [("scalar", ()), ("channel", (3, 1, 1)), ("pixel", (3, 32, 32))])
def test_likelihood_scale_shapes_start_at_zero(likelihood, shape):
    model = VAE(latent_dim=4, backbone="small", likelihood=likelihood)
    assert model.log_scale.shape == shape and bool((model.log_scale == 0).all())


def test_prior_is_standard_normal_over_the_latent(small_vae):
    prior = small_vae.prior
    assert prior.batch_shape == (16,)
    assert torch.equal(prior.loc, torch.zeros(16)) and torch.equal(prior.scale, torch.ones(16))


def test_samples_use_the_prior_and_differ(small_vae):
    images = small_vae.sample(8)
    assert images.shape == (8, 3, 32, 32)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    # The article's sampler decoded z = 0 every time; ours draws different z.
    assert (images[0] - images[1]).abs().max() > 1e-4
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(small_vae.sample(2, generator=g1), small_vae.sample(2, generator=g2))


@pytest.mark.parametrize("kwargs, message", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"backbone": "vgg"}, "backbone"),
    ({"likelihood": "laplace"}, "likelihood"),
])
def test_bad_configuration_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(**kwargs)


def test_bad_inputs_to_encode_decode_and_sample(small_vae):
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\).*\(2, 1, 28, 28\)"):
        small_vae.encode(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        small_vae.decode(torch.zeros(2, 8))
    with pytest.raises(ValueError, match="positive integer"):
        small_vae.sample(0)


# Issue 15: wrong input gets the package's message (expected, got, what to do), not PyTorch's.

def small(latent_dim=4):
    return VAE(latent_dim=latent_dim, backbone="small")


@pytest.mark.parametrize("call, error, message", [
    (lambda: small().encode(torch.rand(2, 3, 32, 32, dtype=torch.float64)), TypeError,
     "x is torch.float64 but the model's parameters are torch.float32"),
    (lambda: elbo(small(), torch.rand(2, 3, 32, 32, dtype=torch.float64)), TypeError, "x is torch.float64"),
    (lambda: elbo(small().double(), torch.rand(2, 3, 32, 32)), TypeError, "parameters are torch.float64"),
    (lambda: elbo(small().half(), torch.rand(2, 3, 32, 32)), TypeError, "parameters are torch.float16"),
    (lambda: elbo(small().bfloat16(), torch.rand(2, 3, 32, 32)), TypeError, "parameters are torch.bfloat16"),
    (lambda: small().decode(torch.zeros(2, 4, dtype=torch.long)), TypeError,
     "z must be a tensor of torch.float32"),
    (lambda: small().decode(torch.zeros(2, 4, dtype=torch.float64)), TypeError, "got torch.float64"),
    (lambda: elbo(small(), torch.rand(0, 3, 32, 32)), ValueError, r"N >= 1.*\(0, 3, 32, 32\)"),
    (lambda: iwae_bound(small(), torch.rand(0, 3, 32, 32), k=2), ValueError, r"N >= 1"),
    (lambda: iwae_bound(small(), torch.rand(1, 3, 32, 32), k=2, chunk_size=0), ValueError, "chunk_size"),
    (lambda: iwae_bound(small(), torch.rand(1, 3, 32, 32), k=2, chunk_size=-1), ValueError, "chunk_size"),
    (lambda: small().sample(True), ValueError, "n must be a positive integer, got True"),
    (lambda: VAE(True), ValueError, "latent_dim must be a positive integer, got True"),
    (lambda: small().encode(torch.rand(2, 3, 32, 32) * 255), ValueError, r"must lie in \[0, 1\]"),
])
def test_wrong_input_gets_the_packages_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_sample_and_iwae_leave_batch_norm_alone_and_restore_train_mode():
    model = VAE(latent_dim=8, backbone="resnet18")  # batch norm; in train mode, as fit leaves it
    buffers = {name: b.clone() for name, b in model.named_buffers() if "running" in name}
    first = model.sample(2, generator=torch.Generator().manual_seed(0))
    again = model.sample(2, generator=torch.Generator().manual_seed(0))
    iwae_bound(model, torch.rand(2, 3, 32, 32), k=2)
    assert model.training
    torch.testing.assert_close(first, again)
    for name, b in model.named_buffers():
        if "running" in name:
            assert torch.equal(b, buffers[name]), name
