"""Other features' signals, turned into Security Event Tokens for the streams that ask for them.
Connected in ``SsfConfig.ready()``; each runs inside the sender's transaction."""

from __future__ import annotations

from typing import Any

from mfa.models import Method
from risk.ssf import publish

# CAEP credential types of our authenticators.
CAEP_CREDENTIAL = {Method.TOTP: "app", Method.SECURITY_KEY: "fido2-roaming", Method.BIOMETRICS: "fido2-platform"}


def on_sessions_revoked(sender: Any, *, user_ids: set[int], reason: str, initiating_entity: str,
                        **kwargs: Any) -> None:
    """One CAEP session-revoked event per person (``console.access.signals.sessions_revoked``)."""
    publish.sessions_revoked_for(user_ids=user_ids, reason=reason, initiating_entity=initiating_entity)


def on_credential_changed(sender: Any, *, user: Any, method: str, change_type: str, name: str,
                          initiating_entity: str, **kwargs: Any) -> None:
    """A CAEP credential-change event (``mfa.signals.credential_changed``)."""
    publish.credential_changed(user=user, credential_type=CAEP_CREDENTIAL[method], change_type=change_type,
                               friendly_name=name, initiating_entity=initiating_entity)
