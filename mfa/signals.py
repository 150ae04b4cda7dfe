"""What MFA tells other features, so that it never imports them (docs/architecture.md, Layers)."""

from django.dispatch import Signal

credential_changed = Signal()
"""Sent with ``user``, ``method`` (a ``Method``), ``change_type`` (``"create"``, ``"update"``,
``"revoke"`` or ``"delete"``), ``name`` (the authenticator's name) and ``initiating_entity``
(``"admin"``, ``"user"``, ``"policy"`` or ``"system"``) inside the transaction that changed the
authenticator, so what a receiver writes commits or rolls back with it (Shared Signals queues a
CAEP credential-change event). A receiver's error fails the change."""
