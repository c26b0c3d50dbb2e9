# Copied to ~/.jupyter/ by binder/postBuild: the page a Binder session opens on.
# The README's Binder badge asks for the same page with ?urlpath=lab/tree/notebooks/01_kl_term.ipynb.
c = get_config()  # noqa: F821  (provided by Jupyter when it reads this file)
c.ServerApp.default_url = "/lab/tree/notebooks/01_kl_term.ipynb"
