"""Lessons 3 and 4's assert cells bite: run against deliberately wrong versions of the idea
taught, an assert in them fails; run against the right version, they pass.

Each test executes the notebook's own cell (found by its id) in a namespace built here from
a small model, so the cells are tested as the learner runs them, in seconds. The wrong
versions: the KL averaged over the latent dimensions instead of summed, the sign of the
ELBO flipped (the article's logged "elbo" is -ELBO), q and p swapped, σ fixed at 1, the
article's sampler (z = 0 every time), reconstructions that ignore the image, a slerp that
is not one, and a code that carries nothing (posterior collapse).
"""

import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

import vae_tutorial.train
from vae_tutorial import (
    VAE,
    TrainConfig,
    bits_per_dim,
    elbo,
    encode_images,
    evaluate,
    fit,
    gaussian_log_likelihood,
    iwae_bound,
    kl_analytic,
    make_optimizer,
    shapes_dataset,
    to_unit_interval,
    train_step,
)
from vae_tutorial.elbo import ELBO, elbo_terms, importance_log_weights
from vae_tutorial.lessons import latent_space
from vae_tutorial.lessons.shared import image_rows_figure
from vae_tutorial.lessons.train_on_cifar10 import PosteriorTrack

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def cell(notebook: str, cell_id: str) -> str:
    """The source of the cell ``cell_id`` of ``notebook``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return next("".join(c["source"]) for c in cells if c["id"] == cell_id)


def run(source: str, namespace: dict) -> None:
    exec(compile(source, "<notebook cell>", "exec"), namespace)  # noqa: S102 - the notebook's own cell


def mutate(source: str, old: str, new: str) -> str:
    assert old in source, f"the cell no longer contains {old!r}: update the wrong version"
    return source.replace(old, new)


# --- lesson 3 -----------------------------------------------------------------------------------

LESSON3 = "03_train_on_cifar10.ipynb"
STEP, STEP_CHECK, TRAINED, BASELINE = "a6bb5d0f", "e7ec3020", "9de45c0c", "c34-baseline"
IWAE_TIGHTER = "c34-iwae-tighter"  # untagged: a property of the bounds, checked in full mode too
WRONG_STEPS = {  # the hand-written training step, made wrong in one place each
    "KL averaged over z": (".sum(dim=1)  # Monte-Carlo KL", ".mean(dim=1)  # Monte-Carlo KL"),
    "ELBO sign flipped": ("loss = -(recon - kl).mean()", "loss = (recon - kl).mean()"),
    "q and p swapped": ("(q.log_prob(z) - model.prior.log_prob(z))",
                        "(model.prior.log_prob(z) - q.log_prob(z))"),
}


def step_namespace() -> dict:
    torch.manual_seed(0)
    return {"torch": torch, "copy": copy, "Normal": Normal, "shapes_dataset": shapes_dataset,
            "to_unit_interval": to_unit_interval, "make_optimizer": make_optimizer, "train_step": train_step,
            "TRAINING": TrainConfig(batch_size=8), "DEVICE": torch.device("cpu"),
            "model": VAE(latent_dim=8, backbone="small")}


def test_lesson3_step_check_passes_the_right_step():
    namespace = step_namespace()
    run(cell(LESSON3, STEP), namespace)
    run(cell(LESSON3, STEP_CHECK), namespace)


@pytest.mark.parametrize("wrong", WRONG_STEPS)
def test_lesson3_step_check_catches_a_wrong_step(wrong):
    namespace = step_namespace()
    run(mutate(cell(LESSON3, STEP), *WRONG_STEPS[wrong]), namespace)
    with pytest.raises(AssertionError):
        run(cell(LESSON3, STEP_CHECK), namespace)


# Minimises the ELBO: the article's "elbo" taken at its word.
def flipped_elbo_terms(model, x, beta=1.0, free_bits=0.0):
    terms = elbo_terms(model, x, beta, free_bits)
    return ELBO(recon=terms.recon, kl=terms.kl, elbo=terms.elbo, loss=terms.elbo.mean())


def trained_namespace(wrong: str | None) -> dict:
    """Lesson 3's run in miniature (shapes, small model), trained right or with one thing wrong."""
    torch.manual_seed(0)
    pool, _ = shapes_dataset(512, seed=0)
    train_images, val_images = pool[:384], pool[384:]
    model = VAE(latent_dim=16, backbone="small")
    if wrong == "σ fixed":
        model.log_scale.requires_grad_(False)  # σ = 1 for the whole run
    track = PosteriorTrack(val_images[:6])
    track.record(model, 0)
    untrained = evaluate(model, val_images)
    slow = wrong == "ELBO sign flipped"  # it diverges: slowly, so that it stays finite for two epochs
    config = TrainConfig(epochs=2 if wrong else 4, batch_size=8, lr=3e-4 if slow else 3e-3,
                         scale_lr=5e-3 if slow else 5e-2)  # the right run: long enough for its samples claim
    with pytest.MonkeyPatch.context() as patch:
        if wrong == "ELBO sign flipped":
            patch.setattr(vae_tutorial.train, "elbo_terms", flipped_elbo_terms)
        history = fit(model, train_images, config, val_images=val_images, device="cpu", progress=False)
    test_images = shapes_dataset(64, seed=1)[0]
    x_test = to_unit_interval(test_images[:32], generator=torch.Generator().manual_seed(0))
    iwae_bits = bits_per_dim(-iwae_bound(model, x_test, k=8).mean().item())  # as the notebook does, smaller
    return {"torch": torch, "math": math, "Normal": Normal, "to_unit_interval": to_unit_interval,
            "bits_per_dim": bits_per_dim, "history": history, "untrained": untrained, "model": model,
            "track": track, "train_images": train_images, "test_images": test_images,
            "DEVICE": torch.device("cpu"), "elbo_bits": evaluate(model, test_images)["bits_per_dim"],
            "iwae_bits": iwae_bits, "elbo_bits_same": evaluate(model, test_images[:32])["bits_per_dim"]}


