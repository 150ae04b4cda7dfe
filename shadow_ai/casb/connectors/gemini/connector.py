"""Gemini for Google Workspace: people with Gemini or Google AI Ultra licences, checked for
2-Step Verification, suspension and admin privileges."""

from __future__ import annotations

from shadow_ai.casb.connectors.base import Check, Connector, Context, Field, Page, Step, check_call
from shadow_ai.casb.connectors.errors import NotFound
from shadow_ai.casb.connectors.gemini import client, mapping
from shadow_ai.casb.connectors.google_workspace.connector import SA_HELP


class GeminiConnector(Connector):
    key = "gemini"
    label = "Google Gemini"
    vendor = "Google"
    summary = "Gemini for Google Workspace licences: 2-Step Verification and AI Ultra holders."
    hosts = client.HOSTS
    finding_types = mapping.TYPES
    scopes = (client.USERS_READ, client.CUSTOMER_READ, client.LICENSING)
    credential_fields = (
        Field("service_account_json", "Service account key (JSON)", secret=True, multiline=True, help=SA_HELP),
    )
    config_fields = (
        Field("admin_email", "Admin to act as", placeholder="admin@example.com",
              help="A super admin (or an admin with the License Management privilege)."),
        Field("customer_id", "Customer ID", required=False, placeholder="C0…",
              help="Empty: read from the directory (customers.get of the admin's account)."),
    )
    requirements = (
        "The Google Workspace service account (domain-wide delegation).",
        "Delegated scopes: " + ", ".join(scopes) + ".",
    )

    def prepare(self, ctx: Context) -> None:
        client.token_auth(ctx, self.scopes)

    def _customer_id(self, ctx: Context) -> str:
        configured = ctx.config.get("customer_id") or ctx.state.get("customer_id")
        if configured and configured != "my_customer":
            return str(configured)
        found = str(client.customer(ctx.http)["id"])
        ctx.state["customer_id"] = found
        return found

    def check(self, ctx: Context) -> list[Check]:
        results = [check_call("Service account and delegation", lambda: ctx.http.auth(),
                              "The service account received a token for the delegated scopes.")]
        if not results[0].ok:
            return results
        results.append(check_call("Customer (admin.directory.customer.readonly)", lambda: self._customer_id(ctx),
                                  lambda found: f"Customer {found}."))
        if not results[-1].ok:
            return results
        results.append(check_call("Licences (apps.licensing)", lambda: client.licence_page(
            ctx.http, client.GEMINI_PRODUCTS[0], self._customer_id(ctx), None, max_results=1),
            "Gemini licence assignments are readable."))
        results.append(check_call("Users (admin.directory.user.readonly)",
                                  lambda: client.users_page(ctx.http, "my_customer", None, max_results=1),
                                  "The directory's users are readable."))
        return results

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step("licences", "Reading Gemini and AI Ultra licences", self._licences),
            Step("users", "Checking licensed users", self._users, tuple(t.key for t in mapping.TYPES)),
        ]

    def _licences(self, ctx: Context, cursor: str | None) -> Page:
        customer = self._customer_id(ctx)
        index, _, token = (cursor or "0|").partition("|")
        position = int(index)
        try:
            rows, following = client.licence_page(ctx.http, client.GEMINI_PRODUCTS[position], customer, token or None)
        except NotFound:
            rows, following = [], None  # the domain has no subscription to this product

        ctx.state["licensed"] = mapping.merge(ctx.state.get("licensed", {}),
                                              mapping.licences(rows, client.AI_ULTRA_SKUS))
        if following:
            nxt = f"{position}|{following}"
        else:
            nxt = f"{position + 1}|" if position + 1 < len(client.GEMINI_PRODUCTS) else None
        return Page(assets=len(rows), next_cursor=nxt)

    def _users(self, ctx: Context, cursor: str | None) -> Page:
        licensed = ctx.state.get("licensed", {})
        rows, following = client.users_page(ctx.http, "my_customer", cursor, max_results=200)
        return Page([o for row in rows for o in mapping.user(row, licensed)], len(rows), following)
