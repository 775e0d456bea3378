"""The quickstart in a real browser: JupyterLab + Playwright for Python + Debian's Chromium.

One JupyterLab server (``tests/_lab.py``) serves a copy of ``notebooks/`` for the module; its
kernels get their own ``NB_AGENTS_HOME`` and the process sandbox. In the page:

- ``test_quickstart_in_jupyterlab``: run the quickstart's cells one by one up to ``%%session``;
  the live view fills in as events arrive; the whole script of the ``bash`` call is readable
  beside **Approve** (and the header says "waiting for you"); approve it, see its result and
  the answer, whose Markdown table is a table; search the log (rows hide); send the next
  message from the view's box, approve the slow job and click **Interrupt** (labelled
  "interrupted", not a failure); show the session's transcript, save the notebook, reload
  it in a kernel that never ran it and see the transcript there; and the saved file as
  nbconvert renders it (as nbviewer does) with JavaScript off; no notice in the view, no error
  in the notebook or the page.
- ``test_render_10k_events_in_jupyterlab``: the time from running a cell that displays a
  ``SessionView`` of a 10,000-event log to the view having drawn it (``bench/README.md``).

Screenshots go to ``test-artifacts/browser/`` (on failure too, with JupyterLab's log).
Skipped when ``/usr/bin/chromium`` or Playwright is missing, except with ``CI=true``: then a
failure. Playwright drives Debian's Chromium; ``playwright install`` is never needed.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
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
    stop_nb_agents_server,
)
from tests._view_harness import sample_events

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"
VIEWPORT = {"width": 1400, "height": 1100}
SECOND = 1000  # Playwright's timeouts are in milliseconds


def _require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is not installed (pip install playwright; no browser download needed)"
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the browser tests are required under CI=true, but {problem}", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _require_browser()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    shutil.copytree(REPO / "notebooks", root)
    home = tmp / "nb_agents_home"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.iterdir():
        if old.is_file():
            old.unlink()
    server = Lab.start(root, tmp / "jupyter", {"NB_AGENTS_HOME": str(home), "NB_AGENTS_SANDBOX": "process"})
    try:
        yield server
    finally:
        try:
            server.stop()  # and so its kernels
        finally:
            stop_nb_agents_server(home)
            shutil.copyfile(server.log, ARTIFACTS / "jupyterlab.log")


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


# Scrolls the live view's log so that this row is at its top.
_LOG_TO_ROW = """(row) => {
  const log = row.closest('.nbav-log');
  log.scrollTop += row.getBoundingClientRect().top - log.getBoundingClientRect().top;
}"""


class Page:
    """A page of the lab, its JavaScript errors, and screenshots kept as test artefacts."""

    def __init__(self, browser: Any, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(60 * SECOND)
        self.js_errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.js_errors.append(str(exc)))
        self.outside: list[str] = []  # requests to anywhere but the lab: there must be none
        local = (f"{lab.url}/", "data:", "blob:", "about:")
        self.page.on("request", lambda r: None if r.url.startswith(local) else self.outside.append(r.url))

    def check(self) -> None:
        """No JavaScript error in the page, no request off the machine."""
        assert self.js_errors == [], f"JavaScript errors in the page: {self.js_errors}"
        assert self.outside == [], f"requests beyond the lab: {self.outside}"

    def shot(self, name: str, view: Any = None, row: Any = None) -> Path:
        """Screenshot the page; centred on ``view`` if given, its log scrolled to ``row`` if given."""
        if view is not None:
            view.evaluate("(el) => el.scrollIntoView({block: 'center'})")
        if row is not None:
            row.evaluate(_LOG_TO_ROW)
        path = ARTIFACTS / name
        self.page.screenshot(path=str(path))
        return path

    def failed(self) -> str:
        """Screenshot the page as it is; return what helps to read the failure."""
        try:
            shot = str(self.shot(f"failure-{self.name}.png"))
        except Exception as exc:  # the page may be gone
            shot = f"(none: {exc})"
        return f"screenshot: {shot}\nJupyterLab's log:\n{self.lab.log_tail(2000)}"


@pytest.fixture()
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Page]:
    p = Page(browser, lab, request.node.name)
    try:
        yield p
    finally:
        p.context.close()


def _tag_cell(page: Any, index: int, tag: str) -> str:
    """Tag cell ``index``'s DOM node; returns the selector of the live view in its output."""
    script = "([i, tag]) => { window.jupyterapp.shell.currentWidget.content.widgets[i].node.dataset.testCell = tag; }"
    page.evaluate(script, [index, tag])
    return f"[data-test-cell={tag}] .nbav"


