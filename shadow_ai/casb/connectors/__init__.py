"""CASB connectors: one package per vendor, and the registry that lists them (``registry``).

Adding a vendor: a package here with ``client.py`` (the vendor's endpoints and pagination),
``mapping.py`` (finding types and vendor JSON → observations) and ``connector.py`` (a ``Connector``
subclass, re-exported by the package's ``__init__.py``), listed in ``registry.CONNECTORS``. No
migration is needed."""

from shadow_ai.casb.connectors.registry import CONNECTORS, choices, context_for, get, thresholds

__all__ = ["CONNECTORS", "choices", "context_for", "get", "thresholds"]
