"""People: create, update, deactivate and reactivate accounts, and the account of a verified new hire."""

from __future__ import annotations

import re

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import Group, User, normalize_email
from accounts.services.groups import group_membership_set
from accounts.services.rights import check_can_assign, check_rank
from console.access.services import end_sessions_of_deactivated, facts_changed_later
from console.audit.services import audit_record, diff, snapshot
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from console.core.permissions import require_role
from console.core.roles import PEOPLE_WRITERS, Role

USER_AUDIT_FIELDS = ("email", "full_name", "role", "title", "country", "manager", "is_active")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def _last_super_admin(user: User) -> bool:
    return (
        user.role == Role.SUPER_ADMIN
        and user.is_active
        and not User.objects.filter(role=Role.SUPER_ADMIN, is_active=True).exclude(pk=user.pk).exists()
    )


def _clean_user_fields(
    *, email: str, full_name: str, role: str, country: str, manager: User | None, user: User | None
) -> tuple[str, str, str, str]:
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(f"{email or 'An empty value'} is not a valid e-mail address.", field="email")
    full_name = (full_name or "").strip()
    if not full_name:
        raise ValidationFailed("A full name is required.", field="full_name")
    if role not in Role.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    country = country_code(country)
    if country is None:
        raise ValidationFailed("Country must be a two-letter ISO code such as DE or US.", field="country")
    clash = User.objects.filter(email__iexact=email)
    if user is not None:
        clash = clash.exclude(pk=user.pk)
    if clash.exists():
        raise Conflict(f"A user with the e-mail {email} already exists.", field="email")
    if manager is not None and user is not None and manager.pk == user.pk:
        raise ValidationFailed("A user cannot be their own manager.", field="manager")
    return email, full_name, role, country


def country_code(value: str) -> str | None:
    """``value`` as an upper-case two-letter country code, "" for none, ``None`` when it is not one."""
    code = (value or "").strip().upper()
    return code if not code or COUNTRY_RE.match(code) else None


def refuse_own_role_change(actor: User, user: User, role: str) -> None:
    if user.pk == actor.pk and role != user.role:
        raise PermissionRefused("You cannot change your own role; ask another admin.")


def refuse_last_super_admin_demotion(user: User, role: str) -> None:
    if role != user.role and _last_super_admin(user):
        raise Conflict("This is the last active Super Admin; make someone else Super Admin first.")


def user_insert(actor: User | None, user: User, *, extra_changes: dict | None = None) -> None:
    """Save a new person and write its ``user.created`` audit row."""
    user.save()
    audit_record(
        actor=actor, action="user.created", obj=user,
        changes=diff({}, snapshot(user, USER_AUDIT_FIELDS)) | (extra_changes or {}),
    )


def user_save_changes(actor: User, user: User, before: dict, update_fields: list[str]) -> dict:
    """Save and audit (``user.updated``) what changed on ``user`` since the snapshot ``before``;
    nothing when nothing changed. Returns the changes."""
    changes = diff(before, snapshot(user, USER_AUDIT_FIELDS))
    if changes:
        user.save(update_fields=update_fields)
        audit_record(actor=actor, action="user.updated", obj=user, changes=changes)
    return changes


