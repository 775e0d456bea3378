"""The Docker engine and the sandbox base image work as the sandbox needs them to.

Each test starts its own container from the base image with no network, labels it with
``nb_agents.test=1`` plus a label unique to the test (so concurrent runs do not see each other's
containers), removes it in a ``finally`` and checks by label that nothing is left behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.docker

_RUN_LABEL = "nb_agents.test.run"


@pytest.fixture
def container(docker_client: Any, base_image: str) -> Iterator[Any]:
    run_id = uuid.uuid4().hex
    labels = {"nb_agents.test": "1", _RUN_LABEL: run_id}
    box = None
    try:
        box = docker_client.containers.run(
            base_image,
            ["sleep", "infinity"],
            detach=True,
            network_mode="none",
            labels=labels,
        )
        yield box
    finally:
        if box is not None:
            box.remove(force=True)
        left = docker_client.containers.list(all=True, filters={"label": [f"{k}={v}" for k, v in labels.items()]})
        assert left == [], f"containers left behind: {[c.name for c in left]}"


def _run(box: Any, *cmd: str) -> str:
    code, out = box.exec_run(list(cmd))
    text: str = out.decode()
    assert code == 0, f"{cmd} exited {code}: {text}"
    return text


def test_container_runs_python_and_is_bookworm(container: Any) -> None:
    assert _run(container, "python3", "-c", "print(6*7)") == "42\n"
    assert _run(container, "cat", "/etc/debian_version").startswith("12.")
    # The rest of the recipe's include list: the executor and the grep/glob tools rely on them.
    assert _run(container, "rg", "--version").startswith("ripgrep ")
    assert "sleep" in _run(container, "ps", "-eo", "comm")
    assert _run(container, "ls", "/etc/ssl/certs/ca-certificates.crt").strip()


def test_container_has_no_network_but_loopback(container: Any) -> None:
    # /proc/net/dev: two header lines, then one "iface: counters..." line per interface.
    lines = _run(container, "cat", "/proc/net/dev").splitlines()[2:]
    interfaces = sorted(line.split(":", 1)[0].strip() for line in lines if line.strip())
    assert interfaces == ["lo"]
