"""The ``Explorer`` every lesson's widget is built on: controls, readouts and a figure rendered to PNG.

Lesson machinery: a learner need not read it (the VAE itself is the core, ``vae_tutorial/*.py``).
"""

from __future__ import annotations

import io
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping

import ipywidgets as widgets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

WIDE = {"description_width": "initial"}  # slider labels longer than ipywidgets' default width
DPI = 80  # pixels per inch of every explorer's PNG
# zlib's fastest level: PNG encoding was the largest part of a slider's round trip in the browser
# (benchmarks/widget_latency.py); level 1 encodes about twice as fast as the default 6, and the
# larger PNG costs little to send. PNG stays lossless, so the figures are as sharp as before.
PNG_OPTIONS = {"compress_level": 1}


def figure_to_png(figure: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes (what an ``ipywidgets.Image`` shows)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, pil_kwargs=PNG_OPTIONS)
    return buffer.getvalue()


def canvas_to_png(canvas: FigureCanvasAgg) -> bytes:
    """What an Agg canvas holds now, as PNG bytes (RGB: the figures are opaque, a quarter less to encode)."""
    width, height = canvas.get_width_height(physical=True)
    buffer = io.BytesIO()
    image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    image.convert("RGB").save(buffer, "png", **PNG_OPTIONS)
    return buffer.getvalue()


class BlitRenderer:
    """Renders a figure to PNG, redrawing only its ``animated`` artists while nothing else changed.

    Figures that an explorer updates in place mark what moves as animated (curves, marker
    lines, pictures, a title). A full render leaves those out and is kept; while the rest of
    the figure is unchanged (matplotlib leaves ``figure.stale`` False: changes to animated
    artists do not make it stale), a redraw pastes that render back and draws only the
    animated artists on top. Matplotlib calls this "blitting"; it makes the redraws of the
    explorers of lessons 1 to 3 three to six times cheaper. Animated artists are drawn over
    everything static: a legend that they may cross is animated too, or sits outside the
    axes. A figure with nothing animated is rendered whole every time.
    """

    def __init__(self, figure: Figure, dpi: int = DPI):
        self.figure, self.dpi = figure, dpi
        self.background = None  # the last full render without the animated artists
        self.moving: list = []  # the animated artists, in the order a full render draws them
        self.full_renders = 0

    def render(self) -> bytes:
        """The figure as PNG bytes."""
        if self.background is None or self.figure.stale:  # the figure changed: render it whole
            return self.render_whole()
        self.figure.canvas.restore_region(self.background)
        return self.draw_moving()

    def render_whole(self) -> bytes:
        """Render everything; keep the render of what does not move, when something does."""
        # Which artists move is found once per full render, not on every redraw.
        animated = self.figure.findobj(lambda artist: artist.get_animated())
        self.moving = sorted(animated, key=lambda artist: artist.get_zorder())
        if not self.moving:
            self.background = None
            return figure_to_png(self.figure, self.dpi)
        if not isinstance(self.figure.canvas, FigureCanvasAgg):
            FigureCanvasAgg(self.figure)  # becomes figure.canvas
            self.figure.set_dpi(self.dpi)
        self.figure.canvas.draw()  # everything but the animated artists
        self.background = self.figure.canvas.copy_from_bbox(self.figure.bbox)
        self.full_renders += 1
        return self.draw_moving()

    def draw_moving(self) -> bytes:
        """Draw the animated artists over the canvas and return it as PNG bytes."""
        for artist in self.moving:
            self.figure.draw_artist(artist)
        # Drawing an animated legend lays out its parts again, which marks the figure stale:
        # that is this drawing, not a change to the figure, so the next redraw may blit again.
        self.figure.stale = False
        return canvas_to_png(self.figure.canvas)


def format_readout(name: str, value: object) -> str:
    """``name: value`` as HTML, numbers with four significant digits."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"<b>{name}</b>: {text}"


class Explorer(ABC):
    """Controls + readouts + a figure, redrawn whenever a control's value changes.

    A lesson's explorer is a subclass: its ``__init__`` keeps what its figure needs as
    attributes, then calls ``super().__init__``, which draws the figure once; its ``draw()``
    reads ``self.controls``, draws on ``self.figure`` and returns the numbers to show.
    Args:
        controls: name -> value widget (slider, toggle, dropdown ...), shown in order.
        figure: the figure ``draw`` draws on (owned by this explorer).
        buttons: extra buttons shown with the controls (the subclass connects them).
        title: HTML shown above the explorer.
    Attributes:
        controls, buttons, readouts (name -> ``ipywidgets.HTML``), output (the
        ``ipywidgets.Image`` holding the PNG), values (the last numbers), redraws (count),
        last_draw_seconds, renderer (the ``BlitRenderer`` of the figure), widget (the whole box).
    ``set_values`` moves several controls at once (a button that resets them) with one redraw.
    """

    def __init__(self, controls: Mapping[str, widgets.ValueWidget], figure: Figure,
                 buttons: Mapping[str, widgets.Button] | None = None, title: str = ""):
        self.controls = dict(controls)
        self.buttons = dict(buttons or {})
        self.figure = figure
        self.renderer = BlitRenderer(figure)
        # flex-start: shown at the PNG's own size; a VBox would otherwise stretch it to the
        # page's width and blur it (seen in JupyterLab by tests/test_browser.py).
        self.output = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
        self.readouts: dict[str, widgets.HTML] = {}
        self.readout_box = widgets.VBox()
        self.values: dict = {}
        self.redraws = 0
        self.last_draw_seconds = 0.0
        self.setting_values = False  # True while set_values moves several controls: one redraw
        for control in self.controls.values():
            control.observe(self.on_change, names="value")
        control_box = widgets.VBox([*self.controls.values(), widgets.HBox(list(self.buttons.values()))])
        parts = [widgets.HTML(title)] if title else []
        self.widget = widgets.VBox(parts + [widgets.HBox([control_box, self.readout_box]), self.output])
        self.refresh()

    @abstractmethod
    def draw(self) -> dict:
        """Draw the figure for the controls' values; return the readouts (name -> value)."""

    def on_change(self, change: dict) -> None:
        if not self.setting_values:
            self.refresh()

    def set_values(self, values: Mapping[str, object]) -> None:
        """Move several controls (name -> value) and redraw once, not once per control."""
        self.setting_values = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self.setting_values = False
        self.refresh()

    def refresh(self) -> None:
        """Redraw the figure, re-render the PNG and update the readouts."""
        start = time.perf_counter()
        self.values = self.draw()
        self.output.value = self.renderer.render()
        self.update_readouts()
        self.redraws += 1
        self.last_draw_seconds = time.perf_counter() - start

    def update_readouts(self) -> None:
        for name, value in self.values.items():
            if name not in self.readouts:
                self.readouts[name] = widgets.HTML()
                self.readout_box.children = tuple(self.readouts.values())
            self.readouts[name].value = format_readout(name, value)

    def _repr_mimebundle_(self, **kwargs):
        """Display the explorer when it is a cell's last value."""
        return self.widget._repr_mimebundle_(**kwargs)
