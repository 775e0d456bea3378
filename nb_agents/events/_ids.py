"""Time-sortable ids with the Managed Agents prefixes (``sevt_01JD...``).

An id is ``<prefix>_`` followed by 26 Crockford base32 characters: a 48-bit millisecond
timestamp and 80 random bits, like a ULID. Within one process, ids created in the same
millisecond still sort in creation order: the random part is incremented instead of redrawn.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

__all__ = ["ID_PREFIXES", "new_id"]

ID_PREFIXES: frozenset[str] = frozenset(
    {
        "agent",  # agent
        "depl",  # deployment
        "drun",  # deployment run
        "env",  # environment
        "file",  # file
        "mem",  # memory
        "memstore",  # memory store
        "memver",  # memory version
        "outc",  # outcome
        "req",  # request id
        "sesn",  # session
        "sesrsc",  # session resource
        "sevt",  # session event
        "skill",  # custom skill
        "sthr",  # session thread
        "vcrd",  # vault credential
        "vlt",  # vault
        "work",  # self-hosted work item
    }
)
"""The id prefixes ``new_id`` accepts (Managed Agents reference, section 0)."""

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_TIME_MAX = (1 << 48) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _reset_after_fork() -> None:
    # A forked child must not continue the parent's counter: it would repeat its ids.
    global _last_ms, _last_random
    _last_ms = -1
    _last_random = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _next_value() -> int:
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _last_random = secrets.randbits(_RANDOM_BITS)
        else:
            # Same millisecond (or the clock stepped back): keep the time, count up.
            _last_random += 1
            if _last_random > _RANDOM_MAX:
                _last_ms += 1
                _last_random = secrets.randbits(_RANDOM_BITS)
        if _last_ms > _TIME_MAX:  # pragma: no cover - year 10889
            raise OverflowError("timestamp does not fit in 48 bits")
        return (_last_ms << _RANDOM_BITS) | _last_random


def new_id(prefix: str) -> str:
    """Return a new time-sortable id such as ``sevt_01JDQ3V9K2ZC8Y6W1X0F4M7N5P``.

    Args:
        prefix: One of ``ID_PREFIXES`` (``sevt``, ``sesn``, ``agent``, ``env``, ``req``, ...).

    Returns:
        ``<prefix>_`` and 26 Crockford base32 characters. Ids from one process sort in the
        order they were created; ids from different processes sort by millisecond.

    Raises:
        ValueError: If the prefix is not a known Managed Agents id prefix.
    """
    if prefix not in ID_PREFIXES:
        known = ", ".join(sorted(ID_PREFIXES))
        raise ValueError(f"unknown id prefix {prefix!r}; expected one of: {known}")
    return f"{prefix}_{_encode(_next_value(), 26)}"
