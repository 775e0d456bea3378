"""Small Docker helpers shared by the sandbox and the tests.

The ``docker`` package is imported inside the functions: importing nb_agents never pays for it.
The base image is built from Debian packages by ``scripts/provision-docker`` (no registry pull);
that script reads ``BASE_IMAGE`` from this file, so the tag lives in one place. Bump its number
whenever the recipe in ``scripts/provision-docker`` changes, so stale images are rebuilt.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from nb_agents.errors import PrerequisiteError

if TYPE_CHECKING:
    import docker

__all__ = ["BASE_IMAGE", "IMAGE_ENV", "base_image", "docker_client", "engine_available"]

#: The sandbox base image: Debian bookworm minbase + python3, procps, ripgrep, ca-certificates.
BASE_IMAGE = "nb-agents/base:bookworm-1"

#: Environment variable naming another image to use instead of ``BASE_IMAGE``.
IMAGE_ENV = "NB_AGENTS_IMAGE"

_HINT = "run scripts/provision-docker, or start dockerd"


def base_image() -> str:
    """The image sandboxes start from: ``$NB_AGENTS_IMAGE`` if set, else ``BASE_IMAGE``."""
    return os.environ.get(IMAGE_ENV) or BASE_IMAGE


def docker_client(*, timeout: float = 60.0, connect_timeout: float = 5.0) -> docker.DockerClient:
    """A client for the engine the environment names (``DOCKER_HOST``, else the local socket).

    Args:
        timeout: Seconds each API call may take once connected.
        connect_timeout: Seconds the first contact (version negotiation and ping) may take, so
            a hung or absent engine is reported quickly.

    Raises:
        PrerequisiteError: The ``docker`` package is missing, or no engine answers.
    """
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a core dependency
        raise PrerequisiteError("the 'docker' Python package is not installed: pip install docker") from exc

    where = os.environ.get("DOCKER_HOST") or "the local socket (unix:///var/run/docker.sock)"
    client = None
    try:
        client = docker.from_env(timeout=connect_timeout)
        client.ping()
    except Exception as exc:  # DockerException, requests' ConnectionError/Timeout, ...
        if client is not None:
            client.close()
        raise PrerequisiteError(f"no Docker engine is reachable at {where}: {_HINT} ({exc})") from exc
    client.api.timeout = timeout
    return client


def engine_available() -> bool:
    """Whether a Docker engine answers (never raises)."""
    try:
        client = docker_client()
    except PrerequisiteError:
        return False
    client.close()
    return True
