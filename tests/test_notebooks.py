"""The notebooks in notebooks/ run offline, their checked outputs hold, and no cell fails.

nbval (lax) compares the cells marked ``# NBVAL_CHECK_OUTPUT`` with the committed outputs. It
lets a magic's UsageError through, so a second pass runs every notebook with nbclient and fails
on any error output or UsageError text.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"quickstart.ipynb", "analysis.ipynb", "evaluation.ipynb"}


def test_nbval(runtime_home: Path) -> None:
    args = ["--nbval-lax", "--nbval-current-env", "--nbval-sanitize-with", str(REPO / "tests" / "nbval_sanitize.cfg")]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, *map(str, NOTEBOOKS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_fails(runtime_home: Path, path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(path.parent)}}).execute()
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"cell {index}: {output.get('ename')}: {output.get('evalue')}"
            text = output.get("text", "")
            assert "UsageError" not in text, f"cell {index}: {text}"
            assert "Traceback" not in text, f"cell {index}: {text}"


def test_binder_runs_the_notebooks_as_tested_here() -> None:
    """Binder: Python 3.11, the locked dependency set and nb_agents from this repository, the
    process sandbox (no Docker there)."""
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [line.strip() for line in (REPO / "binder" / "requirements.txt").read_text().splitlines()]
    assert "-r ../requirements-lock.txt" in lines  # pip resolves it from binder/: the lock at the root
    post_build = (REPO / "binder" / "postBuild").read_text()
    assert "pip install --no-cache-dir --no-deps ." in post_build and os.access(REPO / "binder" / "postBuild", os.X_OK)
    env = subprocess.run(["bash", str(REPO / "binder" / "start"), "env"], capture_output=True, text=True, check=True)
    assert "NB_AGENTS_SANDBOX=process" in env.stdout.splitlines()
