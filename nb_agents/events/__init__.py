"""Managed Agents events: types, ids, timestamps, and strict validation against the SDK.

```python
from nb_agents.events import make_event, validate_event

event = make_event("agent.message", content=[{"type": "text", "text": "hi"}])
validate_event(event)  # -> BetaManagedAgentsAgentMessageEvent, or EventValidationError
```
"""

from __future__ import annotations

from nb_agents.events._ids import ID_PREFIXES, new_id
from nb_agents.events._time import format_time, now, parse_time, time_to_us
from nb_agents.events._types import (
    CLIENT_EVENT_TYPES,
    EVENT_MODELS,
    EVENT_TYPES,
    STREAM_EVENT_MODELS,
    STREAM_ONLY_TYPES,
    make_event,
)
from nb_agents.events._validate import validate_event, validate_object, validate_stream_event

__all__ = [
    "CLIENT_EVENT_TYPES",
    "EVENT_MODELS",
    "EVENT_TYPES",
    "ID_PREFIXES",
    "STREAM_EVENT_MODELS",
    "STREAM_ONLY_TYPES",
    "format_time",
    "make_event",
    "new_id",
    "now",
    "parse_time",
    "time_to_us",
    "validate_event",
    "validate_object",
    "validate_stream_event",
]
