"""The background local server is visible and controllable: status, stop, restart, credentials,
and a dead server started again by the next call."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import nb_agents as nba
from nb_agents.client import Agent, Session, client_for, local_runtime
from nb_agents.client._local import check_server_credentials
from nb_agents.errors import PrerequisiteError
from tests._kernel import Kernel

DEAD_MODEL_URL = "http://127.0.0.1:9"  # nothing listens: no request can leave this machine


def nb_agents_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nb_agents", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=90,
    )


def server_pids(home: Path) -> list[int]:
    """Every ``nb-agents serve`` process of ``home`` (from /proc), to catch a second server."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"serve" in argv and str(home).encode() in argv and state != "Z":
            found.append(int(proc.name))
    return found


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether process ``pid`` has exited (or is a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def replay(path: Path, *responses: object) -> str:
    path.write_text("\n".join(json.dumps(r) for r in responses) + "\n")
    return f"replay:{path}"


@pytest.fixture()
def home(runtime_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", DEAD_MODEL_URL)
    yield runtime_home


def test_cli_status_stop_restart_on_a_real_server(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = ["--state-dir", str(home)]
    status = nb_agents_cli("server", "status", *state)
    assert status.returncode == 3 and "not running" in status.stdout, status.stdout + status.stderr
    assert not (home / "server.json").exists()  # status never starts one

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-first-secret-key")
    runtime = local_runtime(home)
    recorded = (home / "server.json").read_text()
    assert "sk-test-first-secret-key" not in recorded and "first-secret" not in recorded
    credentials = json.loads(recorded)["credentials"]
    assert credentials["ANTHROPIC_API_KEY"].startswith("sha256:")
    assert credentials["ANTHROPIC_AUTH_TOKEN"] is None and credentials["ANTHROPIC_BASE_URL"] == DEAD_MODEL_URL
    logged = (home / "server.log").read_text()
    assert f"model credentials: ANTHROPIC_API_KEY set ({credentials['ANTHROPIC_API_KEY']})" in logged
    assert "secret" not in logged
    client = client_for("local")
    agent = Agent.define(f"name: a\nmodel: {replay(tmp_path / 'r.jsonl', {'content': 'hi'})}\n")
    session = Session.start(agent, "hello")
    assert session.wait(timeout=30) == {"type": "end_turn"}

    status = nb_agents_cli("server", "status", *state)
    assert status.returncode == 0, status.stdout + status.stderr
    out = status.stdout
    assert f"running at {runtime.url} (pid {runtime.pid}" in out
    assert f"ANTHROPIC_API_KEY set ({credentials['ANTHROPIC_API_KEY']})" in out
    assert "sessions:    1 idle" in out and "differ" not in out and "secret" not in out

    other = nb_agents_cli("server", "status", *state, env={"ANTHROPIC_API_KEY": "sk-test-second-secret-key"})
    assert "this process's credentials differ (ANTHROPIC_API_KEY)" in other.stdout
    assert "nb-agents server restart" in other.stdout and "secret" not in other.stdout

    restarted = nb_agents_cli("server", "restart", *state, env={"ANTHROPIC_API_KEY": "sk-test-second-secret-key"})
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert gone(runtime.pid)
    new = json.loads((home / "server.json").read_text())
    assert new["pid"] != runtime.pid and new["credentials"]["ANTHROPIC_API_KEY"] != credentials["ANTHROPIC_API_KEY"]
    assert f"pid {new['pid']}" in restarted.stdout and "sessions:    1 idle" in restarted.stdout
    assert server_pids(home) == [new["pid"]]
    # the client made before the restart reaches the new server (its new port) on its next call
    assert [s.id for s in client.beta.sessions.list()] == [session.id]
    session.close()

    stopped = nb_agents_cli("server", "stop", *state)
    assert stopped.returncode == 0 and f"stopped the local server (pid {new['pid']})" in stopped.stdout
    assert gone(new["pid"]) and not (home / "server.json").exists() and server_pids(home) == []
    again = nb_agents_cli("server", "stop", *state)
    assert again.returncode == 0 and "no local server was running" in again.stdout
    assert nb_agents_cli("server", "status", *state).returncode == 3


def test_a_killed_server_is_started_again_by_the_next_call(home: Path, tmp_path: Path) -> None:
    model = replay(tmp_path / "r.jsonl", {"content": "first"}, {"content": "second"})
    session = Session.start(Agent.define(f"name: a\nmodel: {model}\n"), "one")
    assert session.wait(timeout=30) == {"type": "end_turn"}
    old = json.loads((home / "server.json").read_text())["pid"]
    os.kill(old, signal.SIGKILL)
    assert gone(old)
    status = nba.server_status()
    assert not status.running and status.note is not None and "died" in status.note

    session.send("two")  # the kernel's client finds the server dead, starts it, sends there
    assert session.wait(timeout=30) == {"type": "end_turn"}
    texts = [e["content"][0]["text"] for e in session.events if e["type"] == "agent.message"]
    assert texts == ["first", "second"]
    pids = server_pids(home)
    assert len(pids) == 1 and pids[0] != old  # one new server, not one per thread that noticed
    assert nba.server_status().running
    session.close()


def test_a_stopped_server_stays_stopped_until_a_user_call(home: Path, tmp_path: Path) -> None:
    session = Session.start(Agent.define(f"name: a\nmodel: {replay(tmp_path / 'r.jsonl', {'content': 'x'})}\n"), "go")
    assert session.wait(timeout=30) == {"type": "end_turn"}
    pid = nba.stop_server()
    assert pid is not None and gone(pid)
    time.sleep(4)  # the session's follower reconnects meanwhile (0.5 s, 1 s, 2 s backoff)
    assert server_pids(home) == [] and not (home / "server.json").exists()
    assert nba.server_status().running is False
    assert [s.id for s in client_for("local").beta.sessions.list()] == [session.id]  # a user call starts it
    assert len(server_pids(home)) == 1
    session.close()


def test_credentials_mismatch_restarts_an_idle_server(
    home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-one")
    first = local_runtime(home)
    assert check_server_credentials("replay:/nothing").pid == first.pid  # replay needs no key
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-two")
    assert check_server_credentials("replay:/nothing").pid == first.pid  # and restarts nothing
    with caplog.at_level(logging.WARNING, logger="nb_agents.client._local"):
        second = check_server_credentials("claude-sonnet-4-6")
    assert second.pid != first.pid and gone(first.pid)
    assert f"restarted the local nb-agents server (pid {first.pid} -> {second.pid})" in caplog.text
    assert "ANTHROPIC_API_KEY set (sha256:" in caplog.text and "sk-test-two" not in caplog.text
    assert second.credentials is not None and second.credentials != first.credentials
    assert nba.server_status().credentials_differ == []
    monkeypatch.delenv("ANTHROPIC_API_KEY")  # a process without a key keeps the server's
    assert check_server_credentials("claude-sonnet-4-6").pid == second.pid


def test_credentials_mismatch_with_a_running_session_says_how_to_restart(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-one")
    slow = replay(tmp_path / "slow.jsonl", {"delay_ms": 6000, "response": {"content": "late"}})
    session = Session.start(Agent.define(f"name: slow\nmodel: {slow}\n"), "go")
    deadline = time.monotonic() + 20
    while nba.server_status().sessions.get("running") != 1:
        assert time.monotonic() < deadline, "the session never ran"
        time.sleep(0.1)
    pid = local_runtime(home).pid
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test-two")
    with pytest.warns(UserWarning, match=r"1 session\(s\) run on it.*nb_agents.restart_server\(\)"):
        assert check_server_credentials("claude-sonnet-4-6").pid == pid
    assert server_pids(home) == [pid]
    assert session.wait(timeout=30) == {"type": "end_turn"}
    session.close()


def test_no_credentials_refuses_a_claude_session_before_it_starts(home: Path, tmp_path: Path) -> None:
    agent = Agent.define("name: c\nmodel: claude-sonnet-4-6\n")
    with pytest.raises(PrerequisiteError, match=r"needs Anthropic credentials.*ANTHROPIC_API_KEY.*restart_server"):
        Session.start(agent, "hello")
    assert list(client_for("local").beta.sessions.list()) == []
    ok = Session.start(Agent.define(f"name: r\nmodel: {replay(tmp_path / 'r.jsonl', {'content': 'ok'})}\n"), "hi")
    assert ok.wait(timeout=30) == {"type": "end_turn"}
    ok.close()


def test_session_magic_without_credentials_is_a_usage_error(home: Path) -> None:
    kernel = Kernel({"NB_AGENTS_HOME": str(home), "ANTHROPIC_API_KEY": ""})
    try:
        kernel.run("%load_ext nb_agents")
        assert kernel.run("%%agent claude\nmodel: claude-sonnet-4-6\n").status == "ok"
        result = kernel.run("%%session claude\nhello")
        error = result.error
        assert error is not None and error["ename"] == "UsageError", result.text
        assert "needs Anthropic credentials" in error["evalue"] and "%env ANTHROPIC_API_KEY" in error["evalue"]
        assert not any("Traceback" in line for line in error["traceback"])
        assert kernel.run("print('session' in dir())").text.strip() == "False"
        assert list(client_for("local").beta.sessions.list()) == []  # nothing started
    finally:
        kernel.shutdown()


def test_credentials_are_described_without_their_values() -> None:
    from nb_agents._credentials import credential_differences, describe_credentials, has_credentials, model_credentials

    env = {
        "ANTHROPIC_API_KEY": "sk-ant-api03-very-secret",
        "ANTHROPIC_AUTH_TOKEN": "",  # empty is not set: the SDK could not authenticate with it
        "ANTHROPIC_BASE_URL": "https://user:pa55word@proxy.example:8443/anthropic",
    }
    found = model_credentials(env)
    text = describe_credentials(found) + json.dumps(found)
    assert "very-secret" not in text and "pa55word" not in text and "user" not in text
    assert found["ANTHROPIC_AUTH_TOKEN"] is None and has_credentials(found)
    assert found["ANTHROPIC_BASE_URL"] == "https://proxy.example:8443/anthropic"
    assert describe_credentials(found).startswith("ANTHROPIC_API_KEY set (sha256:")
    assert model_credentials(env) == found  # a fingerprint compares keys across processes
    other = model_credentials({**env, "ANTHROPIC_API_KEY": "sk-ant-api03-another"})
    assert credential_differences(found, other) == ["ANTHROPIC_API_KEY"]
    assert not has_credentials(model_credentials({"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}))


def test_a_server_that_does_not_stop_in_time_is_killed_and_its_record_removed(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid = local_runtime(home).pid
    with caplog.at_level(logging.WARNING, logger="nb_agents.client._local"):
        assert nba.stop_server(timeout=0) == pid  # no time for SIGTERM: SIGKILL
    assert gone(pid) and not (home / "server.json").exists()
    assert f"the local server (pid {pid}) did not stop within 0s of SIGTERM; killing it" in caplog.text
    assert nba.server_status().note is None  # nothing left that looks like a server
