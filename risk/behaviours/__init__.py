"""Risk behaviours: ``base`` is the interface, ``catalogue`` the predefined ones."""

from risk.behaviours import (
    catalogue,  # noqa: F401  (registers the predefined behaviours)
    prompts,  # noqa: F401  (registers the AI prompt protection behaviours)
)
from risk.behaviours.base import REGISTRY, Behaviour, Param, ParamError, Trigger, by_source, register

__all__ = ["REGISTRY", "Behaviour", "Param", "ParamError", "Trigger", "by_source", "register"]
