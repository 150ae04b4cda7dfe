"""The Microsoft 365 (Entra ID) connector: ``connector`` (the steps and checks), ``client`` (the vendor's
endpoints and pagination), ``mapping`` (vendor JSON → observations)."""

from shadow_ai.casb.connectors.microsoft_365.connector import Microsoft365Connector

__all__ = ["Microsoft365Connector"]
