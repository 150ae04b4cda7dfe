"""Every write to people, groups and identity providers. Each service checks what the actor's
role allows, runs in one transaction and writes its audit row in it."""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import idp_trust, oidc, provider_urls
from accounts.models import (
    Group,
    GroupMembership,
    IdentityProvider,
    IdentityProviderLink,
    User,
    default_barred_roles,
    normalize_email,
)
from accounts.onboarding.claims import level_rank
from console.access.services import end_sessions_of_deactivated, facts_changed_later
from console.audit.services import audit_record, diff, snapshot
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from console.core.names import require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS, PEOPLE_WRITERS, Role

log = logging.getLogger(__name__)

USER_AUDIT_FIELDS = ("email", "full_name", "role", "title", "country", "manager", "is_active")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --- Rights: who may change whose role and groups ---------------------------------------------
#
# The one rule book for changes to people. Every path that sets a role or a group membership
# (the people form, CSV import, the group screen, onboarding cases, the demo) asks it, and the
# authenticator and profile paths use its rank rule:
#
# - nobody but a Super Admin acts on a Super Admin, and only a Super Admin grants or takes away
#   an admin role (Super Admin, Security Admin);
# - Security Admins manage everyone else and their groups, and grant HR, Auditor and Employee;
# - HR manages Employees only: never a role other than Employee, never a group membership
#   (adding a member is an admin action on the group screen);
# - Auditors and Employees change nobody.


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


def _last_super_admin(user: User) -> bool:
    return (
        user.role == Role.SUPER_ADMIN
        and user.is_active
        and not User.objects.filter(role=Role.SUPER_ADMIN, is_active=True).exclude(pk=user.pk).exists()
    )


# --- Users ------------------------------------------------------------------------------------


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
    country = _country_code(country)
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


def _country_code(value: str) -> str | None:
    """``value`` as an upper-case two-letter country code, "" for none, ``None`` when it is not one."""
    code = (value or "").strip().upper()
    return code if not code or COUNTRY_RE.match(code) else None


def _refuse_own_role_change(actor: User, user: User, role: str) -> None:
    if user.pk == actor.pk and role != user.role:
        raise PermissionRefused("You cannot change your own role; ask another admin.")


def _refuse_last_super_admin_demotion(user: User, role: str) -> None:
    if role != user.role and _last_super_admin(user):
        raise Conflict("This is the last active Super Admin; make someone else Super Admin first.")


def _user_insert(actor: User, user: User, *, extra_changes: dict | None = None) -> None:
    """Save a new person and write its ``user.created`` audit row."""
    user.save()
    audit_record(
        actor=actor, action="user.created", obj=user,
        changes=diff({}, snapshot(user, USER_AUDIT_FIELDS)) | (extra_changes or {}),
    )


def _user_save_changes(actor: User, user: User, before: dict, update_fields: list[str]) -> dict:
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
    _user_insert(actor, user)
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
    _refuse_own_role_change(actor, user, role)
    email, full_name, role, country = _clean_user_fields(
        email=email if email is not None else user.email, full_name=full_name, role=role,
        country=country, manager=manager, user=user,
    )
    _refuse_last_super_admin_demotion(user, role)
    before = snapshot(user, USER_AUDIT_FIELDS)
    user.email, user.full_name, user.role = email, full_name, role
    user.title, user.country, user.manager = (title or "").strip(), country, manager
    changes = _user_save_changes(actor, user, before, ["email", "full_name", "role", "title", "country", "manager"])
    if "email" in changes:
        _facts_changed(user, "e-mail changed")
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
    _facts_changed(user, "account reactivated")
    audit_record(
        actor=actor, action="user.reactivated", obj=user,
        changes={"is_active": {"old": False, "new": True}},
    )
    return user


def _refused_groups(actor: User, groups: list[Group], *, target_role: str) -> str:
    """Why ``actor`` may not put a person of ``target_role`` into all of ``groups`` ("" if they may)."""
    refused = []
    for group in groups:
        try:
            rights_check(actor, current_role=target_role, group=group)
        except PermissionRefused:
            refused.append(group.name)
    if not refused:
        return ""
    return (f"Your role ({actor.role_label}) cannot add people to groups ({', '.join(refused)}); "
            "an admin does that on the group's page.")


# --- CSV import -------------------------------------------------------------------------------

IMPORT_MAX_BYTES = 5 * 1024 * 1024
IMPORT_MAX_ROWS = 20000
IMPORT_COLUMNS = ("email", "full_name", "role", "title", "country", "manager_email", "groups")
REQUIRED_COLUMNS = ("email", "full_name")


