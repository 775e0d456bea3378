"""Run cells in a real IPython kernel (jupyter_client) and collect what they show."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager


@dataclass
class CellResult:
    status: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        parts = []
        for out in self.outputs:
            if out["msg_type"] == "stream":
                parts.append(out["content"]["text"])
            elif out["msg_type"] in ("execute_result", "display_data"):
                parts.append(out["content"]["data"].get("text/plain", ""))
            elif out["msg_type"] == "error":
                parts.append(f"{out['content']['ename']}: {out['content']['evalue']}")
        return "\n".join(parts)

    @property
    def error(self) -> dict[str, Any] | None:
        """The execute reply of a failed cell (ename, evalue, traceback)."""
        return self.reply if self.status == "error" else None

    def data(self, mime: str) -> list[Any]:
        return [
            o["content"]["data"][mime]
            for o in self.outputs
            if o["msg_type"] in ("execute_result", "display_data") and mime in o["content"]["data"]
        ]


class Kernel:
    """A python3 kernel with its own environment variables."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env={**os.environ, **env})
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> CellResult:
        outputs: list[dict[str, Any]] = []

        def hook(msg: dict[str, Any]) -> None:
            if msg["msg_type"] in ("stream", "execute_result", "display_data", "error"):
                outputs.append({"msg_type": msg["msg_type"], "content": msg["content"]})

        reply = self.kc.execute_interactive(code, output_hook=hook, timeout=timeout)
        return CellResult(reply["content"]["status"], outputs, reply["content"])

    def shutdown(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
