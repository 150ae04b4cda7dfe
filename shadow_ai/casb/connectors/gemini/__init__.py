"""The Gemini for Google Workspace connector: ``connector`` (the steps and checks), ``client`` (the vendor's
endpoints and pagination), ``mapping`` (vendor JSON → observations)."""

from shadow_ai.casb.connectors.gemini.connector import GeminiConnector

__all__ = ["GeminiConnector"]
