"""``nb-agents sandbox ls`` and ``nb-agents sandbox cleanup``."""

from __future__ import annotations

from pathlib import Path

from nb_agents._docker import docker_client
from nb_agents.sandbox._containers import SandboxInfo, cleanup, list_sandboxes

__all__ = ["run_sandbox_command"]

STORE_FILE = "nb_agents.sqlite3"


def run_sandbox_command(command: str, state_dir: Path, *, all: bool = False, dry_run: bool = False) -> int:
    """Run ``sandbox ls`` or ``sandbox cleanup``; print to stdout; return the exit status.

    Raises:
        PrerequisiteError: No Docker engine answers.
        StoreError: The state directory's store cannot be read.
    """
    client = docker_client()
    try:
        if command == "ls":
            print(_table(list_sandboxes(client)))
            return 0
        keep = set() if all else _live_sessions(state_dir, {i.session_id for i in list_sandboxes(client)})
        removed = cleanup(client, keep_session_ids=keep, all=all, dry_run=dry_run, state_dir=str(state_dir))
    finally:
        client.close()
    verb = "would remove" if dry_run else "removed"
    for line in removed:
        print(f"{verb} {line}")
    if not removed:
        what = "nb_agents sandboxes" if all else f"orphaned sandboxes for state directory {state_dir}"
        print(f"no {what}")
    return 0


def _live_sessions(state_dir: Path, session_ids: set[str]) -> set[str]:
    """Those of ``session_ids`` the store holds and has not archived (none if there is no store)."""
    path = state_dir / STORE_FILE
    if not path.is_file():
        return set()
    from nb_agents.store import Store

    with Store(path) as store:
        sessions = {sid: store.get_session(sid) for sid in session_ids if sid}
    return {sid for sid, s in sessions.items() if s is not None and not s.get("archived_at")}


def _table(infos: list[SandboxInfo]) -> str:
    if not infos:
        return "no nb_agents sandboxes"
    rows = [("SESSION", "STATUS", "CONTAINER", "VOLUME", "CREATED", "STATE DIR")]
    for i in infos:
        session = i.session_id or f"({i.role})"
        rows.append((session, i.status, i.container or "-", i.volume or "-", i.created[:19], i.state_dir or "-"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows)
