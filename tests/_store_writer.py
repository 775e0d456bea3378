"""Helper process for tests/test_store.py: writes to or reads from a Store in another process.

Usage:
    python tests/_store_writer.py write DB SESSION COUNT
        Append COUNT events one per call; after each append returns, print "<seq> <id>" and
        flush. (The durability test SIGKILLs it mid-stream.)
    python tests/_store_writer.py read DB SESSION COUNT
        Print "ready", then poll data_version()/latest_seq() and read new events until COUNT
        are seen; print one line of JSON: {"events": [[seq, id], ...], "reads": n}.
"""

from __future__ import annotations

import json
import sys
import time

from nb_agents.events import make_event
from nb_agents.store import Store


def write(db: str, session_id: str, count: int) -> None:
    with Store(db) as store:
        for i in range(count):
            event = make_event("agent.message", content=[{"type": "text", "text": f"message {i} " + "x" * 200}])
            [stored] = store.append(session_id, [event])
            sys.stdout.write(f"{stored.seq} {stored.id}\n")
            sys.stdout.flush()


def read(db: str, session_id: str, count: int) -> None:
    seen: list[tuple[int, str]] = []
    reads = 0
    deadline = time.monotonic() + 120
    with Store(db) as store:
        print("ready", flush=True)
        version = None
        while len(seen) < count and time.monotonic() < deadline:
            current = store.data_version()
            if current == version:
                time.sleep(0.001)
                continue
            version = current
            after = seen[-1][0] if seen else 0
            if store.latest_seq(session_id) <= after:
                continue
            batch = store.read(session_id, after_seq=after)
            reads += 1
            seen.extend((e.seq, e.id) for e in batch)
    print(json.dumps({"events": seen, "reads": reads}), flush=True)


if __name__ == "__main__":
    mode, db, session, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    {"write": write, "read": read}[mode](db, session, n)
