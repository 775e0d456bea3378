"""DockerSandbox over time: a killed container is replaced, idle stop and restart, close versus
destroy, orphan cleanup through the CLI, and derived images with packages.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nb_agents.errors import SandboxError, SandboxUnavailableError
from nb_agents.sandbox._images import base_image_id, derived_tag
from nb_agents.sandbox.docker import DockerSandbox, sandbox_config
from nb_agents.store import Store
from tests._sandboxes import Sandboxes

pytestmark = pytest.mark.docker


async def _until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def _status(client: Any, container_id: str | None) -> str:
    try:
        return str(client.containers.get(container_id).status)
    except Exception:
        return "gone"


def test_killed_container_is_replaced_with_workspace_intact(sandboxes: Sandboxes, docker_client: Any) -> None:
    notices: list[tuple[str, str]] = []

    async def main() -> None:
        sandbox = sandboxes(on_notice=lambda kind, message: notices.append((kind, message)))
        await sandbox.call("write", {"file_path": "keep.txt", "content": "kept"})
        await sandbox.call("bash", {"command": "echo lost > /tmp/lost.txt"})
        first = sandbox.container_id
        running = asyncio.ensure_future(sandbox.call("bash", {"command": "sleep 30"}))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(lambda: docker_client.containers.get(first).kill())
        with pytest.raises(SandboxError):
            await asyncio.wait_for(running, 10)
        result = await sandbox.call("bash", {"command": "cat keep.txt; ls /tmp"})
        assert result.text == "kept" and not result.is_error, result
        assert sandbox.container_id != first and _status(docker_client, first) == "gone"
        assert [kind for kind, _ in notices] == ["replaced"], notices
        assert "/workspace" in notices[0][1]

        # Killed between calls: noticed at the next call, which just works.
        second = sandbox.container_id
        await asyncio.to_thread(lambda: docker_client.containers.get(second).kill())
        await _until(lambda: not sandbox.alive)
        assert (await sandbox.call("read", {"file_path": "keep.txt"})).text == "kept"
        assert [kind for kind, _ in notices] == ["replaced", "replaced"]
        await sandbox.destroy()

    asyncio.run(main())


def test_idle_container_stops_and_starts_again(sandboxes: Sandboxes, docker_client: Any) -> None:
    notices: list[tuple[str, str]] = []

    async def main() -> None:
        sandbox = sandboxes(idle_timeout=0.5, on_notice=lambda k, m: notices.append((k, m)))
        await sandbox.call("bash", {"command": "echo data > file.txt; echo tmp > /tmp/t.txt"})
        cid = sandbox.container_id
        await _until(lambda: _status(docker_client, cid) == "exited")
        assert not sandbox.alive
        result = await sandbox.call("bash", {"command": "cat file.txt /tmp/t.txt"})
        assert result.text == "data\ntmp" and sandbox.container_id == cid  # the same container, restarted
        assert _status(docker_client, cid) == "running" and notices == []
        # A long call is not idle: the container stays up while it runs.
        await sandbox.call("bash", {"command": "sleep 1.2"})
        assert _status(docker_client, cid) == "running"
        await sandbox.destroy()

    asyncio.run(main())


def test_close_keeps_the_volume_and_destroy_removes_everything(sandboxes: Sandboxes, docker_client: Any) -> None:
    async def main() -> None:
        sandbox = sandboxes()
        await sandbox.call("write", {"file_path": "w.txt", "content": "persisted"})
        await sandbox.close()
        assert _status(docker_client, sandbox.container_id) == "exited"
        assert docker_client.volumes.get(sandbox.volume_name)
        with pytest.raises(SandboxError, match="closed"):
            await sandbox.call("bash", {"command": "true"})

        again = sandboxes(session_id=sandbox.session_id)  # e.g. after a runtime restart
        assert (await again.call("read", {"file_path": "w.txt"})).text == "persisted"
        assert again.container_id == sandbox.container_id
        await again.destroy()
        await again.destroy()  # idempotent
        assert sandboxes.labelled() == []
        # A sandbox that never started can be destroyed too (a deleted session after a restart).
        await sandboxes(session_id=sandbox.session_id).destroy()

    asyncio.run(main())


def _cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "nb_agents", "sandbox", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_lists_and_removes_orphans(sandboxes: Sandboxes, docker_client: Any, tmp_path: Path) -> None:
    state = sandboxes.state_dir
    kept, orphan, archived = (sandboxes.new_session() for _ in range(3))
    with Store(state / "nb_agents.sqlite3") as store:
        for sid, archived_at in ((kept, None), (archived, "2026-01-02T00:00:00Z")):
            store.insert_session(
                {"type": "session", "id": sid, "status": "idle", "agent": {"type": "agent", "id": "agent_1"},
                 "created_at": "2026-01-01T00:00:00Z", "archived_at": archived_at}
            )  # fmt: skip
    other = Sandboxes(docker_client, tmp_path / "other-state")  # another runtime's sandbox

    async def start(*boxes: DockerSandbox) -> None:
        for box in boxes:
            await box.start()
            await box.close()

    asyncio.run(start(*(sandboxes(session_id=s) for s in (kept, orphan, archived)), other()))
    try:
        listing = _cli("ls")
        for sid in (kept, orphan, archived, *other.session_ids):
            assert f"nb-agents-{sid}" in listing and f"nb-agents-ws-{sid}" in listing
        assert str(state) in listing

        everything = _cli("cleanup", "--all", "--dry-run")  # --all alone would hit other runs' sandboxes
        assert all(f"would remove volume nb-agents-ws-{sid}" in everything for sid in (kept, *other.session_ids))
        dry = _cli("cleanup", "--dry-run", "--state-dir", str(state))
        assert f"would remove container nb-agents-{orphan}" in dry and kept not in dry
        assert _status(docker_client, f"nb-agents-{orphan}") == "exited"

        out = _cli("cleanup", "--state-dir", str(state))
        removed = {line for line in out.splitlines() if line.startswith("removed ")}
        assert removed == {
            f"removed {what} nb-agents-{kind}{sid}"
            for sid in (orphan, archived)
            for what, kind in (("container", ""), ("volume", "ws-"))
        }, out
        assert _status(docker_client, f"nb-agents-{kept}") == "exited"
        assert _status(docker_client, f"nb-agents-{other.session_ids[0]}") == "exited"
        assert "no orphaned sandboxes" in _cli("cleanup", "--state-dir", str(state))
    finally:
        other.remove_all()
        sandboxes.remove_all()


@pytest.fixture
def packages_env(docker_client: Any, base_image: str) -> Iterator[tuple[dict[str, Any], str]]:
    env = {
        "config": {
            "type": "cloud",
            "networking": {"type": "limited", "allowed_hosts": [], "allow_package_managers": True},
            "packages": {"type": "packages", "pip": ["six"], "apt": ["jq"]},
        }
    }
    tag = derived_tag(base_image_id(docker_client, base_image, print), sandbox_config(env, image=base_image))
    _remove_image(docker_client, tag)
    try:
        yield env, tag
    finally:
        _remove_image(docker_client, tag)


def _remove_image(client: Any, tag: str) -> None:
    try:
        client.images.remove(tag, force=True)
    except Exception:
        pass


def test_derived_image_with_packages_is_built_once(
    sandboxes: Sandboxes, docker_client: Any, packages_env: tuple[dict[str, Any], str]
) -> None:
    env, tag = packages_env
    check = "python3 -c 'import six; print(six.__name__)'; echo '{\"a\": 7}' | jq .a; pip --version >/dev/null"
    notices: list[tuple[str, str]] = []

    async def run(record: bool) -> float:
        sandbox = sandboxes(env, on_notice=(lambda k, m: notices.append((k, m))) if record else None)
        started = time.monotonic()
        result = await sandbox.call("bash", {"command": check})
        elapsed = time.monotonic() - started
        assert result.text == "six\n7" and not result.is_error, result
        assert docker_client.containers.get(sandbox.container_id).image.tags == [tag]
        await sandbox.destroy()
        return elapsed

    asyncio.run(run(record=True))
    assert [k for k, _ in notices] == ["building", "built"] and tag in notices[0][1]
    image = docker_client.images.get(tag)
    assert image.labels["nb_agents.managed"] == "1" and "six" in image.labels["nb_agents.packages"]
    notices.clear()
    assert asyncio.run(run(record=True)) < 5  # cached: no download, no build
    assert notices == [] and docker_client.images.get(tag).id == image.id
    assert not docker_client.containers.list(all=True, filters={"label": "nb_agents.role=build"})


def test_failed_build_names_the_package_and_leaves_nothing(sandboxes: Sandboxes, docker_client: Any) -> None:
    missing = "nb-agents-no-such-package-" + os.urandom(4).hex()
    sandbox = sandboxes({"config": {"type": "cloud", "packages": {"type": "packages", "pip": [missing]}}})
    with pytest.raises(SandboxUnavailableError, match=missing):
        asyncio.run(sandbox.call("bash", {"command": "true"}))
    assert not docker_client.containers.list(all=True, filters={"label": "nb_agents.role=build"})
    assert docker_client.containers.list(all=True, filters={"name": sandbox.container_name}) == []
    assert not docker_client.images.list(filters={"label": "nb_agents.role=image", "dangling": True})


@pytest.mark.slow
def test_npm_packages_come_with_node(sandboxes: Sandboxes, docker_client: Any, base_image: str) -> None:
    env = {"config": {"type": "cloud", "packages": {"type": "packages", "npm": ["left-pad@1.3.0"]}}}
    tag = derived_tag(base_image_id(docker_client, base_image, print), sandbox_config(env, image=base_image))
    _remove_image(docker_client, tag)

    async def main() -> None:
        sandbox = sandboxes(env)
        script = "console.log(require('left-pad')('7', 3, '0'))"
        result = await sandbox.call("bash", {"command": f'node -e "{script}"'})
        assert result.text == "007" and not result.is_error, result
        await sandbox.destroy()

    try:
        asyncio.run(main())
    finally:
        _remove_image(docker_client, tag)
