"""Lesson 4's widget: shift latent dimensions away from an image's code and watch the decoder.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from torch import Tensor

from vae_tutorial.checks import check_positive_number
from vae_tutorial.lessons.latent_space import figures as plots
from vae_tutorial.lessons.shared.explorer import Explorer
from vae_tutorial.likelihoods import as_image
from vae_tutorial.machinery.tensor_checks import check_uint8_images
from vae_tutorial.model import encode_images, evaluating, unwrap


class LatentExplorer(Explorer):
    """Lesson 4's latent explorer: sliders shift chosen dimensions of z away from an image's code.

    Each slider holds a shift from the image's posterior mean (0 = the code itself), so the
    sliders start at an exact grid point: a slider holding the code itself would be rounded
    to its step by the browser, which sends the rounded value back and moves z a little.
    Every other dimension stays at the code. The figure shows the test image, the decoding
    of its code and the decoding of the explored z. ``recentre(index)`` (the "another image"
    button) shows image ``index`` with every shift back at 0 and one redraw; "back to its
    code" does the same for the current image.
    Attributes beyond ``Explorer``'s: ``model``, ``images``, ``dims`` (the slider
    dimensions), ``index`` (the image shown) and ``code`` (its posterior mean, ``(latent_dim,)``).
    """

    def __init__(self, model: torch.nn.Module, images: Tensor, dims: Sequence[int], start: int = 0,
                 slider_limit: float = 3.0):
        self.model, self.images, self.dims = unwrap(model), images, [int(d) for d in dims]
        self.index, self.code = start, self.encode(start)
        sliders = {f"shift z[{d}]": widgets.FloatSlider(
            value=0.0, min=-slider_limit, max=slider_limit, step=0.05, description=f"shift z[{d}]",
            style={"description_width": "6em"}) for d in self.dims}  # one width: the sliders line up
        buttons = {"another image": widgets.Button(description="another image"),
                   "back to its code": widgets.Button(description="back to its code")}
        super().__init__(sliders, Figure(figsize=(6, 2.4)), buttons,
                         title="<b>Shift the most-used latent dimensions away from the image's code; "
                               "the decoder redraws</b>")
        buttons["another image"].on_click(lambda _: self.recentre(self.index + 1))
        buttons["back to its code"].on_click(lambda _: self.recentre(self.index))

    @torch.no_grad()
    def encode(self, index: int) -> Tensor:
        """Posterior mean of image ``index``: ``(latent_dim,)`` on the CPU."""
        return encode_images(self.model, self.images[index:index + 1]).loc[0]

    def recentre(self, index: int) -> None:
        """Show image ``index`` (wrapping around) with every shift back at 0; redraw once."""
        self.index = index % len(self.images)
        self.code = self.encode(self.index)
        self.set_values(dict.fromkeys(self.controls, 0.0))

    def shifts(self) -> Tensor:
        """The sliders' shifts, one per slider dimension: ``(len(dims),)``."""
        return torch.tensor([slider.value for slider in self.controls.values()])

    def explored_z(self) -> Tensor:
        """The image's code with the sliders' shifts added on their dimensions: ``(latent_dim,)``."""
        z = self.code.clone()
        z[self.dims] += self.shifts()
        return z

    @torch.no_grad()
    def draw(self) -> dict:
        z = self.explored_z()
        with evaluating(self.model) as vae:
            codes = torch.stack([self.code, z]).to(vae.prior_loc.device)  # (2, latent_dim)
            x_code, x_z = as_image(vae.config.likelihood, vae.decode(codes)).cpu()
        image = self.images[self.index].float() / 255  # uint8 -> [0, 1], like the decodings
        pictures = {f"test image {self.index}": image, "decoded code": x_code,
                    "decoded z": x_z}
        plots.latent_explorer_figure(pictures, figure=self.figure)
        explored = ", ".join(f"{z[d]:.2f}" for d in self.dims)
        return {"image": self.index, "distance from the code": float(self.shifts().norm()),
                "mean |pixel change|": float((x_z - x_code).abs().mean()),
                "z on the sliders' dimensions": f"({explored})"}


def latent_explorer(model: torch.nn.Module, images: Tensor, dims: Sequence[int], start: int = 0,
                    slider_limit: float = 3.0) -> LatentExplorer:
    """Lesson 4's widget: sliders that shift latent dimensions ``dims`` away from image ``start``'s code.

    Args:
        model: a trained ``VAE``.
        images: ``uint8 (N, 3, 32, 32)`` test images to start from (the button steps through them).
        dims: the latent dimensions to put on sliders (e.g. the most-used ones, by KL).
        slider_limit: each slider shifts its dimension by up to ``slider_limit`` either way
            (3 covers the prior's bulk from any code near it).
    """
    check_uint8_images(images, "images")
    latent_dim = unwrap(model).latent_dim
    if len(dims) == 0 or not all(0 <= int(d) < latent_dim for d in dims):
        raise ValueError(f"dims must be a non-empty list of latent dimensions in 0..{latent_dim - 1}, "
                         f"got {list(dims)}")
    if not 0 <= start < len(images):
        raise ValueError(f"start must index one of the {len(images)} images, got {start}")
    check_positive_number(slider_limit, "slider_limit")
    return LatentExplorer(model, images, dims, start, slider_limit)
