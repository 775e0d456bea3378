"""Fixtures shared by the whole test suite.

- ``nb_agents_home`` (autouse): every test gets its own ``NB_AGENTS_HOME`` (not yet created), so
  no test reads or writes ``~/.nb_agents``.
- ``docker_client`` (session): a Docker SDK client, or a skip with the reason when no engine
  answers. With ``CI=true`` or ``NB_AGENTS_DOCKER_REQUIRED=1`` (``scripts/test`` sets it under
  CI) a missing engine is a failure, never a skip.
- ``base_image`` (session): the sandbox base image's name, failing clearly if it is not built.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nb_agents import _docker
from nb_agents.errors import PrerequisiteError


def _docker_required() -> bool:
    return os.environ.get("NB_AGENTS_DOCKER_REQUIRED") == "1" or os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def nb_agents_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-test state directory in ``NB_AGENTS_HOME``; it does not exist until code creates it.

    Runtimes started by tests use the process sandbox unless a test asks for Docker
    (``NB_AGENTS_SANDBOX=docker``), so host-side workspace checks stay simple and fast.
    """
    home = tmp_path_factory.mktemp("nb_agents_home") / "state"
    monkeypatch.setenv("NB_AGENTS_HOME", str(home))
    monkeypatch.setenv("NB_AGENTS_SANDBOX", "process")
    return home


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A ``docker.DockerClient``; skips without an engine, unless Docker is required (then fails)."""
    problem = None
    try:
        client = _docker.docker_client()
    except PrerequisiteError as exc:
        problem = str(exc)
    # Outside the except block, so the report is one line, not a chain of tracebacks.
    if problem is not None:
        if _docker_required():
            required = "Docker is required (CI=true or NB_AGENTS_DOCKER_REQUIRED=1)"
            pytest.fail(f"{required}, but {problem}", pytrace=False)
        pytest.skip(problem)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="session")
def base_image(docker_client: Any) -> str:
    """The sandbox base image's name (``NB_AGENTS_IMAGE`` or ``BASE_IMAGE``), checked to exist."""
    import docker.errors

    name = _docker.base_image()
    try:
        docker_client.images.get(name)
    except docker.errors.ImageNotFound:
        missing = True
    else:
        missing = False
    if missing and name != _docker.BASE_IMAGE:
        pytest.fail(f"{_docker.IMAGE_ENV}={name} is not an image this Docker engine has", pytrace=False)
    if missing:
        pytest.fail(f"the sandbox image {name} is not built: run scripts/provision-docker", pytrace=False)
    return name


def stop_background_server(home: Path) -> None:
    """SIGTERM the ``nb-agents serve`` recorded in ``home/server.json``, if one is."""
    info = home / "server.json"
    if info.exists():
        try:
            os.kill(json.loads(info.read_text())["pid"], signal.SIGTERM)
        except (ProcessLookupError, ValueError, KeyError):
            pass


@pytest.fixture()
def runtime_home(nb_agents_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``NB_AGENTS_HOME`` for tests whose code starts the background local server.

    No ``ANTHROPIC_*`` variable leaks in, cached SDK clients are forgotten, and the server the
    test started is stopped afterwards.
    """
    from nb_agents.client import reset_clients

    for key in [k for k in os.environ if k.startswith("ANTHROPIC_")]:
        monkeypatch.delenv(key)
    reset_clients()
    yield nb_agents_home
    reset_clients()
    stop_background_server(nb_agents_home)


@pytest.fixture()
def sandboxes(docker_client: Any, base_image: str, tmp_path: Path) -> Iterator[Any]:
    """Makes Docker sandboxes for one test; fails the test if any container or volume is left."""
    from tests._sandboxes import Sandboxes

    made = Sandboxes(docker_client, tmp_path / "state")
    try:
        yield made
    finally:
        left = made.labelled()
        made.remove_all()
        assert not left, f"left behind: {left}"
