"""The ways to open the lessons agree with each other (issues 3 and 8).

- pyproject.toml, environment.yml (conda) and binder/ (repo2docker) list the same
  dependencies, with versions that admit the ones this project is tested with.
- Every notebook's first cell has an "Open in Colab" badge that points at that notebook
  under the repository URL kept in pyproject's ``[project.urls] Repository``.
- Every notebook's first code cell installs the package only in Colab, keeps Colab's
  torch, and enables Colab's widget manager; outside Colab it does nothing.
- A wheel (what Colab's install from the git URL builds) holds every module of the package.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COLAB_BADGE = re.compile(
    r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\((?P<url>[^)\s]+)\)"
)
CPU_WHEEL_INDEX = "https://download.pytorch.org/whl/cpu"


# --- reading the three dependency lists -------------------------------------------------

def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def repository_url() -> str:
    """The one place the repository URL is kept: pyproject's [project.urls] Repository."""
    return pyproject()["project"]["urls"]["Repository"].rstrip("/")


def as_specifiers(lines: list[str]) -> dict[str, SpecifierSet]:
    """PEP 508 lines -> {canonical name: specifiers}, local labels (``+cpu``) dropped."""
    specifiers = {}
    for line in lines:
        requirement = Requirement(line)
        public = re.sub(r"\+[\w.]+", "", str(requirement.specifier))
        specifiers[canonicalize_name(requirement.name)] = SpecifierSet(public)
    return specifiers


def pyproject_requirements() -> dict[str, SpecifierSet]:
    """Runtime dependencies plus the ``lab`` extra: what a learner's environment holds."""
    project = pyproject()["project"]
    return as_specifiers(project["dependencies"] + project["optional-dependencies"]["lab"])


def binder_lines() -> list[str]:
    text = (ROOT / "binder" / "requirements.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def binder_requirements() -> dict[str, SpecifierSet]:
    return as_specifiers([line for line in binder_lines() if not line.startswith("-")])


def conda_environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def conda_requirements() -> dict[str, SpecifierSet]:
    """Conda packages (``name>=x``, same syntax as pip here) and the ``pip:`` section."""
    lines = []
    for entry in conda_environment()["dependencies"]:
        if isinstance(entry, dict):
            lines += [line for line in entry["pip"] if not line.startswith("-")]
        elif not re.match(r"(python|pip)\b", entry):
            lines.append(entry)
    return as_specifiers(lines)


def makefile_pins() -> dict[str, SpecifierSet]:
    """The Makefile's TORCH_PINS: the torch and torchvision releases the project is tested with."""
    match = re.search(r"^TORCH_PINS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile has no TORCH_PINS line"
    return as_specifiers(match.group(1).split())


# --- dependencies agree -----------------------------------------------------------------

def test_same_dependencies_everywhere():
    expected = set(pyproject_requirements())
    assert {"torch", "torchvision", "matplotlib", "ipywidgets", "tqdm", "jupyterlab"} <= expected
    assert set(binder_requirements()) == expected, "binder/requirements.txt differs from pyproject"
    assert set(conda_requirements()) == expected, "environment.yml differs from pyproject"


@pytest.mark.parametrize("name", sorted(pyproject_requirements()))
def test_versions_are_compatible(name):
    """The tested version (installed here, and any pin) satisfies all three files."""
    files = {"pyproject.toml": pyproject_requirements(), "binder/requirements.txt": binder_requirements(),
             "environment.yml": conda_requirements(), "Makefile": makefile_pins()}
    specs = {file: found[name] for file, found in files.items() if name in found}
    pinned = [Version(pin.version) for spec_set in specs.values() for pin in spec_set if pin.operator == "=="]
    installed = Version(Version(importlib.metadata.version(name)).public)
    for version in [installed, *pinned]:
        for file, spec_set in specs.items():
            assert spec_set.contains(version), f"{name} {version} is not allowed by {file}: {spec_set}"


def test_torch_pins_match_the_makefile():
    pins = {name: str(spec) for name, spec in makefile_pins().items()}
    assert set(pins) == {"torch", "torchvision"}
    for file, specs in [("binder/requirements.txt", binder_requirements()),
                        ("environment.yml", conda_requirements())]:
        assert {name: str(specs[name]) for name in pins} == pins, f"{file} pins differ from the Makefile's"


def test_binder_torch_is_the_cpu_only_build():
    lines = binder_lines()
    assert f"--extra-index-url {CPU_WHEEL_INDEX}" in lines
    for name in ("torch", "torchvision"):
        (line,) = [line for line in lines if re.match(rf"{name}\b", line) and not line.startswith("-")]
        assert re.fullmatch(rf"{name}==[\d.]+\+cpu", line), f"binder/requirements.txt: {line!r} is not +cpu"


def test_python_versions_agree():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    conda_entries = [entry for entry in conda_environment()["dependencies"] if isinstance(entry, str)]
    (conda_python,) = [entry for entry in conda_entries if re.match(r"python\b", entry)]
    assert runtime.removeprefix("python-") == conda_python.removeprefix("python=")
    requires_python = SpecifierSet(pyproject()["project"]["requires-python"])
    assert requires_python.contains(Version(runtime.removeprefix("python-")))


def test_conda_environment_installs_the_package():
    (pip_section,) = [e["pip"] for e in conda_environment()["dependencies"] if isinstance(e, dict)]
    assert "-e ." in pip_section


def test_the_wheel_holds_every_module(tmp_path):
    """Subpackages (lessons/ and the folders below it, tools/) must be in the wheel, not only in an
    editable install."""
    source = tmp_path / "source"  # a clean copy: a stale build/ folder would hide a missing package
    shutil.copytree(ROOT / "vae_tutorial", source / "vae_tutorial",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(tmp_path / "wheel")], check=True,
                   env={**os.environ, "PIP_NO_INDEX": "1"}, cwd=tmp_path)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "vae_tutorial").rglob("*.py")}
    assert modules - packed == set()


