"""The GitHub connector: ``connector`` (the steps and checks), ``client`` (the vendor's
endpoints and pagination), ``mapping`` (vendor JSON → observations)."""

from shadow_ai.casb.connectors.github.connector import GitHubConnector

__all__ = ["GitHubConnector"]
