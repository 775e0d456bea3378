"""Sandbox containers and volumes through the Docker SDK (blocking calls: run them in a thread)."""

from __future__ import annotations

import io
import logging
import tarfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from nb_agents.errors import SandboxUnavailableError
from nb_agents.sandbox._base import EXECUTOR_PATH
from nb_agents.sandbox._docker_config import (
    DEFAULT_CPU,
    DEFAULT_DISK,
    DEFAULT_MEMORY,
    EXECUTOR_IN_CONTAINER,
    LABEL_MANAGED,
    LABEL_RECIPE,
    LABEL_ROLE,
    LABEL_SESSION,
    LABEL_STATE_DIR,
    RECIPE,
    SANDBOX_ENV,
    TOOL_GID,
    TOOL_UID,
    TOOL_USER,
    WORKSPACE,
    SandboxConfig,
    container_name,
)

__all__ = [
    "INIT_COMMAND",
    "TOOL_IDS",
    "Limits",
    "SandboxInfo",
    "cleanup",
    "container_limits",
    "create_container",
    "find_container",
    "kill_processes",
    "list_sandboxes",
    "put_executor",
    "remove_sandbox",
]

log = logging.getLogger("nb_agents.sandbox")

# PID 1 of every container: reaps orphans (a fork bomb's or a killed shell's children would stay
# zombies and eat the pids limit), exits at once on SIGTERM (fast `docker stop`), and exits by
# itself when no other process has run for argv[1] seconds, so a container whose runtime crashed
# stops anyway. Python, not `sleep infinity` or docker-init, so any image with python3 works.
_INIT = b"""\
import os, signal, sys, time
idle = float(sys.argv[1])
def reap(*_):
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
signal.signal(signal.SIGCHLD, reap)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda *_: os._exit(0))
last = time.monotonic()
while True:
    time.sleep(5)
    reap()
    if any(p.isdigit() and p != "1" for p in os.listdir("/proc")):
        last = time.monotonic()
    elif idle > 0 and time.monotonic() - last >= idle:
        os._exit(0)
"""
TOOL_IDS = f"{TOOL_UID}:{TOOL_GID}"
"""``docker exec --user`` of the executor and of every tool process."""
INIT_IN_CONTAINER = str(PurePosixPath(EXECUTOR_IN_CONTAINER).with_name("init.py"))
INIT_COMMAND = ["python3", "-I", "-S", INIT_IN_CONTAINER]
"""The container command (`put_executor` copies it in); append the idle time in seconds (0: never)."""


def _not_found(exc: BaseException) -> bool:
    import docker.errors

    return isinstance(exc, docker.errors.NotFound)


def find_container(client: Any, name: str) -> Any | None:
    """The container called ``name`` (with fresh attributes), or ``None``."""
    try:
        return client.containers.get(name)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise


def put_executor(container: Any) -> None:
    """Copy the executor and the init script into the container (created, running or stopped)."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        folder = tarfile.TarInfo(str(PurePosixPath(EXECUTOR_IN_CONTAINER).parent).lstrip("/"))
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, now
        tar.addfile(folder)
        for path, data in ((EXECUTOR_IN_CONTAINER, EXECUTOR_PATH.read_bytes()), (INIT_IN_CONTAINER, _INIT)):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
    if not container.put_archive("/", buf.getvalue()):
        raise SandboxUnavailableError(f"could not copy the executor into container {container.name}")


@dataclass(frozen=True)
class Limits:
    """The resource limits a container is created with."""

    memory_bytes: int | None
    """Memory, swap included (``None``: the engine did not say how much it has)."""
    nano_cpus: int | None
    pids: int
    disk_bytes: int | None
    """File system size (``None``: the storage driver cannot enforce one)."""


def container_limits(config: SandboxConfig, engine: Mapping[str, Any]) -> Limits:
    """The limits for ``config`` on an engine (``docker info``): the environment's, else the defaults.

    The defaults mirror the hosted container (8 GB memory, 10 GB disk) but never ask for more
    memory than half the engine's, or more CPUs than it has.
    """
    total = int(engine.get("MemTotal") or 0)
    memory = config.memory_bytes or (min(DEFAULT_MEMORY, total // 2) if total else None)
    cpus = int(engine.get("NCPU") or 0)
    cpu = config.cpu if config.cpu is not None else (min(DEFAULT_CPU, float(cpus)) if cpus else None)
    disk = (config.disk_bytes or DEFAULT_DISK) if _quota_capable(engine) else None
    return Limits(memory, int(cpu * 1e9) if cpu else None, config.pids, disk)


def _quota_capable(engine: Mapping[str, Any]) -> bool:
    """Whether the storage driver can limit a container's size (``--storage-opt size``)."""
    driver = str(engine.get("Driver") or "")
    status = {str(k): str(v) for k, v in (engine.get("DriverStatus") or []) if isinstance(k, str)}
    return driver in ("btrfs", "zfs") or (driver == "overlay2" and status.get("Backing Filesystem") == "xfs")


