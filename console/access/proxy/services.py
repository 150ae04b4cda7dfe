"""Writes of the proxy path: the one-time sign-in codes, the "Connect your proxy" sighting,
signing out of one application and signing a person out everywhere."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services.rights import check_rank
from console.access import services as access_services
from console.access.models import Application, AppSignInCode, ProxySighting
from console.audit.services import audit_record
from console.core.errors import ConsoleError
from console.core.permissions import require_role
from console.core.roles import ADMINS

SIGHTING_EVERY_SECONDS = 60


class CodeRefused(ConsoleError):
    """The sign-in code is unknown, used, expired or for another host."""


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def sign_in_code_create(
    *, application: Application, session_id: object, host: str, token: str, token_expires_at: datetime,
    return_to: str,
) -> str:
    """A one-time code that the application host's callback exchanges for ``token``; only its
    hash is stored. Codes past their life are cleared on the way."""
    now = timezone.now()
    code = secrets.token_urlsafe(32)
    with transaction.atomic():
        AppSignInCode.objects.filter(expires_at__lt=now - timedelta(hours=1)).delete()
        AppSignInCode.objects.create(
            code_hash=_digest(code), application=application, session_id=session_id, host=host, token=token,
            token_expires_at=token_expires_at, return_to=return_to[:2000], created_at=now,
            expires_at=now + timedelta(seconds=settings.ACCESS_PROXY_CODE_SECONDS),
        )
    return code


@dataclass(frozen=True)
class Redeemed:
    token: str
    token_expires_at: datetime
    return_to: str
    application: Application


def sign_in_code_redeem(*, code: str, host: str) -> Redeemed:
    """Use a code once, on the host it was issued for. A code shown on the wrong host is burnt."""
    now = timezone.now()
    if not code or len(code) > 100:
        raise CodeRefused("This sign-in link is not valid.")
    with transaction.atomic():
        row = (AppSignInCode.objects.select_for_update().select_related("application")
               .filter(code_hash=_digest(code)).first())
        if row is None:
            raise CodeRefused("This sign-in link has expired or was already used. Open the application again.")
        usable = row.used_at is None and row.expires_at > now
        token = row.token
        if row.used_at is None or row.token:  # burnt whatever happens next, its token erased
            row.used_at, row.token = row.used_at or now, ""
            row.save(update_fields=["used_at", "token"])
    # After the commit: a refused code stays used.
    if not usable:
        raise CodeRefused("This sign-in link has expired or was already used. Open the application again.")
    if row.host != host:
        raise CodeRefused("This sign-in link was issued for another site.")
    return Redeemed(token=token, token_expires_at=row.token_expires_at, return_to=row.return_to,
                    application=row.application)


_seen: dict[int, float] = {}
_seen_lock = threading.Lock()


def sighting_record(*, application: Application, proxy_address: str | None, host: str) -> None:
    """Remember that a trusted proxy asked about ``application`` (at most once a minute per
    process, so the hot path stays free of writes)."""
    now = time.monotonic()
    with _seen_lock:
        if now - _seen.get(application.pk, -SIGHTING_EVERY_SECONDS) < SIGHTING_EVERY_SECONDS:
            return
        _seen[application.pk] = now
    ProxySighting.objects.update_or_create(
        application=application,
        defaults={"last_seen_at": timezone.now(), "proxy_address": proxy_address, "host": host[:260]},
    )


@transaction.atomic
def app_sign_out(*, user: User, session_id: object, application: Application) -> bool:
    """The person signs out of one application: its Access session (and so its token) ends."""
    ended = access_services.end_session(session_id, reason=f"signed out of {application.name}")
    if ended:
        audit_record(actor=user, action="access.session.signed_out", obj=application,
                     changes={"session": str(session_id)})
    return bool(ended)


def _end_console_sessions(user: User) -> int:
    """Delete every console (browser) session of ``user``. Sessions are stored signed, not by
    person, so each unexpired one is read; this runs on a rare, deliberate action."""
    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            ended.append(session.session_key)
    Session.objects.filter(session_key__in=ended).delete()
    return len(ended)


@transaction.atomic
def sign_out_everywhere(*, actor: User, user: User) -> dict[str, int]:
    """End every Access session (so every application token and cookie), and every console
    session of ``user``. A person may do it for themselves; an admin for others (rank rules)."""
    if actor.pk != user.pk:
        require_role(actor, ADMINS, "sign people out")
        check_rank(actor, target_role=user.role, what="sign out")
        reason, entity = f"signed out everywhere by {actor.email}", "admin"
    else:
        reason, entity = "signed out everywhere", "user"
    apps = access_services.end_sessions_of(user, reason=reason, initiating_entity=entity)
    consoles = _end_console_sessions(user)
    audit_record(actor=actor, action="access.user.signed_out_everywhere", obj=user,
                 changes={"application_sessions": apps, "console_sessions": consoles})
    return {"application_sessions": apps, "console_sessions": consoles}

