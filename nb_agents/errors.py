"""The one exception tree of nb_agents.

Every error nb_agents raises on purpose is an ``NbAgentsError``. Errors that describe a user
mistake also subclass ``ValueError`` (bad input) so generic handlers keep working.

```
NbAgentsError
├── SpecError(ValueError)              a bad agent or environment definition (YAML, params)
├── EventValidationError(ValueError)   an event that does not match the Managed Agents wire types
├── EvalError(ValueError)              an evaluation that cannot run (bad tasks, a refused setting)
├── PrerequisiteError                  something the machine lacks (Docker engine, an extra)
├── StoreError                         the SQLite event log could not be opened, read or written
│   ├── SchemaVersionError             the state file was written by a newer nb_agents
│   └── DuplicateError                 an id (or agent version) that is already stored
├── SandboxError                       the hands failed (container, process, tool transport)
│   ├── SandboxUnavailableError        no sandbox can be started (engine gone, image missing)
│   └── SandboxTimeoutError(TimeoutError)
├── BrainError                         the model call failed after retries, or replay ran dry
│   └── ReplayError                    a replay file is malformed or has no answer left
└── ApiError                           a wire-protocol error with an HTTP status and error type
    ├── InvalidRequestError            400 invalid_request_error
    │   └── NotAvailableLocallyError   400 a hosted feature the local runtime does not have
    ├── AuthenticationError            401 authentication_error
    ├── NotFoundError                  404 not_found_error
    └── ConflictError                  409 conflict (wrong state, version mismatch)
```
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BrainError",
    "ConflictError",
    "DuplicateError",
    "EvalError",
    "EventValidationError",
    "InvalidRequestError",
    "NbAgentsError",
    "NotAvailableLocallyError",
    "NotFoundError",
    "PrerequisiteError",
    "ReplayError",
    "SandboxError",
    "SandboxTimeoutError",
    "SandboxUnavailableError",
    "SchemaVersionError",
    "SpecError",
    "StoreError",
]


class NbAgentsError(Exception):
    """Root of every error nb_agents raises on purpose."""


class SpecError(NbAgentsError, ValueError):
    """A bad agent or environment definition.

    Attributes:
        key: Dotted path of the offending key (``tools[1].permission``), if known.
        line: 1-based line in the YAML source, if the definition came from YAML.
    """

    def __init__(self, message: str, *, key: str | None = None, line: int | None = None) -> None:
        where = []
        if line is not None:
            where.append(f"line {line}")
        if key is not None:
            where.append(f"key '{key}'")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
        self.key = key
        self.line = line


class EventValidationError(NbAgentsError, ValueError):
    """An event that does not validate against the SDK's Managed Agents event types."""


class EvalError(NbAgentsError, ValueError):
    """An evaluation that cannot run: malformed tasks, or a setting the backend refused."""


class PrerequisiteError(NbAgentsError):
    """The machine lacks something nb_agents needs (a Docker engine, an optional package)."""


class StoreError(NbAgentsError):
    """The SQLite event log could not be opened, read or written."""


class SchemaVersionError(StoreError):
    """The state file was written by a newer nb_agents than this one."""


class DuplicateError(StoreError):
    """An id, or an agent version, that is already stored."""


class SandboxError(NbAgentsError):
    """The hands failed: a container, a process or the tool transport."""


class SandboxUnavailableError(SandboxError):
    """No sandbox can be started (no engine, image missing, container refused to start)."""


class SandboxTimeoutError(SandboxError, TimeoutError):
    """A sandbox operation ran past its time limit."""


class BrainError(NbAgentsError):
    """The model could not be asked: retries exhausted, or an unrecoverable API error."""


class ReplayError(BrainError):
    """A ``replay:`` file is malformed, or has no recorded answer left for this request."""


class ApiError(NbAgentsError):
    """A Managed Agents wire-protocol error.

    The server turns it into the API's error envelope; the runtime raises it for wrong ids
    and wrong states.

    Attributes:
        status: HTTP status code.
        error_type: The envelope's ``error.type``.
        error_code: Optional ``error.details.error_code``.
        retryable: Whether a client may retry (``x-should-retry``).
    """

    status = 500
    error_type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        error_code: str | None = None,
        details: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.details = dict(details or {})
        self.retryable = retryable


class InvalidRequestError(ApiError):
    """400: the request is malformed or names something invalid."""

    status = 400
    error_type = "invalid_request_error"


class NotAvailableLocallyError(InvalidRequestError):
    """400 ``not_supported_locally``: a hosted feature (endpoint, parameter, tool) not built locally.

    Args:
        feature: What was asked for, as the user would name it (``"vaults (vault_ids)"``).
        hint: What to do instead; by default, leave it out or use the hosted API.
    """

    def __init__(self, feature: str, hint: str | None = None) -> None:
        hint = hint or "leave it out, or use the hosted Managed Agents API for it (NB_AGENTS_BACKEND=hosted)"
        super().__init__(f"{feature} is not available in the local runtime; {hint}", error_code="not_supported_locally")
        self.feature = feature


class AuthenticationError(ApiError):
    """401: the key is missing or wrong."""

    status = 401
    error_type = "authentication_error"


class NotFoundError(ApiError):
    """404: no such object."""

    status = 404
    error_type = "not_found_error"


class ConflictError(ApiError):
    """409: the object is in the wrong state, or a version check failed."""

    status = 409
    error_type = "invalid_request_error"
