"""The declared dependencies: every import is declared, and the lock pins every declared range.

``pyproject.toml`` keeps ranges for library users; ``requirements-lock.txt`` (made by
``scripts/lock``) pins the set that ``scripts/test``, ``scripts/quickstart``, CI and Binder install.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # stdlib from Python 3.11; the lock is for 3.11

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Imports of a dev-only package that the package itself may make, and why.
DEV_IMPORTS_IN_PACKAGE = {
    "pytest": "nb_agents/sandbox/conformance.py is a pytest kit; it imports pytest inside pytest_params",
}


def _declared(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


RUNTIME = _declared(PYPROJECT["dependencies"])
DEV = _declared(PYPROJECT["optional-dependencies"]["dev"])


def _imported_modules(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level module -> files importing it: import statements at any depth, and
    ``importlib.import_module("literal")``."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names = [node.args[0].value]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _undeclared(paths: list[Path], declared: set[str], local: set[str]) -> dict[str, str]:
    """Third-party modules imported by ``paths`` whose distribution is not in ``declared``."""
    distributions = importlib.metadata.packages_distributions()
    wrong = {}
    for module, files in sorted(_imported_modules(paths).items()):
        if module in sys.stdlib_module_names or module in local:
            continue
        dists = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not dists & declared:
            wrong[module] = f"from {sorted(dists) or 'no installed distribution'}, imported by {sorted(files)}"
    return wrong


def test_the_package_imports_only_its_declared_dependencies() -> None:
    wrong = _undeclared(
        sorted((ROOT / "nb_agents").rglob("*.py")), RUNTIME | set(DEV_IMPORTS_IN_PACKAGE), {"nb_agents"}
    )
    assert wrong == {}, "declare these in [project] dependencies of pyproject.toml, then run scripts/lock"
    assert set(DEV_IMPORTS_IN_PACKAGE) <= DEV


def test_tests_benchmarks_and_examples_import_only_declared_dependencies() -> None:
    paths = [p for d in ("tests", "bench", "examples") for p in sorted((ROOT / d).rglob("*.py"))]
    local = {"nb_agents", "tests"} | {p.stem for p in (ROOT / "bench").rglob("*.py")}
    wrong = _undeclared(paths, RUNTIME | DEV, local)
    assert wrong == {}, "declare these in the dev extra of pyproject.toml, then run scripts/lock"


def _lock() -> dict[str, tuple[Version, list[str]]]:
    """Package -> (pinned version, hashes) from requirements-lock.txt."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    text = (ROOT / "requirements-lock.txt").read_text()
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s\\;]+)", block)
        if match:
            pins[canonicalize_name(match[1])] = (Version(match[2]), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return pins


def test_the_lock_pins_every_declared_range_with_hashes() -> None:
    pins = _lock()
    assert len(pins) > 50, "requirements-lock.txt lost its pins"
    missing = [
        r
        for r in PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]
        if canonicalize_name(Requirement(r).name) not in pins
    ]
    assert missing == [], "pyproject.toml declares packages the lock lacks: run scripts/lock"
    outside = [
        f"{r} but the lock pins {pins[canonicalize_name(Requirement(r).name)][0]}"
        for r in PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["dev"]
        if not Requirement(r).specifier.contains(pins[canonicalize_name(Requirement(r).name)][0], prereleases=True)
    ]
    assert outside == [], "the lock is older than pyproject.toml's ranges: run scripts/lock"
    assert [name for name, (_, hashes) in pins.items() if not hashes] == []


def test_the_running_environment_is_the_locked_one() -> None:
    """Under scripts/test the venv holds exactly the lock's versions (skipped in .venv-latest)."""
    if Path(sys.prefix).name == ".venv-latest":
        pytest.skip("scripts/test --latest runs the newest allowed versions, not the lock")
    differ = {
        name: f"locked {version}, installed {importlib.metadata.version(name)}"
        for name, (version, _) in _lock().items()
        if Version(importlib.metadata.version(name)) != version
    }
    assert differ == {}, "the venv is not the lock's: scripts/test re-installs it when the lock changes"
