"""The README's first command: ``scripts/quickstart`` opens JupyterLab on the quickstart, offline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx2 as httpx

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_quickstart_launches_jupyterlab_on_the_quickstart(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"))
    proc = subprocess.Popen(
        ["bash", "scripts/quickstart", f"--port={port}", "--IdentityProvider.token=", "--ServerApp.password="],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "JupyterLab did not come up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        notebook = httpx.get(f"http://127.0.0.1:{port}/api/contents/quickstart.ipynb", timeout=10).json()
        assert notebook["type"] == "notebook"
        assert any("%%session analyst" in "".join(c["source"]) for c in notebook["content"]["cells"])
        assert (REPO / ".state" / "notebooks" / "quickstart.ipynb").is_file()  # it serves a copy, not the tracked file
        assert httpx.get(f"http://127.0.0.1:{port}/lab", timeout=10).status_code == 200
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_quickstart_headless_runs_the_session(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    done = subprocess.run(
        ["bash", "scripts/quickstart", "--headless"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert "north    255" in done.stdout and "stop_reason=end_turn" in done.stdout
    finally:
        info = Path(env["NB_AGENTS_HOME"]) / "server.json"
        if info.exists():
            import json

            os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
