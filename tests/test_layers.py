"""The package's shape: a curated public surface, light imports, and the layering of architecture.md §4."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nb_agents

PACKAGE = Path(nb_agents.__file__).parent
FRONT = ("client", "notebook", "analysis", "evals")
BACK = ("server", "runtime", "sandbox", "store")
SHARED = ("spec", "events", "errors", "_home", "_docker", "_prices")


def _imports(path: Path) -> set[str]:
    """Every nb_agents module a file imports, at any depth (function-local imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nb_agents"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("nb_agents"))
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_top_level_all_is_sorted_and_resolves() -> None:
    assert nb_agents.__all__ == sorted(nb_agents.__all__)
    for name in nb_agents.__all__:
        assert hasattr(nb_agents, name), name


def test_importing_nb_agents_stays_light() -> None:
    code = (
        "import sys, nb_agents; "
        "print([m for m in ('pandas', 'numpy', 'anthropic', 'docker', 'IPython', 'anywidget', "
        "'ipywidgets', 'uvicorn', 'starlette', 'plotly') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_front_and_back_never_import_each_other() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        own = _layer("nb_agents." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        for module in _imports(path):
            target = _layer(module)
            if own in FRONT and target in BACK:
                wrong.append(f"{path.relative_to(PACKAGE)} (front) imports {module} (back)")
            if own in BACK and target in FRONT:
                wrong.append(f"{path.relative_to(PACKAGE)} (back) imports {module} (front)")
            if own in SHARED and target in FRONT + BACK:
                wrong.append(f"{path.relative_to(PACKAGE)} (shared) imports {module}")
    assert not wrong, "\n".join(wrong)
