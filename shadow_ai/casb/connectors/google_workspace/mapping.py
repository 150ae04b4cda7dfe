"""Google Workspace users, OAuth tokens, Drive file permissions, calendar ACLs and mail delegates →
finding instances."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shadow_ai.casb.connectors.base import AppSighting, Observation, parse_time
from shadow_ai.casb.connectors.mailtypes import mail_types
from shadow_ai.casb.findings import FindingType, Severity

V = "Google Workspace"


def _t(key: str, title: str, severity: Severity, remediation: str, asset_kind: str, *, app: bool = False):
    return FindingType(f"google_workspace.{key}", V, f"Google Workspace: {title}", severity, remediation, asset_kind,
                       True, app)


ADMIN_2FA = _t("admin_2fa_disabled", "Admin user with 2FA disabled", Severity.CRITICAL,
               "Enroll the admin in 2-Step Verification today and enforce it for admin organizational units "
               "(Admin console › Security › 2-Step Verification); prefer security keys for admins.", "User")
USER_2FA = _t("user_2fa_disabled", "User with 2FA disabled", Severity.HIGH,
              "Enforce 2-Step Verification for the user's organizational unit and ask the user to enroll.", "User")
NO_RECOVERY_EMAIL = _t("no_recovery_email", "User without recovery email", Severity.LOW,
                       "Ask the user to add a recovery e-mail so they can regain access without an admin.", "User")
NO_RECOVERY_PHONE = _t("no_recovery_phone", "User without recovery phone number", Severity.LOW,
                       "Ask the user to add a recovery phone number.", "User")
INACTIVE_ADMIN = _t("inactive_admin", "Inactive admin user", Severity.MEDIUM,
                    "Remove admin privileges from accounts that have not signed in for 30 days, or suspend them.",
                    "User")
SUSPENDED_ADMIN = _t("suspended_admin", "Suspended admin user", Severity.MEDIUM,
                     "Remove the admin role from the suspended account, or delete the account.", "User")
INACTIVE_USER = _t("inactive_user", "Inactive user", Severity.LOW,
                   "Suspend or delete accounts nobody has signed in to for 30 days.", "User")
SUSPENDED_USER = _t("suspended_user", "Suspended user", Severity.LOW,
                    "Delete suspended accounts that are no longer needed (transfer their data first).", "User")
_APP_FIX = ("Review the application: if it is not approved, remove its access (Admin console › Security › API controls "
            "› Manage third-party app access) and block it; if it is, mark it trusted and limit it to the scopes it "
            "needs.")
APP_DRIVE = _t("app_drive", "Installed 3rd-party app with Drive access", Severity.HIGH, _APP_FIX, "OAuth grant",
               app=True)
APP_GMAIL = _t("app_gmail", "Installed 3rd-party app with Gmail access", Severity.HIGH, _APP_FIX, "OAuth grant",
               app=True)
APP_DOCS = _t("app_docs", "Installed 3rd-party app with Google Docs access", Severity.MEDIUM, _APP_FIX,
              "OAuth grant", app=True)
APP_CALENDAR = _t("app_calendar", "Installed 3rd-party app with Google Calendar access", Severity.MEDIUM, _APP_FIX,
                  "OAuth grant", app=True)
APP_SLIDES = _t("app_slides", "Installed 3rd-party app with Google Slides access", Severity.MEDIUM, _APP_FIX,
                "OAuth grant", app=True)
APP_SHEETS = _t("app_sheets", "Installed 3rd-party app with Google Sheets access", Severity.MEDIUM, _APP_FIX,
                "OAuth grant", app=True)
APP_SIGN_IN = _t("app_sign_in", "Installed 3rd-party app with Google Sign In access", Severity.LOW,
                 "Sign-in only shares the user's name and e-mail address; review whether the application is one "
                 "people should use with their work account.", "OAuth grant", app=True)

_PUBLIC_FIX = ("Open the file's Share dialog and change General access from “Anyone with the link” to Restricted or "
               "to the organization; to stop it happening again, limit sharing outside the organization (Admin "
               "console › Apps › Google Workspace › Drive and Docs › Sharing settings).")
_EXTERNAL_FIX = ("Check that the outside people, groups or domains still need the file; remove the ones that do not "
                 "(Share dialog), or allow outside sharing only to trusted domains (Drive and Docs › Sharing "
                 "settings › Allowlisted domains).")
_DOMAIN_FIX = ("Check that everyone in the organization should see the file; otherwise share it with the people or "
               "groups who need it instead of the whole organization.")
FILE_PUBLIC_EDIT = _t("file_public_edit", "File publicly accessible with edit access", Severity.CRITICAL,
                      "Anyone with the link can change or delete this file's content. " + _PUBLIC_FIX, "File")
FILE_PUBLIC_VIEW = _t("file_public_view", "File publicly accessible with view access", Severity.HIGH,
                      "Anyone with the link can read this file. " + _PUBLIC_FIX, "File")
FILE_EXTERNAL_EDIT = _t("file_external_edit", "File shared outside company with edit access", Severity.HIGH,
                        "People outside the organization can edit this file. " + _EXTERNAL_FIX, "File")
FILE_EXTERNAL_VIEW = _t("file_external_view", "File shared outside company with view access", Severity.MEDIUM,
                        "People outside the organization can read this file. " + _EXTERNAL_FIX, "File")
FILE_DOMAIN_EDIT = _t("file_domain_edit", "File shared company-wide with edit access", Severity.MEDIUM,
                      "Everyone in the organization can edit this file. " + _DOMAIN_FIX, "File")
FILE_DOMAIN_VIEW = _t("file_domain_view", "File shared company-wide with view access", Severity.MEDIUM,
                      "Everyone in the organization can read this file. " + _DOMAIN_FIX, "File")
_DLP = ("It contains data your DLP profiles flag (see the matches): take that data out of the file, or narrow its "
        "sharing. ")


def _dlp(key: str, title: str, severity: Severity, who: str, fix: str) -> FindingType:
    return _t(key, f"{title} with DLP Profile match", severity, f"{who} {_DLP}{fix}", "File")


DLP_PUBLIC_EDIT = _dlp("file_public_edit_dlp", "File publicly accessible with edit access", Severity.CRITICAL,
                       "Anyone with the link can read and change this file.", _PUBLIC_FIX)
DLP_PUBLIC_VIEW = _dlp("file_public_view_dlp", "File publicly accessible with view access", Severity.HIGH,
                       "Anyone with the link can read this file.", _PUBLIC_FIX)
DLP_EXTERNAL_EDIT = _dlp("file_external_edit_dlp", "File shared outside company with edit access", Severity.HIGH,
                         "People outside the organization can read and edit this file.", _EXTERNAL_FIX)
DLP_DOMAIN_EDIT = _dlp("file_domain_edit_dlp", "File shared company-wide with edit access", Severity.MEDIUM,
                       "Everyone in the organization can read and edit this file.", _DOMAIN_FIX)
DLP_DOMAIN_VIEW = _dlp("file_domain_view_dlp", "File shared company-wide with view access", Severity.MEDIUM,
                       "Everyone in the organization can read this file.", _DOMAIN_FIX)
DLP_EXTERNAL_VIEW = _dlp("file_external_view_dlp", "File shared outside company with view access", Severity.MEDIUM,
                         "People outside the organization can read this file.", _EXTERNAL_FIX)
CALENDAR_PUBLIC = _t("calendar_public", "Calendar is publicly accessible", Severity.MEDIUM,
                     "Ask the user to turn off “Make available to public” in the calendar's Settings › Access "
                     "permissions for events, and limit external calendar sharing (Admin console › Apps › Google "
                     "Workspace › Calendar › Sharing settings).", "Calendar")
MAIL_DELEGATE = _t("mail_delegation", "User delegates email access", Severity.HIGH,
                   "Check with the user that the delegate still needs to read, send and delete their mail; remove "
                   "the delegate otherwise (Gmail settings › Accounts › Grant access to your account, or the user's "
                   "page in the Admin console).", "Mailbox")

USER_TYPES = (ADMIN_2FA, USER_2FA, NO_RECOVERY_EMAIL, NO_RECOVERY_PHONE, INACTIVE_ADMIN, SUSPENDED_ADMIN,
              INACTIVE_USER, SUSPENDED_USER)
APP_TYPES = (APP_DRIVE, APP_GMAIL, APP_DOCS, APP_CALENDAR, APP_SLIDES, APP_SHEETS, APP_SIGN_IN)
FILE_TYPES = (FILE_PUBLIC_EDIT, FILE_PUBLIC_VIEW, FILE_EXTERNAL_EDIT, FILE_EXTERNAL_VIEW, FILE_DOMAIN_EDIT,
              FILE_DOMAIN_VIEW)
DLP_TYPES = (DLP_PUBLIC_EDIT, DLP_PUBLIC_VIEW, DLP_EXTERNAL_EDIT, DLP_DOMAIN_EDIT, DLP_DOMAIN_VIEW, DLP_EXTERNAL_VIEW)
TYPES = USER_TYPES + APP_TYPES + FILE_TYPES + DLP_TYPES + (CALENDAR_PUBLIC, MAIL_DELEGATE)

# Drive roles: these can change the file (or its folder's content); reader and commenter only see it.
EDIT_ROLES = {"owner", "organizer", "fileOrganizer", "writer"}
VIEW_ROLES = {"reader", "commenter"}
_FILE_KINDS = {  # audience → (edit type, view type)
    "public": (FILE_PUBLIC_EDIT, FILE_PUBLIC_VIEW),
    "outside": (FILE_EXTERNAL_EDIT, FILE_EXTERNAL_VIEW),
    "company": (FILE_DOMAIN_EDIT, FILE_DOMAIN_VIEW),
}

#: A sharing finding type → the same audience and access with a DLP profile match.
DLP_OF = {FILE_PUBLIC_EDIT.key: DLP_PUBLIC_EDIT, FILE_PUBLIC_VIEW.key: DLP_PUBLIC_VIEW,
          FILE_EXTERNAL_EDIT.key: DLP_EXTERNAL_EDIT, FILE_EXTERNAL_VIEW.key: DLP_EXTERNAL_VIEW,
          FILE_DOMAIN_EDIT.key: DLP_DOMAIN_EDIT, FILE_DOMAIN_VIEW.key: DLP_DOMAIN_VIEW}
# Google Docs editors files and the text formats they are exported as for DLP (a spreadsheet's CSV
# export holds its first sheet only — Google's rule).
GOOGLE_APPS = "application/vnd.google-apps."
EXPORT_AS = {GOOGLE_APPS + "document": "text/plain", GOOGLE_APPS + "presentation": "text/plain",
             GOOGLE_APPS + "spreadsheet": "text/csv"}
_TEXT_TYPES = {"application/json", "application/ld+json", "application/x-ndjson", "application/xml",
               "application/csv", "application/x-yaml", "application/yaml", "application/javascript",
               "application/x-javascript", "application/typescript", "application/sql", "application/x-sql",
               "application/x-sh", "application/x-httpd-php", "application/x-python", "application/toml",
               "application/rtf", "application/x-tex", "application/graphql", "application/x-www-form-urlencoded"}

SCOPE = "https://www.googleapis.com/auth/"
SIGN_IN_SCOPES = {"openid", "email", "profile", SCOPE + "userinfo.email", SCOPE + "userinfo.profile",
                  SCOPE + "plus.me"}
NEVER = datetime(1971, 1, 1, tzinfo=UTC)


def scope_categories(scopes: Iterable[str]) -> list[FindingType]:
    """Which access a token's scopes give, most severe first; sign-in only when nothing else."""
    found: list[FindingType] = []
    scopes = [str(s) for s in scopes]

    def has(*prefixes: str) -> bool:
        return any(s == p or s.startswith(p) for s in scopes for p in prefixes)

    if has(SCOPE + "drive"):
        found.append(APP_DRIVE)
    if has("https://mail.google.com", SCOPE + "gmail."):
        found.append(APP_GMAIL)
    if has(SCOPE + "documents"):
        found.append(APP_DOCS)
    if has(SCOPE + "calendar"):
        found.append(APP_CALENDAR)
    if has(SCOPE + "presentations"):
        found.append(APP_SLIDES)
    if has(SCOPE + "spreadsheets"):
        found.append(APP_SHEETS)
    if not found and any(s in SIGN_IN_SCOPES for s in scopes):
        found.append(APP_SIGN_IN)
    return found