@pytest.fixture(scope="module")
def lesson3_runs():
    return {wrong: trained_namespace(wrong) for wrong in (None, "σ fixed", "ELBO sign flipped")}


def test_lesson3_training_asserts_pass_the_right_run(lesson3_runs):
    for cell_id in (TRAINED, BASELINE):
        run(cell(LESSON3, cell_id), dict(lesson3_runs[None]))


@pytest.mark.parametrize(("wrong", "cell_id", "message"), [
    ("σ fixed", TRAINED, "σ did not reach the decoder's RMS error"),
    ("σ fixed", BASELINE, "not between 0 and the per-pixel Gaussian"),
    ("ELBO sign flipped", TRAINED, "the validation ELBO did not improve"),
    ("ELBO sign flipped", BASELINE, "not between 0 and the per-pixel Gaussian"),
])
def test_lesson3_training_asserts_catch_a_wrong_run(lesson3_runs, wrong, cell_id, message):
    with pytest.raises(AssertionError, match=message):
        run(cell(LESSON3, cell_id), dict(lesson3_runs[wrong]))


@pytest.mark.parametrize("run_name", [None, "σ fixed", "ELBO sign flipped"])
def test_lesson3_iwae_is_tighter_for_any_model_trained_or_not(lesson3_runs, run_name):
    run(cell(LESSON3, IWAE_TIGHTER), dict(lesson3_runs[run_name]))


def test_lesson3_iwae_assert_catches_a_bound_no_tighter_than_the_elbo(lesson3_runs):
    namespace = dict(lesson3_runs[None])
    namespace["iwae_bits"] = namespace["elbo_bits_same"]  # k = 1: the importance-weighted bound is the ELBO
    with pytest.raises(AssertionError, match="not tighter than the ELBO"):
        run(cell(LESSON3, IWAE_TIGHTER), namespace)