def _wait_view(page: Any, selector: str, condition: str, timeout: float = 60) -> None:
    """Wait until ``condition`` (JavaScript, about ``el``: the live view's root element) holds."""
    script = f"(sel) => {{ const el = document.querySelector(sel); return !!el && ({condition}); }}"
    page.wait_for_function(script, arg=selector, timeout=timeout * SECOND)


_KERNEL_STATUS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"

# Records every value a live view's data-count takes (the log filling in as events arrive).
_WATCH_COUNTS = """() => {
  window.__counts = [];
  new MutationObserver((records) => {
    for (const r of records) window.__counts.push(r.target.dataset.count);
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-count'] });
}"""


def test_quickstart_in_jupyterlab(page: Page, lab: Lab) -> None:
    p = page.page
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    try:
        open_notebook(p, lab, "quickstart.ipynb")
        mark("open")
        clear_outputs(p)  # the committed outputs: only what this run shows counts
        notebook = cells(p)
        session_cell = next(c["index"] for c in notebook if c["source"].startswith("%%session"))
        selector = _tag_cell(p, session_cell, "session")
        view = p.locator(selector)
        p.evaluate(_WATCH_COUNTS)
        for cell in notebook[: session_cell + 1]:
            if cell["type"] == "code":
                run_cell(p, cell["index"])
        mark("cells run")

        # 1. the view fills in while the session runs, then asks for approval of the bash call
        approve = view.locator("[data-action=approve]")
        approve.wait_for(state="visible", timeout=60 * SECOND)
        mark("awaiting approval")
        assert int(view.get_attribute("data-count") or 0) > 0
        assert view.get_attribute("data-awaiting") == "1"
        assert "waiting for you" in view.locator(".nbav-status").inner_text()
        ask = view.locator(".nbav-ask")
        assert "bash wants to run" in ask.inner_text()
        script = view.locator("[data-role=approval-input]")
        assert script.is_visible()
        whole = script.inner_text()
        for line in ("import csv, collections", "for region, revenue in total.most_common():", "print('total ', sum("):
            assert line in whole, f"{line!r} is not in the approval box: {whole!r}"  # every line, not the first
        assert script.locator("span").count() > 10  # highlighted
        page.shot("01-awaiting-approval.png", view)

        # 2. approve it in the view: the tool runs, its result and the agent's answer appear
        first_call = approve.get_attribute("data-tool-use-id")
        approve.click()
        view.get_by_text("North leads with 255").wait_for(timeout=60 * SECOND)
        table = view.locator(".nbav-md table")  # the answer's Markdown table, rendered (after its preview)
        table.wait_for(timeout=30 * SECOND)
        assert table.locator("tbody tr").count() == 3 and table.locator("th").first.inner_text() == "region"
        assert table.locator("tbody tr").first.locator("td").first.inner_text() == "north"
        assert "| region |" not in view.locator(".nbav-rows").inner_text()  # no raw Markdown
        _wait_view(p, selector, "el.dataset.status === 'idle' && el.dataset.awaiting === '0'")
        mark("answered")
        # no cell ran since the %%session cell: these events reached the page in the background
        assert p.evaluate(_KERNEL_STATUS) == "idle"
        bash = view.locator(f".nbav-row[data-event-id='{first_call}']")
        assert "ok" in bash.locator(".nbav-badge").inner_text()
        bash.locator("summary").click()  # open the call: its input and result
        result = bash.locator("pre.nbav-pre").last  # after the highlighted input
        assert "north    255" in result.inner_text() and result.is_visible()
        assert "approved bash" in view.inner_text()
        assert "waited" in bash.locator(".nbav-waited").inner_text()  # the wait, apart from the tool's time
        page.shot("02-after-approve.png", view, bash)

        # 2b. search the log: the rows without the word hide; clearing it shows them again
        rows_before = int(view.get_attribute("data-shown") or 0)
        view.locator("[data-role=search]").fill("north")
        _wait_view(p, selector, f"Number(el.dataset.shown) < {rows_before}")
        shown = view.locator(".nbav-rows > .nbav-row:not(.nbav-filtered)")
        assert 0 < shown.count() < rows_before
        texts = shown.evaluate_all("(rows) => rows.map((r) => r.textContent)")  # closed details count too
        assert all("north" in text.lower() for text in texts)
        assert view.locator(".nbav-rows > .nbav-row.nbav-filtered").first.is_hidden()
        page.shot("02b-search.png", view)
        view.locator("[data-role=search]").fill("")
        _wait_view(p, selector, f"Number(el.dataset.shown) === {rows_before}")

        # 3. the next message from the view's box; approve the slow job, then Interrupt it
        view.locator("[data-role=message]").fill("Now run the slow forecast.")
        view.locator("[data-action=send]").click()
        approve = view.locator(f"[data-action=approve]:not([data-tool-use-id='{first_call}'])")
        approve.wait_for(state="visible", timeout=60 * SECOND)
        slow_call = approve.get_attribute("data-tool-use-id")
        assert "for i in $(seq 1 60)" in view.locator(".nbav-ask").inner_text()
        assert view.locator("[data-role=message]").input_value() == ""  # sent, so cleared
        approve.click()
        _wait_view(p, selector, "el.dataset.awaiting === '0' && el.dataset.status === 'running'", timeout=30)
        interrupt = view.locator("[data-action=interrupt]")
        assert interrupt.is_enabled()  # enabled while the session runs
        clicked = time.monotonic()
        interrupt.click()
        view.get_by_text("Interrupted by the user").first.wait_for(state="attached", timeout=30 * SECOND)
        _wait_view(p, selector, "el.dataset.status === 'idle'")
        stopped = time.monotonic() - clicked
        mark("interrupted")
        assert stopped < 20, f"the 60 s job should stop soon after Interrupt, it took {stopped:.1f} s"
        slow = view.locator(f".nbav-row[data-event-id='{slow_call}']")
        assert "interrupted" in slow.locator(".nbav-badge").inner_text()  # labelled, not a failure
        slow.locator("summary").click()
        assert "Interrupted by the user" in slow.locator("pre.nbav-pre").last.inner_text()
        assert view.locator(".nbav-row[data-kind=interrupt]").count() == 1
        assert interrupt.is_disabled()  # idle again
        page.shot("03-interrupted.png", view, slow)

        # 4. the log filled in step by step and never went backwards; nothing went wrong
        counts = p.evaluate("() => window.__counts")
        numbers = [int(c) for c in counts]
        assert numbers == sorted(numbers) and len(set(numbers)) >= 4, f"data-count went {counts}"
        notices = view.locator("[data-role=notice]").all_inner_texts()
        assert notices == [], f"the view showed notices: {notices}"
        assert output_errors(p) == []

        # 5. the dark theme: the timeline (transparent, mid-grey text) and the view follow it
        chart = max(c["index"] for c in notebook if c["source"].strip() == "session.timeline()")
        figure = p.locator(_tag_cell(p, chart, "timeline").replace(" .nbav", " .js-plotly-plot"))
        run_cell(p, chart)
        figure.wait_for(timeout=30 * SECOND)
        p.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        p.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30 * SECOND)
        background = figure.locator(".main-svg").first.evaluate("(svg) => getComputedStyle(svg).backgroundColor")
        assert background in ("rgba(0, 0, 0, 0)", "transparent"), background  # the notebook's colour shows through
        lanes = figure.locator(".ytick text").all_text_contents()
        assert {"model", "bash", "write"} <= set(lanes), lanes  # one lane per tool
        page.shot("07-dark-theme-timeline.png", figure)
        page.shot("08-dark-theme-view.png", view)
        p.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        p.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=30 * SECOND)

        # 6. the transcript, saved: reopened in a kernel that never ran the session, and as nbviewer shows it
        last = max(c["index"] for c in notebook if c["source"].strip() == "session")
        transcript = p.locator(_tag_cell(p, last, "transcript").replace(" .nbav", " .nbav-static"))
        run_cell(p, last)
        assert "North leads with 255" in (transcript.text_content() or "")  # rows out of sight have no innerText
        p.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        p.wait_for_function(_SAVED, timeout=30 * SECOND)
        page.check()
        p.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        open_notebook(p, lab, "quickstart.ipynb")  # a new kernel: the session is in no kernel's memory
        mark("reopened")
        saved = p.locator(".jp-Cell .nbav-static").last
        saved.wait_for(timeout=30 * SECOND)
        saved.scroll_into_view_if_needed()
        assert "North leads with 255" in (saved.text_content() or "")
        assert saved.locator(".nbav-md table tbody tr").count() == 3  # still a table
        assert "interrupted" in (saved.text_content() or "")
        page.shot("05-reopened-transcript.png", saved)

        _nbviewer_shot(page, lab)
        page.check()
    except BaseException:
        print(page.failed())
        raise
    finally:
        try:
            counts = p.evaluate("() => window.__counts")
        except Exception:
            counts = "?"
        print(f"quickstart in JupyterLab, seconds since start: {timings}; data-count went {counts}")


