"""DockerSandbox: conformance, laziness, isolation (environment, network, limits) and settings.

Every sandbox here is made by the ``sandboxes`` fixture: a unique session id and one state
directory per test, whose label finds whatever a test left behind. Tests destroy their sandboxes;
the fixture fails the test if any container or volume with its label is left, then removes it.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from nb_agents.errors import SandboxError, SandboxUnavailableError
from nb_agents.sandbox import conformance
from nb_agents.sandbox._containers import Limits, container_limits
from nb_agents.sandbox._docker_config import SANDBOX_ENV
from nb_agents.sandbox.docker import DockerSandbox, sandbox_config, unavailable_reason
from nb_agents.spec import LOCAL_METADATA_KEY
from tests._sandboxes import Sandboxes

docker = pytest.mark.docker


def env_with(networking: Any = None, **local: Any) -> dict[str, Any]:
    """An environment wire object with the given networking and local settings."""
    env: dict[str, Any] = {"config": {"type": "cloud"}, "metadata": {}}
    if networking is not None:
        env["config"]["networking"] = networking
    if local:
        env["metadata"][LOCAL_METADATA_KEY] = json.dumps(local)
    return env


@docker
@pytest.mark.parametrize("check", conformance.pytest_params(known_failures={}))
def test_conformance(check: conformance.Check, sandboxes: Sandboxes) -> None:
    async def main() -> None:
        made: list[DockerSandbox] = []

        def factory() -> DockerSandbox:
            made.append(sandboxes())
            return made[-1]

        try:
            await check.run(factory)
        finally:
            for sandbox in made:
                await sandbox.destroy()

    asyncio.run(main())


@docker
def test_lazy_start_one_container_with_limits(sandboxes: Sandboxes, docker_client: Any) -> None:
    async def main() -> None:
        sandbox = sandboxes(env_with(cpu=0.5, memory="256m", pids=100))
        await asyncio.sleep(0)
        assert docker_client.containers.list(all=True, filters={"name": sandbox.container_name}) == []
        assert sandbox.container_id is None and not sandbox.alive
        # The runtime starts it beside the first model request while a tool call comes in.
        results = await asyncio.gather(
            sandbox.start(), sandbox.call("bash", {"command": "cd /tmp && export A=1"}), sandbox.start()
        )
        assert not results[1].is_error
        result = await sandbox.call("bash", {"command": "echo $A $(pwd) $HOME"})
        assert result.text == "1 /tmp /workspace"
        await sandbox.call("write", {"file_path": "notes/a.txt", "content": "hello\n"})
        assert (await sandbox.call("bash", {"command": "cat /workspace/notes/a.txt"})).text == "hello"

        [ctr] = docker_client.containers.list(all=True, filters={"label": f"nb_agents.session={sandbox.session_id}"})
        assert ctr.id == sandbox.container_id and ctr.name == f"nb-agents-{sandbox.session_id}"
        assert ctr.labels["nb_agents.managed"] == "1"
        host = ctr.attrs["HostConfig"]
        assert (host["NanoCpus"], host["Memory"], host["MemorySwap"], host["PidsLimit"]) == (
            500_000_000,
            256 * 1024**2,
            256 * 1024**2,
            100,
        )
        assert host["NetworkMode"] == "none" and not host.get("Privileged")
        assert "no-new-privileges" in host.get("SecurityOpt", [])
        [mount] = ctr.attrs["Mounts"]
        assert (mount["Type"], mount["Name"], mount["Destination"]) == ("volume", sandbox.volume_name, "/workspace")
        assert not host.get("Binds") or host["Binds"] == [f"{sandbox.volume_name}:/workspace:rw"]
        assert ctr.attrs["Config"]["WorkingDir"] == "/workspace"
        volume = docker_client.volumes.get(sandbox.volume_name)
        assert volume.attrs["Labels"]["nb_agents.session"] == sandbox.session_id
        await sandbox.destroy()

    asyncio.run(main())


@docker
def test_no_secret_inside(sandboxes: Sandboxes, docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret")
    monkeypatch.setenv("NB_AGENTS_API_KEY", "nb-local-test-secret")

    async def main() -> None:
        async with sandboxes() as sandbox:
            env = (await sandbox.call("bash", {"command": "env"})).text
            denied = await sandbox.call("bash", {"command": "tr '\\0' '\\n' </proc/1/environ"})
            assert denied.is_error and "Permission denied" in denied.text  # init is root's; tools are not
            everything = (await sandbox.call("bash", {"command": "cat /proc/*/environ | tr '\\0' '\\n'"})).text
            mounts = (await sandbox.call("bash", {"command": "cat /proc/mounts; ls -a /var/run /run"})).text
            ctr = docker_client.containers.get(sandbox.container_id)
            init_env = ctr.exec_run(["cat", "/proc/1/environ"]).output.decode().replace("\0", "\n")
            for text in (env, init_env, everything):
                assert "test-secret" not in text and "ANTHROPIC" not in text and "NB_AGENTS_API" not in text
            assert dict(line.split("=", 1) for line in init_env.splitlines()) == {**SANDBOX_ENV, "HOSTNAME": "sandbox"}
            assert "docker.sock" not in mounts
            assert sorted(ctr.attrs["Config"]["Env"]) == sorted(f"{k}={v}" for k, v in SANDBOX_ENV.items())
        await sandbox.destroy()

    asyncio.run(main())


def _interfaces(proc_net_dev: str) -> set[str]:
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines()[2:]}


@docker
def test_networking_none_and_unrestricted(sandboxes: Sandboxes) -> None:
    async def interfaces(env: dict[str, Any]) -> set[str]:
        sandbox = sandboxes(env)
        try:
            return _interfaces((await sandbox.call("bash", {"command": "cat /proc/net/dev"})).text)
        finally:
            await sandbox.destroy()

    async def main() -> None:
        assert await interfaces(env_with()) == {"lo"}
        assert await interfaces(env_with({"type": "limited", "allowed_hosts": []})) == {"lo"}
        assert "eth0" in await interfaces(env_with({"type": "unrestricted"}))

    asyncio.run(main())


@docker
def test_limited_networking_with_hosts_is_refused(sandboxes: Sandboxes, docker_client: Any) -> None:
    sandbox = sandboxes(env_with({"type": "limited", "allowed_hosts": ["pypi.org"]}))
    with pytest.raises(SandboxUnavailableError, match="egress proxy") as info:
        asyncio.run(sandbox.call("bash", {"command": "true"}))
    assert "pypi.org" in str(info.value) and "refuses" in str(info.value)
    assert docker_client.containers.list(all=True, filters={"name": sandbox.container_name}) == []


@docker
def test_memory_hog_and_fork_bomb_leave_the_session_alive(sandboxes: Sandboxes) -> None:
    async def main() -> None:
        sandbox = sandboxes(env_with(memory="128m", pids=64))
        await sandbox.call("write", {"file_path": "before.txt", "content": "intact"})
        hog = await sandbox.call("bash", {"command": "python3 -c \"a = b'x' * (1 << 31)\""})
        assert hog.is_error and "137" in hog.text, hog
        after = await sandbox.call("bash", {"command": "cat before.txt"})
        assert after.text == "intact" and not after.is_error

        started = time.monotonic()
        bomb = await sandbox.call("bash", {"command": "b() { b | b & }; b; sleep 30", "timeout_ms": 3000})
        assert bomb.is_error and "timed out" in bomb.text, bomb
        assert time.monotonic() - started < 15
        again = await sandbox.call("bash", {"command": "echo alive; cat before.txt"})
        assert again.text == "alive\nintact", again
        await sandbox.destroy()

    asyncio.run(main())


def test_sandbox_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NB_AGENTS_IMAGE", raising=False)
    default = sandbox_config({})
    assert (default.network, default.pids, default.idle_timeout, default.image) == (
        "none",
        512,
        600.0,
        "nb-agents/base:bookworm-1",
    )
    monkeypatch.setenv("NB_AGENTS_IMAGE", "custom:1")
    assert sandbox_config({}).image == "custom:1"
    env = env_with({"type": "unrestricted"}, image="mine:2", cpu=1.5, memory="1g", pids=99, idle_timeout=30)
    env["config"]["packages"] = {"type": "packages", "pip": ["six"], "apt": [], "npm": ["left-pad"]}
    config = sandbox_config(env)
    assert (config.image, config.network, config.cpu, config.memory_bytes, config.pids) == (
        "mine:2",
        "bridge",
        1.5,
        1024**3,
        99,
    )
    assert (config.pip, config.npm, config.idle_timeout) == (("six",), ("left-pad",), 30.0)
    assert sandbox_config(env, image="over:3", idle_timeout=5).image == "over:3"
    env["config"]["packages"] = {"type": "packages", "cargo": ["ripgrep"]}
    with pytest.raises(SandboxUnavailableError, match="cargo"):
        sandbox_config(env)
    with pytest.raises(SandboxUnavailableError, match="invalid"):
        sandbox_config(env_with(memory="lots"))


def test_default_limits_mirror_the_hosted_container() -> None:
    config = sandbox_config({})
    big = {"MemTotal": 64 * 1024**3, "NCPU": 16, "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "xfs"]]}
    assert container_limits(config, big) == Limits(8 * 1024**3, 4_000_000_000, 512, 10 * 1024**3)
    small = {
        "MemTotal": 4 * 1024**3,
        "NCPU": 2,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"]],
    }
    assert container_limits(config, small) == Limits(2 * 1024**3, 2_000_000_000, 512, None)
    mine = sandbox_config(env_with(memory="16g", cpu=8, pids=64, disk="20g"))
    assert container_limits(mine, {**big, "Driver": "btrfs"}) == Limits(16 * 1024**3, 8_000_000_000, 64, 20 * 1024**3)
    assert container_limits(config, {}) == Limits(None, None, 512, None)


@docker
def test_tools_run_unprivileged_in_a_least_privilege_container(sandboxes: Sandboxes, docker_client: Any) -> None:
    async def main() -> None:
        async with sandboxes() as sandbox:
            who = await sandbox.call("bash", {"command": "id; touch /workspace/mine && stat -c %U /workspace/mine"})
            assert who.text == "uid=1000(agent) gid=1000(agent) groups=1000(agent)\nagent", who
            caps = await sandbox.call("bash", {"command": "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status"})
            assert caps.text.split() == ["CapPrm:", "0" * 16, "CapEff:", "0" * 16, "CapBnd:", "0" * 16], caps
            probe = "import ctypes; print(ctypes.CDLL(None).ptrace(16, {pid}, 0, 0))"  # PTRACE_ATTACH
            for pid in ("1", "$PPID"):  # init, and the executor
                traced = await sandbox.call("bash", {"command": f'python3 -c "{probe.format(pid=pid)}"'})
                assert traced.text == "-1", (pid, traced)
            root = await sandbox.call("bash", {"command": "touch /etc/x; apt-get install -y jq 2>&1 | tail -1"})
            assert "Permission denied" in root.text, root
            ctr = docker_client.containers.get(sandbox.container_id)
            host = ctr.attrs["HostConfig"]
            assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
            assert "no-new-privileges" in host["SecurityOpt"] and host["PidsLimit"] == 512
            engine = docker_client.info()
            assert host["Memory"] == min(8 * 1024**3, engine["MemTotal"] // 2) == host["MemorySwap"]
            assert host["NanoCpus"] == int(min(4, engine["NCPU"]) * 1e9)
        await sandbox.destroy()

    asyncio.run(main())


@docker
def test_a_new_executor_meets_nothing_the_old_ones_tools_left(sandboxes: Sandboxes) -> None:
    async def main() -> None:
        async with sandboxes() as sandbox:
            lurker = await sandbox.call("bash", {"command": "setsid sleep 1000 >/dev/null 2>&1 & echo started"})
            assert lurker.text == "started"
            with pytest.raises(SandboxError):  # the box kills its own executor
                await sandbox.call("bash", {"command": "kill -9 $PPID; sleep 5"})
            ps = await sandbox.call("bash", {"command": "ps -eo user,args --no-headers"})
            assert "sleep 1000" not in ps.text, ps.text
            assert ps.text.splitlines()[0].split()[0] == "root"  # init stays
        await sandbox.destroy()

    asyncio.run(main())


def test_constructing_does_nothing() -> None:
    # No engine needed: construction neither connects nor checks the environment.
    sandbox = DockerSandbox("sesn_x", env_with({"type": "limited", "allowed_hosts": ["a.example"]}))
    assert sandbox.name == "docker" and sandbox.workspace == "/workspace" and not sandbox.alive
    assert (sandbox.container_name, sandbox.volume_name) == ("nb-agents-sesn_x", "nb-agents-ws-sesn_x")
    with pytest.raises(SandboxUnavailableError):
        sandbox.config  # noqa: B018


@docker
def test_unavailable_reason(base_image: str) -> None:
    assert unavailable_reason() is None
    assert "nb-agents/no-such-image:0" in str(unavailable_reason("nb-agents/no-such-image:0"))
