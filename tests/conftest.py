"""Shared fixtures: small deterministic data and models, so each test runs in seconds."""

import pytest
import torch

from vae_tutorial import VAE, shapes_dataset


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random state."""
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def shapes_small():
    """512 shapes images (uint8) and their factors."""
    return shapes_dataset(512, seed=1)


@pytest.fixture
def small_vae():
    """A small-backbone VAE with a 16-d latent, in eval mode."""
    return VAE(latent_dim=16, backbone="small").eval()
