"""The evaluation notebook in a real browser: the progress board fills in, a session link opens its view.

JupyterLab (``tests/_lab.py``) serves a copy of ``notebooks/``; Playwright drives Debian's
Chromium. Skipped without Chromium or Playwright, except with ``CI=true`` (then a failure).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._lab import (
    CHROMIUM,
    Lab,
    cells,
    clear_outputs,
    launch_chromium,
    open_notebook,
    output_errors,
    run_cell,
    stop_nb_agents_server as stop_server,
)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"
SECOND = 1000


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[Lab]:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (pip install playwright)"
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"the browser tests are required under CI=true, but {problem}", pytrace=False)
        pytest.skip(problem)
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    home = tmp_path / "nb_agents_home"
    server = Lab.start(
        tmp_path / "notebooks", tmp_path / "jupyter", {"NB_AGENTS_HOME": str(home), "NB_AGENTS_SANDBOX": "process"}
    )
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            stop_server(home)


def test_progress_board_and_session_link(lab: Lab) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page: Any = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(60 * SECOND)
        js_errors: list[str] = []
        page.on("pageerror", lambda exc: js_errors.append(str(exc)))
        try:
            open_notebook(page, lab, "evaluation.ipynb")
            clear_outputs(page)
            notebook = cells(page)
            target = next(c["index"] for c in notebook if c["source"].startswith("checks = "))
            for cell in notebook[: target + 1]:
                if cell["type"] == "code":
                    run_cell(page, cell["index"], timeout=120)
            board = page.locator(".nba-eval").first
            page.wait_for_function(
                "() => { const el = document.querySelector('.nba-eval'); return el && el.dataset.done === '16'; }"
            )
            assert board.get_attribute("data-failed") == "0" and board.get_attribute("data-total") == "16"
            text = board.inner_text()
            assert "16 done, 0 running, 0 failed, 0 queued of 16" in text and "passed 16/16 (100%)" in text
            links = board.locator("a.nba-eval-link")
            assert links.count() == 16
            session_id = links.first.inner_text()
            assert session_id.startswith("sesn_")
            links.first.click()  # the kernel is free again: the session's live view opens under the board
            view = page.locator(".nbav").first
            view.wait_for(state="visible")
            page.wait_for_function(
                "() => { const v = document.querySelector('.nbav'); return v && Number(v.dataset.count) >= 6; }"
            )
            board.evaluate("(el) => el.scrollIntoView({block: 'start'})")
            page.screenshot(path=str(ARTIFACTS / "evaluation-board.png"))
            assert output_errors(page) == [] and js_errors == []
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure-evaluation-board.png"))
            raise
        finally:
            browser.close()
