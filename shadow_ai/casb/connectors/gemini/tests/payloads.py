"""Gemini for Workspace replies: ``customers.get``, ``licenseAssignments.listForProduct`` (Gemini
add-ons and Google AI Ultra for Business), and the directory's users."""

from __future__ import annotations

from shadow_ai.casb.connectors.google_workspace.tests.payloads import SCOPE, service_account_json, token_endpoint, user
from shadow_ai.casb.testing import VendorServer, token_pages

ADMIN = "root@acme.example"
CUSTOMER = "C03az79cb"
GEMINI_SCOPES = {SCOPE + "admin.directory.user.readonly", SCOPE + "admin.directory.customer.readonly",
                 SCOPE + "apps.licensing"}

__all__ = ["serve", "service_account_json"]


def assignment(email: str, product: str, sku: str, sku_name: str, product_name: str) -> dict:
    return {"kind": "licensing#licenseAssignment", "etags": '"x"',
            "selfLink": f"https://licensing.googleapis.com/apps/licensing/v1/product/{product}/sku/{sku}/user/{email}",
            "userId": email, "productId": product, "skuId": sku, "skuName": sku_name, "productName": product_name}


def gemini() -> list[dict]:
    return [
        assignment("root@acme.example", "101047", "1010470001", "Gemini Enterprise", "Gemini"),
        assignment("ben@acme.example", "101047", "1010470001", "Gemini Enterprise", "Gemini"),
        assignment("cleo@acme.example", "101047", "1010470008", "Google AI Ultra for Business", "Gemini"),
        assignment("dora@acme.example", "101047", "1010470008", "Google AI Ultra for Business", "Gemini"),
    ]


def gemini_business() -> list[dict]:
    return [assignment("eli@acme.example", "101068", "1010680001", "Gemini Enterprise Business Edition",
                       "Gemini Business")]


def users() -> list[dict]:
    return [
        user("100001", ADMIN, admin=True, enrolled=False),        # Gemini, admin, no 2SV → High
        user("100002", "ben@acme.example", enrolled=False),       # Gemini, no 2SV → Medium
        user("100003", "cleo@acme.example", admin=True),          # Ultra admin → Low
        user("100004", "dora@acme.example", suspended=True),      # Ultra, suspended → Low
        user("100005", "eli@acme.example", enrolled=False),       # Gemini Business, no 2SV → Medium
        user("100006", "finn@acme.example", enrolled=False),      # no licence: nothing
    ]


def serve(server: VendorServer, *, page_size: int = 2) -> None:
    server.route("POST", "/token", token_endpoint(GEMINI_SCOPES))
    server.route("GET", "/admin/directory/v1/customers/my_customer", {
        "kind": "admin#directory#customer", "id": CUSTOMER, "etag": '"c"', "customerDomain": "acme.example",
        "alternateEmail": "it@acme.example", "language": "en", "customerCreationTime": "2019-01-01T00:00:00.000Z"})
    server.route("GET", "/apps/licensing/v1/product/101047/users", token_pages(
        gemini(), size=page_size, key="items", extra={"kind": "licensing#licenseAssignmentList", "etag": '"g"'}))
    server.route("GET", "/apps/licensing/v1/product/101068/users", token_pages(
        gemini_business(), size=page_size, key="items", extra={"kind": "licensing#licenseAssignmentList"}))
    server.route("GET", "/admin/directory/v1/users", token_pages(
        users(), size=200, key="users", extra={"kind": "admin#directory#users"}))
