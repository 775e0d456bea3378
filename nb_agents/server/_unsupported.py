"""Hosted endpoints the local runtime does not serve: each answers a 400 that names its feature.

An unknown path stays a 404; a path the SDK knows, for a feature not built here, must not read
like a wrong id. Every answer is the API's error envelope with ``invalid_request_error`` and
``error_code: not_supported_locally``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from nb_agents.errors import NotAvailableLocallyError
from nb_agents.runtime import Runtime

__all__ = ["UNSUPPORTED_ROUTES"]

_WORK = "/v1/environments/{environment_id}/work"
_THREADS = "/v1/sessions/{session_id}/threads"
_MEMORY = "/v1/memory_stores/{memory_store_id}"
_VAULT_CREDENTIALS = "/v1/vaults/{vault_id}/credentials"
_TUNNEL_CERTIFICATES = "/v1/tunnels/{tunnel_id}/certificates"

# (feature, the SDK 2.17 path patterns under client.beta that serve it)
_FEATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the self-hosted environment work queue (environments.work)", (
        _WORK, f"{_WORK}/poll", f"{_WORK}/stats", f"{_WORK}/{{work_id}}", f"{_WORK}/{{work_id}}/ack",
        f"{_WORK}/{{work_id}}/heartbeat", f"{_WORK}/{{work_id}}/stop",
    )),
    ("session resources (sessions.resources)", (
        "/v1/sessions/{session_id}/resources", "/v1/sessions/{session_id}/resources/{resource_id}",
    )),
    ("session threads (sessions.threads, multiagent)", (
        _THREADS, f"{_THREADS}/{{thread_id}}", f"{_THREADS}/{{thread_id}}/archive",
        f"{_THREADS}/{{thread_id}}/events", f"{_THREADS}/{{thread_id}}/stream",
    )),
    ("vaults (vaults, vaults.credentials)", (
        "/v1/vaults", "/v1/vaults/{vault_id}", "/v1/vaults/{vault_id}/archive", _VAULT_CREDENTIALS,
        f"{_VAULT_CREDENTIALS}/{{credential_id}}", f"{_VAULT_CREDENTIALS}/{{credential_id}}/archive",
        f"{_VAULT_CREDENTIALS}/{{credential_id}}/mcp_oauth_validate",
    )),
    ("memory stores (memory_stores)", (
        "/v1/memory_stores", _MEMORY, f"{_MEMORY}/archive", f"{_MEMORY}/memories",
        f"{_MEMORY}/memories/{{memory_id}}", f"{_MEMORY}/memory_versions",
        f"{_MEMORY}/memory_versions/{{memory_version_id}}",
        f"{_MEMORY}/memory_versions/{{memory_version_id}}/redact",
    )),
    ("the Files API (files)", ("/v1/files", "/v1/files/{file_id}", "/v1/files/{file_id}/content")),
    ("skills (skills)", (
        "/v1/skills", "/v1/skills/{skill_id}", "/v1/skills/{skill_id}/versions",
        "/v1/skills/{skill_id}/versions/{version}", "/v1/skills/{skill_id}/versions/{version}/content",
    )),
    ("deployments (deployments)", (
        "/v1/deployments", "/v1/deployments/{deployment_id}", "/v1/deployments/{deployment_id}/archive",
        "/v1/deployments/{deployment_id}/pause", "/v1/deployments/{deployment_id}/run",
        "/v1/deployments/{deployment_id}/unpause",
    )),
    ("deployment runs (deployment_runs)", ("/v1/deployment_runs", "/v1/deployment_runs/{deployment_run_id}")),
    ("dreams (dreams)", (
        "/v1/dreams", "/v1/dreams/{dream_id}", "/v1/dreams/{dream_id}/archive", "/v1/dreams/{dream_id}/cancel",
    )),
    ("MCP tunnels (tunnels)", (
        "/v1/tunnels", "/v1/tunnels/{tunnel_id}", "/v1/tunnels/{tunnel_id}/archive", _TUNNEL_CERTIFICATES,
        f"{_TUNNEL_CERTIFICATES}/{{certificate_id}}", f"{_TUNNEL_CERTIFICATES}/{{certificate_id}}/archive",
        "/v1/tunnels/{tunnel_id}/reveal_token", "/v1/tunnels/{tunnel_id}/rotate_token",
    )),
    ("user profiles (user_profiles)", (
        "/v1/user_profiles", "/v1/user_profiles/{user_profile_id}",
        "/v1/user_profiles/{user_profile_id}/action_urls", "/v1/user_profiles/{user_profile_id}/enrollment_url",
        "/v1/user_profiles/{user_profile_id}/providers/google/data_controls",
    )),
)  # fmt: skip


def _refuse(feature: str) -> Any:
    async def handler(request: Request, rt: Runtime) -> Any:
        raise NotAvailableLocallyError(feature)

    return handler


UNSUPPORTED_ROUTES: list[tuple[str, str, Any]] = [
    (method, path, _refuse(feature))
    for feature, paths in _FEATURES
    for path in paths
    for method in ("GET", "POST", "DELETE")
]