SAMPLES, SAMPLE_CHECK = "3d683ff6", "785fbec1"
WRONG_SAMPLERS = {  # the samples-and-reconstructions cell, made wrong in one place each
    "the article's sampler (z = 0)": (
        "samples = model.sample(12, generator=torch.Generator(device=DEVICE).manual_seed(1))",
        "samples = model.decode(torch.zeros(12, LATENT_DIM)).clamp(0, 1)"),
    "reconstructions that ignore the image": ("model.decode(model.encode(originals).loc)",
                                              "model.decode(torch.randn(12, LATENT_DIM))"),
}


def samples_namespace(lesson3_runs) -> dict:
    namespace = dict(lesson3_runs[None])
    namespace.update(image_rows_figure=image_rows_figure, LATENT_DIM=namespace["model"].latent_dim)
    namespace["model"].eval()
    return namespace


def test_lesson3_sample_asserts_pass_the_right_samples(lesson3_runs):
    namespace = samples_namespace(lesson3_runs)
    run(cell(LESSON3, SAMPLES), namespace)
    run(cell(LESSON3, SAMPLE_CHECK), namespace)


@pytest.mark.parametrize("wrong", WRONG_SAMPLERS)
def test_lesson3_sample_asserts_catch_wrong_samples(lesson3_runs, wrong):
    namespace = samples_namespace(lesson3_runs)
    run(mutate(cell(LESSON3, SAMPLES), *WRONG_SAMPLERS[wrong]), namespace)
    with pytest.raises(AssertionError):
        run(cell(LESSON3, SAMPLE_CHECK), namespace)


# --- lesson 4 -----------------------------------------------------------------------------------

LESSON4 = "04_latent_space.ipynb"
KL_SUM, IWAE, PATHS, PROBE = "56e5a27e", "5b2936cc", "0c1522ff", "2cc44024"


@pytest.fixture(scope="module")
def lesson4_model():
    torch.manual_seed(0)
    model = VAE(latent_dim=8, backbone="small")
    fit(model, shapes_dataset(512, seed=0)[0], TrainConfig(epochs=2, batch_size=8, lr=3e-3, scale_lr=5e-2),
        device="cpu", progress=False)
    return model.eval()


def kl_namespace(model, kl_per_dim=None, kl_term=kl_analytic) -> dict:
    images, _ = shapes_dataset(256, seed=4)
    q, prior = encode_images(model, images), Normal(0.0, 1.0)
    return {"torch": torch, "math": math, "MultivariateNormal": MultivariateNormal,
            "kl_divergence": kl_divergence,
            "kl_analytic": kl_term, "model": model, "q": q, "prior": prior,
            "kl_per_dim": kl_divergence(q, prior).mean(dim=0) if kl_per_dim is None else kl_per_dim(q, prior)}


def test_lesson4_kl_asserts_pass_the_right_kl(lesson4_model):
    run(cell(LESSON4, KL_SUM), kl_namespace(lesson4_model))


@pytest.mark.parametrize("wrong", [
    {"kl_term": lambda q, p: kl_divergence(q, p).mean(dim=-1)},  # the KL averaged over z, not summed
    {"kl_per_dim": lambda q, p: kl_divergence(p, q).mean(dim=0)},  # q and p swapped: KL(p || q)
])
def test_lesson4_kl_asserts_catch_a_wrong_kl(lesson4_model, wrong):
    with pytest.raises(AssertionError):
        run(cell(LESSON4, KL_SUM), kl_namespace(lesson4_model, **wrong))


@torch.no_grad()
def swapped_log_weights(model, x, k):  # log p(x|z) + log q(z|x) - log p(z): q and p swapped
    q = model.encode(x)  # Normal over (B, latent_dim)
    z = q.sample((k,))  # (k, B, latent_dim)
    x_hat = model.decode(z.flatten(0, 1))  # (k * B, 3, 32, 32)
    x_repeated = x.expand(k, *x.shape).flatten(0, 1)  # (k * B, 3, 32, 32)
    log_px_z = gaussian_log_likelihood(x_hat, model.log_scale, x_repeated).view(k, -1)  # (k, B)
    return log_px_z + q.log_prob(z).sum(-1) - model.prior.log_prob(z).sum(-1)  # (k, B)


