"""What a Docker sandbox is made of: names, labels, and the settings read from an environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nb_agents._docker import base_image
from nb_agents.errors import SandboxUnavailableError, SpecError
from nb_agents.spec import LOCAL_METADATA_KEY, EnvironmentSpec

__all__ = [
    "CONTAINER_PREFIX",
    "DEFAULT_CPU",
    "DEFAULT_DISK",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MEMORY",
    "DEFAULT_PIDS",
    "EXECUTOR_IN_CONTAINER",
    "LABEL_MANAGED",
    "LABEL_RECIPE",
    "LABEL_ROLE",
    "LABEL_SESSION",
    "LABEL_STATE_DIR",
    "RECIPE",
    "SANDBOX_ENV",
    "TOOL_GID",
    "TOOL_UID",
    "TOOL_USER",
    "VOLUME_PREFIX",
    "WORKSPACE",
    "SandboxConfig",
    "container_name",
    "packages_summary",
    "sandbox_config",
    "volume_name",
]

WORKSPACE = "/workspace"
"""The working directory inside the container (the session's volume is mounted there)."""
EXECUTOR_IN_CONTAINER = "/opt/nb_agents/executor.py"
"""Where the executor script is copied into each container."""
CONTAINER_PREFIX = "nb-agents-"
VOLUME_PREFIX = "nb-agents-ws-"

LABEL_MANAGED = "nb_agents.managed"
"""``"1"`` on every container, volume and image nb_agents makes."""
LABEL_SESSION = "nb_agents.session"
"""The session id a sandbox container or volume belongs to."""
LABEL_STATE_DIR = "nb_agents.state_dir"
"""The state directory of the runtime that made it (``cleanup`` only judges its own)."""
LABEL_RECIPE = "nb_agents.recipe"
"""The container recipe a sandbox container was made with; an older one is replaced."""
RECIPE = "2"
"""Bump when containers are made differently (user, capabilities), so old ones are replaced."""
LABEL_ROLE = "nb_agents.role"
"""``"sandbox"`` (a session's container or volume), ``"build"`` (an image build) or ``"image"``."""

DEFAULT_PIDS = 512
"""Process limit of a container when the environment sets none."""
DEFAULT_MEMORY = 8 * 1024**3
"""Memory limit (no swap) when the environment sets none, as the hosted container's 8 GB; never
more than half the engine's memory."""
DEFAULT_CPU = 4.0
"""CPU cores when the environment sets none; never more than the engine has."""
DEFAULT_DISK = 10 * 1024**3
"""Size limit of the container's file system, as the hosted container's 10 GB disk, where the
storage driver can enforce one (overlay2 on xfs with project quotas, btrfs, zfs)."""

TOOL_USER = "agent"
"""The unprivileged user the executor and every tool run as in the container."""
TOOL_UID = 1000
TOOL_GID = 1000
DEFAULT_IDLE_TIMEOUT = 600.0
"""Seconds without a tool call after which a sandbox's container is stopped."""

#: The whole environment of the container and its executor: nothing comes from the host.
SANDBOX_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": WORKSPACE,
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]")
_SUPPORTED_MANAGERS = ("apt", "npm", "pip")


def container_name(session_id: str) -> str:
    """The container name of a session: ``nb-agents-<session id>``."""
    return CONTAINER_PREFIX + _NAME_CHARS.sub("-", session_id)


def volume_name(session_id: str) -> str:
    """The workspace volume name of a session: ``nb-agents-ws-<session id>``."""
    return VOLUME_PREFIX + _NAME_CHARS.sub("-", session_id)


@dataclass(frozen=True)
class SandboxConfig:
    """The container settings an environment asks for, checked."""

    image: str
    """The image to start from (before packages are added)."""
    network: Literal["none", "bridge"]
    """``none`` (no network at all) or ``bridge`` (ordinary egress)."""
    pip: tuple[str, ...] = ()
    apt: tuple[str, ...] = ()
    npm: tuple[str, ...] = ()
    cpu: float | None = None
    """CPU cores (``None``: `DEFAULT_CPU`, or the engine's count if smaller)."""
    memory_bytes: int | None = None
    """Memory limit, swap included (``None``: `DEFAULT_MEMORY`, or half the engine's memory)."""
    pids: int = DEFAULT_PIDS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    disk_bytes: int | None = None
    """File system size limit, where the storage driver allows (``None``: `DEFAULT_DISK`)."""

    @property
    def has_packages(self) -> bool:
        """Whether a derived image with packages is needed."""
        return bool(self.pip or self.apt or self.npm)


