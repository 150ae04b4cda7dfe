"""Gemini for Google Workspace: who holds a Gemini or Google AI Ultra licence (Enterprise License
Manager API ``licenseAssignments.listForProduct``), read with the Google Workspace client and the
same service-account delegation."""

from __future__ import annotations

from shadow_ai.casb.connectors.google_workspace.client import (  # noqa: F401 - the calls Gemini uses
    CUSTOMER_READ,
    HOSTS,
    LICENSING,
    USERS_READ,
    customer,
    licence_page,
    token_auth,
    users_page,
)

# Product ids of the licensing API: "Gemini" add-ons (including Google AI Ultra for Business,
# SKU 1010470008) and "Gemini Business" (Gemini Enterprise Business edition).
GEMINI_PRODUCTS = ("101047", "101068")
AI_ULTRA_SKUS = frozenset({"1010470008"})