def _email(user: Mapping[str, Any]) -> str:
    return str(user.get("primaryEmail") or user.get("id") or "")


def user(row: Mapping[str, Any], *, inactive_before: datetime) -> list[Observation]:
    email = _email(row)
    admin = bool(row.get("isAdmin") or row.get("isDelegatedAdmin"))
    created = parse_time(row.get("creationTime"))
    last_login = parse_time(row.get("lastLoginTime"))
    if last_login is not None and last_login < NEVER:
        last_login = None  # Google reports 1970-01-01 for "never"
    base = {"key": f"user:{row.get('id')}", "asset": email, "asset_kind": "User", "owner": email,
            "details": {"admin": admin, "last_login": last_login.isoformat() if last_login else None,
                        "two_step_enrolled": bool(row.get("isEnrolledIn2Sv")),
                        "two_step_enforced": bool(row.get("isEnforcedIn2Sv"))}}
    if row.get("suspended"):
        return [Observation((SUSPENDED_ADMIN if admin else SUSPENDED_USER).key, **base)]
    found = []
    if not row.get("isEnrolledIn2Sv"):
        found.append(Observation((ADMIN_2FA if admin else USER_2FA).key, **base))
    if not row.get("recoveryEmail"):
        found.append(Observation(NO_RECOVERY_EMAIL.key, **base))
    if not row.get("recoveryPhone"):
        found.append(Observation(NO_RECOVERY_PHONE.key, **base))
    old_enough = created is None or created < inactive_before
    if old_enough and (last_login is None or last_login < inactive_before):
        found.append(Observation((INACTIVE_ADMIN if admin else INACTIVE_USER).key, **base))
    return found


