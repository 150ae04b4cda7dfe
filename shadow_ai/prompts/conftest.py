"""The Shadow AI fixtures (the shipped library, gateway API tokens, the evaluate client, fresh
policy caches, a real web gateway process) for the prompt protection tests too."""

from shadow_ai.tests.conftest import (  # noqa: F401
    _fresh_caches,
    evaluate,
    gateway_process,
    gateway_sites,
    gateway_token,
    gateway_world,
    library,
)
