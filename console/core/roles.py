"""The five roles and the role sets views and services check against."""

from django.db import models


class Role(models.TextChoices):
    SUPER_ADMIN = "super_admin", "Super Admin"
    SECURITY_ADMIN = "security_admin", "Security Admin"
    HR = "hr", "HR"
    AUDITOR = "auditor", "Auditor"
    EMPLOYEE = "employee", "Employee"


ADMINS = frozenset({Role.SUPER_ADMIN, Role.SECURITY_ADMIN})
# Read-only access to every console page: admins and auditors.
CONSOLE_READERS = ADMINS | {Role.AUDITOR}
# The people directory is also HR's.
PEOPLE_READERS = CONSOLE_READERS | {Role.HR}
PEOPLE_WRITERS = ADMINS | {Role.HR}
EVERYONE = frozenset(Role)

ROLE_DESCRIPTIONS = {
    Role.SUPER_ADMIN: "Everything, including granting admin roles and identity providers.",
    Role.SECURITY_ADMIN: "Configures security features and manages people; cannot touch Super Admins.",
    Role.HR: "Manages employees and onboarding; cannot grant roles.",
    Role.AUDITOR: "Reads everything, changes nothing.",
    Role.EMPLOYEE: "The App Launcher only.",
}