@dataclass
class ImportRowError:
    line: int
    email: str
    column: str
    message: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def applied(self) -> int:
        return self.created + self.updated


def _role_from_cell(value: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return Role.EMPLOYEE
    for choice in Role:
        if value.lower() in (choice.value, choice.label.lower()):
            return choice.value
    return None


def _read_import_rows(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the non-blank rows (with their line numbers) of a CSV import, or
    ``ValidationFailed`` when the file as a whole cannot be read."""
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationFailed(f"The file is larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"The file is not UTF-8 text (byte {exc.start} cannot be read).")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise ValidationFailed("The file is empty: the first line must name the columns.")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationFailed(
            f"The header lacks the column(s) {', '.join(missing)}. "
            f"Known columns: {', '.join(IMPORT_COLUMNS)}."
        )
    unknown = [c for c in header if c not in IMPORT_COLUMNS]
    if unknown:
        raise ValidationFailed(
            f"Unknown column(s) {', '.join(unknown)}. Known columns: {', '.join(IMPORT_COLUMNS)}."
        )
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        if len(rows) >= IMPORT_MAX_ROWS:
            raise ValidationFailed(f"The file has more than {IMPORT_MAX_ROWS} rows; split it.")
        cells = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if any(cells.values()):
            rows.append((reader.line_num, cells))
    return header, rows


@dataclass
class _ImportState:
    """What checking and applying the rows of one import share: the header, the file's e-mails,
    the users the file names (rows and managers, read in one query) and every group by name."""

    header: list[str]
    file_emails: set[str]
    known: dict[str, User]
    groups: dict[str, Group]
    seen: set[str] = field(default_factory=set)


def _import_state(header: list[str], rows: list[tuple[int, dict[str, str]]]) -> _ImportState:
    file_emails = {normalize_email(r.get("email", "")) for _, r in rows}
    managers = {normalize_email(r.get("manager_email", "")) for _, r in rows} - {""}
    known = {u.email: u for u in User.objects.select_related("manager").filter(email__in=file_emails | managers)}
    return _ImportState(
        header=header, file_emails=file_emails, known=known,
        groups={g.name.lower(): g for g in Group.objects.all()},
    )


class _RowRejected(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


def _import_row_role(actor: User, cells: dict[str, str], current: User | None, state: _ImportState) -> tuple[str, str]:
    """The row's role cell and the role the person ends with (the current one when the file has
    no role column), checked against the rules ``user_update`` applies."""
    role = _role_from_cell(cells.get("role", ""))
    if role is None:
        raise _RowRejected("role", f"unknown role {cells['role']!r}; use one of {', '.join(Role.labels)}")
    new_role = role if "role" in state.header else (current.role if current else Role.EMPLOYEE)
    try:
        check_can_assign(actor, current_role=current.role if current else None, new_role=new_role)
        if current is not None:
            _refuse_own_role_change(actor, current, new_role)
            _refuse_last_super_admin_demotion(current, new_role)
    except (PermissionRefused, Conflict) as exc:
        raise _RowRejected("role", exc.message)
    return role, new_role


def _import_row_manager(cells: dict[str, str], email: str, state: _ImportState) -> str:
    manager_email = normalize_email(cells.get("manager_email", ""))
    if manager_email == email and manager_email:
        raise _RowRejected("manager_email", "a user cannot be their own manager")
    if manager_email and manager_email not in state.file_emails and manager_email not in state.known:
        raise _RowRejected("manager_email", f"no user {manager_email} exists or is in this file")
    return manager_email


def _import_row_groups(actor: User, cells: dict[str, str], new_role: str, state: _ImportState) -> list[Group]:
    names = [g.strip() for g in cells.get("groups", "").split(";") if g.strip()]
    unknown = [g for g in names if g.lower() not in state.groups]
    if unknown:
        raise _RowRejected("groups", f"unknown group(s): {', '.join(unknown)}; create them first")
    groups = [state.groups[g.lower()] for g in names]
    refused = _refused_groups(actor, groups, target_role=new_role)
    if refused:
        raise _RowRejected("groups", refused)
    return groups


def _import_row(actor: User, email: str, cells: dict[str, str], state: _ImportState) -> dict:
    """One row checked in column order, as the values to apply, or ``_RowRejected`` at the
    first problem."""
    try:
        validate_email(email)
    except ValidationError:
        raise _RowRejected("email", f"{email or 'empty'} is not a valid e-mail address")
    if email in state.seen:
        raise _RowRejected("email", "appears more than once in the file")
    state.seen.add(email)
    if not cells.get("full_name"):
        raise _RowRejected("full_name", "is required")
    role, new_role = _import_row_role(actor, cells, state.known.get(email), state)
    country = _country_code(cells.get("country", ""))
    if country is None:
        raise _RowRejected("country", f"{cells['country']!r} is not a two-letter ISO country code")
    manager_email = _import_row_manager(cells, email, state)
    groups = _import_row_groups(actor, cells, new_role, state)
    return {
        "email": email, "full_name": cells["full_name"], "role": role, "title": cells.get("title", ""),
        "country": country, "manager_email": manager_email, "groups": groups,
    }


def _import_create(actor: User, item: dict) -> User:
    user = User(
        email=item["email"], full_name=item["full_name"], role=item["role"],
        title=item["title"], country=item["country"], source=User.Source.IMPORT,
    )
    user.set_unusable_password()
    _user_insert(actor, user, extra_changes={"source": {"old": None, "new": "import"}})
    return user


def _import_update(actor: User, user: User, item: dict, header: list[str]) -> bool:
    """Apply the row's columns to an existing person; whether anything changed."""
    before = snapshot(user, USER_AUDIT_FIELDS)
    user.full_name = item["full_name"]
    for column in ("role", "title", "country"):
        if column in header:
            setattr(user, column, item[column])
    return bool(_user_save_changes(actor, user, before, ["full_name", "role", "title", "country"]))


def _import_link(actor: User, user: User, item: dict, known: dict[str, User]) -> None:
    """Set the row's manager and groups (once every row exists, so rows may name people further down)."""
    manager_email = item["manager_email"]
    manager = (known.get(manager_email) or User.objects.get(email=manager_email)) if manager_email else None
    if manager is not None and user.manager_id != manager.pk:
        old = str(user.manager) if user.manager_id else None
        user.manager = manager
        user.save(update_fields=["manager"])
        audit_record(
            actor=actor, action="user.updated", obj=user,
            changes={"manager": {"old": old, "new": str(manager)}},
        )
    for group in item["groups"]:
        group_membership_set(actor=actor, group=group, user=user)


@transaction.atomic
def _import_apply(actor: User, valid: list[dict], state: _ImportState, report: ImportReport) -> None:
    for item in valid:
        current = state.known.get(item["email"])
        if current is None:
            state.known[item["email"]] = _import_create(actor, item)
            report.created += 1
        elif _import_update(actor, current, item, state.header):
            report.updated += 1
        else:
            report.unchanged += 1
    for item in valid:
        _import_link(actor, state.known[item["email"]], item, state.known)
    audit_record(
        actor=actor, action="user.imported", object_type="accounts.user",
        object_repr=f"CSV import: {report.created} created, {report.updated} updated, "
        f"{len(report.errors)} rejected",
        changes={
            "created": report.created, "updated": report.updated,
            "unchanged": report.unchanged, "rejected": len(report.errors),
        },
    )


def _without_rejected_managers(checked: list[tuple[int, dict]], state: _ImportState,
                               report: ImportReport) -> list[dict]:
    """The good rows, less those whose manager exists only as a rejected row of the file (and,
    in turn, those who report to them): each is reported, naming the manager."""
    while True:
        emails = {item["email"] for _, item in checked}
        orphaned = [(line, item) for line, item in checked if item["manager_email"]
                    and item["manager_email"] not in emails and item["manager_email"] not in state.known]
        if not orphaned:
            return [item for _, item in checked]
        for line, item in orphaned:
            report.errors.append(ImportRowError(
                line, item["email"], "manager_email",
                f"{item['manager_email']} is not created: their own row was rejected"))
        dropped = {line for line, _ in orphaned}
        checked = [(line, item) for line, item in checked if line not in dropped]


def users_import_csv(*, actor: User, data: bytes, dry_run: bool = False) -> ImportReport:
    """Create or update users from CSV, keyed by e-mail.

    Each bad row is reported with its line number, column and reason, and skipped; the good
    rows are applied together in one transaction. A file that cannot be read at all (not UTF-8,
    no header, too large) raises ``ValidationFailed`` and changes nothing. The rows obey the
    rules of ``user_create`` and ``user_update``; the users the file names are read in one query."""
    require_role(actor, PEOPLE_WRITERS, "import users")
    header, rows = _read_import_rows(data)
    state = _import_state(header, rows)
    report = ImportReport(dry_run=dry_run)
    checked: list[tuple[int, dict]] = []
    for line, cells in rows:
        email = normalize_email(cells.get("email", ""))
        try:
            checked.append((line, _import_row(actor, email, cells, state)))
        except _RowRejected as exc:
            report.errors.append(ImportRowError(line, email, exc.column, exc.message))
    valid = _without_rejected_managers(checked, state, report)
    report.errors.sort(key=lambda error: error.line)
    if dry_run:
        report.created = sum(1 for item in valid if item["email"] not in state.known)
        report.updated = len(valid) - report.created
        return report
    _import_apply(actor, valid, state, report)
    return report


# --- Groups -----------------------------------------------------------------------------------


def _clean_group_name(name: str, *, group: Group | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("A group name is required.", field="name")
    require_free_name(Group.objects, name, f"A group named {name} already exists.", instance=group)
    return name


@transaction.atomic
def group_create(*, actor: User, name: str, description: str = "") -> Group:
    require_role(actor, ADMINS, "create groups")
    group = Group.objects.create(
        name=_clean_group_name(name, group=None), description=(description or "").strip()
    )
    audit_record(
        actor=actor, action="group.created", obj=group,
        changes=diff({}, snapshot(group, ("name", "description"))),
    )
    return group


@transaction.atomic
def group_update(*, actor: User, group: Group, name: str, description: str = "") -> Group:
    require_role(actor, ADMINS, "change groups")
    group = Group.objects.select_for_update().get(pk=group.pk)
    before = snapshot(group, ("name", "description"))
    group.name = _clean_group_name(name, group=group)
    group.description = (description or "").strip()
    changes = diff(before, snapshot(group, ("name", "description")))
    if not changes:
        return group
    group.save(update_fields=["name", "description", "updated_at"])
    audit_record(actor=actor, action="group.updated", obj=group, changes=changes)
    return group


@transaction.atomic
def group_delete(*, actor: User, group: Group) -> None:
    require_role(actor, ADMINS, "delete groups")
    members = group.memberships.count()
    for membership in group.memberships.select_related("user"):
        _facts_changed(membership.user, f"group {group.name} deleted")
    audit_record(
        actor=actor, action="group.deleted", obj=group,
        changes={"name": {"old": group.name, "new": None}, "members": {"old": members, "new": 0}},
    )
    group.delete()


def _facts_changed(user: User, reason: str) -> None:
    facts_changed_later(user.pk, reason)


@transaction.atomic
def group_membership_set(
    *,
    actor: User | None,
    group: Group,
    user: User,
    member: bool = True,
    on_behalf_of: User | None = None,
    system_reason: str = "",
) -> bool:
    """The only writer of group memberships: put ``user`` into ``group`` (``member=False``: take
    them out). Returns False when nothing changed (nothing is written then).

    ``actor`` is the person making the change; their rights are checked (``rights_check``). The
    system acts with ``actor=None``: either for someone's earlier decision, ``on_behalf_of``
    (the HR or admin who opened an onboarding case), whose rights are checked now, or as an
    operator's command, ``system_reason`` (the demo). Every change writes an audit row."""
    deciding = actor if actor is not None else on_behalf_of
    if deciding is None and not system_reason:
        raise PermissionRefused("A group membership change needs a person allowed to make it.")
    if deciding is not None:
        rights_check(deciding, current_role=user.role, group=group, removing=not member)
    if member:
        _, changed = GroupMembership.objects.get_or_create(group=group, user=user)
    else:
        changed = bool(GroupMembership.objects.filter(group=group, user=user).delete()[0])
    if not changed:
        return False
    _facts_changed(user, f"{'added to' if member else 'removed from'} group {group.name}")
    changes: dict = {"member": {"old": None, "new": user.email} if member else {"old": user.email, "new": None}}
    if actor is None and on_behalf_of is not None:
        changes["on_behalf_of"] = on_behalf_of.email
    if deciding is None:
        changes["reason"] = system_reason
    audit_record(
        actor=actor, action="group.member_added" if member else "group.member_removed", obj=group, changes=changes,
    )
    return True


def group_add_member(*, actor: User, group: Group, user: User) -> bool:
    """Returns False when the user was already a member (nothing is written)."""
    return group_membership_set(actor=actor, group=group, user=user, member=True)


def group_remove_member(*, actor: User, group: Group, user: User) -> bool:
    return group_membership_set(actor=actor, group=group, user=user, member=False)


# --- Identity providers -----------------------------------------------------------------------

IDP_AUDIT_FIELDS = (
    "name", "kind", "issuer", "client_id", "client_secret", "scopes", "email_claim",
    "verified_claim", "assurance_claim", "assurance_levels", "min_assurance_level",
    "enabled", "create_users", "allowed_domains", "allowed_emails", "barred_roles",
)
# What decides whom a primary provider signs in: changing any of these (or switching one on) on a
# primary provider is a Super Admin action, and every Super Admin is told.
IDP_TRUST_FIELDS = (
    "kind", "issuer", "client_id", "email_claim", "create_users", "allowed_domains", "allowed_emails",
    "barred_roles",
)
CLAIM_RE = re.compile(r"^[A-Za-z0-9_:/.\-]{1,128}$")
DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
BARRABLE_ROLES = (Role.SUPER_ADMIN, Role.SECURITY_ADMIN, Role.HR, Role.AUDITOR)


def _clean_bindings(
    *, allowed_domains: list[str] | str, allowed_emails: list[str] | str, barred_roles: list[str]
) -> tuple[list[str], list[str], list[str]]:
    domains = idp_trust.normalized_domains(allowed_domains)
    bad = [d for d in domains if not DOMAIN_RE.match(d)]
    if bad:
        raise ValidationFailed(f"Not an e-mail domain: {', '.join(bad)} (write e.g. corp.example).",
                               field="allowed_domains")
    emails = idp_trust.normalized_emails(allowed_emails)
    for email in emails:
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationFailed(f"{email} is not a valid e-mail address.", field="allowed_emails")
    unknown = [r for r in barred_roles if r not in BARRABLE_ROLES]
    if unknown:
        raise ValidationFailed(f"Cannot bar the role(s) {', '.join(unknown)}.", field="barred_roles")
    roles = [r.value for r in BARRABLE_ROLES if r in barred_roles]
    return domains, emails, roles


def _require_trust_change(actor: User, what: str) -> None:
    if actor.role != Role.SUPER_ADMIN:
        raise PermissionRefused(
            f"Only a Super Admin can {what}: it decides who may sign in to the console."
        )


def _notify_super_admins_later(*, actor: User, idp: IdentityProvider, event: str, changes: dict) -> None:
    transaction.on_commit(lambda: _notify_super_admins(actor_email=actor.email, idp_id=idp.pk,
                                                       event=event, changes=changes))


def _notify_super_admins(*, actor_email: str, idp_id: int, event: str, changes: dict) -> None:
    """After commit: an e-mail to every active Super Admin (the Outbox in the embedded default)
    saying who changed whom a sign-in provider trusts. A mail failure is logged and audited."""

    idp = IdentityProvider.objects.filter(pk=idp_id).first()
    recipients = list(User.objects.filter(role=Role.SUPER_ADMIN, is_active=True)
                      .order_by("email").values_list("email", flat=True))
    if idp is None or not recipients:
        return
    lines = []
    for name, change in changes.items():
        if name == "client_secret":
            continue
        lines.append(f"  {name}: {change.get('old')!r} -> {change.get('new')!r}")
    body = (
        f"{actor_email} {event} the sign-in identity provider {idp.name} ({idp.issuer}).\n\n"
        f"It may sign in people with e-mails in: {', '.join(idp.allowed_domains) or 'no domain'}"
        f"{'; and ' + ', '.join(idp.allowed_emails) if idp.allowed_emails else ''}.\n"
        f"Roles barred from signing in through it: "
        f"{', '.join(idp.barred_role_labels) or 'none'}.\n\n"
        "Changes:\n" + ("\n".join(lines) or "  (none)") + "\n\n"
        f"Review it: {settings.CONSOLE_URL.rstrip('/')}/accounts/identity-providers/{idp.pk}/\n"
        "If you did not expect this change, disable the provider and review the audit trail.\n"
    )
    message = EmailMessage(
        subject=f"Identity provider {idp.name}: sign-in trust changed", body=body,
        from_email=settings.DEFAULT_FROM_EMAIL, to=recipients,
    )
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any mail failure is recorded the same way
        log.warning("Identity provider notice for %s failed: %s", idp.slug, exc)
        audit_record(actor=None, action="idp.notice_failed", obj=idp,
                     changes={"to": recipients, "error": exc.__class__.__name__})
        return
    audit_record(actor=None, action="idp.notice_sent", obj=idp, changes={"to": recipients, "event": event})


def _clean_claim_mapping(
    *, kind: str, verified_claim: str, assurance_claim: str, assurance_levels: str, min_assurance_level: str
) -> tuple[str, str, str, str]:
    """The claim mapping of a verification provider: claim names (dotted paths allowed), the
    ordered levels and the minimum, which must be one of them (or a number when they are)."""
    verified_claim, assurance_claim = (verified_claim or "").strip(), (assurance_claim or "").strip()
    levels = " ".join((assurance_levels or "").replace(",", " ").split())
    minimum = (min_assurance_level or "").strip()
    if kind != IdentityProvider.Kind.VERIFICATION:
        return verified_claim or "identity_verified", assurance_claim, levels or "low medium high", minimum
    if not CLAIM_RE.match(verified_claim):
        raise ValidationFailed("Name the claim that says the person was verified (e.g. identity_verified).",
                               field="verified_claim")
    if assurance_claim and not CLAIM_RE.match(assurance_claim):
        raise ValidationFailed(f"{assurance_claim!r} is not a claim name.", field="assurance_claim")
    if assurance_claim:
        if not minimum:
            raise ValidationFailed("Pick the minimum level accepted.", field="min_assurance_level")

        if level_rank(minimum, levels.split()) is None:
            raise ValidationFailed(
                f"{minimum} is not one of the levels ({levels or 'none given'}).", field="min_assurance_level"
            )
    return verified_claim, assurance_claim, levels or "low medium high", minimum


def _refuse_development_provider(idp: IdentityProvider) -> None:
    if idp.development_only and not settings.DEV_VERIFICATION_PROVIDER:
        raise ValidationFailed(
            "This provider says it is for development only (its discovery document); it cannot be used here.",
            field="issuer",
        )


def _unique_slug(name: str, *, idp: IdentityProvider | None) -> str:
    base = slugify(name)[:50] or "provider"
    slug, n = base, 2
    others = IdentityProvider.objects.all() if idp is None else IdentityProvider.objects.exclude(pk=idp.pk)
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _validate_idp(*, name: str, issuer: str, client_id: str, scopes: str, idp: IdentityProvider | None) -> None:
    if not name.strip():
        raise ValidationFailed("A name is required.", field="name")
    require_free_name(IdentityProvider.objects, name.strip(),
                      f"An identity provider named {name.strip()} already exists.", instance=idp)
    if not client_id.strip():
        raise ValidationFailed("A client id is required.", field="client_id")
    if "openid" not in scopes.split():
        raise ValidationFailed("Scopes must include openid.", field="scopes")
    provider_urls.clean_issuer(issuer)


def _apply_discovery(idp: IdentityProvider) -> None:
    document = oidc.discover(idp.issuer)
    idp.authorization_endpoint = document["authorization_endpoint"]
    idp.token_endpoint = document["token_endpoint"]
    idp.userinfo_endpoint = document.get("userinfo_endpoint", "")
    idp.jwks_uri = document["jwks_uri"]
    idp.development_only = document.get("x_development_only") is True
    idp.discovered_at = timezone.now()
    _refuse_development_provider(idp)


@transaction.atomic
def idp_create(
    *,
    actor: User,
    name: str,
    kind: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    scopes: str = "openid email profile",
    email_claim: str = "email",
    enabled: bool = True,
    create_users: bool = False,
    verified_claim: str = "identity_verified",
    assurance_claim: str = "verification_level",
    assurance_levels: str = "low medium high",
    min_assurance_level: str = "high",
    allowed_domains: list[str] | str = (),
    allowed_emails: list[str] | str = (),
    barred_roles: list[str] | None = None,
) -> IdentityProvider:
    """Discovery is fetched before saving: a provider whose issuer does not answer is refused
    with the reason. A primary (sign-in) provider is a Super Admin's to add, must be bound to at
    least one e-mail domain or person, and every Super Admin is told of it."""
    require_role(actor, ADMINS, "configure identity providers")
    primary = kind == IdentityProvider.Kind.PRIMARY
    if primary:
        _require_trust_change(actor, "add a sign-in (primary) identity provider")
    issuer = issuer.strip().rstrip("/")
    _validate_idp(name=name, issuer=issuer, client_id=client_id, scopes=scopes, idp=None)
    # Trust bindings are about signing in: a verification provider keeps the safe defaults.
    domains, emails, roles = _clean_bindings(
        allowed_domains=(allowed_domains or []) if primary else [],
        allowed_emails=(allowed_emails or []) if primary else [],
        barred_roles=default_barred_roles() if barred_roles is None or not primary else barred_roles,
    )
    if primary and not (domains or emails):
        raise ValidationFailed(
            "Bind the provider to at least one e-mail domain (or person): it may sign in no one else.",
            field="allowed_domains",
        )
    if not client_secret:
        raise ValidationFailed("A client secret is required.", field="client_secret")
    verified_claim, assurance_claim, assurance_levels, min_assurance_level = _clean_claim_mapping(
        kind=kind, verified_claim=verified_claim, assurance_claim=assurance_claim,
        assurance_levels=assurance_levels, min_assurance_level=min_assurance_level,
    )
    idp = IdentityProvider(
        name=name.strip(), kind=kind, issuer=issuer, client_id=client_id.strip(),
        client_secret=client_secret, scopes=" ".join(scopes.split()),
        email_claim=email_claim.strip() or "email", enabled=enabled, create_users=create_users,
        verified_claim=verified_claim, assurance_claim=assurance_claim, assurance_levels=assurance_levels,
        min_assurance_level=min_assurance_level, allowed_domains=domains, allowed_emails=emails,
        barred_roles=roles,
    )
    idp.slug = _unique_slug(idp.name, idp=None)
    _apply_discovery(idp)
    idp.save()
    changes = diff({}, snapshot(idp, IDP_AUDIT_FIELDS), secrets=("client_secret",))
    audit_record(actor=actor, action="idp.created", obj=idp, changes=changes)
    if idp.kind == IdentityProvider.Kind.PRIMARY:
        _notify_super_admins_later(actor=actor, idp=idp, event="added", changes=changes)
    return idp


@transaction.atomic
def idp_update(
    *,
    actor: User,
    idp: IdentityProvider,
    name: str,
    kind: str,
    issuer: str,
    client_id: str,
    client_secret: str = "",
    scopes: str = "openid email profile",
    email_claim: str = "email",
    enabled: bool = True,
    create_users: bool = False,
    verified_claim: str = "identity_verified",
    assurance_claim: str = "verification_level",
    assurance_levels: str = "low medium high",
    min_assurance_level: str = "high",
    allowed_domains: list[str] | str | None = None,
    allowed_emails: list[str] | str | None = None,
    barred_roles: list[str] | None = None,
) -> IdentityProvider:
    """An empty ``client_secret`` keeps the stored one (it is never shown back); trust bindings
    left as ``None`` keep theirs. On a primary provider (before or after the change), changing
    what it is trusted for (``IDP_TRUST_FIELDS``) or switching it on is a Super Admin action and
    every Super Admin is told; anyone who configures providers may rename it, change its scopes,
    rotate its secret or switch it off."""
    require_role(actor, ADMINS, "configure identity providers")
    idp = IdentityProvider.objects.select_for_update().get(pk=idp.pk)
    issuer = issuer.strip().rstrip("/")
    _validate_idp(name=name, issuer=issuer, client_id=client_id, scopes=scopes, idp=idp)
    before = snapshot(idp, IDP_AUDIT_FIELDS)
    was_primary = idp.kind == IdentityProvider.Kind.PRIMARY
    if kind != IdentityProvider.Kind.PRIMARY:
        # Trust bindings are about signing in: a verification provider keeps the ones it has.
        allowed_domains = allowed_emails = barred_roles = None
    (idp.allowed_domains, idp.allowed_emails, idp.barred_roles) = _clean_bindings(
        allowed_domains=idp.allowed_domains if allowed_domains is None else allowed_domains,
        allowed_emails=idp.allowed_emails if allowed_emails is None else allowed_emails,
        barred_roles=idp.barred_roles if barred_roles is None else barred_roles,
    )
    idp.name, idp.kind, idp.client_id = name.strip(), kind, client_id.strip()
    idp.scopes, idp.email_claim = " ".join(scopes.split()), email_claim.strip() or "email"
    idp.enabled, idp.create_users = enabled, create_users
    (idp.verified_claim, idp.assurance_claim, idp.assurance_levels,
     idp.min_assurance_level) = _clean_claim_mapping(
        kind=kind, verified_claim=verified_claim, assurance_claim=assurance_claim,
        assurance_levels=assurance_levels, min_assurance_level=min_assurance_level,
    )
    if client_secret:
        idp.client_secret = client_secret
    rediscover = issuer != idp.issuer or not idp.discovered_at
    idp.issuer = issuer
    is_primary = idp.kind == IdentityProvider.Kind.PRIMARY
    # Decided before discovery, so that a refused change never makes the console call the issuer.
    planned = diff(before, snapshot(idp, IDP_AUDIT_FIELDS))
    trust_changed = any(f in planned for f in IDP_TRUST_FIELDS) or ("enabled" in planned and idp.enabled)
    if (was_primary or is_primary) and trust_changed:
        _require_trust_change(actor, "change whom a sign-in (primary) identity provider is trusted for")
    if rediscover:
        _apply_discovery(idp)
    after = snapshot(idp, IDP_AUDIT_FIELDS)
    changes = diff(before, after, secrets=("client_secret",))
    if client_secret and "client_secret" not in changes:
        changes["client_secret"] = {"old": "[secret]", "new": "[secret replaced]"}
    if not changes:
        return idp
    if is_primary and not idp.has_bindings:
        raise ValidationFailed(
            "Bind the provider to at least one e-mail domain (or person): it may sign in no one else.",
            field="allowed_domains",
        )
    idp.save()
    audit_record(actor=actor, action="idp.updated", obj=idp, changes=changes)
    if (was_primary or is_primary) and trust_changed:
        event = "made primary" if is_primary and not was_primary else "changed the trust of"
        _notify_super_admins_later(actor=actor, idp=idp, event=event, changes=changes)
    return idp


@transaction.atomic
def idp_link_create(
    *, actor: User | None, provider: IdentityProvider, user: User, subject: str, proof: str
) -> IdentityProviderLink:
    """Link ``subject`` at ``provider`` to ``user``, after the person proved it is them (``actor``
    is that person) or because the provider itself created the account (``actor`` None)."""
    if actor is not None and actor.pk != user.pk:
        raise PermissionRefused("Only the person themselves can link an identity provider to their account.")
    if proof not in IdentityProviderLink.Proof.values:
        raise ValidationFailed(f"Unknown proof {proof!r}.")
    user = User.objects.select_for_update().get(pk=user.pk)
    try:
        idp_trust.check_account(provider, user)
    except idp_trust.SignInRefused as exc:
        raise PermissionRefused(exc.message[:1].upper() + exc.message[1:] + ".")
    if IdentityProviderLink.objects.filter(provider=provider, subject=subject).exists():
        raise Conflict(f"This {provider.name} identity is already linked to an account.")
    if IdentityProviderLink.objects.filter(provider=provider, user=user).exists():
        raise Conflict(f"Your account is already linked to another {provider.name} identity.")
    link = IdentityProviderLink.objects.create(provider=provider, user=user, subject=subject, proof=proof)
    audit_record(
        actor=actor, action="idp.link_created", obj=user,
        changes={"provider": provider.slug, "subject": subject, "proof": proof},
    )
    return link


@transaction.atomic
def idp_link_delete(*, actor: User, link: IdentityProviderLink) -> None:
    """Forget a link (the person links again, with proof, at their next sign-in through it)."""
    _require_trust_change(actor, "remove the link between an identity provider and an account")
    audit_record(
        actor=actor, action="idp.link_deleted", obj=link.user,
        changes={"provider": link.provider.slug, "subject": link.subject},
    )
    link.delete()


@transaction.atomic
def idp_delete(*, actor: User, idp: IdentityProvider) -> None:
    require_role(actor, ADMINS, "delete identity providers")
    audit_record(
        actor=actor, action="idp.deleted", obj=idp,
        changes={"name": {"old": idp.name, "new": None}, "issuer": {"old": idp.issuer, "new": None}},
    )
    idp.delete()


@transaction.atomic
def idp_refresh_discovery(*, actor: User, idp: IdentityProvider) -> IdentityProvider:
    require_role(actor, ADMINS, "configure identity providers")
    idp = IdentityProvider.objects.select_for_update().get(pk=idp.pk)
    before = snapshot(idp, ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"))
    _apply_discovery(idp)
    idp.save(update_fields=[
        "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
        "development_only", "discovered_at", "updated_at",
    ])
    changes = diff(before, snapshot(idp, before.keys()))
    audit_record(actor=actor, action="idp.discovery_refreshed", obj=idp, changes=changes)
    return idp


@transaction.atomic
def user_unlock(*, actor: User, user: User) -> int:
    """Clear django-axes lockouts for the user's e-mail; returns how many records were cleared."""
    require_role(actor, ADMINS, "clear sign-in lockouts")
    check_rank(actor, target_role=user.role, what="clear the sign-in lockout of")

    attempts = AccessAttempt.objects.filter(username=user.email)
    # So that a new lockout after this one is recorded as a lockout again.
    cache.delete_many([f"lockout-audited:{user.email}:{a.ip_address}" for a in attempts])
    cleared, _ = attempts.delete()
    if cleared:
        audit_record(actor=actor, action="user.unlocked", obj=user, changes={"lockouts_cleared": cleared})
    return cleared


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
    user.save()
    audit_record(
        actor=None, action="user.created", obj=user,
        changes=diff({}, snapshot(user, USER_AUDIT_FIELDS)) | {"source": {"old": None, "new": f"onboarding:{case_id}"}},
    )
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


def console_sessions_end(*, user: User) -> int:
    """Sign the person out of the console everywhere (their browser sessions), e.g. when their
    account is confirmed compromised. Returns how many sessions ended. Callers audit the reason."""

    ended = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=2000):
        if str(session.get_decoded().get(SESSION_KEY, "")) == str(user.pk):
            ended.append(session.pk)
    if ended:
        Session.objects.filter(pk__in=ended).delete()
    return len(ended)
