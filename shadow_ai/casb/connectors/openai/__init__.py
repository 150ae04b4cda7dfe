"""The OpenAI connector: ``connector`` (the steps and checks), ``client`` (the vendor's
endpoints and pagination), ``mapping`` (vendor JSON → observations)."""

from shadow_ai.casb.connectors.openai.connector import OpenAIConnector

__all__ = ["OpenAIConnector"]
