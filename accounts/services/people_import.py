"""The CSV import of people: every row checked with the rules of ``user_create`` and
``user_update``, the good rows applied together in one transaction."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import Group, User, normalize_email
from accounts.services.groups import group_membership_set
from accounts.services.people import (
    USER_AUDIT_FIELDS,
    country_code,
    refuse_last_super_admin_demotion,
    refuse_own_role_change,
    user_insert,
    user_save_changes,
)
from accounts.services.rights import check_can_assign, rights_check
from console.audit.services import audit_record, snapshot
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from console.core.permissions import require_role
from console.core.roles import PEOPLE_WRITERS, Role

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
            refuse_own_role_change(actor, current, new_role)
            refuse_last_super_admin_demotion(current, new_role)
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
    country = country_code(cells.get("country", ""))
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
    user_insert(actor, user, extra_changes={"source": {"old": None, "new": "import"}})
    return user


def _import_update(actor: User, user: User, item: dict, header: list[str]) -> bool:
    """Apply the row's columns to an existing person; whether anything changed."""
    before = snapshot(user, USER_AUDIT_FIELDS)
    user.full_name = item["full_name"]
    for column in ("role", "title", "country"):
        if column in header:
            setattr(user, column, item[column])
    return bool(user_save_changes(actor, user, before, ["full_name", "role", "title", "country"]))


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
