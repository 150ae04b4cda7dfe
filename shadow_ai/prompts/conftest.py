"""The Shadow AI fixtures (the shipped library, gateway API tokens, the evaluate client, fresh
policy caches) for the prompt protection tests too."""

from shadow_ai.tests.conftest import _fresh_caches, evaluate, gateway_token, library  # noqa: F401
