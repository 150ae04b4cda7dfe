"""Replies shaped like OpenAI's documented Admin API and Compliance API responses, for an
organization with something to find in every check. Times are Unix seconds, as OpenAI sends them."""

from __future__ import annotations

from datetime import timedelta

from shadow_ai.casb.testing import (
    NOW,
    Response,
    VendorServer,
    after_cursor_pages,
)

ADMIN_KEY = "sk-admin-replay-0123456789"


def ts(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp())


def owner(user_id: str, email: str, role: str = "owner") -> dict:
    """An admin key's owner, flat as the AdminApiKey schema has it (no e-mail)."""
    return {"type": "user", "object": "organization.user", "id": user_id, "name": email.split("@")[0],
            "created_at": ts(400), "role": role}


def admin_keys() -> list[dict]:
    return [
        {"object": "organization.admin_api_key", "id": "key_old", "name": "Terraform",
         "redacted_value": "sk-admin...old1", "created_at": ts(200), "last_used_at": ts(1), "expires_at": None,
         "owner": owner("user_ada", "ada@acme.example")},
        {"object": "organization.admin_api_key", "id": "key_idle", "name": "Old audit export",
         "redacted_value": "sk-admin...idl2", "created_at": ts(60), "last_used_at": ts(45), "expires_at": ts(-30),
         "owner": owner("user_ada", "ada@acme.example")},
        {"object": "organization.admin_api_key", "id": "key_ok", "name": "Console", "redacted_value": "sk-admin...ok33",
         "created_at": ts(10), "last_used_at": ts(0.1), "expires_at": ts(-80),
         "owner": owner("user_bob", "bob@acme.example")},
    ]


def projects() -> list[dict]:
    return [
        {"id": "proj_web", "object": "organization.project", "name": "Website chatbot", "created_at": ts(300),
         "archived_at": None, "status": "active"},
        {"id": "proj_data", "object": "organization.project", "name": "Data team", "created_at": ts(250),
         "archived_at": None, "status": "active"},
        {"id": "proj_old", "object": "organization.project", "name": "Hackathon", "created_at": ts(500),
         "archived_at": ts(100), "status": "archived"},
    ]


def project_keys(project: str) -> list[dict]:
    service = {"type": "service_account", "service_account": {
        "id": "svc_bot", "name": "chatbot backend", "role": "member",
        "created_at": ts(300)}}
    user = {"type": "user", "user": {"id": "user_cy", "name": "Cy", "email": "cy@acme.example", "role": "owner",
                                     "created_at": ts(300)}}
    if project == "proj_web":
        return [
            {"object": "organization.project.api_key", "id": "pk_web_old", "name": "production", "created_at": ts(120),
             "last_used_at": ts(0.5), "redacted_value": "sk-proj-...web1", "owner": service},
            {"object": "organization.project.api_key", "id": "pk_web_new", "name": "staging", "created_at": ts(5),
             "last_used_at": ts(1), "redacted_value": "sk-proj-...web2", "owner": service},
        ]
    return [{"object": "organization.project.api_key", "id": "pk_data_idle", "name": "notebook", "created_at": ts(40),
             "last_used_at": None, "redacted_value": "sk-proj-...dat1", "owner": user}]


def users() -> list[dict]:
    return [
        {"object": "organization.user", "id": "user_ada", "name": "Ada", "email": "ada@acme.example", "role": "owner",
         "added_at": ts(400)},
        {"object": "organization.user", "id": "user_dan", "name": "Dan", "email": "dan@acme.example", "role": "reader",
         "added_at": ts(200)},
        {"object": "organization.user", "id": "user_eve", "name": "Eve", "email": "eve@acme.example", "role": "reader",
         "added_at": ts(3)},
    ]


def invites() -> list[dict]:
    return [
        {"object": "organization.invite", "id": "invite-owner", "email": "mallory@partner.example", "role": "owner",
         "status": "pending", "created_at": ts(2), "expires_at": ts(-5), "accepted_at": None, "projects": []},
        {"object": "organization.invite", "id": "invite-old", "email": "fay@acme.example", "role": "reader",
         "status": "pending", "created_at": ts(20), "expires_at": ts(-10), "accepted_at": None, "projects": []},
        {"object": "organization.invite", "id": "invite-done", "email": "gus@acme.example", "role": "owner",
         "status": "accepted", "created_at": ts(30), "expires_at": ts(23), "accepted_at": ts(29), "projects": []},
    ]