def tokens(user_row: Mapping[str, Any], grants: Iterable[Mapping[str, Any]]) -> list[Observation]:
    """Each third-party application the user authorized, once per kind of access it has."""
    email = _email(user_row)
    found = []
    for grant in grants:
        client_id = str(grant.get("clientId") or "")
        if not client_id:
            continue
        scopes = tuple(str(s) for s in grant.get("scopes") or [])
        name = str(grant.get("displayText") or client_id)
        sighting = AppSighting(external_id=client_id, name=name, scopes=scopes, user=email)
        for kind in scope_categories(scopes):
            found.append(Observation(
                kind.key, key=f"app:{client_id}:{user_row.get('id')}", asset=name, asset_kind="OAuth grant",
                owner=email, app=sighting,
                details={"client_id": client_id, "scopes": list(scopes), "native_app": bool(grant.get("nativeApp")),
                         "anonymous": bool(grant.get("anonymous"))}))
    return found


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def audience(permission: Mapping[str, Any], company: set[str]) -> str | None:
    """Who a Drive permission opens the file to: "public", "outside" (people, groups or a domain
    outside the customer's domains), "company" (the whole own domain), or None (named people
    inside the company, or a deleted account)."""
    kind = permission.get("type")
    if kind == "anyone":
        return "public"
    if kind == "domain":
        return "company" if str(permission.get("domain") or "").lower() in company else "outside"
    if kind in ("user", "group") and not permission.get("deleted"):
        address = str(permission.get("emailAddress") or "")
        if address and _domain_of(address) not in company:
            return "outside"
    return None


