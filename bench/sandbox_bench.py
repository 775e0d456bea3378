"""Tool-call latency of the Docker sandbox against a raw ``docker exec``, and cold starts.

Usage:
    .venv/bin/python bench/sandbox_bench.py [--n N] [--raw-n N] [--cold-n N]

Printed side by side, from one run:

- **warm tool call**: ``sandbox.call("bash", {"command": "true"})`` through `DockerSandbox`
  (one persistent executor in the container, a JSON line each way);
- **raw docker exec**: ``docker exec CTR true`` (the CLI, a new process per call) on the SAME
  container, and the SDK's ``container.exec_run(["true"])`` for reference;
- **cold first call**: a new sandbox's first ``bash true``: container and volume creation,
  start, the executor's start, and the call;
- **restart after idle**: the first call after the container was stopped (idle stop or a
  runtime restart): ``docker start``, the executor's start, and the call.

Every sandbox the benchmark makes is destroyed at the end (containers and volumes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nb_agents._docker import docker_client
from nb_agents.sandbox.docker import DockerSandbox, remove_sandbox


def pct(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) of samples, in milliseconds (samples are seconds)."""
    ordered = sorted(samples)
    return 1000 * ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed(n: int, action: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await action()
        out.append(time.perf_counter() - started)
    return out


async def first_call(box: DockerSandbox) -> float:
    started = time.perf_counter()
    await box.call("bash", {"command": "true"})
    return time.perf_counter() - started


async def main(n: int, raw_n: int, cold_n: int) -> list[tuple[str, list[float]]]:
    state = tempfile.mkdtemp(prefix="nb-sandbox-bench-")
    made: list[str] = []
    client = docker_client()

    def sandbox() -> DockerSandbox:
        made.append(f"sesn_bench{uuid.uuid4().hex[:12]}")
        return DockerSandbox(made[-1], {}, state_dir=state)

    rows: list[tuple[str, list[float]]] = []
    try:
        warm = sandbox()
        await warm.call("bash", {"command": "true"})
        await timed(20, lambda: warm.call("bash", {"command": "true"}))  # warm-up
        rows.append(
            ("tool call `bash true` (DockerSandbox)", await timed(n, lambda: warm.call("bash", {"command": "true"})))
        )
        cid, docker_cli = warm.container_id, shutil.which("docker") or "docker"
        assert cid is not None

        def cli() -> None:
            subprocess.run([docker_cli, "exec", cid, "true"], check=True)

        rows.append(("raw `docker exec CTR true` (CLI)", await timed(raw_n, lambda: asyncio.to_thread(cli))))
        ctr = client.containers.get(cid)
        rows.append(
            (
                "raw `exec_run(['true'])` (Docker SDK)",
                await timed(raw_n, lambda: asyncio.to_thread(ctr.exec_run, ["true"])),
            )
        )
        await warm.close()

        cold: list[float] = []
        restart: list[float] = []
        for _ in range(cold_n):
            box = sandbox()
            cold.append(await first_call(box))
            await box.close()
            again = DockerSandbox(box.session_id, {}, state_dir=state)  # its container is stopped
            restart.append(await first_call(again))
            await again.destroy()
        rows.append(("cold first call (create + start + executor + call)", cold))
        rows.append(("first call after an idle stop (start + executor + call)", restart))
    finally:
        for sid in made:
            remove_sandbox(client, sid)
        client.close()
        shutil.rmtree(state, ignore_errors=True)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="warm tool calls (default 500)")
    parser.add_argument("--raw-n", type=int, default=100, help="raw docker exec calls (default 100)")
    parser.add_argument("--cold-n", type=int, default=10, help="cold starts (default 10)")
    args = parser.parse_args()
    results = asyncio.run(main(args.n, args.raw_n, args.cold_n))
    print(f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    width = max(len(name) for name, _ in results)
    print(f"{'':{width}}  {'n':>4}  {'P50 ms':>8}  {'P95 ms':>8}  {'mean ms':>8}")
    for name, samples in results:
        mean = 1000 * statistics.fmean(samples)
        print(f"{name:{width}}  {len(samples):>4}  {pct(samples, 50):8.2f}  {pct(samples, 95):8.2f}  {mean:8.2f}")
    call, raw = results[0][1], results[1][1]
    print(f"speed-up over raw docker exec at P50: {pct(raw, 50) / pct(call, 50):.0f}x")
