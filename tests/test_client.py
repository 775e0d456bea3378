"""The front's way to the local runtime: start it in the background once, then reuse it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nb_agents.client import local_client, local_runtime

REPO = Path(__file__).resolve().parents[1]


def test_local_runtime_starts_once_and_outlives_its_starter(runtime_home: Path) -> None:
    starter = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from nb_agents.client import local_runtime; print(local_runtime({str(runtime_home)!r}).pid)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert starter.returncode == 0, starter.stderr
    pid = int(starter.stdout.strip())
    again = local_runtime(runtime_home)  # the starter has exited; the server still answers
    assert again.pid == pid
    client = local_client(runtime_home)
    assert client.beta.agents.list().data == []


def test_stale_server_file_is_replaced(runtime_home: Path) -> None:
    runtime_home.mkdir(parents=True)
    (runtime_home / "server.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "port": 9, "pid": 999999}))
    (runtime_home / "api_key").write_text("nba-stale\n")
    runtime = local_runtime(runtime_home)
    assert runtime.url != "http://127.0.0.1:9"


def test_quickstart_runs_offline(runtime_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    env["NB_AGENTS_HOME"] = str(runtime_home)
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "quickstart.py")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "approving the bash call" in done.stdout
    assert "north    255" in done.stdout and "total  660" in done.stdout
    assert "stop_reason=end_turn" in done.stdout
