"""nb_agents.store: the append-only SQLite log, on real files and real processes (no mocks)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from nb_agents.errors import DuplicateError, SchemaVersionError, StoreError
from nb_agents.events import format_time, make_event, new_id
from nb_agents.store import SCHEMA_VERSION, Store, StoredEvent

ROOT = Path(__file__).resolve().parent.parent
HELPER = Path(__file__).resolve().parent / "_store_writer.py"
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def ts(seconds: float) -> str:
    return format_time(T0 + timedelta(seconds=seconds))


def agent(agent_id: str, version: int = 1, created: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "agent",
        "id": agent_id,
        "version": version,
        "name": f"{agent_id} v{version}",
        "created_at": ts(created),
        "updated_at": ts(created + version),
        "archived_at": None,
        **extra,
    }


def env(env_id: str, created: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "environment",
        "id": env_id,
        "name": env_id,
        "created_at": ts(created),
        "archived_at": None,
        **extra,
    }


def session(
    session_id: str, created: float = 0, *, agent_id: str = "agent_a", version: int = 1, status: str = "idle"
) -> dict[str, Any]:
    return {
        "type": "session",
        "id": session_id,
        "status": status,
        "agent": {"type": "agent", "id": agent_id, "version": version},
        "environment_id": "env_1",
        "created_at": ts(created),
        "updated_at": ts(created),
        "archived_at": None,
    }


def msg(text: str = "hi", **fields: Any) -> dict[str, Any]:
    return make_event("agent.message", content=[{"type": "text", "text": text}], **fields)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store(tmp_path / "state" / "nb.sqlite3") as s:
        yield s


def raw(store: Store) -> sqlite3.Connection:
    return sqlite3.connect(store.path)


# ---- opening, schema -------------------------------------------------------------------------


def test_open_creates_directories_wal_and_version(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.sqlite3"
    with Store(path) as store:
        assert store.path == path
        assert path.exists()
        assert store.schema_version == SCHEMA_VERSION == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with Store(str(path)) as again:  # reopening does not migrate again
        assert again.schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError, match=rf"schema version {SCHEMA_VERSION + 1}.*newer nb_agents"):
        Store(path)


def test_unversioned_file_is_migrated_from_0(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('kept')")
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.append("sesn_x", [msg()])
        assert store.latest_seq("sesn_x") == 1
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    conn.close()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(path)


def test_closed_store_raises(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    store.close()
    with pytest.raises(StoreError):
        store.latest_seq("sesn_x")


# ---- agents ----------------------------------------------------------------------------------


def test_agent_versions_are_kept(store: Store) -> None:
    store.insert_agent_version(agent("agent_a", 1))
    store.insert_agent_version(agent("agent_a", 2, system="be brief"))
    assert store.get_agent("agent_a")["version"] == 2  # type: ignore[index]
    assert store.get_agent("agent_a")["system"] == "be brief"  # type: ignore[index]
    assert store.get_agent("agent_a", 1)["version"] == 1  # type: ignore[index]
    assert store.get_agent("agent_a", 3) is None
    assert store.get_agent("agent_zzz") is None
    with pytest.raises(DuplicateError, match="agent_a version 2"):
        store.insert_agent_version(agent("agent_a", 2))
    versions, cursor = store.list_agent_versions("agent_a")
    assert [a["version"] for a in versions] == [2, 1]
    assert cursor is None
    first, cursor = store.list_agent_versions("agent_a", limit=1)
    assert [a["version"] for a in first] == [2]
    rest, cursor2 = store.list_agent_versions("agent_a", after=cursor, limit=1)
    assert [a["version"] for a in rest] == [1]
    assert cursor2 is None


def test_archive_agent_does_not_rewrite_versions(store: Store) -> None:
    store.insert_agent_version(agent("agent_a", 1))
    store.insert_agent_version(agent("agent_a", 2))
    store.insert_agent_version(agent("agent_b", 1, created=1))
    conn = raw(store)
    before = conn.execute("SELECT id, version, body FROM agent_versions ORDER BY id, version").fetchall()
    store.archive_agent("agent_a", ts(100))
    after = conn.execute("SELECT id, version, body FROM agent_versions ORDER BY id, version").fetchall()
    assert before == after
    assert store.get_agent("agent_a")["archived_at"] == ts(100)  # type: ignore[index]
    assert store.get_agent("agent_a", 1)["archived_at"] == ts(100)  # type: ignore[index]
    assert store.get_agent("agent_b")["archived_at"] is None  # type: ignore[index]
    assert [a["id"] for a in store.list_agents()[0]] == ["agent_b"]
    assert [a["id"] for a in store.list_agents(include_archived=True)[0]] == ["agent_a", "agent_b"]
    assert store.list_agent_versions("agent_a")[0][0]["archived_at"] == ts(100)
    store.archive_agent("agent_a", ts(200))  # archiving twice keeps the first time
    assert store.get_agent("agent_a")["archived_at"] == ts(100)  # type: ignore[index]
    with pytest.raises(StoreError, match="no agent"):
        store.archive_agent("agent_missing", ts(1))
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE agent_versions SET body = '{}'")
    conn.close()


def test_list_agents_pages_through_45(store: Store) -> None:
    ids = [f"agent_{i:02d}" for i in range(45)]
    for i, agent_id in enumerate(reversed(ids)):  # inserted newest-id first, created_at decides
        store.insert_agent_version(agent(agent_id, 1, created=44 - i))
    store.insert_agent_version(agent("agent_03", 2))  # a later version: listed once, as latest
    pages: list[list[dict[str, Any]]] = []
    cursor: int | None = None
    while True:
        page, cursor = store.list_agents(after=cursor, limit=20)
        pages.append(page)
        if cursor is None:
            break
    assert [len(p) for p in pages] == [20, 20, 5]
    listed = [a["id"] for p in pages for a in p]
    assert listed == ids  # oldest first, each once
    assert next(a for p in pages for a in p if a["id"] == "agent_03")["version"] == 2
    window, _ = store.list_agents(created_gte=ts(10), created_lte="2026-11-01T01:00:19+01:00", limit=100)
    assert [a["id"] for a in window] == ids[10:20]


# ---- environments ----------------------------------------------------------------------------


def test_environment_crud(store: Store) -> None:
    store.insert_environment(env("env_1"))
    store.insert_environment(env("env_2", created=1))
    with pytest.raises(DuplicateError):
        store.insert_environment(env("env_1"))
    store.update_environment(env("env_1", description="new"))
    assert store.get_environment("env_1")["description"] == "new"  # type: ignore[index]
    store.update_environment(env("env_2", created=1, archived_at=ts(5)))
    assert [e["id"] for e in store.list_environments()[0]] == ["env_1"]
    assert [e["id"] for e in store.list_environments(include_archived=True)[0]] == ["env_1", "env_2"]
    store.delete_environment("env_1")
    assert store.get_environment("env_1") is None
    assert [e["id"] for e in store.list_environments(include_archived=True)[0]] == ["env_2"]
    with pytest.raises(StoreError, match="no environment env_1"):
        store.update_environment(env("env_1"))
    with pytest.raises(StoreError, match="no environment"):
        store.delete_environment("env_9")
    store.delete_environment("env_1")  # deleting twice is a no-op
    with pytest.raises(DuplicateError):  # a deleted id is not reused
        store.insert_environment(env("env_1"))
    for i in range(3, 30):
        store.insert_environment(env(f"env_{i}", created=i))
    seen, cursor = [], None
    while True:
        page, cursor = store.list_environments(include_archived=True, after=cursor, limit=7)
        seen += [e["id"] for e in page]
        if cursor is None:
            break
    assert seen == ["env_2"] + [f"env_{i}" for i in range(3, 30)]


# ---- sessions --------------------------------------------------------------------------------


@pytest.fixture
def sessions(store: Store) -> list[str]:
    """25 sessions, one per second; agents a/b alternate; every 5th is running."""
    ids = []
    for i in range(25):
        sid = f"sesn_{i:02d}"
        store.insert_session(
            session(sid, i, agent_id="agent_a" if i % 2 == 0 else "agent_b", version=1 + i % 3,
                    status="running" if i % 5 == 0 else "idle")
        )  # fmt: skip
        ids.append(sid)
    return ids


def test_session_crud_and_filters(store: Store, sessions: list[str]) -> None:
    assert store.get_session("sesn_03")["agent"]["id"] == "agent_b"  # type: ignore[index]
    with pytest.raises(DuplicateError):
        store.insert_session(session("sesn_03"))
    page, nxt, prev = store.list_sessions(limit=100)
    assert [s["id"] for s in page] == sessions[::-1]  # newest first by default
    assert nxt is None and prev is None
    assert [s["id"] for s in store.list_sessions(order="asc", limit=100)[0]] == sessions
    a = store.list_sessions(agent_id="agent_a", limit=100)[0]
    assert {s["id"] for s in a} == {sid for i, sid in enumerate(sessions) if i % 2 == 0}
    v2 = store.list_sessions(agent_id="agent_b", agent_version=2, limit=100)[0]
    assert {s["id"] for s in v2} == {sessions[i] for i in range(25) if i % 2 == 1 and i % 3 == 1}
    running = store.list_sessions(statuses=["running"], order="asc", limit=100)[0]
    assert [s["id"] for s in running] == [sessions[i] for i in range(0, 25, 5)]
    assert len(store.list_sessions(statuses=["running", "idle"], limit=100)[0]) == 25
    assert len(store.list_sessions(statuses=[], limit=100)[0]) == 25  # empty: no filter
    window = store.list_sessions(created_gt=ts(3), created_lte="2026-11-01T01:00:07+01:00", order="asc", limit=100)
    assert [s["id"] for s in window[0]] == sessions[4:8]
    window = store.list_sessions(created_gte=ts(3), created_lt="2026-11-01T00:00:07Z", order="asc", limit=100)
    assert [s["id"] for s in window[0]] == sessions[3:7]
    # update: the body is replaced and the derived columns follow it
    changed = store.get_session("sesn_01")
    assert changed is not None
    changed.update(status="running", updated_at=ts(99), archived_at=None, title="renamed")
    store.update_session(changed)
    assert store.get_session("sesn_01")["title"] == "renamed"  # type: ignore[index]
    assert "sesn_01" in {s["id"] for s in store.list_sessions(statuses=["running"], limit=100)[0]}
    changed["archived_at"] = ts(100)
    store.update_session(changed)
    assert "sesn_01" not in {s["id"] for s in store.list_sessions(limit=100)[0]}
    assert "sesn_01" in {s["id"] for s in store.list_sessions(include_archived=True, limit=100)[0]}
    with pytest.raises(StoreError, match="no session"):
        store.update_session(session("sesn_missing"))


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_session_paging_both_ways(store: Store, sessions: list[str], order: str) -> None:
    expected = sessions[::-1] if order == "desc" else sessions
    pages: list[list[str]] = []
    prevs: list[int | None] = []
    cursor: int | None = None
    while True:
        page, cursor, prev = store.list_sessions(order=order, after=cursor, limit=7)  # type: ignore[arg-type]
        pages.append([s["id"] for s in page])
        prevs.append(prev)
        if cursor is None:
            break
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [sid for p in pages for sid in p] == expected
    assert prevs[0] is None and all(p is not None for p in prevs[1:])
    # Walk back from the last page with `before`: the same pages, in reverse.
    back: list[list[str]] = []
    before = prevs[-1]
    while before is not None:
        page, nxt, before = store.list_sessions(order=order, before=before, limit=7)  # type: ignore[arg-type]
        back.append([s["id"] for s in page])
        assert nxt is not None
    assert back == pages[-2::-1]
    with pytest.raises(ValueError, match="either"):
        store.list_sessions(after=1, before=2)
    with pytest.raises(ValueError, match="unknown page cursor"):
        store.list_sessions(after=10_000)


def test_delete_session_is_a_tombstone_and_keeps_events(store: Store, sessions: list[str]) -> None:
    store.append("sesn_02", [msg("one"), msg("two")])
    store.delete_session("sesn_02")
    assert store.get_session("sesn_02") is None
    assert "sesn_02" not in {s["id"] for s in store.list_sessions(include_archived=True, limit=100)[0]}
    assert [e.body["content"][0]["text"] for e in store.read("sesn_02")] == ["one", "two"]
    conn = raw(store)
    assert conn.execute("SELECT deleted_at IS NOT NULL FROM sessions WHERE id = 'sesn_02'").fetchone() == (1,)
    conn.close()
    with pytest.raises(StoreError, match="no session"):
        store.update_session(session("sesn_02"))
    store.delete_session("sesn_02")  # no-op
    with pytest.raises(StoreError, match="no session"):
        store.delete_session("sesn_missing")
    # A deleted session is skipped by paging, cursors around it still work.
    seen, cursor = [], None
    while True:
        page, cursor, _ = store.list_sessions(order="asc", after=cursor, limit=3)
        seen += [s["id"] for s in page]
        if cursor is None:
            break
    assert seen == [s for s in sessions if s != "sesn_02"]


# ---- events ----------------------------------------------------------------------------------


def test_append_assigns_per_session_seq(store: Store) -> None:
    first = store.append("sesn_a", [msg("1"), msg("2")])
    assert [e.seq for e in first] == [1, 2]
    assert all(isinstance(e, StoredEvent) and e.session_id == "sesn_a" for e in first)
    assert [e.seq for e in store.append("sesn_b", [msg("b1")])] == [1]
    assert [e.seq for e in store.append("sesn_a", [msg("3")])] == [3]
    assert store.append("sesn_a", []) == []
    assert store.latest_seq("sesn_a") == 3 and store.count_events("sesn_a") == 3
    assert store.latest_seq("sesn_b") == 1 and store.latest_seq("sesn_none") == 0
    stored = store.read("sesn_a")
    assert [e.seq for e in stored] == [1, 2, 3]
    assert [e.body["content"][0]["text"] for e in stored] == ["1", "2", "3"]
    assert stored[0].body == first[0].body
    assert stored[0].created_at is not None and stored[0].created_at.endswith("Z")
    assert stored[0].processed_at == stored[0].body["processed_at"] is not None


def test_body_is_compact_json(store: Store) -> None:
    event = msg("x")
    store.append("sesn_a", [event])
    conn = raw(store)
    (body,) = conn.execute("SELECT body FROM events").fetchone()
    conn.close()
    assert body == json.dumps(event, separators=(",", ":"))


def test_read_filters_and_order(store: Store) -> None:
    events: list[dict[str, Any]] = []
    for i in range(30):
        kind = ["span.model_request_start", "agent.message", "span.model_request_end"][i % 3]
        events.append({"type": kind, "id": new_id("sevt"), "processed_at": ts(i), "n": i})
    store.append("sesn_a", events[:10])
    store.append("sesn_a", events[10:])
    store.append("sesn_b", [msg()])
    starts = store.read("sesn_a", types=["span.model_request_start"])
    assert [e.body["n"] for e in starts] == list(range(0, 30, 3))
    both = store.read("sesn_a", types={"span.model_request_start", "span.model_request_end"})
    assert [e.body["n"] for e in both] == [i for i in range(30) if i % 3 != 1]
    assert store.read("sesn_a", types=[]) == []
    many = [f"x.type_{i}" for i in range(100)] + ["span.model_request_end"]  # beyond the merge path
    assert [e.body["n"] for e in store.read("sesn_a", types=many, order="desc", limit=2)] == [29, 26]
    assert [e.seq for e in store.read("sesn_a", after_seq=25)] == [26, 27, 28, 29, 30]
    assert [e.seq for e in store.read("sesn_a", after_seq=5, limit=3)] == [6, 7, 8]
    assert [e.seq for e in store.read("sesn_a", after_seq=5, before_seq=9)] == [6, 7, 8]
    assert [e.seq for e in store.read("sesn_a", order="desc", limit=4)] == [30, 29, 28, 27]
    assert [e.seq for e in store.read("sesn_a", order="desc", before_seq=5)] == [4, 3, 2, 1]
    desc_typed = store.read("sesn_a", types=["agent.message"], order="desc", limit=2)
    assert [e.seq for e in desc_typed] == [29, 26]
    # paging with after_seq visits every event once
    seen, after = [], 0
    while batch := store.read("sesn_a", after_seq=after, limit=7):
        seen += [e.seq for e in batch]
        after = batch[-1].seq
    assert seen == list(range(1, 31))
    fifth = store.get_event("sesn_a", events[4]["id"])
    assert fifth is not None and fifth.seq == 5
    assert store.get_event("sesn_b", events[4]["id"]) is None
    assert store.get_event("sesn_a", "sevt_missing") is None


def test_duplicate_id_appends_nothing_from_the_batch(store: Store) -> None:
    existing = msg("first")
    store.append("sesn_a", [existing])
    version = store.data_version()
    with pytest.raises(DuplicateError):
        store.append("sesn_a", [msg("new 1"), existing, msg("new 2")])
    with pytest.raises(DuplicateError):
        store.append("sesn_b", [existing])  # ids are unique across sessions
    repeated = msg("twice")
    with pytest.raises(DuplicateError):
        store.append("sesn_a", [repeated, repeated])
    assert store.count_events("sesn_a") == 1 and store.count_events("sesn_b") == 0
    assert store.data_version() == version  # nothing was committed
    assert [e.seq for e in store.append("sesn_a", [msg("next")])] == [2]  # no gap


def test_append_rejects_events_without_id_or_type(store: Store) -> None:
    with pytest.raises(ValueError, match="string 'id' and 'type'"):
        store.append("sesn_a", [msg(), {"type": "agent.message"}])
    with pytest.raises(ValueError, match="plain JSON"):
        store.append("sesn_a", [msg(extra=float("nan"))])
    assert store.count_events("sesn_a") == 0


def test_mark_processed_merges_without_touching_events(store: Store) -> None:
    queued = make_event("user.message", content=[{"type": "text", "text": "q"}], processed_at=None)
    server = msg("answer")
    [stored_q, stored_s] = store.append("sesn_a", [queued, server])
    assert stored_q.processed_at is None and stored_q.body["processed_at"] is None
    conn = raw(store)
    before = conn.execute("SELECT * FROM events ORDER BY seq").fetchall()
    store.mark_processed("sesn_a", [queued["id"]], ts(7))
    store.mark_processed("sesn_a", [queued["id"]], ts(8))  # the first time recorded wins
    store.mark_processed("sesn_a", [server["id"]], ts(9))  # a server event keeps its own time
    assert conn.execute("SELECT * FROM events ORDER BY seq").fetchall() == before
    got = store.get_event("sesn_a", queued["id"])
    assert got is not None and got.processed_at == ts(7) and got.body["processed_at"] == ts(7)
    [q, s] = store.read("sesn_a")
    assert q.body["processed_at"] == ts(7)
    assert s.body["processed_at"] == server["processed_at"]
    assert conn.execute("SELECT event_id, processed_at FROM event_processed ORDER BY processed_at").fetchall() == [
        (queued["id"], ts(7)),
        (server["id"], ts(9)),
    ]
    with pytest.raises(StoreError, match="no event sevt_nope in session sesn_a"):
        store.mark_processed("sesn_a", ["sevt_nope"], ts(1))
    with pytest.raises(StoreError, match="in session sesn_b"):
        store.mark_processed("sesn_b", [queued["id"]], ts(1))
    conn.close()


def test_no_api_changes_or_removes_events() -> None:
    public = {name for name in dir(Store) if not name.startswith("_")}
    event_methods = {n for n in public if "event" in n or n in {"append", "read", "mark_processed"}}
    assert event_methods == {"append", "read", "mark_processed", "get_event", "count_events"}
    assert not {n for n in public if n.startswith(("update_event", "delete_event", "remove", "truncate"))}


def test_triggers_abort_update_and_delete_of_events(store: Store) -> None:
    [event] = store.append("sesn_a", [msg("immutable")])
    store.mark_processed("sesn_a", [event.id], ts(1))
    conn = raw(store)
    triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"events_no_update", "events_no_delete"} <= triggers
    for statement in (
        "UPDATE events SET type = 'agent.thinking'",
        "UPDATE events SET processed_at = NULL",
        "DELETE FROM events",
        "DELETE FROM events WHERE session_id = 'sesn_a'",
        "UPDATE event_processed SET processed_at = 'x'",
        "DELETE FROM event_processed",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    conn.rollback()
    conn.close()
    assert store.read("sesn_a")[0].body == event.body


def test_data_version_sees_local_and_other_connections(store: Store, tmp_path: Path) -> None:
    v0 = store.data_version()
    assert store.data_version() == v0  # stable while nothing changes
    store.append("sesn_a", [msg()])
    v1 = store.data_version()
    assert v1 != v0
    with Store(store.path) as other:
        other.append("sesn_a", [msg()])
    assert store.data_version() != v1
    assert store.latest_seq("sesn_a") == 2


def test_threads_share_one_store(store: Store) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                store.append("sesn_a", [msg(f"{n}-{i}")])
                store.read("sesn_a", after_seq=max(0, store.latest_seq("sesn_a") - 5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [e.seq for e in store.read("sesn_a")] == list(range(1, 201))


# ---- other processes -------------------------------------------------------------------------


def helper(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, str(HELPER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_every_acknowledged_append_survives_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "kill.sqlite3"
    writer = helper("write", str(db), "sesn_k", "1000000")
    acknowledged: list[tuple[int, str]] = []
    try:
        assert writer.stdout is not None
        for line in writer.stdout:
            seq, event_id = line.split()
            acknowledged.append((int(seq), event_id))
            if len(acknowledged) >= 250:
                writer.send_signal(signal.SIGKILL)  # mid-stream: it keeps appending until killed
                break
        # Lines the writer printed before the signal landed were acknowledged too.
        rest, _ = writer.communicate(timeout=30)
        acknowledged += [(int(s), i) for s, i in (line.split() for line in rest.splitlines() if line.strip())]
    finally:
        if writer.poll() is None:  # pragma: no cover
            writer.kill()
    assert writer.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 250
    assert [seq for seq, _ in acknowledged] == list(range(1, len(acknowledged) + 1))
    with Store(db) as store:
        stored = {(e.seq, e.id) for e in store.read("sesn_k")}
        assert set(acknowledged) <= stored
        assert store.latest_seq("sesn_k") >= len(acknowledged)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.slow
def test_reader_process_follows_writer_process(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    reader = helper("read", str(db), "sesn_r", "1000")
    assert reader.stdout is not None
    assert reader.stdout.readline().strip() == "ready"  # the reader is polling before any write
    writer = helper("write", str(db), "sesn_r", "1000")
    written, werr = writer.communicate(timeout=120)
    assert writer.returncode == 0, werr
    out, rerr = reader.communicate(timeout=120)
    assert reader.returncode == 0, rerr
    result = json.loads(out)
    expected = [[int(s), i] for s, i in (line.split() for line in written.splitlines())]
    assert len(expected) == 1000
    assert result["events"] == expected  # every event, in order, no gaps
    assert result["reads"] > 1  # it read while the writer was still appending
