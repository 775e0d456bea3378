"""ProcessSandbox: the conformance suite, the scrubbed environment, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from pathlib import Path

import pytest

import nb_agents.sandbox
from nb_agents.errors import SandboxError
from nb_agents.sandbox import EXECUTOR_PATH, ProcessSandbox, Sandbox, ToolResult, conformance
from nb_agents.sandbox.process import scrubbed_environ


@pytest.mark.parametrize("check", conformance.pytest_params(known_failures={}))
def test_conformance(check: conformance.Check, tmp_path: Path) -> None:
    asyncio.run(check.run(lambda: ProcessSandbox(tmp_path / "ws")))


def test_known_failures_must_name_checks() -> None:
    with pytest.raises(ValueError, match="no_such_check"):
        conformance.pytest_params(known_failures={"no_such_check": "typo"})


def test_public_surface() -> None:
    assert nb_agents.sandbox.__all__ == sorted(nb_agents.sandbox.__all__)
    public = {n for n in vars(nb_agents.sandbox) if not n.startswith("_")}
    assert public - {"annotations", "conformance", "docker", "process"} == set(nb_agents.sandbox.__all__)
    assert EXECUTOR_PATH.is_file() and EXECUTOR_PATH.name == "_executor.py"
    assert issubclass(ProcessSandbox, Sandbox) and ProcessSandbox.name == "process"


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_environment_is_scrubbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "ANTHROPIC_API_KEY": "sk-ant-api03-secret",
        "ANTHROPIC_BASE_URL": "http://localhost:1",
        "NB_AGENTS_API_KEY": "local-secret",
        "OPENAI_API_KEY": "k",
        "GITHUB_TOKEN": "t",
        "MY_SECRET_THING": "s",
        "AWS_SECRET_ACCESS_KEY": "s",
        "PGPASSWORD": "p",
        "DATABASE_URL": "postgres://user:hunter2@db/x",
        "INNOCENT_LOOKING": "sk-ant-oat01-xyz",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KEEP_ME", "kept")
    monkeypatch.setenv("LANG", "C.UTF-8")

    async def main() -> str:
        async with ProcessSandbox(tmp_path / "ws", env={"EXTRA": "x"}) as sandbox:
            return (await sandbox.call("bash", {"command": "env"})).text

    lines = asyncio.run(main()).splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line)
    assert not set(secrets) & set(env), set(secrets) & set(env)
    assert not any("sk-ant-" in line or "hunter2" in line for line in lines)
    assert env["HOME"] == str((tmp_path / "ws").resolve())
    assert env["TERM"] == "dumb"
    assert env["PATH"] == os.environ["PATH"]
    assert env["LANG"] == "C.UTF-8"
    assert env["KEEP_ME"] == "kept" and env["EXTRA"] == "x"


def test_scrubbed_environ_sets_home_and_path() -> None:
    env = scrubbed_environ({"SSH_AUTH_SOCK": "/s", "X_TOKEN_Y": "t", "LC_ALL": "C"}, "/ws")
    assert env == {"LC_ALL": "C", "HOME": "/ws", "TERM": "dumb", "PATH": os.defpath}


def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    async def main() -> list[int]:
        sandbox = ProcessSandbox(tmp_path / "ws")
        result = await sandbox.call("bash", {"command": "sleep 1000 & echo $!; (sleep 1001 &) ; echo $$"})
        assert sandbox.pid is not None
        pids = [int(p) for p in result.text.split()] + [sandbox.pid]
        assert all(_running(p) for p in pids)
        await sandbox.close()
        await sandbox.close()  # idempotent
        assert not sandbox.alive
        with pytest.raises(SandboxError, match="closed"):
            await sandbox.call("bash", {"command": "true"})
        return pids

    pids = asyncio.run(main())
    deadline = time.monotonic() + 2
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [p for p in pids if _running(p)]


def test_dead_executor_fails_the_call_and_is_replaced(tmp_path: Path) -> None:
    async def main() -> None:
        async with ProcessSandbox(tmp_path / "ws") as sandbox:
            await sandbox.call("bash", {"command": "export A=1"})
            pid = sandbox.pid
            assert pid is not None
            running = asyncio.ensure_future(sandbox.call("bash", {"command": "sleep 30"}))
            await asyncio.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(SandboxError, match="executor exited"):
                await asyncio.wait_for(running, 2)
            assert not sandbox.alive
            result = await sandbox.call("bash", {"command": "echo ${A:-fresh}"})
            assert result == ToolResult([{"type": "text", "text": "fresh"}], False)
            assert sandbox.alive and sandbox.pid != pid

    asyncio.run(main())


def test_start_is_idempotent_and_lazy(tmp_path: Path) -> None:
    async def main() -> None:
        sandbox = ProcessSandbox(tmp_path / "ws")
        assert not sandbox.alive and sandbox.pid is None
        assert not (tmp_path / "ws").exists()
        await sandbox.start()
        pid = sandbox.pid
        await sandbox.start()
        assert sandbox.pid == pid and sandbox.alive
        assert sandbox.workspace == str((tmp_path / "ws").resolve())
        await sandbox.close()

    asyncio.run(main())


def test_concurrent_calls(tmp_path: Path) -> None:
    async def main() -> list[ToolResult]:
        async with ProcessSandbox(tmp_path / "ws") as sandbox:
            writes = [sandbox.call("write", {"file_path": f"f{i}.txt", "content": str(i)}) for i in range(20)]
            await asyncio.gather(*writes)
            return await asyncio.gather(*(sandbox.call("bash", {"command": f"cat f{i}.txt"}) for i in range(20)))

    assert [r.text for r in asyncio.run(main())] == [str(i) for i in range(20)]


def test_bash_round_trip_is_fast(tmp_path: Path) -> None:
    async def main() -> float:
        async with ProcessSandbox(tmp_path / "ws") as sandbox:
            await sandbox.call("bash", {"command": "true"})
            times = []
            for _ in range(200):
                started = time.perf_counter()
                await sandbox.call("bash", {"command": "true"})
                times.append(time.perf_counter() - started)
            return statistics.median(times)

    assert asyncio.run(main()) < 0.02  # ~0.5 ms on a laptop; generous for loaded CI machines