def logins() -> list[dict]:
    return [
        {"id": "audit_log-1", "type": "login.succeeded", "effective_at": ts(1),
         "actor": {"type": "session", "session": {"user": {"id": "user_ada", "email": "ada@acme.example"},
                                                 "ip_address": "203.0.113.9"}},
         "login.succeeded": {}},
    ]


CARD = "4111 1111 1111 1111"
CARD_TEXT = f"name,card,expires\nAda Lovelace,{CARD},12/29\n".encode()
CLEAN_TEXT = b"# Launch notes\nShip the new pricing page on Monday.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
#: Bytes of every file the Compliance API can send back, by file id.
FILES = {
    "file-GptCards": CARD_TEXT,          # GPT knowledge file with a card number
    "file-GptLogo": PNG,                 # binary: passed over
    "file-ProjNotes": CLEAN_TEXT,        # clean
    "file-ProjDump": b"x" * 9000,        # larger than the scan's 4 KiB cap
    "file-ConvCards": CARD_TEXT,         # uploaded to a conversation
    "file-ConvClean": CLEAN_TEXT,
}


def file_item(kind: str, file_id: str, name: str) -> dict:
    """A file as a Compliance API list shows it with ``file_format=id``."""
    return {"object": f"compliance.workspace.{kind}.file", "id": file_id, "name": name, "created_at": ts(5)}


def gpts() -> list[dict]:
    def gpt(gpt_id: str, name: str, visibility: str, tools: list[dict], files: list[dict] | None = None) -> dict:
        return {"object": "compliance.workspace.gpt", "id": gpt_id, "created_at": ts(30), "owner_id": "user-ada",
                "owner_email": "ada@acme.example", "builder_name": "Ada",
                "sharing": {"object": "compliance.workspace.gpt.sharing", "visibility": visibility,
                            "recipients": {"object": "list", "data": [], "has_more": False}},
                "latest_config": {"object": "list", "has_more": False, "data": [{
                    "object": "compliance.workspace.gpt.configuration", "id": f"gzm_cnf_{gpt_id}", "name": name,
                    "description": "", "created_at": ts(30), "instructions": "Be helpful.",
                    "files": {"object": "list", "has_more": False, "last_id": None, "data": files or []},
                    "tools": {"object": "list", "has_more": False, "data": tools}}]}}

    return [
        gpt("g-sales", "Sales deck helper", "anyone-with-link",
            [{"type": "custom_action", "action_domain": "crm.example.net", "created_at": ts(30)},
             {"type": "browser"}]),
        gpt("g-analyst", "Spreadsheet analyst", "workspace", [{"type": "python"}],
            [file_item("gpt", "file-GptCards", "customers.csv"), file_item("gpt", "file-GptLogo", "logo.png")]),
        gpt("g-public", "Recipe ideas", "gpt-store", [{"type": "dalle"}]),
        gpt("g-plain", "Style guide", "invite-only", []),
    ]


def chatgpt_projects() -> list[dict]:
    """Projects as the Compliance API lists them (``latest_config`` a list of configurations)."""
    def project(project_id: str, name: str, files: list[dict]) -> dict:
        return {"object": "compliance.workspace.project", "id": project_id, "created_at": ts(40),
                "owner_id": "user-bob", "owner_email": "bob@acme.example", "builder_name": "Bob",
                "latest_config": [{"object": "compliance.workspace.project.configuration", "id": f"pr_cnf_{project_id}",
                                   "name": name, "description": "", "created_at": ts(40), "instructions": "",
                                   "files": files, "tools": []}]}

    return [
        project("g-p-launch", "Launch plan", [file_item("project", "file-ProjNotes", "notes.md"),
                                              file_item("project", "file-ProjDump", "export.txt")]),
        project("g-p-empty", "Ideas", []),
    ]