@transaction.atomic
def user_create(
    *,
    actor: User,
    email: str,
    full_name: str,
    role: str = Role.EMPLOYEE,
    title: str = "",
    country: str = "",
    manager: User | None = None,
    password: str | None = None,
    groups: list[Group] | None = None,
    source: str = User.Source.LOCAL,
) -> User:
    require_role(actor, PEOPLE_WRITERS, "create users")
    check_can_assign(actor, current_role=None, new_role=role)
    email, full_name, role, country = _clean_user_fields(
        email=email, full_name=full_name, role=role, country=country, manager=manager, user=None
    )
    user = User(
        email=email, full_name=full_name, role=role, title=(title or "").strip(),
        country=country, manager=manager, source=source,
    )
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationFailed(" ".join(exc.messages), field="password")
        user.set_password(password)
    else:
        user.set_unusable_password()
    user_insert(actor, user)
    for group in groups or []:
        group_membership_set(actor=actor, group=group, user=user)
    return user


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    full_name: str,
    role: str,
    title: str = "",
    country: str = "",
    manager: User | None = None,
    email: str | None = None,
) -> User:
    require_role(actor, PEOPLE_WRITERS, "change users")
    user = User.objects.select_for_update().get(pk=user.pk)
    check_can_assign(actor, current_role=user.role, new_role=role)
    refuse_own_role_change(actor, user, role)
    email, full_name, role, country = _clean_user_fields(
        email=email if email is not None else user.email, full_name=full_name, role=role,
        country=country, manager=manager, user=user,
    )
    refuse_last_super_admin_demotion(user, role)
    before = snapshot(user, USER_AUDIT_FIELDS)
    user.email, user.full_name, user.role = email, full_name, role
    user.title, user.country, user.manager = (title or "").strip(), country, manager
    changes = user_save_changes(actor, user, before, ["email", "full_name", "role", "title", "country", "manager"])
    if "email" in changes:
        facts_changed_later(user.pk, "e-mail changed")
    return user


@transaction.atomic
def user_deactivate(*, actor: User, user: User) -> User:
    """Deactivated users cannot sign in; their open sessions stop working at the next request
    (the session backend refuses inactive users)."""
    require_role(actor, PEOPLE_WRITERS, "deactivate users")
    user = User.objects.select_for_update().get(pk=user.pk)
    check_rank(actor, target_role=user.role, what="deactivate")
    if user.pk == actor.pk:
        raise PermissionRefused("You cannot deactivate your own account.")
    if not user.is_active:
        return user
    if _last_super_admin(user):
        raise Conflict("This is the last active Super Admin and cannot be deactivated.")
    user.is_active = False
    user.deactivated_at = timezone.now()
    user.save(update_fields=["is_active", "deactivated_at"])

    end_sessions_of_deactivated(user)
    audit_record(
        actor=actor, action="user.deactivated", obj=user,
        changes={"is_active": {"old": True, "new": False}},
    )
    return user


@transaction.atomic
def user_reactivate(*, actor: User, user: User) -> User:
    require_role(actor, PEOPLE_WRITERS, "reactivate users")
    user = User.objects.select_for_update().get(pk=user.pk)
    check_rank(actor, target_role=user.role, what="reactivate")
    if user.is_active:
        return user
    user.is_active = True
    user.deactivated_at = None
    user.save(update_fields=["is_active", "deactivated_at"])
    facts_changed_later(user.pk, "account reactivated")
    audit_record(
        actor=actor, action="user.reactivated", obj=user,
        changes={"is_active": {"old": False, "new": True}},
    )
    return user


def user_create_onboarded(
    *, email: str, full_name: str, manager: User | None, groups: list[Group], case_id: int,
    granted_by: User | None,
) -> User:
    """The account of a new hire whose identity was just verified (no actor: the system acts on
    the invitation of ``granted_by``, who opened the case). The case's groups are granted with
    the rights ``granted_by`` has now; a group they may not grant is left out and the refusal
    audited (``group.member_add_refused``), the account is made all the same. Call inside the
    onboarding service's transaction."""
    email, full_name, role, _ = _clean_user_fields(
        email=email, full_name=full_name, role=Role.EMPLOYEE, country="", manager=manager, user=None
    )
    user = User(email=email, full_name=full_name, role=role, manager=manager, source=User.Source.ONBOARDING)
    user.set_unusable_password()
    user_insert(None, user, extra_changes={"source": {"old": None, "new": f"onboarding:{case_id}"}})
    for group in groups:
        try:
            with transaction.atomic():
                group_membership_set(actor=None, group=group, user=user, on_behalf_of=granted_by)
        except PermissionRefused as exc:
            audit_record(
                actor=None, action="group.member_add_refused", obj=group, changes={
                    "member": user.email, "on_behalf_of": granted_by.email if granted_by else None,
                    "reason": exc.message, "source": f"onboarding:{case_id}",
                },
            )
    return user
