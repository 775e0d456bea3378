"""Sandbox images: the base image, and derived images with an environment's packages baked in.

A derived image is tagged ``nb-agents/env:<hash12>``, the hash of (base image id, package lists,
recipe version): the same environment on the same base builds once. The packages are fetched on
the host (see ``_packages``), copied into a build container that has no network, installed
offline, and the container is committed. A failed build leaves no container behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nb_agents._docker import BASE_IMAGE, docker_client
from nb_agents.errors import PrerequisiteError, SandboxUnavailableError
from nb_agents.sandbox import _packages
from nb_agents.sandbox._containers import INIT_COMMAND, put_executor
from nb_agents.sandbox._docker_config import LABEL_MANAGED, LABEL_ROLE, SandboxConfig, packages_summary
from nb_agents.sandbox._packages import Progress

__all__ = ["ENV_REPOSITORY", "RECIPE_VERSION", "base_image_id", "derived_tag", "resolve_image"]

log = logging.getLogger("nb_agents.sandbox.image")

ENV_REPOSITORY = "nb-agents/env"
RECIPE_VERSION = 1
"""Bump when the build recipe changes, so derived images are rebuilt."""
_BUILD_DIR = "/tmp/nb-agents-build"
_NODE_MODULES = "/usr/local/lib/node_modules"
_TAIL = 40
_BUILD_TIMEOUT_S = 3600.0
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

# Runs in the build container as `sh -c SCRIPT sh <pip packages...>`; everything comes from $B.
_INSTALL = f"""\
set -eu
B={_BUILD_DIR}
export DEBIAN_FRONTEND=noninteractive
if [ -d "$B/debs" ] && ls "$B"/debs/*.deb >/dev/null 2>&1; then
    echo "+ dpkg --install $(cd "$B/debs" && echo *.deb)"
    dpkg --install --force-confdef --force-confold "$B"/debs/*.deb
fi
if [ -d "$B/wheelhouse" ]; then
    pip_whl=$(ls "$B"/wheelhouse/pip-*.whl | head -n 1)
    echo "+ pip install --no-index $*"
    python3 "$pip_whl/pip" install --no-index --find-links "$B/wheelhouse" --no-cache-dir \\
        --disable-pip-version-check --root-user-action=ignore --break-system-packages pip "$@"
    rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
fi
if [ -d "$B/npm" ]; then
    echo "+ copy npm packages to /usr/local"
    cp -a "$B/npm/." /usr/local/
fi
rm -rf "$B" /var/cache/apt/archives/*.deb
"""


def base_image_id(client: Any, name: str, progress: Progress) -> str:
    """The id of image ``name``, pulling it if the engine does not have it.

    Raises:
        SandboxUnavailableError: It is missing and cannot be pulled.
    """
    import docker.errors

    try:
        return str(client.images.get(name).id)
    except docker.errors.ImageNotFound:
        pass
    if name == BASE_IMAGE:
        raise SandboxUnavailableError(f"the sandbox base image {name} is not built: run scripts/provision-docker")
    progress(f"pulling image {name}")
    try:
        return str(client.images.pull(name).id)
    except docker.errors.APIError as exc:
        raise SandboxUnavailableError(f"image {name} is not on this engine and cannot be pulled: {exc}") from exc


def derived_tag(base_id: str, config: SandboxConfig) -> str:
    """``nb-agents/env:<hash12>`` for the base image id and the package lists."""
    key = {"recipe": RECIPE_VERSION, "base": base_id, "pip": config.pip, "apt": config.apt, "npm": config.npm}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return f"{ENV_REPOSITORY}:{digest[:12]}"


def resolve_image(
    client: Any,
    config: SandboxConfig,
    *,
    cache_dir: Path,
    progress: Progress,
    notice: Callable[[str, str], None] | None = None,
) -> str:
    """The id of the image a sandbox with ``config`` runs: the base, or a derived one (built if needed).

    Args:
        client: A ``docker.DockerClient``.
        config: The sandbox settings (image and packages).
        cache_dir: Where host-side package caches and build files go.
        progress: Called with each line of build output.
        notice: Called with ``("building", message)`` before a build and ``("built", message)`` after.

    Raises:
        SandboxUnavailableError: The base image is missing, or the build failed.
    """
    base_id = base_image_id(client, config.image, progress)
    if not config.has_packages:
        return base_id
    tag = derived_tag(base_id, config)
    with _lock(tag):
        existing = _image_id(client, tag)
        if existing is not None:
            return existing
        started = time.monotonic()
        message = f"building image {tag} from {config.image} with {packages_summary(config)}"
        progress(message)
        if notice is not None:
            notice("building", message)
        # Installing or committing a large package can be silent for minutes: a patient client.
        try:
            build_client = docker_client(timeout=_BUILD_TIMEOUT_S)
        except PrerequisiteError as exc:
            raise SandboxUnavailableError(f"cannot build image {tag}: {exc}") from exc
        try:
            image_id = _build(build_client, base_id, tag, config, cache_dir, progress)
        finally:
            build_client.close()
        message = f"built image {tag} in {time.monotonic() - started:.1f} s"
        progress(message)
        if notice is not None:
            notice("built", message)
        return image_id


def _lock(tag: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(tag, threading.Lock())


def _image_id(client: Any, name: str) -> str | None:
    import docker.errors

    try:
        return str(client.images.get(name).id)
    except docker.errors.ImageNotFound:
        return None


def _build(client: Any, base_id: str, tag: str, config: SandboxConfig, cache: Path, progress: Progress) -> str:
    what = f"building the sandbox image with {packages_summary(config)}"
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as tmp:
        work = Path(tmp)
        apt = list(config.apt) + (["nodejs"] if config.npm and "nodejs" not in config.apt else [])
        try:
            if apt:
                _packages.download_debs(client, base_id, apt, work / "debs", cache / "apt", progress)
            if config.pip:
                target = _packages.probe_python(client, base_id)
                _packages.download_wheels(config.pip, work / "wheelhouse", target, progress)
            if config.npm:
                _packages.install_npm(config.npm, work / "npm", progress)
        except SandboxUnavailableError as exc:
            raise SandboxUnavailableError(f"{what}: {exc}") from exc
        archive = work.with_suffix(".tar")
        with tarfile.open(archive, "w") as tar:
            tar.add(work, arcname=_BUILD_DIR.lstrip("/"))
        try:
            return _install_and_commit(client, base_id, tag, config, archive, what, progress)
        finally:
            archive.unlink(missing_ok=True)


def _install_and_commit(
    client: Any, base_id: str, tag: str, config: SandboxConfig, archive: Path, what: str, progress: Progress
) -> str:
    import docker.errors

    labels = {LABEL_MANAGED: "1", LABEL_ROLE: "build"}
    container = None
    try:
        container = client.containers.create(
            base_id, [*INIT_COMMAND, "0"], network_mode="none", labels=labels, working_dir="/"
        )
        with archive.open("rb") as data:
            container.put_archive("/", data)
        put_executor(container)  # the init script
        container.start()
        exec_id = client.api.exec_create(
            container.id, ["sh", "-c", _INSTALL, "sh", *config.pip], stdout=True, stderr=True
        )["Id"]
        tail: deque[str] = deque(maxlen=_TAIL)
        pending = ""
        for chunk in client.api.exec_start(exec_id, stream=True):
            pending += chunk.decode("utf-8", "replace")
            *lines, pending = pending.split("\n")
            for line in filter(None, (ln.rstrip() for ln in lines)):
                tail.append(line)
                progress(line)
        code = client.api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            shown = "\n".join(tail)
            raise SandboxUnavailableError(f"{what} failed in the build container (exit status {code}):\n{shown}")
        repository, _, version = tag.partition(":")
        image_labels = {LABEL_MANAGED: "1", LABEL_ROLE: "image", "nb_agents.packages": _packages_label(config)}
        env = list(client.images.get(base_id).attrs.get("Config", {}).get("Env") or [])
        if config.npm:  # global packages are in /usr/local/lib/node_modules: make require() find them
            env.append(f"NODE_PATH={_NODE_MODULES}")
        image = container.commit(
            repository=repository,
            tag=version,
            message=what,
            conf={"Labels": image_labels, "Cmd": [*INIT_COMMAND, "0"], "Env": env},
        )
        return str(image.id)
    except docker.errors.APIError as exc:
        raise SandboxUnavailableError(f"{what}: Docker failed: {exc}") from exc
    finally:
        if container is not None:
            try:
                container.remove(force=True)
            except docker.errors.APIError as exc:
                log.warning("could not remove build container %s: %s", container.short_id, exc)


def _packages_label(config: SandboxConfig) -> str:
    return json.dumps({m: list(getattr(config, m)) for m in ("pip", "apt", "npm")}, separators=(",", ":"))
