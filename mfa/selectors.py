from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from console.access.facts import NO_SESSION, SessionScope
from mfa.models import BackupCode, Method, TotpAuthenticator, Verification, WebAuthnAuthenticator

# How far back a verification can count for the "MFA method used" selector.
FACTS_WINDOW = timedelta(days=31)


def authenticators_of(user: User) -> list:
    """Every enrolled authenticator, newest first."""
    return authenticators_by_person([user])[user.pk]


def authenticators_by_person(people: Iterable[User]) -> dict[int, list]:
    """Person's id → every enrolled authenticator of theirs, newest first: one query per kind of
    authenticator, however many people are listed."""
    found: dict[int, list] = {person.pk: [] for person in people}
    for model in (TotpAuthenticator, WebAuthnAuthenticator):
        for device in model.objects.filter(user_id__in=list(found), confirmed=True):
            found[device.user_id].append(device)
    now = timezone.now()
    for devices in found.values():
        devices.sort(key=lambda d: d.created_at or now, reverse=True)
    return found


def has_totp(user: User, *, confirmed_only: bool = False) -> bool:
    """Whether the person has an authenticator app (``confirmed_only``: one they finished
    setting up; otherwise a pending setup counts too)."""
    devices = TotpAuthenticator.objects.filter(user=user)
    return (devices.filter(confirmed=True) if confirmed_only else devices).exists()


def people_with_authenticators(query: str = "") -> QuerySet[User]:
    """People with at least one authenticator, by e-mail; ``query`` matches e-mail or name."""
    people = User.objects.filter(
        Q(totpauthenticator__isnull=False) | Q(webauthnauthenticator__isnull=False)
    ).distinct().order_by("email")
    if query:
        people = people.filter(Q(email__icontains=query) | Q(full_name__icontains=query))
    return people


def suspected_clones() -> QuerySet[WebAuthnAuthenticator]:
    """Security keys whose signature counter went backwards (a possible clone)."""
    return WebAuthnAuthenticator.objects.filter(suspected_clone_at__isnull=False).select_related("user")


def methods_of(user: User) -> set[str]:
    return {d.method for d in authenticators_of(user)} | (
        {Method.BACKUP_CODE} if BackupCode.objects.filter(user=user, used_at__isnull=True).exists() else set()
    )


def unused_backup_codes(user: User) -> int:
    return BackupCode.objects.filter(user=user, used_at__isnull=True).count()


class LatestVerifications(Mapping):
    """Method → time of the person's last verification with it in the session decided about,
    read on first use: decisions about applications whose policies never ask about MFA pay
    nothing for it. A verification made in another browser never counts here."""

    def __init__(self, user_id: int, scope: SessionScope = NO_SESSION) -> None:
        self.user_id = user_id
        self.scope = scope
        self._data: dict | None = None

    def _load(self) -> dict:
        if self._data is None:
            if not (self.scope.any_session or self.scope.console_session_hash):
                self._data = {}
                return self._data
            since = timezone.now() - FACTS_WINDOW
            rows = Verification.objects.filter(user_id=self.user_id, at__gte=since)
            if not self.scope.any_session:
                rows = rows.filter(session_hash=self.scope.console_session_hash)
            self._data = {row["method"]: row["latest"]
                          for row in rows.values("method").annotate(latest=Max("at")).order_by()}
        return self._data

    def __getitem__(self, key: str):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def mfa_facts(user: User, scope: SessionScope = NO_SESSION) -> dict:
    """Access facts provider (per session): when the person last verified with each MFA method
    in the session the decision is about."""
    return {"mfa": LatestVerifications(user.pk, scope)}