def file_sharing(row: Mapping[str, Any], owner: str, company: set[str]) -> list[Observation]:
    """One instance per audience a file is open to (anyone, outside the company, the whole
    company), at the strongest access any permission for that audience gives."""
    found: dict[str, dict[str, Any]] = {}
    for permission in row.get("permissions") or []:
        if not isinstance(permission, Mapping):
            continue
        role = str(permission.get("role") or "")
        if role not in EDIT_ROLES | VIEW_ROLES:
            continue
        who = audience(permission, company)
        if who is None:
            continue
        seen = found.setdefault(who, {"edit": False, "grantees": set(), "roles": set()})
        seen["edit"] = seen["edit"] or role in EDIT_ROLES
        seen["roles"].add(role)
        grantee = permission.get("emailAddress") or permission.get("domain") or (
            "anyone (findable)" if permission.get("allowFileDiscovery") else "anyone with the link")
        seen["grantees"].add(str(grantee))
    observations = []
    for who, seen in found.items():
        edit_type, view_type = _FILE_KINDS[who]
        observations.append(Observation(
            (edit_type if seen["edit"] else view_type).key, key=f"file:{row.get('id')}",
            asset=str(row.get("name") or row.get("id")), asset_kind="File", owner=owner,
            details={"file_id": row.get("id"), "mime_type": row.get("mimeType"), "link": row.get("webViewLink"),
                     "shared_with": sorted(seen["grantees"]), "roles": sorted(seen["roles"])}))
    return observations


