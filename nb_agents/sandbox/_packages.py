"""Packages fetched on the HOST for an image build, so containers never need a registry.

- pip: ``pip download`` of wheels for the image's Python (version, glibc and machine probed
  once per image), plus pip itself to bootstrap it; sdists only when no wheel exists.
- apt: the host's ``apt-get`` resolves and downloads ``.deb`` files against the image's own
  package status, sources and keys (``--download-only``); needs apt on the host.
- npm: the host's ``npm install --global --ignore-scripts`` into a prefix that is copied to
  ``/usr/local`` in the image (pure JavaScript packages; ``nodejs`` comes from apt).

Every command's output goes to ``progress`` line by line; a failure raises
`SandboxUnavailableError` with the command's last lines.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nb_agents.errors import SandboxUnavailableError

__all__ = ["Progress", "download_debs", "download_wheels", "install_npm", "probe_python"]

Progress = Callable[[str], None]

_PROBE = (
    "import platform, sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}', "
    "platform.machine(), platform.libc_ver()[1] or '2.17')"
)
_TAIL = 25


def run_logged(cmd: Sequence[str], what: str, progress: Progress, **kwargs: Any) -> None:
    """Run a host command, streaming its output to ``progress``.

    Raises:
        SandboxUnavailableError: It failed or could not start; the message ends with its output.
    """
    progress(f"$ {' '.join(cmd)}")
    tail: deque[str] = deque(maxlen=_TAIL)
    try:
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
        )
    except OSError as exc:
        raise SandboxUnavailableError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    assert proc.stdout is not None
    with proc:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)
                progress(line)
    if proc.returncode:
        shown = "\n".join(tail)
        raise SandboxUnavailableError(f"{what} failed (exit status {proc.returncode}):\n{shown}")


def probe_python(client: Any, image_id: str) -> tuple[str, str, str]:
    """(``"3.11"``, ``"x86_64"``, glibc ``"2.36"``) of the image's ``python3``.

    Raises:
        SandboxUnavailableError: The image has no working python3.
    """
    try:
        out = client.containers.run(image_id, ["python3", "-I", "-S", "-c", _PROBE], network_mode="none", remove=True)
        version, machine, glibc = out.decode().split()
    except Exception as exc:
        raise SandboxUnavailableError(f"image {image_id[:19]} has no working python3: {exc}") from exc
    return version, machine, glibc


def download_wheels(packages: Sequence[str], dest: Path, target: tuple[str, str, str], progress: Progress) -> None:
    """Download wheels of ``packages`` and of pip for the image's Python into ``dest``."""
    version, machine, glibc = target
    nodot = version.replace(".", "")
    major, minor = glibc.split(".")[:2]
    base = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar=off"]
    base += ["--dest", str(dest)]
    pinned = [
        "--only-binary=:all:",
        f"--python-version={version}",
        "--implementation=cp",
        f"--abi=cp{nodot}",
        "--abi=abi3",
        "--abi=none",
        f"--platform=manylinux_{major}_{minor}_{machine}",
        f"--platform=linux_{machine}",
    ]
    try:
        run_logged([*base, *pinned, "pip", *packages], "pip download (wheels)", progress)
    except SandboxUnavailableError:
        host = f"{sys.version_info[0]}.{sys.version_info[1]}"
        if host != version:
            raise
        # Some package has no wheel: source distributions, built offline in the container, need
        # the build backend in the wheelhouse too.
        progress(f"not every package has a wheel for Python {version} on {machine}; trying source distributions")
        run_logged([*base, "pip", "setuptools", "wheel", *packages], "pip download", progress)


def download_debs(
    client: Any, image_id: str, packages: Sequence[str], dest: Path, cache: Path, progress: Progress
) -> None:
    """Download ``.deb`` files for ``packages`` and their missing dependencies into ``dest``."""
    apt_get = shutil.which("apt-get")
    if apt_get is None:
        raise SandboxUnavailableError(
            "apt packages are prepared on the host with apt-get, and this machine has none; "
            "use an image that already has them (local.image)"
        )
    state = _image_apt_state(client, image_id)
    key = hashlib.sha256(state["sources"] + state["arch"].encode()).hexdigest()[:12]
    root = cache / key
    etc = root / "etc"
    for sub in ("lists/partial", "cache", "etc/sources.list.d", "etc/trusted.gpg.d"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (dest / "partial").mkdir(parents=True, exist_ok=True)
    (etc / "sources.list").write_bytes(state["sources"])
    (root / "status").write_bytes(state["status"])
    for name, data in state["keys"].items():
        (etc / "trusted.gpg.d" / name).write_bytes(data)
    options = {
        "Dir::State::status": root / "status",
        "Dir::Etc::sourcelist": etc / "sources.list",
        "Dir::Etc::sourceparts": etc / "sources.list.d",
        "Dir::Etc::trustedparts": etc / "trusted.gpg.d",
        "Dir::State::Lists": root / "lists",
        "Dir::Cache": root / "cache",
        "Dir::Cache::archives": dest,
        "APT::Architecture": state["arch"],
        "APT::Architectures": state["arch"],
        "Debug::NoLocking": "1",
        "APT::Sandbox::User": "root",
    }
    flags = [f"-o{k}={v}" for k, v in options.items()]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_logged([apt_get, *flags, "-q", "update"], "apt-get update (host)", progress, env=env)
    install = [apt_get, *flags, "-q", "-y", "--no-install-recommends", "--download-only", "install"]
    run_logged([*install, *packages], f"apt-get download of {', '.join(packages)}", progress, env=env)
    shutil.rmtree(dest / "partial", ignore_errors=True)


def _image_apt_state(client: Any, image_id: str) -> dict[str, Any]:
    """The image's dpkg status, apt sources (one list) and trusted keys, read without starting it."""
    ctr = client.containers.create(image_id, ["true"], network_mode="none")
    try:
        files = _read_tree(ctr, "/etc/apt") | _read_tree(ctr, "/var/lib/dpkg/status")
    finally:
        ctr.remove(force=True)
    sources = b"\n".join(
        data for name, data in sorted(files.items()) if name.endswith(".list") and "sources.list" in name
    )
    keys = {
        Path(name).name: data
        for name, data in files.items()
        if "trusted.gpg" in name and name.endswith((".gpg", ".asc"))
    }
    if "status" not in files or not sources.strip():
        raise SandboxUnavailableError(f"image {image_id[:19]} has no apt (dpkg status or sources missing)")
    arch = client.images.get(image_id).attrs.get("Architecture") or "amd64"
    return {"status": files["status"], "sources": sources, "keys": keys, "arch": arch}


def _read_tree(container: Any, path: str) -> dict[str, bytes]:
    """Regular files under ``path`` in a container, by their path inside the archive."""
    try:
        stream, _ = container.get_archive(path)
    except Exception:
        return {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def install_npm(packages: Sequence[str], prefix: Path, progress: Progress) -> None:
    """``npm install --global`` of ``packages`` into ``prefix`` on the host, without running scripts."""
    npm = shutil.which("npm")
    if npm is None:
        raise SandboxUnavailableError(
            "npm packages are prepared on the host with npm, and this machine has none; "
            "install Node.js, or use an image that already has them (local.image)"
        )
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--global", "--prefix", str(prefix), "--ignore-scripts", "--no-audit", "--no-fund"]
    run_logged([*cmd, *packages], f"npm install of {', '.join(packages)}", progress)
