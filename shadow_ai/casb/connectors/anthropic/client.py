"""Calls to Anthropic's Admin API (``api.anthropic.com/v1/organizations/...``), one page at a time.

Lists paginate with ``limit`` and ``after_id`` in, ``{"data": [...], "has_more", "first_id",
"last_id"}`` out; the usage report pages with ``page`` / ``next_page``. Every request carries
``x-api-key`` (an Admin API key, ``sk-ant-admin…``) and ``anthropic-version``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shadow_ai.casb.connectors.base import items
from shadow_ai.casb.connectors.http import VendorHTTP

HOSTS = {"api": "https://api.anthropic.com"}
VERSION = "2023-06-01"
PAGE_SIZE = 100
#: The Files API is in beta: every call names it.
FILES_BETA = "files-api-2025-04-14"


def _page(http: VendorHTTP, path: str, after: str | None, *, params: Mapping[str, Any] | None = None,
          limit: int = PAGE_SIZE, headers: Mapping[str, str] | None = None,
          authenticated: bool = True) -> tuple[list[Mapping[str, Any]], str | None]:
    query: dict[str, Any] = {"limit": limit, **(params or {})}
    if after:
        query["after_id"] = after
    reply = http.get(path, params=query, headers=headers, authenticated=authenticated)
    rows = items(reply.data, "data")
    last_id = reply.data.get("last_id") or (rows[-1].get("id") if rows else None)
    more = bool(reply.data.get("has_more")) and bool(last_id) and last_id != after
    return rows, (str(last_id) if more else None)


def api_keys(http: VendorHTTP, after: str | None, limit: int = PAGE_SIZE):
    return _page(http, "/v1/organizations/api_keys", after, params={"status": "active"}, limit=limit)


def users(http: VendorHTTP, after: str | None, limit: int = PAGE_SIZE):
    return _page(http, "/v1/organizations/users", after, limit=limit)


def invites(http: VendorHTTP, after: str | None):
    return _page(http, "/v1/organizations/invites", after)


def workspaces(http: VendorHTTP, after: str | None):
    return _page(http, "/v1/organizations/workspaces", after)


def usage_by_key(http: VendorHTTP, since: datetime, page: str | None) -> tuple[list[Mapping[str, Any]], str | None]:
    """Daily Messages API usage grouped by API key since ``since``: the buckets and the next page."""
    query: dict[str, Any] = {"starting_at": since.strftime("%Y-%m-%dT00:00:00Z"), "bucket_width": "1d",
                             "group_by[]": ["api_key_id"], "limit": 31}
    if page:
        query["page"] = page
    reply = http.get("/v1/organizations/usage_report/messages", params=query)
    buckets = items(reply.data, "data")
    following = reply.data.get("next_page") if reply.data.get("has_more") else None
    return buckets, (str(following) if following and following != page else None)


def _files_headers(api_key: str) -> dict[str, str]:
    """The Files API takes a regular (workspace) API key, not the Admin key."""
    return {"x-api-key": api_key, "anthropic-beta": FILES_BETA}


def files(http: VendorHTTP, api_key: str, after: str | None, limit: int = PAGE_SIZE):
    """Files of the key's workspace: ``{"data": [{"id", "filename", "mime_type", "size_bytes",
    "created_at", "downloadable", "type": "file"}], "has_more", "first_id", "last_id"}``."""
    return _page(http, "/v1/files", after, limit=limit, headers=_files_headers(api_key), authenticated=False)


def file_content(http: VendorHTTP, api_key: str, file_id: str, max_bytes: int) -> bytes | None:
    return http.download(f"/v1/files/{file_id}/content", max_bytes=max_bytes, headers=_files_headers(api_key),
                         authenticated=False)
