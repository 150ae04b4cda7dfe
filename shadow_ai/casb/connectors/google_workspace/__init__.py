"""The Google Workspace connector: ``connector`` (the steps and checks), ``client`` (the vendor's
endpoints and pagination), ``mapping`` (vendor JSON → observations)."""

from shadow_ai.casb.connectors.google_workspace.connector import GoogleWorkspaceConnector

__all__ = ["GoogleWorkspaceConnector"]