def iwae_namespace(model, log_weights=importance_log_weights, one_sample_elbo=elbo) -> dict:
    torch.manual_seed(0)
    x = to_unit_interval(shapes_dataset(48, seed=4)[0], generator=torch.Generator().manual_seed(0))
    log_w = log_weights(model, x, 16)
    return {"torch": torch, "math": math, "model": model, "x": x, "log_w": log_w, "IWAE_MAX_K": 16,
            "bounds": latent_space.iwae_curve(log_w, [1, 2, 4, 8, 16]), "elbo": one_sample_elbo,
            "iwae_bound": iwae_bound}


def article_elbo(model, x):  # the article's logged "elbo": kl - recon, i.e. -ELBO
    terms = elbo(model, x)
    return ELBO(recon=-terms.recon, kl=-terms.kl, elbo=-terms.elbo, loss=terms.elbo.mean())


def test_lesson4_iwae_asserts_pass_the_right_bound(lesson4_model):
    run(cell(LESSON4, IWAE), iwae_namespace(lesson4_model))


@pytest.mark.parametrize("wrong", [{"log_weights": swapped_log_weights}, {"one_sample_elbo": article_elbo}],
                         ids=["q and p swapped in the weights", "ELBO sign flipped"])
def test_lesson4_iwae_asserts_catch_a_wrong_bound(lesson4_model, wrong):
    with pytest.raises(AssertionError):
        run(cell(LESSON4, IWAE), iwae_namespace(lesson4_model, **wrong))


def keep_larger_norm(z0, z1, steps):  # a "slerp" that rescales the straight line to the larger end's norm
    line = latent_space.lerp(z0, z1, steps)
    return line / line.norm(dim=1, keepdim=True) * torch.maximum(z0.norm(), z1.norm())


@pytest.mark.parametrize(("slerp", "fails"), [(latent_space.slerp, False), (latent_space.lerp, True),
                                              (keep_larger_norm, True)])
def test_lesson4_path_asserts_catch_a_wrong_slerp(lesson4_model, slerp, fails):
    paths = SimpleNamespace(slerp=slerp, prior_norm_quantile=latent_space.prior_norm_quantile)
    namespace = {"torch": torch, "math": math, "lesson": paths,
                 "q": encode_images(lesson4_model, shapes_dataset(64, seed=4)[0])}
    if fails:
        with pytest.raises(AssertionError):
            run(cell(LESSON4, PATHS), namespace)
    else:
        run(cell(LESSON4, PATHS), namespace)


def test_lesson4_probe_asserts_catch_a_code_that_carries_nothing(lesson4_model):
    images, factors = shapes_dataset(1000, seed=4)
    q = encode_images(lesson4_model, images)
    collapsed = Normal(torch.randn_like(q.loc), q.scale)  # the prior's noise instead of a code
    namespace = {"lesson": latent_space, "test_factors": factors, "test_labels": None, "q": collapsed}
    with pytest.raises(AssertionError):
        run(cell(LESSON4, PROBE), namespace)


def test_lesson4_probe_asserts_run_on_cifar10_labels_too():
    labels = torch.arange(1000) % 10  # CIFAR-10's branch: no factors, ten classes
    codes = torch.nn.functional.one_hot(labels).float() + 0.3 * torch.randn(1000, 10)  # (1000, 10)
    namespace = {"lesson": latent_space, "test_factors": None, "test_labels": labels}
    run(cell(LESSON4, PROBE), {**namespace, "q": Normal(codes, torch.ones(1000, 10))})
    with pytest.raises(AssertionError):  # posterior collapse: noise for a code
        run(cell(LESSON4, PROBE), {**namespace, "q": Normal(torch.randn(1000, 10), torch.ones(1000, 10))})
