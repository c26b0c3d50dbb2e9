"""ipywidgets explorers used by the lessons.

Every explorer is an ``Explorer``: it owns its controls (sliders, toggles, buttons),
its readouts (HTML labels with the numbers) and one ``matplotlib.figure.Figure`` that
it redraws and renders to PNG into an ``ipywidgets.Image`` (``explorer.output``). Tests
and notebooks drive it from Python: set ``explorer.controls["mu"].value = 2.0`` and read
``explorer.values`` / ``explorer.output.value``. Rendering to PNG (never ``plt.show()``)
keeps the figure visible in JupyterLab, Colab and VS Code alike.

``explorer`` holds the ``Explorer`` itself, then one module per lesson; import them all
from here: ``from vae_tutorial import widgets; widgets.kl_explorer()``.
"""

from vae_tutorial.widgets.explorer import Explorer, figure_to_png
from vae_tutorial.widgets.kl import MAX_KL_SAMPLES, kl_explorer, move_q_explorer
from vae_tutorial.widgets.latent import LatentExplorer, latent_explorer
from vae_tutorial.widgets.reconstruction import beta_explorer, sigma_explorer
from vae_tutorial.widgets.training import posterior_explorer, training_monitor

__all__ = [
    "MAX_KL_SAMPLES", "Explorer", "LatentExplorer", "beta_explorer", "figure_to_png", "kl_explorer",
    "latent_explorer", "move_q_explorer", "posterior_explorer", "sigma_explorer", "training_monitor",
]