def create_container(
    client: Any,
    session_id: str,
    config: SandboxConfig,
    image_id: str,
    *,
    volume: str,
    state_dir: str,
    limits: Limits,
) -> Any:
    """Create and start a session's container, with its workspace volume (made if missing).

    Least privilege: every capability dropped, ``no-new-privileges``, the `Limits`, no log
    driver; the tool user (`TOOL_USER`) is added to the image's user list if it has none with
    that uid, and owns ``/workspace``.

    Raises:
        SandboxUnavailableError: The engine refused.
    """
    import docker.errors

    labels = {LABEL_MANAGED: "1", LABEL_SESSION: session_id, LABEL_STATE_DIR: state_dir, LABEL_ROLE: "sandbox"}
    try:
        try:
            client.volumes.get(volume)
        except docker.errors.NotFound:
            client.volumes.create(volume, labels=labels)
        options: dict[str, Any] = {"pids_limit": limits.pids}
        if limits.nano_cpus:
            options["nano_cpus"] = limits.nano_cpus
        if limits.memory_bytes is not None:
            options.update(mem_limit=limits.memory_bytes, memswap_limit=limits.memory_bytes)
        if limits.disk_bytes is not None:
            options["storage_opt"] = {"size": str(limits.disk_bytes)}
        settings: dict[str, Any] = {
            "name": container_name(session_id),
            "labels": {**labels, LABEL_RECIPE: RECIPE},
            "environment": dict(SANDBOX_ENV),
            "working_dir": WORKSPACE,
            "volumes": {volume: {"bind": WORKSPACE, "mode": "rw"}},
            "network_mode": config.network,
            "hostname": "sandbox",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "log_config": {"type": "none", "config": {}},
            **options,
        }
        command = [*INIT_COMMAND, f"{config.idle_timeout:g}"]
        try:
            container = client.containers.create(image_id, command, **settings)
        except docker.errors.APIError as exc:
            if "storage_opt" not in settings or "storage" not in str(exc).lower():
                raise
            log.info("the storage driver refused a size limit (%s); the container gets none", exc)
            del settings["storage_opt"]
            container = client.containers.create(image_id, command, **settings)
        try:
            put_executor(container)
            add_tool_user(container)
            container.start()
        except BaseException:
            container.remove(force=True)
            raise
    except docker.errors.APIError as exc:
        raise SandboxUnavailableError(f"Docker could not start the sandbox container: {exc}") from exc
    container.reload()
    return container


def add_tool_user(container: Any) -> None:
    """Give the tool user a name (if the image has no user with its uid) and ``/workspace``."""
    entries = {
        "etc/passwd": (TOOL_UID, f"{TOOL_USER}:x:{TOOL_UID}:{TOOL_GID}:nb_agents tools:{WORKSPACE}:/bin/bash\n"),
        "etc/group": (TOOL_GID, f"{TOOL_USER}:x:{TOOL_GID}:\n"),
    }
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (number, line) in entries.items():
            text = _read_text(container, "/" + path)
            if any(row.split(":")[2:3] == [str(number)] for row in text.splitlines()):
                continue
            data = (text + ("\n" if text and not text.endswith("\n") else "") + line).encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, now
            tar.addfile(info, io.BytesIO(data))
        folder = tarfile.TarInfo(WORKSPACE.lstrip("/"))
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, now
        folder.uid, folder.gid = TOOL_UID, TOOL_GID
        tar.addfile(folder)
    if not container.put_archive("/", buf.getvalue()):
        raise SandboxUnavailableError(f"could not set up the tool user in container {container.name}")


def _read_text(container: Any, path: str) -> str:
    """A small text file of a (created) container, or ``""`` if it has none."""
    import docker.errors

    try:
        stream, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return ""
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read(1 << 20).decode("utf-8", "replace") if handle is not None else ""


def kill_processes(container: Any) -> None:
    """SIGKILL every process of the tool user in a running container; never raises.

    As the tool user: root in the container holds no capabilities (not even ``CAP_KILL``), and
    the only root process is init (PID 1), which stays.
    """
    try:
        container.exec_run(
            ["python3", "-I", "-S", "-c", "import os,signal; os.kill(-1, signal.SIGKILL)"], user=TOOL_IDS
        )
    except Exception as exc:
        log.debug("could not kill the processes in %s: %s", getattr(container, "name", "?"), exc)


