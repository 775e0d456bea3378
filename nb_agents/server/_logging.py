"""The server's log: one private, rotated, size-capped file, with floods of one message damped.

``nb-agents serve`` logs to ``<state dir>/server.log`` (mode 0600), rotated at
``NB_AGENTS_LOG_MAX_BYTES`` (default 2 MiB) with two older files kept, so the log never takes
more than three times that. A message logged over and over (protocol garbage, malformed HTTP)
is written at most ``burst`` times a minute per call site, then once more with how many were
left out.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["LOG_BACKUPS", "LOG_FILE", "PrivateRotatingFileHandler", "RateLimit", "server_logging"]

LOG_FILE = "server.log"
LOG_BACKUPS = 2
_DEFAULT_MAX_BYTES = 2 * 1024 * 1024
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` whose files are created (and kept) 0600."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        return open(fd, "a", encoding=self.encoding or "utf-8", errors="backslashreplace")


class RateLimit(logging.Filter):
    """Let at most ``burst`` records per call site through in each ``window`` seconds.

    The first record after a window in which some were dropped says how many. One instance may
    sit on several handlers: each record is judged once.
    """

    def __init__(self, burst: int = 20, window: float = 60.0) -> None:
        super().__init__()
        self.burst, self.window = burst, window
        self._sites: dict[tuple[str, str, int], list[float | int]] = {}  # site → [window start, passed, dropped]
        self._lock = threading.Lock()
        self._last: tuple[logging.LogRecord | None, bool] = (None, True)  # the record itself: ids are reused

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            if self._last[0] is record:
                return self._last[1]
            verdict = self._judge(record)
            self._last = (record, verdict)
            return verdict

    def _judge(self, record: logging.LogRecord) -> bool:
        site = (record.name, record.pathname, record.lineno)
        now = time.monotonic()
        state = self._sites.get(site)
        if state is None or now - state[0] >= self.window:
            dropped = int(state[2]) if state else 0
            if len(self._sites) > 10_000:
                self._sites.clear()
            self._sites[site] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this were not logged in the last minute]"
            return True
        if state[1] < self.burst:
            state[1] = int(state[1]) + 1
            return True
        state[2] = int(state[2]) + 1
        return False


def _same_file(stream: Any, path: Path) -> bool:
    try:
        a, b = os.fstat(stream.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextmanager
def server_logging(state_dir: Path) -> Iterator[Path]:
    """Route every log record to the state directory's rotated log while the server runs.

    A handler writing to stderr stays unless stderr already is that file (a background server
    started by the notebook), where it would only write every line twice and unrotated.

    Yields:
        The log file's path.
    """
    path = state_dir / LOG_FILE
    max_bytes = int(os.environ.get("NB_AGENTS_LOG_MAX_BYTES") or _DEFAULT_MAX_BYTES)
    handler = PrivateRotatingFileHandler(path, maxBytes=max(max_bytes, 4096), backupCount=LOG_BACKUPS)
    handler.setFormatter(logging.Formatter(_FORMAT))
    limit = RateLimit()
    handler.addFilter(limit)
    root = logging.getLogger()
    removed: list[logging.Handler] = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout) and _same_file(h.stream, path)
    ]
    for gone in removed:
        root.removeHandler(gone)
    kept = list(root.handlers)
    for h in kept:
        h.addFilter(limit)
    root.addHandler(handler)
    logging.captureWarnings(True)  # warnings too go to the rotated log, not to a raw stderr
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        handler.close()
        for h in kept:
            h.removeFilter(limit)
        for gone in removed:
            root.addHandler(gone)
