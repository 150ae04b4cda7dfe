"""One error hierarchy for the console. Messages are written to be shown to a user as they are."""


class ConsoleError(Exception):
    """Base of every error a service raises on purpose. ``str(error)`` is safe to display."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(ConsoleError):
    """The input was wrong; ``field`` names where, when one field is to blame."""


class PermissionRefused(ConsoleError):
    """The actor's role does not allow this change."""


class VerificationRequired(PermissionRefused):
    """The person must verify with an authenticator (again) first. Views answer it by sending
    them to verify and back; they never match on the message."""


class NotFound(ConsoleError):
    """The object does not exist or is not visible to the actor."""


class Conflict(ConsoleError):
    """The change clashes with the current state (duplicate name, already deactivated...)."""


class ExternalServiceError(ConsoleError):
    """A peer we call (identity provider, broker, vendor API) failed or answered wrongly."""
