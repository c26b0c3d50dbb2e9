"""The package's shape: a small core, lessons and tools one folder down, imports one way.

Read from the source with ``ast`` (nothing is imported), so a lazy import inside a function
counts like any other:

* the core (``vae_tutorial/*.py``) stays under 1,200 lines and offers at most 30 names;
* lessons -> core, tools -> core; the core imports neither; lessons never import tools, and
  no lesson imports another lesson's module (``lessons/shared`` is for what they share);
* no import cycle, and no function longer than 40 lines;
* no block of six or more lines stands twice in the package.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import vae_tutorial

PACKAGE = Path(vae_tutorial.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
CORE_LINE_BUDGET = 1200
MAX_PUBLIC_NAMES = 30
MAX_FUNCTION_LINES = 40
REPEATED_BLOCK = 6  # lines


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in SOURCES}


def imported_modules(path: Path) -> set[str]:
    """Every ``vae_tutorial`` module that ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # ``from package import module`` imports the module; ``from module import name`` the module.
            dotted = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in MODULES else node.module for name in dotted]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found - {module_name(path)}


def tier(module: str) -> str:
    """``core``, ``tools``, ``entry`` (``__main__``), ``shared`` or the lesson's name."""
    parts = module.split(".")
    if module == "vae_tutorial.__main__":
        return "entry"
    if len(parts) > 1 and parts[1] == "tools":
        return "tools"
    if len(parts) > 2 and parts[1] == "lessons":
        return "shared" if parts[2] == "shared" else f"lesson:{parts[2]}"
    if module == "vae_tutorial.lessons":
        return "shared"
    return "core"


def allowed(source: str, target: str) -> bool:
    """May a module of tier ``source`` import one of tier ``target``?"""
    if source == target or target == "core":
        return True
    if source == "entry":
        return target == "tools"
    return source.startswith("lesson:") and target == "shared"


GRAPH = {module: imported_modules(path) for module, path in MODULES.items()}


def test_the_core_is_small():
    core = [path for path in PACKAGE.glob("*.py")]
    lines = sum(len(path.read_text().splitlines()) for path in core)
    assert lines <= CORE_LINE_BUDGET, f"the core has {lines} lines (budget {CORE_LINE_BUDGET})"


def test_the_public_names_are_few_and_real():
    assert len(vae_tutorial.__all__) <= MAX_PUBLIC_NAMES, sorted(vae_tutorial.__all__)
    assert "__getattr__" not in vars(vae_tutorial), "no lazy attributes: every public name is imported"
    for name in vae_tutorial.__all__:
        value = vars(vae_tutorial)[name]
        assert tier(value.__module__) == "core", f"{name} comes from {value.__module__}, not the core"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_run_one_way(module):
    wrong = {target for target in GRAPH[module] if not allowed(tier(module), tier(target))}
    assert not wrong, f"{module} ({tier(module)}) must not import {sorted(wrong)}"


def test_the_import_checks_bite():
    """The rules above, applied to edges the package must never have."""
    assert not allowed("core", "tools") and not allowed("core", "shared")
    assert not allowed("lesson:kl_term", "lesson:latent_space") and not allowed("lesson:kl_term", "tools")
    assert not allowed("shared", "lesson:kl_term") and allowed("tools", "core")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle in ``graph`` as a list of modules, or None (depth-first search)."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target, path + [target])):
                return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_no_import_cycles():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    where = path.relative_to(PACKAGE.parent)
    return [f"{where}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
            for node in functions if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_functions_are_short():
    found = [entry for path in SOURCES for entry in long_functions(path)]
    assert not found, f"functions longer than {MAX_FUNCTION_LINES} lines: {found}"


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines that carry code: no blanks, comments, imports or lone brackets."""
    kept = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        code = line.split("#")[0] if "#" in line and '"' not in line else line
        text = " ".join(code.split())
        if text and not text.startswith(("import ", "from ")) and text not in {")", "]", "}", "),", '"""'}:
            kept.append((number, text))
    return kept


def repeated_blocks(paths: list[Path], size: int = REPEATED_BLOCK) -> list[str]:
    """Places where the same ``size`` code lines stand in a row twice or more."""
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in paths:
        lines = code_lines(path)
        for i in range(len(lines) - size + 1):
            block = tuple(text for _, text in lines[i:i + size])
            seen[block].append(f"{path.relative_to(PACKAGE.parent)}:{lines[i][0]}")
    return [" and ".join(places) for places in seen.values() if len(places) > 1]


def test_no_block_of_code_stands_twice():
    assert repeated_blocks(SOURCES) == []


def test_the_repetition_check_bites(tmp_path):
    block = "\n".join(f"x{i} = compute({i})" for i in range(REPEATED_BLOCK))
    (tmp_path / "a.py").write_text(block + "\n")
    (tmp_path / "b.py").write_text("y = 1\n" + block + "\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path.parent
    try:
        assert len(repeated_blocks([tmp_path / "a.py", tmp_path / "b.py"])) == 1
    finally:
        PACKAGE = saved
