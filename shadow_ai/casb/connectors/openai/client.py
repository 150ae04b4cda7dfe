"""Calls to OpenAI's Admin API (``api.openai.com/v1/organization/...``) and the ChatGPT Enterprise
Compliance API (``api.chatgpt.com/v1/compliance/...``), one page at a time.

Both paginate the same way: ``limit`` and ``after`` (an object id) in, ``{"object": "list",
"data": [...], "first_id", "last_id", "has_more"}`` out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shadow_ai.casb.connectors.base import items
from shadow_ai.casb.connectors.http import VendorHTTP

HOSTS = {"api": "https://api.openai.com", "chatgpt": "https://api.chatgpt.com"}
PAGE_SIZE = 100
#: Conversations carry their messages: a small page keeps each checkpoint short.
CONVERSATION_PAGE = 20
#: File downloads answer with a 307 to a pre-signed storage URL on this domain.
DOWNLOAD_HOSTS = ("oaiusercontent.com",)


def _page(http: VendorHTTP, path: str, after: str | None, *, host: str = "api",
          params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
          authenticated: bool = True, limit: int = PAGE_SIZE) -> tuple[list[Mapping[str, Any]], str | None]:
    query: dict[str, Any] = {"limit": limit, **(params or {})}
    if after:
        query["after"] = after
    reply = http.get(path, host=host, params=query, headers=headers, authenticated=authenticated)
    rows = items(reply.data, "data")
    last_id = reply.data.get("last_id") or (rows[-1].get("id") if rows else None)
    more = bool(reply.data.get("has_more")) and bool(last_id) and last_id != after
    return rows, (str(last_id) if more else None)


def admin_keys(http: VendorHTTP, after: str | None, limit: int = PAGE_SIZE):
    return _page(http, "/v1/organization/admin_api_keys", after, limit=limit)


def projects(http: VendorHTTP, after: str | None, limit: int = PAGE_SIZE):
    return _page(http, "/v1/organization/projects", after, limit=limit)


def project_keys(http: VendorHTTP, project_id: str, after: str | None):
    return _page(http, f"/v1/organization/projects/{project_id}/api_keys", after)


def users(http: VendorHTTP, after: str | None):
    return _page(http, "/v1/organization/users", after)


def invites(http: VendorHTTP, after: str | None):
    return _page(http, "/v1/organization/invites", after)


def logins_since(http: VendorHTTP, since: int, after: str | None, limit: int = PAGE_SIZE):
    """Audit log ``login.succeeded`` events since a Unix time (audit logging must be on)."""
    return _page(http, "/v1/organization/audit_logs", after, limit=limit,
                 params={"event_types[]": ["login.succeeded"], "effective_at[gte]": since})


def gpts(http: VendorHTTP, workspace_id: str, key: str, after: str | None, limit: int = PAGE_SIZE):
    return _page(http, f"/v1/compliance/workspaces/{workspace_id}/gpts", after, host="chatgpt",
                 headers={"Authorization": f"Bearer {key}"}, authenticated=False, limit=limit)


def _compliance(http: VendorHTTP, workspace_id: str, key: str, path: str, after: str | None, *,
                params: Mapping[str, Any] | None = None, limit: int = PAGE_SIZE):
    return _page(http, f"/v1/compliance/workspaces/{workspace_id}{path}", after, host="chatgpt", params=params,
                 headers={"Authorization": f"Bearer {key}"}, authenticated=False, limit=limit)


def conversations(http: VendorHTTP, workspace_id: str, key: str, after: str | None, limit: int = CONVERSATION_PAGE):
    """Every conversation of the workspace: ``since_timestamp`` on the first page only (the API
    refuses it together with ``after``); files come as ids (``file_format=id``)."""
    params: dict[str, Any] = {"file_format": "id"}
    if not after:
        params["since_timestamp"] = 0
    return _compliance(http, workspace_id, key, "/conversations", after, params=params, limit=limit)


def conversation_messages(http: VendorHTTP, workspace_id: str, key: str, conversation_id: str, after: str | None):
    return _compliance(http, workspace_id, key, f"/conversations/{conversation_id}/messages", after,
                       params={"file_format": "id"})


def compliance_projects(http: VendorHTTP, workspace_id: str, key: str, after: str | None, limit: int = PAGE_SIZE):
    return _compliance(http, workspace_id, key, "/projects", after, limit=limit)


def _download(http: VendorHTTP, workspace_id: str, key: str, path: str, max_bytes: int) -> bytes | None:
    return http.download(f"/v1/compliance/workspaces/{workspace_id}{path}", host="chatgpt", max_bytes=max_bytes,
                         headers={"Authorization": f"Bearer {key}"}, authenticated=False,
                         redirect_hosts=DOWNLOAD_HOSTS)


def user_file(http: VendorHTTP, workspace_id: str, key: str, user_id: str, file_id: str,
              max_bytes: int) -> bytes | None:
    """A file someone uploaded to a conversation (``None`` when larger than ``max_bytes``)."""
    return _download(http, workspace_id, key, f"/users/{user_id}/files/{file_id}", max_bytes)


def gpt_file(http: VendorHTTP, workspace_id: str, key: str, file_id: str, max_bytes: int) -> bytes | None:
    return _download(http, workspace_id, key, f"/gpt_files/{file_id}", max_bytes)


def project_file(http: VendorHTTP, workspace_id: str, key: str, file_id: str, max_bytes: int) -> bytes | None:
    return _download(http, workspace_id, key, f"/project_files/{file_id}", max_bytes)
