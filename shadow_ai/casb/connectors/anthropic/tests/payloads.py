"""Replies shaped like Anthropic's documented Admin API responses (RFC 3339 times)."""

from __future__ import annotations

from datetime import timedelta

from shadow_ai.casb.testing import (
    NOW,
    Response,
    VendorServer,
    after_cursor_pages,
)

ADMIN_KEY = "sk-ant-admin01-replay"


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(rows: list[dict], more: bool) -> dict:
    return {"data": rows, "has_more": more, "first_id": rows[0]["id"] if rows else None,
            "last_id": rows[-1]["id"] if rows else None}


def workspaces() -> list[dict]:
    return [{"id": "wrkspc_01Prod", "type": "workspace", "name": "Production", "created_at": at(300),
             "archived_at": None, "display_color": "#6C5BB9"}]


def users() -> list[dict]:
    return [
        {"id": "user_01Ada", "type": "user", "email": "ada@acme.example", "name": "Ada", "role": "admin",
         "added_at": at(300)},
        {"id": "user_01Bob", "type": "user", "email": "bob@acme.example", "name": "Bob", "role": "developer",
         "added_at": at(100)},
    ]


def api_keys() -> list[dict]:
    def key(key_id: str, name: str, created: float, expires: str | None, creator: str = "user_01Ada") -> dict:
        return {"id": key_id, "type": "api_key", "name": name,
                "created_at": at(created), "created_by": {"id": creator, "type": "user"},
                "expires_at": expires, "partial_key_hint": f"sk-ant-api03-{key_id[-3:]}...AA", "status": "active",
                "scope": {"type": "workspace", "workspace_id": "wrkspc_01Prod"}}

    return [
        key("apikey_01Used", "support bot", 200, None),
        key("apikey_01Idle", "old prototype", 90, at(-30), "user_01Bob"),
        key("apikey_01New", "new service", 2, at(-300)),
    ]


def invites() -> list[dict]:
    return [
        {"id": "invite_01Adm", "type": "invite", "email": "vendor@partner.example", "role": "admin",
         "status": "pending", "invited_at": at(1), "expires_at": at(-20), "accepted_at": None, "rbac_group_ids": []},
        {"id": "invite_01Old", "type": "invite", "email": "carol@acme.example", "role": "user", "status": "pending",
         "invited_at": at(12), "expires_at": at(-9), "accepted_at": None, "rbac_group_ids": []},
        {"id": "invite_01Exp", "type": "invite", "email": "dave@acme.example", "role": "admin", "status": "expired",
         "invited_at": at(60), "expires_at": at(39), "accepted_at": None, "rbac_group_ids": []},
    ]


def usage() -> dict:
    def bucket(day: int, key_ids: list[str]) -> dict:
        return {"starting_at": at(day), "ending_at": at(day - 1), "results": [
            {"uncached_input_tokens": 1200, "cache_creation": {"ephemeral_1h_input_tokens": 0,
                                                               "ephemeral_5m_input_tokens": 0},
             "cache_read_input_tokens": 0, "output_tokens": 300, "server_tool_use": {"web_search_requests": 0},
             "api_key_id": k, "workspace_id": "wrkspc_01Prod", "model": "claude-sonnet-4-20250514",
             "service_tier": "standard", "context_window": "0-200k"} for k in key_ids]}

    return {"page1": {"data": [bucket(3, ["apikey_01Used"])], "has_more": True, "next_page": "page_MjAyNi0wMi0yNg=="},
            "page2": {"data": [bucket(2, ["apikey_01New"]), bucket(1, [])], "has_more": False, "next_page": None}}


CARD = "4111 1111 1111 1111"
CONTENTS = {
    "file_011Report": f"Quarterly refunds\nCard {CARD} refunded 12.50 EUR\n".encode(),  # a match
    "file_011Summary": b"Summary: refunds went down by 4% this quarter.\n",             # clean
    "file_011Chart": b"\x89PNG\r\n\x1a\n" + bytes(32),                                # binary
    "file_011Huge": b"a" * 9000,                                                        # over the 4 KiB cap
}


def files() -> list[dict]:
    """``GET /v1/files`` rows: uploads are not downloadable, what Claude produced is."""
    def file(file_id: str, name: str, mime: str, downloadable: bool, size: int | None = None) -> dict:
        return {"id": file_id, "type": "file", "filename": name, "mime_type": mime,
                "size_bytes": size if size is not None else len(CONTENTS.get(file_id, b"")),
                "created_at": at(2), "downloadable": downloadable}

    return [
        file("file_011Upload", "customers.csv", "text/csv", False, 2048),
        file("file_011Report", "refunds.txt", "text/plain", True),
        file("file_011Summary", "summary.md", "text/markdown", True),
        file("file_011Chart", "chart.png", "image/png", True),
        file("file_011Huge", "dump.txt", "text/plain", True),
    ]


def serve(server: VendorServer, *, page_size: int = 2) -> None:
    server.route("GET", "/v1/organizations/workspaces", after_cursor_pages(
        workspaces(), size=page_size, cursor_param="after_id", envelope=envelope))
    server.route("GET", "/v1/organizations/users", after_cursor_pages(
        users(), size=page_size, cursor_param="after_id", envelope=envelope))
    server.route("GET", "/v1/organizations/api_keys", after_cursor_pages(
        api_keys(), size=page_size, cursor_param="after_id", envelope=envelope))
    server.route("GET", "/v1/organizations/invites", after_cursor_pages(
        invites(), size=page_size, cursor_param="after_id", envelope=envelope))
    pages = usage()
    server.route("GET", "/v1/organizations/usage_report/messages",
                 lambda request: pages["page2"] if request.arg("page") else pages["page1"])
    server.route("GET", "/v1/files", after_cursor_pages(files(), size=page_size, cursor_param="after_id",
                                                        envelope=envelope))
    for file_id, data in CONTENTS.items():
        server.route("GET", f"/v1/files/{file_id}/content",
                     Response(200, raw=data, headers={"Content-Type": "application/octet-stream"}))
