"""What Access tells other features, so that it never imports them (docs/architecture.md, Layers)."""

from django.dispatch import Signal

sessions_revoked = Signal()
"""Sent with ``user_ids`` (the people whose open sessions were just revoked), ``reason`` and
``initiating_entity`` (``"admin"``, ``"user"``, ``"policy"`` or ``"system"``) inside the transaction
that revoked them, so what a receiver writes commits or rolls back with the revocation (Shared
Signals queues one CAEP session-revoked event per person). A receiver's error fails the revocation."""
