"""Agents (every version kept) and environments (mutable rows with a tombstone)."""

from __future__ import annotations

from typing import Any

from nb_agents.errors import DuplicateError, StoreError
from nb_agents.events import time_to_us
from nb_agents.store._base import StoreBase, dumps, loads, readable
from nb_agents.store._paging import keyset_page

__all__ = ["AgentsMixin", "EnvironmentsMixin"]

_AGENT_SELECT = (
    "SELECT a.pos, v.body, a.archived_at FROM agents a "
    "JOIN agent_versions v ON v.id = a.id AND v.version = a.latest_version"
)


def _agent_body(body: str, archived_at: str | None) -> dict[str, Any]:
    return _archived(loads(body), archived_at)


def _archived(agent: dict[str, Any], archived_at: str | None) -> dict[str, Any]:
    if archived_at is not None or "archived_at" in agent:
        agent["archived_at"] = archived_at
    return agent


def _created_us(obj: dict[str, Any], what: str) -> int:
    try:
        return time_to_us(obj["created_at"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{what} needs an RFC 3339 'created_at': {exc}") from None


class AgentsMixin(StoreBase):
    """Agents: one immutable row per (id, version); archive state kept beside them."""

    def insert_agent_version(self, agent: dict[str, Any]) -> None:
        """Store a new version of an agent (version 1 creates the agent).

        Uses ``agent["id"]``, ``agent["version"]``, ``agent["created_at"]`` and
        ``agent.get("archived_at")``; the whole dict is the stored body.

        Raises:
            DuplicateError: If this (id, version) is already stored.
        """
        agent_id, version = agent["id"], int(agent["version"])
        body, created_us = dumps(agent), _created_us(agent, f"agent {agent_id}")
        archived_at = agent.get("archived_at")
        with self._write() as conn:
            if conn.execute(
                "SELECT 1 FROM agent_versions WHERE id = ? AND version = ?", (agent_id, version)
            ).fetchone():
                raise DuplicateError(f"agent {agent_id} version {version} is already stored")
            conn.execute(
                "INSERT INTO agents (id, created_at, created_us, latest_version, archived_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "latest_version = max(latest_version, excluded.latest_version), "
                "archived_at = coalesce(excluded.archived_at, archived_at)",
                (agent_id, agent["created_at"], created_us, version, archived_at),
            )
            conn.execute(
                "INSERT INTO agent_versions (id, version, created_at, body) VALUES (?, ?, ?, ?)",
                (agent_id, version, agent.get("updated_at") or agent["created_at"], body),
            )

    def get_agent(self, agent_id: str, version: int | None = None) -> dict[str, Any] | None:
        """The latest version of an agent (or ``version``), with its current ``archived_at``."""
        with self._read() as conn:
            if version is None:
                row = conn.execute(_AGENT_SELECT + " WHERE a.id = ?", (agent_id,)).fetchone()
            else:
                row = conn.execute(
                    "SELECT a.pos, v.body, a.archived_at FROM agents a "
                    "JOIN agent_versions v ON v.id = a.id WHERE a.id = ? AND v.version = ?",
                    (agent_id, int(version)),
                ).fetchone()
        return None if row is None else _agent_body(row[1], row[2])

    def archive_agent(self, agent_id: str, archived_at: str) -> None:
        """Record that an agent is archived (its version rows are not rewritten).

        Raises:
            StoreError: If there is no such agent.
        """
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE agents SET archived_at = coalesce(archived_at, ?) WHERE id = ?",
                (archived_at, agent_id),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no agent {agent_id}")

    def list_agents(
        self,
        *,
        include_archived: bool = False,
        created_gte: str | None = None,
        created_lte: str | None = None,
        after: int | None = None,
        limit: int = 20,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The latest version of each agent, oldest first.

        Returns:
            ``(page, next_cursor)``; pass ``next_cursor`` as ``after`` for the next page. It is
            ``None`` on the last page.
        """
        where: list[str] = []
        params: list[Any] = []
        if not include_archived:
            where.append("a.archived_at IS NULL")
        if created_gte is not None:
            where.append("a.created_us >= ?")
            params.append(time_to_us(created_gte))
        if created_lte is not None:
            where.append("a.created_us <= ?")
            params.append(time_to_us(created_lte))
        with self._read() as conn:
            page = keyset_page(
                conn, select=_AGENT_SELECT, alias="a", table="agents", where=where, params=params,
                order="asc", after=after, before=None, limit=limit,
            )  # fmt: skip
        return [_archived(body, r[2]) for r, body in readable(page.rows, 1, "agent")], page.next_cursor

    def list_agent_versions(
        self, agent_id: str, *, after: int | None = None, limit: int = 20
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Every version of an agent, newest first.

        Returns:
            ``(page, next_cursor)``; the cursor is a version number, ``None`` on the last page.
        """
        if limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        with self._read() as conn:
            archived = conn.execute("SELECT archived_at FROM agents WHERE id = ?", (agent_id,)).fetchone()
            rows = conn.execute(
                "SELECT version, body FROM agent_versions WHERE id = ? AND version < ? "
                f"ORDER BY version DESC LIMIT {limit + 1:d}",
                (agent_id, after if after is not None else 2**62),
            ).fetchall()
        archived_at = archived[0] if archived else None
        page = [_archived(body, archived_at) for _, body in readable(rows[:limit], 1, "agent version")]
        return page, (int(rows[limit - 1][0]) if len(rows) > limit else None)


class EnvironmentsMixin(StoreBase):
    """Environments: one mutable row each; delete leaves a tombstone."""

    def insert_environment(self, env: dict[str, Any]) -> None:
        """Store a new environment.

        Raises:
            DuplicateError: If its id is already stored (even if deleted).
        """
        body, created_us = dumps(env), _created_us(env, f"environment {env['id']}")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM environments WHERE id = ?", (env["id"],)).fetchone():
                raise DuplicateError(f"environment {env['id']} is already stored")
            conn.execute(
                "INSERT INTO environments (id, created_us, archived_at, body) VALUES (?, ?, ?, ?)",
                (env["id"], created_us, env.get("archived_at"), body),
            )

    def update_environment(self, env: dict[str, Any]) -> None:
        """Replace an environment's body (found by ``env["id"]``).

        Raises:
            StoreError: If there is no such environment, or it was deleted.
        """
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE environments SET body = ?, archived_at = ? WHERE id = ? AND deleted_at IS NULL",
                (dumps(env), env.get("archived_at"), env["id"]),
            )
            if cur.rowcount == 0:
                raise StoreError(f"no environment {env['id']}")

    def get_environment(self, env_id: str) -> dict[str, Any] | None:
        """An environment, or ``None`` if unknown or deleted."""
        return self._live_body("environments", env_id)

    def delete_environment(self, env_id: str) -> None:
        """Delete an environment (a tombstone: the row stays, reads no longer see it).

        Raises:
            StoreError: If there is no such environment. Deleting twice is a no-op.
        """
        self._tombstone("environments", env_id, "environment")

    def list_environments(
        self, *, include_archived: bool = False, after: int | None = None, limit: int = 20
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Environments that are not deleted, oldest first.

        Returns:
            ``(page, next_cursor)``; ``next_cursor`` is ``None`` on the last page.
        """
        where = ["e.deleted_at IS NULL"]
        if not include_archived:
            where.append("e.archived_at IS NULL")
        with self._read() as conn:
            page = keyset_page(
                conn, select="SELECT e.pos, e.body FROM environments e", alias="e", table="environments",
                where=where, params=(), order="asc", after=after, before=None, limit=limit,
            )  # fmt: skip
        return [body for _, body in readable(page.rows, 1, "environment")], page.next_cursor