_SAVED = "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"


def _nbviewer_shot(page: Page, lab: Lab) -> None:
    """The saved notebook as nbconvert renders it (what nbviewer shows), read with JavaScript off."""
    import subprocess
    import sys

    out = lab.root / "quickstart.html"
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--output", out.stem, "quickstart.ipynb"],
        cwd=lab.root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    context = page.context.browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    try:
        static = context.new_page()
        static.route(
            "**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_()
        )
        static.goto(out.as_uri())
        transcript = static.locator(".nbav-static").last
        assert "North leads with 255" in (transcript.text_content() or "")
        assert transcript.locator(".nbav-md table tbody tr").count() == 3
        transcript.scroll_into_view_if_needed()
        static.screenshot(path=str(ARTIFACTS / "06-nbconvert-no-javascript.png"))
    finally:
        context.close()


_RENDER_SETUP = """\
import json

from nb_agents.notebook._view import SessionView


class LogOnly:
    \"\"\"A finished session with a given log (the LiveSession surface, nothing live).\"\"\"

    id, title, model, status = "sesn_render_10k", "10,000 events", "replay:bench", "idle"
    usage = {"input_tokens": 0, "output_tokens": 0}

    def __init__(self, events):
        self.events = events

    def subscribe(self, callback):
        return lambda: None

    def send(self, text): ...
    def confirm(self, tool_use_id, allow=True, message=None): ...
    def interrupt(self): ...
    def estimated_cost(self):
        return None


log = LogOnly(json.load(open("render_10k.json")))
len(log.events)
"""

