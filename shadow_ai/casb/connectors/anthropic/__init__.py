"""The Anthropic connector: ``connector`` (the steps and checks), ``client`` (the vendor's
endpoints and pagination), ``mapping`` (vendor JSON → observations)."""

from shadow_ai.casb.connectors.anthropic.connector import AnthropicConnector

__all__ = ["AnthropicConnector"]
