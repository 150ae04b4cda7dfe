"""Who the user is, as the engine sees it. Other features add what they know (MFA used,
identity verified, risk score) by registering a provider:

    from console.access import facts
    facts.register(lambda user: {"risk_level": risk_level_of(user)})

A provider returns a dict of ``UserContext`` fields; later providers win on conflicts.

What a person proved in one browser (MFA, identity verification) is a fact about that browser's
session, not about the person: such providers register with ``per_session=True`` and are called
as ``provider(user, scope)`` with the ``SessionScope`` the decision is about."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from accounts.models import GroupMembership, User
from console.access.engine import UserContext


@dataclass(frozen=True)
class SessionScope:
    """Whose verifications count in a decision: those of the console session with this keyed
    hash (``mfa.binding``). An empty hash is no session: no verification counts. ``any_session``
    is for what-if tools (the policy tester, the impact preview) that decide for no session."""

    console_session_hash: str = ""
    any_session: bool = False


NO_SESSION = SessionScope()
ANY_SESSION = SessionScope(any_session=True)

FactsProvider = Callable[[User], Mapping[str, Any]]
SessionFactsProvider = Callable[[User, SessionScope], Mapping[str, Any]]
_providers: list[FactsProvider] = []
_session_providers: list[SessionFactsProvider] = []


def register(provider: FactsProvider | SessionFactsProvider, *, per_session: bool = False) -> None:
    """``per_session``: the provider's facts depend on the session decided about; it is called
    with ``(user, scope)``."""
    registry: list = _session_providers if per_session else _providers
    if provider not in registry:
        registry.append(provider)


def user_context(
    user: User,
    *,
    identity_provider: str = "",
    auth_methods: Iterable[str] = (),
    claims: Mapping[str, Any] | None = None,
    groups: frozenset[int] | None = None,
    session: SessionScope = NO_SESSION,
) -> UserContext:
    if groups is None:
        groups = frozenset(GroupMembership.objects.filter(user_id=user.pk).values_list("group_id", flat=True))
    fields: dict[str, Any] = {
        "email": user.email,
        "groups": groups,
        "identity_provider": identity_provider,
        "auth_methods": frozenset(auth_methods),
        "claims": dict(claims or {}),
    }
    for provider in _providers:
        fields.update(provider(user))
    for session_provider in _session_providers:
        fields.update(session_provider(user, session))
    return UserContext(**fields)


def groups_by_user(user_ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """Group ids for many users in one query (the policy tester and re-evaluation)."""
    result: dict[int, set[int]] = {}
    for user_id, group_id in GroupMembership.objects.filter(user_id__in=list(user_ids)).values_list(
        "user_id", "group_id"
    ):
        result.setdefault(user_id, set()).add(group_id)
    return {k: frozenset(v) for k, v in result.items()}
