"""Helpers for the real-browser tests: a private JupyterLab server and Debian's Chromium.

``Lab.start(root, work, env)`` runs ``python -m jupyterlab`` on a free loopback port with no
token or password, ``window.jupyterapp`` exposed, every Jupyter/IPython directory it writes in
``work`` (config, runtime, data, user settings, workspaces) and the news / update checks off, so
nothing leaves the machine and nothing in the user's home is read or written. ``Lab.stop``
stops it (and so its kernels). ``launch_chromium`` starts ``/usr/bin/chromium`` through
Playwright (never ``playwright install``) with flags that keep it off the network.

The notebook helpers drive JupyterLab through its command registry (``window.jupyterapp``)
and read state from the DOM; all waits are on state, never on time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that phones home: without the background-networking flags Chromium
# tries to reach the internet. The resolver rule makes any host name other than the loopback
# address fail at once, so an accidental fetch is an error here, not a hang.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# JupyterLab's news toast (it would cover the page in screenshots) and its update check (a request
# to pypi.org): both off, through the overrides of the application settings.
_OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Lab:
    """A running JupyterLab server (see ``Lab.start``)."""

    process: subprocess.Popen[bytes]
    url: str
    root: Path
    log: Path

    @classmethod
    def start(cls, root: Path, work: Path, env: Mapping[str, str], timeout: float = 90.0) -> Lab:
        """Serve ``root`` on a free loopback port; ``work`` holds the server's own files.

        Args:
            root: The directory the server shows (the notebooks).
            work: An empty directory for config, runtime, data, settings and the server's log.
            env: Extra environment variables for the server (its kernels inherit them).
            timeout: Seconds to wait for ``/api/status`` to answer.

        Raises:
            RuntimeError: If the server exits or does not answer in time (its log's tail is in
                the message).
        """
        dirs = {name: work / name for name in ("config", "runtime", "data", "ipython", "settings", "user", "ws")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        (dirs["settings"] / "overrides.json").write_text(json.dumps(_OVERRIDES))
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            f"--LabServerApp.app_settings_dir={dirs['settings']}",
            f"--LabApp.user_settings_dir={dirs['user']}",
            f"--LabApp.workspaces_dir={dirs['ws']}",
            # nothing from the internet: no news feed, no update check, no PyPI extension manager
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # containers and CI machines often run as root
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "JUPYTER"))}
        full_env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            IPYTHONDIR=str(dirs["ipython"]),
            PYTHONUNBUFFERED="1",
        )
        full_env.update(env)
        log = work / "jupyterlab.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, cwd=root, env=full_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        lab = cls(process, f"http://127.0.0.1:{port}", root, log)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {process.returncode}:\n{lab.log_tail()}")
            try:
                with urllib.request.urlopen(f"{lab.url}/api/status", timeout=2) as response:
                    if response.status == 200:
                        return lab
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                lab.stop()
                raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{lab.log_tail()}")
            time.sleep(0.2)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server (it shuts its kernels down), then kill its process group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # the server's process group: kernels left behind by a hung server
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(timeout=timeout)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium through Playwright (``playwright install`` is never needed or run)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def stop_nb_agents_server(home: Path) -> None:
    """SIGTERM the background ``nb-agents serve`` a kernel started with ``NB_AGENTS_HOME=home``."""
    info = home / "server.json"
    try:
        pid = int(json.loads(info.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


# ---- driving a notebook in the page ------------------------------------------------------------

# The current tab is the notebook ``path`` (if given), its cells are there, its kernel idle.
_KERNEL_IDLE = """(path) => {
  const w = window.jupyterapp?.shell.currentWidget;
  const kernel = w?.sessionContext?.session?.kernel;
  return !!(w?.content?.widgets?.length && (!path || w.context?.path === path)
            && kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected');
}"""

_RUN_CELL = """async (index) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  panel.content.activeCellIndex = index;
  panel.content.deselectAll();
  await app.commands.execute('notebook:run-cell');  // resolves once the kernel has replied
  return panel.content.widgets[index].model.executionCount;
}"""

_OUTPUTS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.map((cell, index) => ({
    index,
    type: cell.model.type,
    source: cell.model.sharedModel.getSource(),
    outputs: cell.model.type === 'code' ? cell.model.outputs.toJSON() : [],
  }));
}"""


def open_notebook(page: Any, lab: Lab, name: str, timeout: float = 90.0) -> None:
    """Open ``name`` (relative to the server's root) alone, and wait until its kernel is idle.

    ``?reset`` starts from an empty workspace: no tab of an earlier page is restored.
    """
    page.goto(f"{lab.url}/lab/tree/{name}?reset")
    page.wait_for_function(_KERNEL_IDLE, arg=name, timeout=timeout * 1000)


def wait_kernel_idle(page: Any, timeout: float = 60.0) -> None:
    page.wait_for_function(_KERNEL_IDLE, arg=None, timeout=timeout * 1000)


def run_cell(page: Any, index: int, timeout: float = 60.0) -> None:
    """Select cell ``index`` and run it (``notebook:run-cell``); return once it has finished.

    Raises:
        AssertionError: If the cell did not run (no execution count).
    """
    count = page.evaluate(_RUN_CELL, index)
    assert isinstance(count, int), f"cell {index} did not run (execution count {count!r})"
    wait_kernel_idle(page, timeout)


def clear_outputs(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")


def cells(page: Any) -> list[dict[str, Any]]:
    """Every cell of the open notebook: index, type, source and outputs (nbformat JSON)."""
    found: list[dict[str, Any]] = page.evaluate(_OUTPUTS)
    return found


def output_errors(page: Any) -> list[str]:
    """The error outputs of the open notebook (and stream text with a UsageError or a traceback)."""
    problems = []
    for cell in cells(page):
        for out in cell["outputs"]:
            if out.get("output_type") == "error":
                problems.append(f"cell {cell['index']}: {out.get('ename')}: {out.get('evalue')}")
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            if "UsageError" in text or "Traceback" in text:
                problems.append(f"cell {cell['index']}: {text.strip()[:500]}")
    return problems