# Runs the cell that displays the view, and times from the run command, at each animation
# frame: the view's element is there; it knows all `events` rows (the backlog, the last 500
# rows, comes with the widget's state); the whole log is loaded (the backfill answering its sync
# request) and the last 500 rows are drawn; the next frame after a forced layout ("painted").
_TIMED_RUN = """async ([index, events]) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  const cell = panel.content.widgets[index];
  panel.content.activeCellIndex = index;
  panel.content.deselectAll();
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(performance.now())));
  cell.model.outputs.clear();  // the previous run's view must not count
  await frame();
  const t0 = performance.now();
  const ran = app.commands.execute('notebook:run-cell');
  const ms = {};
  for (;;) {
    const now = await frame();
    if (now - t0 > 120000) throw new Error('the view did not render the log in 120 s');
    const el = cell.node.querySelector('.nbav');
    if (!el || el.dataset.count === undefined) continue;
    ms.element ??= now - t0;
    if (el.dataset.count !== String(events)) continue;
    ms.known ??= now - t0;
    const drawn = el.querySelectorAll('.nbav-rows > .nbav-row').length;
    const hidden = el.querySelector('.nbav-hidden').textContent;
    if (drawn < Math.min(events, 500) || hidden.includes('loading')) continue;
    ms.loaded = now - t0;
    void el.offsetHeight;
    ms.painted = (await frame()) - t0;
    await ran;
    return { ms, drawn, bars: el.querySelectorAll('rect.nbav-bar').length };
  }
}"""


def test_render_10k_events_in_jupyterlab(page: Page, lab: Lab) -> None:
    """The time to render a 10,000-event log in JupyterLab (printed; see bench/README.md)."""
    events = 10_000
    sources = [_RENDER_SETUP.replace("EVENTS", str(events)), "SessionView(log)"]
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell-{i}",
                "metadata": {},
                "source": source,
                "outputs": [],
                "execution_count": None,
            }
            for i, source in enumerate(sources)
        ],
    }
    (lab.root / "render_10k.ipynb").write_text(json.dumps(notebook))
    (lab.root / "render_10k.json").write_text(json.dumps(sample_events(910)[:events]))
    p = page.page
    try:
        open_notebook(p, lab, "render_10k.ipynb")
        run_cell(p, 0)
        runs = [p.evaluate(_TIMED_RUN, [1, events]) for _ in range(5)]
        view = p.locator(_tag_cell(p, 1, "render"))
        assert view.get_attribute("data-count") == str(events)
        assert view.locator(".nbav-rows > .nbav-row").count() == 500
        assert "9,500 earlier events hidden" in view.locator(".nbav-hidden").inner_text()
        page.shot("04-render-10k.png", view)
        assert output_errors(p) == []
        page.check()
    except BaseException:
        print(page.failed())
        raise
    what = f"render of {events:,} events in JupyterLab"
    for number, run in enumerate(runs, 1):
        shown = ", ".join(f"{key} {value:.0f} ms" for key, value in run["ms"].items())
        print(f"{what}, run {number}: {shown}; {run['drawn']} rows drawn, {run['bars']} timeline bars")
    painted = [run["ms"]["painted"] for run in runs]
    low, median, high = min(painted), statistics.median(painted), max(painted)
    print(f"{what}: median {median:.0f} ms over {len(runs)} runs ({low:.0f}-{high:.0f} ms), cell run to drawn")