# --- binder/ builds and opens lesson 1 ----------------------------------------------------

def test_binder_post_build_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "binder/postBuild must be executable"
    assert post_build.read_text().startswith("#!/bin/bash")
    assert re.search(r"^python -m pip install .*-e \.$", post_build.read_text(), re.MULTILINE)


def test_binder_start_runs_quick_mode_and_hands_over():
    start = ROOT / "binder" / "start"
    assert start.stat().st_mode & 0o111, "binder/start must be executable"
    lines = start.read_text().strip().splitlines()
    assert 'export VAE_TUTORIAL_QUICK="${VAE_TUTORIAL_QUICK:-1}"' in lines
    assert lines[-1] == 'exec "$@"'  # repo2docker: the start script must end by running the server


def test_binder_start_page_is_lesson_one():
    config = types.SimpleNamespace(ServerApp=types.SimpleNamespace())
    exec((ROOT / "binder" / "jupyter_server_config.py").read_text(), {"get_config": lambda: config})
    path = config.ServerApp.default_url.removeprefix("/lab/tree/")
    assert re.fullmatch(r"notebooks/01_\w+\.ipynb", path) and (ROOT / path).is_file(), path
    assert "binder/jupyter_server_config.py" in (ROOT / "binder" / "postBuild").read_text()


# --- Colab: badge and guarded install cell, for every notebook ----------------------------

def test_there_are_notebooks():
    assert any(path.name.startswith("00_") for path in NOTEBOOKS)


def test_repository_url_is_a_github_repository():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository_url())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_first_cell_has_a_colab_badge_for_this_notebook(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown"
    match = COLAB_BADGE.search(first.source)
    assert match, f"{path.name}: first cell has no 'Open In Colab' badge"
    github_path = repository_url().removeprefix("https://github.com/")
    prefix = f"https://colab.research.google.com/github/{github_path}/blob/main/"
    url = match.group("url")
    assert url.startswith(prefix), f"{path.name}: badge {url} is not under {prefix}"
    assert ROOT / url.removeprefix(prefix) == path, f"{path.name}: badge points at {url}"


class FakeShell:
    """Stands in for ``get_ipython()``: records the magics a cell runs instead of running them."""

    def __init__(self):
        self.magics: list[tuple[str, str]] = []

    def run_line_magic(self, name: str, line: str) -> None:
        self.magics.append((name, line))


def run_install_cell(path: Path) -> FakeShell:
    """Execute the notebook's first code cell (magics turned into calls) against a FakeShell."""
    cell = next(cell for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code")
    shell = FakeShell()
    exec(TransformerManager().transform_cell(cell.source), {"get_ipython": lambda: shell})
    return shell


def fake_colab(monkeypatch) -> list[str]:
    """Pretend to be in Colab: a ``google.colab`` module whose widget switch records its calls."""
    calls: list[str] = []

    def enable_custom_widget_manager() -> None:
        calls.append("enable_custom_widget_manager")

    output = types.SimpleNamespace(enable_custom_widget_manager=enable_custom_widget_manager)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(output=output))
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_install_cell_does_nothing_outside_colab(path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert run_install_cell(path).magics == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_install_cell_installs_from_the_repository_in_colab(path, monkeypatch):
    widget_calls = fake_colab(monkeypatch)
    ((magic, line),) = run_install_cell(path).magics
    name = pyproject()["project"]["name"]
    assert magic == "pip" and f'"{name} @ git+{repository_url()}"' in line, line
    assert "torch" not in line and not re.search(r"\s(-U|--upgrade)\b", line), "keep Colab's own torch"
    assert widget_calls == ["enable_custom_widget_manager"]


# --- README: its badges and screenshots point at what exists ------------------------------

def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_colab_and_binder_badges_open_existing_notebooks():
    github_path = repository_url().removeprefix("https://github.com/")
    colab = re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", readme())
    binder = re.findall(r"https://mybinder\.org/v2/gh/[^)\s]+", readme())
    assert colab and binder, "README.md needs its Colab and Binder badges"
    for url in colab:
        prefix = f"https://colab.research.google.com/github/{github_path}/blob/main/"
        assert url.startswith(prefix) and (ROOT / url.removeprefix(prefix)).is_file(), url
    binder_link = re.compile(rf"https://mybinder\.org/v2/gh/{github_path}/(HEAD|main)(\?urlpath=lab/tree/(.+))?")
    for url in binder:
        match = binder_link.fullmatch(url)
        assert match, f"{url} is not a Binder link to {github_path}"
        assert match.group(3) is None or (ROOT / match.group(3)).is_file(), url


def test_readme_shows_every_lesson_screenshot():
    shown = set(re.findall(r"!\[[^\]]*\]\((docs/images/[^)\s]+)\)", readme()))
    assert all((ROOT / path).is_file() for path in shown), shown
    saved = {str(path.relative_to(ROOT)) for path in (ROOT / "docs" / "images").glob("0[1-9]_*.png")}
    assert saved <= shown, f"README.md does not show {sorted(saved - shown)}"