def sandbox_config(
    environment: Mapping[str, Any] | EnvironmentSpec | None,
    *,
    image: str | None = None,
    idle_timeout: float | None = None,
) -> SandboxConfig:
    """Read the sandbox settings from an environment (the wire object, its params, or a spec).

    The image is ``image``, else the environment's ``local.image``, else ``$NB_AGENTS_IMAGE``,
    else the base image. Networking: omitted, or ``limited`` without allowed hosts, means no
    network; ``unrestricted`` means the default bridge; ``limited`` with allowed hosts needs the
    egress proxy, which does not exist yet, so it is refused rather than widened.

    Args:
        environment: ``{"config": {...}, "metadata": {...}}`` (extra keys are ignored), or a spec.
        image: An image that overrides every other choice.
        idle_timeout: Overrides the environment's ``local.idle_timeout``.

    Raises:
        SandboxUnavailableError: The settings are invalid or ask for something the Docker
            sandbox cannot do.
    """
    spec = _spec(environment)
    net = spec.effective_networking
    if net.type == "limited" and net.allowed_hosts:
        hosts = ", ".join(net.allowed_hosts)
        raise SandboxUnavailableError(
            f"this environment allows network access to some hosts only ({hosts}); the local Docker "
            "sandbox cannot enforce an allow-list yet (that needs the egress proxy), and it refuses "
            "rather than give the container unrestricted network. Use networking 'none' or "
            "'unrestricted' for local sessions."
        )
    packages = spec.packages
    if packages is not None:
        other = [m for m in ("cargo", "gem", "go") if getattr(packages, m)]
        if other:
            raise SandboxUnavailableError(
                f"the local Docker sandbox installs {', '.join(_SUPPORTED_MANAGERS)} packages only; "
                f"this environment also lists {', '.join(other)} packages"
            )
    local = spec.local
    if local.pids is not None and local.pids < 16:
        raise SandboxUnavailableError(f"local.pids must be at least 16, got {local.pids}")
    return SandboxConfig(
        image=image or local.image or base_image(),
        network="bridge" if net.type == "unrestricted" else "none",
        pip=packages.pip if packages else (),
        apt=packages.apt if packages else (),
        npm=packages.npm if packages else (),
        cpu=local.cpu,
        memory_bytes=local.memory_bytes,
        pids=local.pids or DEFAULT_PIDS,
        disk_bytes=local.disk_bytes,
        idle_timeout=float(idle_timeout if idle_timeout is not None else local.idle_timeout or DEFAULT_IDLE_TIMEOUT),
    )


def _spec(environment: Mapping[str, Any] | EnvironmentSpec | None) -> EnvironmentSpec:
    if isinstance(environment, EnvironmentSpec):
        return environment
    env = dict(environment or {})
    params: dict[str, Any] = {"name": str(env.get("name") or "environment")}
    config = env.get("config")
    if isinstance(config, Mapping) and config.get("type") != "self_hosted":
        params["config"] = {k: config[k] for k in ("type", "networking", "packages") if k in config}
        params["config"].setdefault("type", "cloud")
    for key in ("networking", "packages", "local"):  # the short (YAML-like) form
        if env.get(key) is not None:
            params[key] = env[key]
    metadata = env.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get(LOCAL_METADATA_KEY), str):
        params["metadata"] = {LOCAL_METADATA_KEY: metadata[LOCAL_METADATA_KEY]}
    try:
        return EnvironmentSpec.from_params(params)
    except SpecError as exc:
        raise SandboxUnavailableError(f"the environment's sandbox settings are invalid: {exc}") from exc


def packages_summary(config: SandboxConfig) -> str:
    """``pip: six, tabulate; apt: jq`` (for messages)."""
    parts = [f"{m}: {', '.join(getattr(config, m))}" for m in ("pip", "apt", "npm") if getattr(config, m)]
    return "; ".join(parts) or "no packages"
