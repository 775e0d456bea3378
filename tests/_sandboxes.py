"""Docker sandboxes made by one test, and what they left behind (the ``sandboxes`` fixture)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from nb_agents.sandbox._docker_config import LABEL_STATE_DIR
from nb_agents.sandbox.docker import DockerSandbox, remove_sandbox


class Sandboxes:
    """Makes `DockerSandbox` objects for one test and finds what they left behind."""

    def __init__(self, client: Any, state_dir: Path) -> None:
        self.client = client
        self.state_dir = state_dir
        self.session_ids: list[str] = []

    def new_session(self) -> str:
        sid = f"sesn_test{uuid.uuid4().hex[:16]}"
        self.session_ids.append(sid)
        return sid

    def __call__(self, environment: Any = None, *, session_id: str | None = None, **kw: Any) -> DockerSandbox:
        kw.setdefault("state_dir", self.state_dir)
        return DockerSandbox(session_id or self.new_session(), environment or {}, **kw)

    def labelled(self) -> list[str]:
        selector = {"label": f"{LABEL_STATE_DIR}={self.state_dir}"}
        names = [f"container {c.name}" for c in self.client.containers.list(all=True, filters=selector)]
        return names + [f"volume {v.name}" for v in self.client.volumes.list(filters=selector)]

    def remove_all(self) -> None:
        for sid in self.session_ids:
            remove_sandbox(self.client, sid)
