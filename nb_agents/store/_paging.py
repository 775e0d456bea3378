"""Keyset paging over tables ordered by (created_us, pos), with integer cursors.

A cursor is the ``pos`` (the INTEGER PRIMARY KEY) of the last row of a page; rows are never
physically deleted, so a cursor always resolves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Page", "keyset_page"]


@dataclass(frozen=True)
class Page:
    """One page of rows, and the cursors around it (``None`` when there is nothing there)."""

    rows: list[tuple[Any, ...]]
    next_cursor: int | None
    prev_cursor: int | None


def keyset_page(
    conn: sqlite3.Connection,
    *,
    select: str,
    alias: str,
    table: str,
    where: Sequence[str],
    params: Sequence[Any],
    order: Literal["asc", "desc"],
    after: int | None,
    before: int | None,
    limit: int,
) -> Page:
    """Fetch one page; the first selected column must be ``<alias>.pos``.

    Args:
        conn: The connection (the caller holds the store's lock).
        select: ``SELECT ... FROM ... [JOIN ...]`` without WHERE/ORDER/LIMIT.
        alias: The alias of the paged table in ``select``.
        table: The paged table's name, to resolve cursors.
        where: AND-ed SQL conditions (the filters).
        params: Their parameters.
        order: ``asc`` (oldest first) or ``desc``.
        after: Continue after this cursor, in the list's order.
        before: Go back: the ``limit`` rows just before this cursor, in the list's order.
        limit: Page size (at least 1).

    Raises:
        ValueError: Both ``after`` and ``before``, a bad ``limit``/``order``, or an unknown cursor.
    """
    if after is not None and before is not None:
        raise ValueError("pass either 'after' or 'before', not both")
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")
    key = f"({alias}.created_us, {alias}.pos)"
    forward, backward = (">", "<") if order == "asc" else ("<", ">")
    direction = order.upper()
    reverse = "DESC" if order == "asc" else "ASC"

    def fetch(extra: str, extra_params: Sequence[Any], sql_order: str, n: int) -> list[tuple[Any, ...]]:
        conditions = [*where, extra] if extra else list(where)
        sql = select
        if conditions:
            sql += " WHERE " + " AND ".join(f"({c})" for c in conditions)
        sql += f" ORDER BY {alias}.created_us {sql_order}, {alias}.pos {sql_order} LIMIT {n:d}"
        return list(conn.execute(sql, [*params, *extra_params]).fetchall())

    def exists(op: str, row_key: tuple[Any, ...]) -> bool:
        return bool(fetch(f"{key} {op} (?, ?)", row_key, direction, 1))

    def key_of(cursor: int) -> tuple[Any, ...]:
        row = conn.execute(f"SELECT created_us, pos FROM {table} WHERE pos = ?", (cursor,)).fetchone()
        if row is None:
            raise ValueError(f"unknown page cursor {cursor!r}")
        return tuple(row)

    if before is None:
        bound = key_of(after) if after is not None else None
        rows = fetch(f"{key} {forward} (?, ?)" if bound else "", bound or (), direction, limit + 1)
        page = rows[:limit]
        next_cursor = int(page[-1][0]) if len(rows) > limit else None
        prev_cursor = None
        if bound is not None and page:
            first = key_of(int(page[0][0]))
            prev_cursor = int(page[0][0]) if exists(backward, first) else None
        return Page(page, next_cursor, prev_cursor)

    bound = key_of(before)
    rows = fetch(f"{key} {backward} (?, ?)", bound, reverse, limit + 1)
    page = rows[:limit][::-1]
    prev_cursor = int(page[0][0]) if len(rows) > limit else None
    next_cursor = None
    if page:
        last = key_of(int(page[-1][0]))
        next_cursor = int(page[-1][0]) if exists(forward, last) else None
    return Page(page, next_cursor, prev_cursor)
