"""Rights: who may change whose role and groups.

The one rule book for changes to people. Every path that sets a role or a group membership
(the people form, CSV import, the group screen, onboarding cases, the demo) asks it, and the
authenticator and profile paths use its rank rule:

- nobody but a Super Admin acts on a Super Admin, and only a Super Admin grants or takes away
  an admin role (Super Admin, Security Admin);
- Security Admins manage everyone else and their groups, and grant HR, Auditor and Employee;
- HR manages Employees only: never a role other than Employee, never a group membership
  (adding a member is an admin action on the group screen);
- Auditors and Employees change nobody."""

from __future__ import annotations

from accounts.models import Group, User
from console.core.errors import PermissionRefused
from console.core.permissions import require_role
from console.core.roles import ADMINS, PEOPLE_WRITERS, Role


def _label(role: str) -> str:
    return Role(role).label if role in Role.values else role


def check_rank(actor: User, *, target_role: str | None, what: str) -> None:
    """The rank rules every action on a person obeys: nobody below Super Admin acts on a Super
    Admin; HR acts on Employees only. ``what`` completes "Only a Super Admin can {what} a Super
    Admin" (e.g. "change", "remove the authenticators of"). ``target_role`` is ``None`` for a
    person who does not exist yet."""
    if target_role == Role.SUPER_ADMIN and actor.role != Role.SUPER_ADMIN:
        raise PermissionRefused(f"Only a Super Admin can {what} a Super Admin.")
    if actor.role == Role.HR and target_role not in (None, Role.EMPLOYEE):
        raise PermissionRefused(f"HR manages Employees only; an admin must {what} a {_label(target_role)}.")


def rights_check(
    actor: User,
    *,
    current_role: str | None,
    new_role: str | None = None,
    group: Group | None = None,
    removing: bool = False,
) -> None:
    """Refuse (``PermissionRefused`` saying what) unless ``actor`` may change a person whose role
    is ``current_role`` (``None``: a person being created): give them ``new_role`` (``None``: the
    role stays), or add them to ``group`` (``removing``: take them out of it)."""
    require_role(actor, PEOPLE_WRITERS, "change people")
    check_rank(actor, target_role=current_role, what="change")
    if new_role is not None and new_role != current_role and actor.role != Role.SUPER_ADMIN:
        for role in (new_role, current_role):
            if role in ADMINS:
                raise PermissionRefused(f"Only a Super Admin can grant or take away the {_label(role)} role.")
        if actor.role == Role.HR and new_role != Role.EMPLOYEE:
            raise PermissionRefused(f"HR manages Employees only and cannot grant the {_label(new_role)} role.")
    if group is not None and actor.role not in ADMINS:
        verb = "take people out of groups" if removing else "add people to groups"
        raise PermissionRefused(
            f"Your role ({actor.role_label}) cannot {verb} ({group.name}); an admin does that on the group's page."
        )


def check_can_assign(actor: User, *, current_role: str | None, new_role: str) -> None:
    """May ``actor`` put a person whose role is ``current_role`` into ``new_role`` (the same role:
    may they change that person at all)? See ``rights_check``."""
    rights_check(actor, current_role=current_role, new_role=new_role)


def assignable_roles(actor: User, *, current_role: str | None) -> list[str]:
    """The roles ``actor`` may give a person whose role is ``current_role`` (for forms)."""
    allowed = []
    for role in Role.values:
        try:
            rights_check(actor, current_role=current_role, new_role=role)
        except PermissionRefused:
            continue
        allowed.append(role)
    return allowed


def may_change_groups(actor: User, *, target_role: str | None = Role.EMPLOYEE) -> bool:
    """Whether ``actor`` may add a person whose role is ``target_role`` to groups (for forms)."""
    try:
        rights_check(actor, current_role=target_role, group=Group(name="any"))
    except PermissionRefused:
        return False
    return True
