"""Reads of people, groups and providers. ``get_*_for`` helpers apply the role check, so views
never fetch an object a role may not see."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from accounts.models import Group, GroupMembership, IdentityProvider, IdentityProviderLink, User
from console.audit.models import AuditEvent
from console.audit.selectors import audit_events_for_object
from console.core.roles import CONSOLE_READERS, PEOPLE_READERS, Role

# What HR may read of a person's history: changes to their profile and account. Sign-ins, MFA,
# identity verifications (with their transaction ids), recovery, risk and Access events are
# security events, for admins and auditors only.
PROFILE_ACTIONS = ("user.created", "user.updated", "user.deactivated", "user.reactivated")


def users_for_list() -> QuerySet[User]:
    return User.objects.select_related("manager").annotate(group_count=Count("memberships"))


def get_user_for(viewer: User, user_id: int) -> User:
    if viewer.role not in PEOPLE_READERS:
        raise PermissionDenied
    try:
        return User.objects.select_related("manager").get(pk=user_id)
    except User.DoesNotExist:
        raise Http404("No such user")


def groups_for_list() -> QuerySet[Group]:
    return Group.objects.annotate(member_count=Count("memberships"))


def get_group_for(viewer: User, group_id: int) -> Group:
    if viewer.role not in PEOPLE_READERS:
        raise PermissionDenied
    try:
        return Group.objects.annotate(member_count=Count("memberships")).get(pk=group_id)
    except Group.DoesNotExist:
        raise Http404("No such group")


def group_members(group: Group) -> QuerySet[User]:
    return User.objects.filter(memberships__group=group).select_related("manager")


def user_groups(user: User) -> list[Group]:
    return list(Group.objects.filter(memberships__user=user).order_by("name"))


def user_reports(user: User) -> list[User]:
    return list(user.reports.order_by("full_name"))


def identity_providers() -> QuerySet[IdentityProvider]:
    return IdentityProvider.objects.all()


def get_idp_for(viewer: User, idp_id: int) -> IdentityProvider:
    if viewer.role not in CONSOLE_READERS:
        raise PermissionDenied
    try:
        return IdentityProvider.objects.get(pk=idp_id)
    except IdentityProvider.DoesNotExist:
        raise Http404("No such identity provider")


def idp_links(idp: IdentityProvider) -> QuerySet[IdentityProviderLink]:
    return IdentityProviderLink.objects.filter(provider=idp).select_related("user").order_by("user__email")


def get_idp_link_for(viewer: User, idp: IdentityProvider, link_id: int) -> IdentityProviderLink:
    if viewer.role != Role.SUPER_ADMIN:
        raise PermissionDenied
    try:
        return IdentityProviderLink.objects.select_related("user", "provider").get(pk=link_id, provider=idp)
    except IdentityProviderLink.DoesNotExist:
        raise Http404("No such link")


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


def active_emails(limit: int = 2000) -> list[str]:
    """E-mail suggestions for pickers (a datalist), active people only."""
    return list(User.objects.filter(is_active=True).order_by("email").values_list("email", flat=True)[:limit])


def sees_security_events(viewer: User) -> bool:
    """Sign-ins, MFA, identity verifications and the audit trail: admins and auditors, not HR."""
    return viewer.role in CONSOLE_READERS


def user_history_for(viewer: User, person: User, limit: int = 20) -> list[AuditEvent]:
    """The audit events about ``person`` that ``viewer`` may read, newest first."""

    actions = None if sees_security_events(viewer) else PROFILE_ACTIONS
    return audit_events_for_object("accounts.user", str(person.pk), limit=limit, actions=actions)