def mime_type(row: Mapping[str, Any]) -> str:
    return str(row.get("mimeType") or "").split(";")[0].strip().lower()


def content_kind(row: Mapping[str, Any]) -> str:
    """How a file's text is read for DLP: "export" (a Google Docs, Sheets or Slides file),
    "media" (a stored text-based file), "folder" (nothing to read) or "binary" (not scanned:
    images, PDFs, archives, other Google types)."""
    mime = mime_type(row)
    if mime in EXPORT_AS:
        return "export"
    if mime in (GOOGLE_APPS + "folder", GOOGLE_APPS + "shortcut"):
        return "folder"
    if mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml")):
        return "media"
    return "binary"


def size_of(row: Mapping[str, Any]) -> int | None:
    """The file's ``size`` (Drive sends an int64 as a string); None when Drive gives none."""
    try:
        return int(row["size"])
    except (KeyError, TypeError, ValueError):
        return None


def file_dlp(sharing: Iterable[Observation], dlp_details: Mapping[str, Any]) -> list[Observation]:
    """The DLP twin of each sharing instance of one file: same audience, access and key, the
    sharing details plus what the DLP match keeps (``DlpCheck.details``)."""
    return [replace(o, type_key=DLP_OF[o.type_key].key, details={**o.details, **dlp_details})
            for o in sharing if o.type_key in DLP_OF]


def public_calendar(user_row: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> list[Observation]:
    """The user's primary calendar, if a rule opens it to the public (scope type "default")."""
    public = [r for r in rules if isinstance(r.get("scope"), Mapping) and r["scope"].get("type") == "default"
              and r.get("role") not in (None, "", "none")]
    if not public:
        return []
    email = _email(user_row)
    roles = sorted({str(r.get("role")) for r in public})
    return [Observation(CALENDAR_PUBLIC.key, key=f"calendar:{user_row.get('id')}", asset=email,
                        asset_kind="Calendar", owner=email,
                        details={"calendar": "primary", "public_roles": roles,
                                 "free_busy_only": roles == ["freeBusyReader"]})]


def mail_delegates(user_row: Mapping[str, Any], delegates: Iterable[Mapping[str, Any]]) -> list[Observation]:
    """One instance per delegate who can act on the user's mailbox (verification accepted; a
    pending invitation gives no access yet)."""
    email = _email(user_row)
    found = []
    for delegate in delegates:
        address = str(delegate.get("delegateEmail") or "")
        if not address or delegate.get("verificationStatus") != "accepted":
            continue
        found.append(Observation(MAIL_DELEGATE.key, key=f"delegate:{user_row.get('id')}:{address.lower()}",
                                 asset=email, asset_kind="Mailbox", owner=email, details={"delegate": address}))
    return found
# --- Gmail admin: e-mail authentication of the domains (SPF, DMARC; shadow_ai/casb/mailauth.py) ---

MAIL = mail_types(_t, {
    "spf_allows_any": "Domain SPF record allows any IP address", "spf_missing": "SPF record not present",
    "dmarc_missing": "DMARC record not present", "dmarc_not_enforced": "DMARC not enforced",
    "dmarc_subdomains_not_enforced": "DMARC not enforced for subdomains",
    "dmarc_partial": "DMARC only partially enforced",
}, spf_example="for Gmail: include:_spf.google.com; Admin console › Apps › Google Workspace › Gmail › Authenticate "
                "email, then your DNS host")
SPF_ANY, SPF_MISSING, DMARC_MISSING, DMARC_NONE, DMARC_SUBDOMAINS, DMARC_PARTIAL = MAIL_TYPES = tuple(MAIL)
TYPES = TYPES + MAIL_TYPES
MAIL_PROBLEMS = MAIL.problems


def mail_domains(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The verified domains and domain aliases of ``domains.list``: the names people send mail as."""
    names = []
    for row in rows:
        if row.get("verified") and row.get("domainName"):
            names.append(str(row["domainName"]))
        for alias in row.get("domainAliases") or []:
            if isinstance(alias, Mapping) and alias.get("verified") and alias.get("domainAliasName"):
                names.append(str(alias["domainAliasName"]))
    return names
