"""Checks shared by the tests of the explorers that redraw only what moves
(``lessons.shared.explorer.BlitRenderer``)."""

from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from vae_tutorial.lessons.shared.explorer import Explorer, figure_to_png


def assert_same_moving_parts(moved: Figure, fresh: Figure, names: Iterable[str]) -> None:
    """The animated artists called ``names`` (their gids) hold the same data in both figures:
    one updated in place, one drawn from scratch."""
    for name in names:
        (a,) = moved.findobj(lambda artist, name=name: artist.get_gid() == name)
        (b,) = fresh.findobj(lambda artist, name=name: artist.get_gid() == name)
        assert a.get_animated(), name
        if hasattr(a, "get_xydata"):  # lines
            torch.testing.assert_close(torch.as_tensor(a.get_xydata()), torch.as_tensor(b.get_xydata()))
        elif hasattr(a, "get_paths"):  # filled densities
            torch.testing.assert_close(torch.as_tensor(a.get_paths()[0].vertices),
                                       torch.as_tensor(b.get_paths()[0].vertices))
        elif hasattr(a, "get_text"):  # titles
            assert a.get_text() == b.get_text(), name
        elif hasattr(a, "get_height"):  # a band
            band = (a.get_y(), a.get_height(), a.get_visible())
            assert band == (b.get_y(), b.get_height(), b.get_visible()), name


def png_pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)  # (H, W, 3)


def differing_share(explorer: Explorer) -> float:
    """Share of the explorer's pixels that differ (by more than 2/255) from a full render of its figure.

    Moving artists are drawn over the static ones, so where a moving curve crosses an axis
    line a few pixels differ from a full render (which draws the axis line on top).
    """
    blitted, full = png_pixels(explorer.output.value), png_pixels(figure_to_png(explorer.figure))
    assert blitted.shape == full.shape
    return float((np.abs(blitted - full).max(axis=2) > 2).mean())
