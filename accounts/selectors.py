"""Reads of people, groups and providers. ``get_*_for`` helpers apply the role check, so views
never fetch an object a role may not see."""

from __future__ import annotations

from collections.abc import Iterable

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet

from accounts.models import Group, GroupMembership, IdentityProvider, IdentityProviderLink, User
from console.audit.models import AuditEvent
from console.audit.selectors import audit_events_for_object
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS, PEOPLE_READERS, Role

# What HR may read of a person's history: changes to their profile and account. Sign-ins, MFA,
# identity verifications (with their transaction ids), recovery, risk and Access events are
# security events, for admins and auditors only.
PROFILE_ACTIONS = ("user.created", "user.updated", "user.deactivated", "user.reactivated")


def active_users_by_role() -> dict[str, int]:
    """How many active people hold each role (roles nobody holds are absent)."""
    return dict(User.objects.filter(is_active=True).values_list("role").annotate(n=Count("id")).order_by())


def deactivated_user_count() -> int:
    return User.objects.filter(is_active=False).count()


def group_count() -> int:
    return Group.objects.count()


def is_locked_out(person: User) -> bool:
    """Whether sign-in is blocked for the person after too many failed attempts."""
    return AccessAttempt.objects.filter(
        username=person.email, failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    ).exists()


def users_for_list() -> QuerySet[User]:
    return User.objects.select_related("manager").annotate(group_count=Count("memberships"))


def get_user_for(viewer: User, user_id: int) -> User:
    return get_for_role(User.objects.select_related("manager"), viewer, user_id, "user", PEOPLE_READERS)


def groups_for_list() -> QuerySet[Group]:
    return Group.objects.annotate(member_count=Count("memberships"))


def get_group_for(viewer: User, group_id: int) -> Group:
    return get_for_role(Group.objects.annotate(member_count=Count("memberships")), viewer, group_id, "group",
                        PEOPLE_READERS)


def group_members(group: Group) -> QuerySet[User]:
    return User.objects.filter(memberships__group=group).select_related("manager")


def user_groups(user: User) -> list[Group]:
    return list(Group.objects.filter(memberships__user=user).order_by("name"))


def user_reports(user: User) -> list[User]:
    return list(user.reports.order_by("full_name"))


def identity_providers() -> QuerySet[IdentityProvider]:
    return IdentityProvider.objects.all()


def get_idp_for(viewer: User, idp_id: int) -> IdentityProvider:
    return get_for_role(IdentityProvider.objects.all(), viewer, idp_id, "identity provider", CONSOLE_READERS)


def idp_links(idp: IdentityProvider) -> QuerySet[IdentityProviderLink]:
    return IdentityProviderLink.objects.filter(provider=idp).select_related("user").order_by("user__email")


def get_idp_link_for(viewer: User, idp: IdentityProvider, link_id: int) -> IdentityProviderLink:
    return get_for_role(IdentityProviderLink.objects.select_related("user", "provider").filter(provider=idp),
                        viewer, link_id, "link", {Role.SUPER_ADMIN})


def sign_in_providers() -> list[IdentityProvider]:
    return list(
        IdentityProvider.objects.filter(enabled=True, kind=IdentityProvider.Kind.PRIMARY)
        .exclude(authorization_endpoint="")
        .order_by("name")
    )


def users_with_groups(queryset: QuerySet[User]) -> QuerySet[User]:
    return queryset.prefetch_related(
        Prefetch("memberships", queryset=GroupMembership.objects.select_related("group"))
    )


def user_with_email(email: str) -> User | None:
    """The account with this e-mail (in any case), active or not."""
    return User.objects.filter(email__iexact=email).first()


def active_emails(limit: int = 2000) -> list[str]:
    """E-mail suggestions for pickers (a datalist), active people only."""
    return list(User.objects.filter(is_active=True).order_by("email").values_list("email", flat=True)[:limit])


def active_people() -> list[User]:
    """Every active person (e-mail and name loaded), by e-mail: the population a what-if
    tester runs a policy over."""
    return list(User.objects.filter(is_active=True).only("pk", "email", "full_name").order_by("email"))


def group_names(group_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Group id → name, for the ids that still exist (every group when ``group_ids`` is None)."""
    groups = Group.objects.all() if group_ids is None else Group.objects.filter(pk__in=list(group_ids))
    return dict(groups.values_list("pk", "name"))


def sees_security_events(viewer: User) -> bool:
    """Sign-ins, MFA, identity verifications and the audit trail: admins and auditors, not HR."""
    return viewer.role in CONSOLE_READERS


def user_history_for(viewer: User, person: User, limit: int = 20) -> list[AuditEvent]:
    """The audit events about ``person`` that ``viewer`` may read, newest first."""

    actions = None if sees_security_events(viewer) else PROFILE_ACTIONS
    return audit_events_for_object("accounts.user", str(person.pk), limit=limit, actions=actions)