@dataclass(frozen=True)
class SandboxInfo:
    """One sandbox nb_agents made, as found by its labels."""

    session_id: str
    """The session it belongs to (empty for an image build container)."""
    role: str
    """``sandbox``, or ``build`` for a (leftover) image build container."""
    status: str
    """The container's status (``running``, ``exited``, ...), or ``no container``."""
    container: str | None
    """The container's name."""
    container_id: str | None
    """The container's short id."""
    volume: str | None
    """The workspace volume's name."""
    created: str
    """When the container (else the volume) was created, ISO 8601 (UTC)."""
    state_dir: str | None
    """The state directory of the runtime that made it."""


def list_sandboxes(client: Any) -> list[SandboxInfo]:
    """Every container and volume labelled ``nb_agents.managed=1``, one entry per session, oldest first."""
    selector = {"label": f"{LABEL_MANAGED}=1"}
    found: dict[str, dict[str, Any]] = {}
    for ctr in client.containers.list(all=True, filters=selector):
        labels = ctr.labels or {}
        role = labels.get(LABEL_ROLE, "sandbox")
        key = labels.get(LABEL_SESSION, "") if role == "sandbox" else f"build:{ctr.id}"
        entry = found.setdefault(key, {"role": role, "labels": labels})
        entry.update(container=ctr.name, container_id=ctr.short_id, status=ctr.status)
        entry["created"] = str(ctr.attrs.get("Created", ""))
    for vol in client.volumes.list(filters=selector):
        labels = vol.attrs.get("Labels") or {}
        entry = found.setdefault(labels.get(LABEL_SESSION, ""), {"role": "sandbox", "labels": labels})
        entry["volume"] = vol.name
        entry.setdefault("created", str(vol.attrs.get("CreatedAt", "")))
    infos = [
        SandboxInfo(
            session_id="" if entry["role"] != "sandbox" else key,
            role=entry["role"],
            status=entry.get("status", "no container"),
            container=entry.get("container"),
            container_id=entry.get("container_id"),
            volume=entry.get("volume"),
            created=entry.get("created", ""),
            state_dir=entry["labels"].get(LABEL_STATE_DIR),
        )
        for key, entry in found.items()
    ]
    return sorted(infos, key=lambda i: (i.created, i.session_id))


def remove_sandbox(client: Any, session_id: str) -> list[str]:
    """Remove a session's container and workspace volume (found by label and by name).

    A volume is removed only if it carries the session's label: a volume the user named and
    made is never deleted. Returns what was removed, for messages.
    """
    removed: list[str] = []
    containers = {c.id: c for c in client.containers.list(all=True, filters=_session_filter(session_id))}
    named = find_container(client, container_name(session_id))
    if named is not None and (named.labels or {}).get(LABEL_SESSION) == session_id:
        containers.setdefault(named.id, named)
    for ctr in containers.values():
        _quiet(lambda c=ctr: c.remove(force=True))
        removed.append(f"container {ctr.name}")
    for vol in client.volumes.list(filters=_session_filter(session_id)):
        _quiet(lambda v=vol: v.remove(force=True))
        removed.append(f"volume {vol.name}")
    return removed


def cleanup(
    client: Any,
    *,
    keep_session_ids: Collection[str] = (),
    all: bool = False,
    dry_run: bool = False,
    state_dir: str | None = None,
) -> list[str]:
    """Remove orphaned sandboxes: containers and volumes whose session is not in ``keep_session_ids``.

    Args:
        client: A ``docker.DockerClient``.
        keep_session_ids: Sessions that still exist (their sandboxes are kept).
        all: Remove every nb_agents sandbox, and leftover build containers, whatever the rest says.
        dry_run: Only say what would be removed.
        state_dir: Judge only the sandboxes made by the runtime of this state directory (and
            unlabelled ones); others are left alone. ``None``: judge every sandbox.

    Returns:
        One line per container or volume removed (or that would be), e.g. ``container nb-agents-sesn_x``.
    """
    keep = set(keep_session_ids)
    out: list[str] = []
    for info in list_sandboxes(client):
        if info.role != "sandbox":
            if all and info.container:
                if not dry_run:
                    _quiet(lambda n=info.container: client.containers.get(n).remove(force=True))
                out.append(f"container {info.container} (image build)")
            continue
        if not all and (info.session_id in keep or (state_dir is not None and info.state_dir not in (None, state_dir))):
            continue
        if dry_run:
            out += [f"container {info.container}"] if info.container else []
            out += [f"volume {info.volume}"] if info.volume else []
        else:
            out += remove_sandbox(client, info.session_id)
    return out


def _session_filter(session_id: str) -> dict[str, Any]:
    return {"label": [f"{LABEL_MANAGED}=1", f"{LABEL_SESSION}={session_id}"]}


def _quiet(action: Any) -> None:
    try:
        action()
    except Exception as exc:
        if not _not_found(exc):
            raise
