"""E-mail for the embedded default: messages are kept in the database and shown on the console's
Outbox page (HR and admins), so invitations can be followed without a mail server.

Configured with ``EMAIL_URL=outbox://`` (the development default); production sends through the
SMTP server in ``EMAIL_URL`` and keeps nothing here."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from accounts.onboarding.models import OutboxMessage

OUTBOX_BACKEND = "accounts.onboarding.mail.OutboxBackend"


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        for message in email_messages:
            message.message()  # header validation, as a real backend would do
            OutboxMessage.objects.create(
                to=", ".join(message.to)[:1000], from_email=str(message.from_email)[:254],
                subject=str(message.subject)[:300], body=str(message.body),
            )
            sent += 1
        return sent


def outbox_in_use() -> bool:
    """Whether e-mails are kept in the console (the Outbox page has something to show)."""
    return settings.MAILERS.get("default", {}).get("BACKEND") == OUTBOX_BACKEND