def message(message_id: str, files: list[dict], *, project_id: str | None = None) -> dict:
    return {"object": "compliance.workspace.conversation.message", "id": message_id, "created_at": ts(2),
            "author": {"object": "compliance.workspace.conversation.message.author", "role": "user"},
            "content": {"type": "text", "value": "Please summarize the attached file."},
            "files": {"object": "list", "data": files, "has_more": False, "last_id": None},
            "gpt_id": None, "project_id": project_id, "parent_id": None}


def conversations() -> list[dict]:
    def conversation(conversation_id: str, title: str, user: str, messages: list[dict] | None) -> dict:
        row = {"object": "compliance.workspace.conversation", "id": conversation_id, "workspace_id": "ws-acme",
               "user_id": f"user-{user}", "user_email": f"{user}@acme.example", "created_at": ts(3),
               "last_active_at": ts(1), "title": title}
        if messages is not None:
            row["messages"] = {"object": "list", "data": messages, "has_more": False,
                               "last_id": messages[-1]["id"] if messages else None}
        return row

    return [
        conversation("conv-cards", "Summarize customers", "ada",
                     [message("msg-1", [file_item("conversation.message", "file-ConvCards", "export.csv")]),
                      message("msg-2", [file_item("conversation.message", "file-ConvCards", "export.csv")])]),
        conversation("conv-chat", "Team lunch ideas", "bob", [message("msg-3", [])]),
        conversation("conv-long", "Launch notes", "cy", None),  # messages paged separately
    ]


def long_messages() -> list[dict]:
    return [message("msg-4", []), message("msg-5", [file_item("conversation.message", "file-ConvClean", "notes.txt")],
                                          project_id="g-p-launch")]


def serve_files(server: VendorServer, *, workspace: str = "ws-acme", page_size: int = 2) -> None:
    """The Compliance API's lists of conversations and projects and its file downloads. GPT files
    answer with a 307 to a pre-signed storage URL, as the API does."""
    base = f"/v1/compliance/workspaces/{workspace}"
    server.route("GET", f"{base}/projects", after_cursor_pages(chatgpt_projects(), size=page_size))
    server.route("GET", f"{base}/conversations", after_cursor_pages(conversations(), size=page_size))
    server.route("GET", f"{base}/conversations/conv-long/messages", after_cursor_pages(long_messages(), size=1))
    for file_id, data in FILES.items():
        server.route("GET", f"/storage/{file_id}", Response(200, raw=data,
                                                            headers={"Content-Type": "application/octet-stream"}))
        server.route("GET", f"{base}/gpt_files/{file_id}",
                     Response(307, headers={"Location": f"{server.url}/storage/{file_id}?se=2026&sig=abc"}))
        server.route("GET", f"{base}/project_files/{file_id}", Response(200, raw=data))
    for user in ("ada", "bob", "cy"):
        for file_id in ("file-ConvCards", "file-ConvClean"):
            server.route("GET", f"{base}/users/user-{user}/files/{file_id}", Response(200, raw=FILES[file_id]))


def serve(server: VendorServer, *, page_size: int = 2, workspace: str = "ws-acme") -> None:
    """Every route the OpenAI connector reads."""
    server.route("GET", "/v1/organization/admin_api_keys", after_cursor_pages(admin_keys(), size=page_size))
    server.route("GET", "/v1/organization/projects", after_cursor_pages(projects(), size=page_size))
    for project in ("proj_web", "proj_data"):
        server.route("GET", f"/v1/organization/projects/{project}/api_keys",
                     after_cursor_pages(project_keys(project), size=page_size))
    server.route("GET", "/v1/organization/users", after_cursor_pages(users(), size=page_size))
    server.route("GET", "/v1/organization/invites", after_cursor_pages(invites(), size=page_size))
    server.route("GET", "/v1/organization/audit_logs", after_cursor_pages(logins(), size=page_size))
    server.route("GET", f"/v1/compliance/workspaces/{workspace}/gpts", after_cursor_pages(gpts(), size=page_size))
    serve_files(server, workspace=workspace, page_size=page_size)
