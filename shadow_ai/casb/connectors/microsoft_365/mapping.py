"""Microsoft Graph objects → finding instances: consented third-party apps, users, domains."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from shadow_ai.casb.connectors.base import AppSighting, Observation, iso, parse_time
from shadow_ai.casb.connectors.mailtypes import mail_types
from shadow_ai.casb.findings import FindingType, Severity

V = "Microsoft 365"
# Tenants that own Microsoft's first-party applications: their apps are not third-party.
MICROSOFT_TENANTS = frozenset({"f8cdef31-a31e-4b4a-93e4-5f571e91255a", "72f988bf-86f1-41af-91ab-2d7cd011db47"})


def _t(key: str, title: str, severity: Severity, remediation: str, asset_kind: str, *, reference: bool = True,
       app: bool = False):
    return FindingType(f"microsoft_365.{key}", V, f"Microsoft 365: {title}", severity, remediation, asset_kind,
                       reference, app)


_APP_FIX = ("Review the application in Entra ID › Enterprise applications. If it is not approved, remove the "
            "delegated permission grant (or delete the service principal) and block it; restrict user consent to "
            "verified publishers and low-risk permissions.")
APP_MAIL = _t("app_mail", "Third-party app with mail access", Severity.HIGH, _APP_FIX, "OAuth grant",
              reference=False, app=True)
APP_FILES = _t("app_files", "Third-party app with file access", Severity.HIGH, _APP_FIX, "OAuth grant",
               reference=False, app=True)
APP_CALENDAR = _t("app_calendar", "Third-party app with calendar access", Severity.MEDIUM, _APP_FIX, "OAuth grant",
                  reference=False, app=True)
APP_LIMITED = _t("app_limited", "Third-party app with sign-in or other limited access", Severity.LOW, _APP_FIX,
                 "OAuth grant", reference=False, app=True)
APP_DISABLED = _t("app_disabled_by_microsoft", "App disabled by Microsoft", Severity.LOW,
                  "Microsoft disabled this application (for example for violating its terms): remove its service "
                  "principal and any grants.", "Application")
PROVISIONING_ERROR = _t("provisioning_error", "Provisioning error for on-prem user", Severity.LOW,
                        "Fix the directory synchronization error shown for the user in Entra Connect.", "User")
PASSWORD_EXPIRY_OFF = _t("password_expiration_disabled", "Password expiration disabled for user", Severity.LOW,
                         "Remove DisablePasswordExpiration from the user's password policies, or make sure the "
                         "account uses phishing-resistant MFA.", "User")
PASSWORD_OLD = _t("password_not_changed", "Password not changed for 90+ days", Severity.LOW,
                  "Ask the user to change their password, or move the account to passwordless sign-in.", "User")
STRONG_PASSWORD_OFF = _t("strong_password_disabled", "Strong password disabled for user", Severity.LOW,
                         "Remove DisableStrongPassword from the user's password policies.", "User")
SYNC_DISABLED = _t("cloud_sync_disabled", "Cloud sync disabled for on-prem user", Severity.LOW,
                   "The account came from on-premises Active Directory but is no longer synchronized: delete it or "
                   "convert it to a managed cloud account deliberately.", "User")
NOT_SYNCED = _t("onprem_not_synced", "On-prem user not synced in 7+ days", Severity.LOW,
                "Check Entra Connect: changes made on-premises (disabling a leaver) are not reaching the cloud.",
                "User")
MINOR = _t("not_legal_adult", "User is not a legal adult", Severity.LOW,
           "Review the account's age group and the consent rules that apply to it.", "User")
DISABLED = _t("account_disabled", "User account disabled", Severity.LOW,
              "Delete disabled accounts that are no longer needed, after their data is retained.", "User")
DOMAIN_UNVERIFIED = _t("domain_not_verified", "Domain not verified", Severity.MEDIUM,
                       "Verify the domain (add the DNS record Microsoft shows) or remove it from the tenant.", "Domain")

PROXY_ADDRESSES = _t("proxy_addresses", "User configured proxy addresses", Severity.LOW,
                     "Remove the e-mail aliases (proxy addresses) at domains the tenant has not verified, or verify "
                     "the domain; in synced directories fix the proxyAddresses attribute on-premises.", "User")
FIDO2_UNATTESTED = _t("fido2_unattested", "FIDO2 authentication method unattested", Severity.LOW,
                      "Ask the user to replace the security key or passkey with an attested model, and turn on "
                      "attestation enforcement in the Passkey (FIDO2) authentication methods policy.", "User")
WHFB_WEAK = _t("whfb_weak_key", "Weak Windows Hello for Business key strength", Severity.LOW,
               "Remove the Windows Hello for Business registration and have the user enroll again on a device "
               "with a TPM 2.0 that creates a strong key.", "User")
TAP_REUSABLE = _t("tap_reusable", "Reusable temporary access pass", Severity.LOW,
                  "Delete the pass if it is no longer needed, and set the Temporary Access Pass policy to one-time "
                  "use.", "User")
TAP_LONG = _t("tap_long_lived", "Long-lived temporary access pass", Severity.LOW,
              "Delete the pass once the user has registered a credential, and lower the maximum lifetime in the "
              "Temporary Access Pass policy to a few hours.", "User")
_RULE_FIX = ("Check with the user that the rule is wanted; disable or delete it otherwise, and block automatic "
             "external forwarding in the outbound spam filter policy (Microsoft Defender).")
RULE_FORWARD_ATTACHMENT = _t("rule_forwards_attachment", "Active message rule forwards externally as attachment",
                             Severity.LOW, _RULE_FIX, "Inbox rule")
RULE_FORWARD = _t("rule_forwards", "Active message rule forwards externally", Severity.LOW, _RULE_FIX, "Inbox rule")
RULE_REDIRECT = _t("rule_redirects", "Active message rule redirects externally", Severity.LOW, _RULE_FIX,
                   "Inbox rule")
CERT_EXPIRING = _t("app_certificate_expiring", "App certification expires within 90 days", Severity.LOW,
                   "Upload a new certificate to the app registration (Entra ID › App registrations › Certificates & "
                   "secrets), move the application to it, then remove the old one before it expires.", "Application")
CALENDAR_EXTERNAL = _t("calendar_shared_externally", "Calendar shared externally", Severity.LOW,
                       "Remove the outside recipient from the calendar's sharing permissions (Outlook › Calendar › "
                       "Sharing and permissions), and restrict external calendar sharing in the Microsoft 365 admin "
                       "center if it is not needed.", "Calendar")

APP_TYPES = (APP_MAIL, APP_FILES, APP_CALENDAR, APP_LIMITED)
USER_TYPES = (PROVISIONING_ERROR, PASSWORD_EXPIRY_OFF, PASSWORD_OLD, STRONG_PASSWORD_OFF, SYNC_DISABLED, NOT_SYNCED,
              MINOR, DISABLED, PROXY_ADDRESSES)
AUTH_METHOD_TYPES = (FIDO2_UNATTESTED, WHFB_WEAK, TAP_REUSABLE, TAP_LONG)
RULE_TYPES = (RULE_FORWARD_ATTACHMENT, RULE_FORWARD, RULE_REDIRECT)
TYPES = (*APP_TYPES, APP_DISABLED, *USER_TYPES, DOMAIN_UNVERIFIED, CERT_EXPIRING, *AUTH_METHOD_TYPES, *RULE_TYPES,
         CALENDAR_EXTERNAL)

MAIL_SCOPES = ("mail.", "mailboxsettings.", "imap.", "pop.", "smtp.", "ews.", "full_access_as_user")
FILE_SCOPES = ("files.", "sites.", "notes.")
CALENDAR_SCOPES = ("calendars.",)
MINORS = {"minorwithoutparentalconsent", "minorwithparentalconsent", "minornoparentalconsentrequired", "notadult"}
NOT_HOSTS = {"localhost", "127.0.0.1", "login.microsoftonline.com"}
#: A temporary access pass that lives longer than a working day is "long-lived": a pass is meant for
#: one onboarding session (Microsoft's policy default is one hour, its maximum 30 days).
TAP_LONG_MINUTES = 8 * 60
#: The message rule actions that send mail on, and the finding type of each.
RULE_ACTIONS = (("forwardAsAttachmentTo", RULE_FORWARD_ATTACHMENT), ("forwardTo", RULE_FORWARD),
                ("redirectTo", RULE_REDIRECT))


def grant_category(scope: str) -> FindingType:
    scopes = [s.lower() for s in (scope or "").split()]

    def has(prefixes: tuple[str, ...]) -> bool:
        return any(s.startswith(p) for s in scopes for p in prefixes)

    if has(MAIL_SCOPES):
        return APP_MAIL
    if has(FILE_SCOPES):
        return APP_FILES
    if has(CALENDAR_SCOPES):
        return APP_CALENDAR
    return APP_LIMITED


def _hosts(sp: Mapping[str, Any]) -> list[str]:
    urls = [sp.get("homepage"), *(sp.get("replyUrls") or [])]
    info = sp.get("info") if isinstance(sp.get("info"), Mapping) else {}
    urls += [info.get(k) for k in ("marketingUrl", "supportUrl", "termsOfServiceUrl", "privacyStatementUrl")]
    found: list[str] = []
    for url in urls:
        if not isinstance(url, str) or "://" not in url:
            continue
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if host and host not in NOT_HOSTS and "." in host and host not in found:
            found.append(host)
    return found


def third_party(sp: Mapping[str, Any], *, tenant_id: str) -> dict[str, Any] | None:
    """A summary of a service principal if it is another organization's application."""
    owner = str(sp.get("appOwnerOrganizationId") or "").lower()
    if not owner or owner in MICROSOFT_TENANTS or owner == tenant_id.lower():
        return None
    if sp.get("servicePrincipalType", "Application") != "Application":
        return None
    verified = sp.get("verifiedPublisher") if isinstance(sp.get("verifiedPublisher"), Mapping) else {}
    disabled = sp.get("disabledByMicrosoftStatus")
    return {"id": str(sp.get("id")), "app_id": str(sp.get("appId") or ""), "name": str(sp.get("displayName") or ""),
            "publisher": str(verified.get("displayName") or ""),
            "verified": bool(verified.get("verifiedPublisherId")), "hosts": _hosts(sp),
            "disabled": disabled if disabled and disabled != "NotDisabled" else ""}


def disabled_app(app: Mapping[str, Any]) -> list[Observation]:
    if not app.get("disabled"):
        return []
    return [Observation(APP_DISABLED.key, key=f"sp:{app['id']}", asset=app["name"], asset_kind="Application",
                        details={"status": app["disabled"], "app_id": app["app_id"], "publisher": app["publisher"]})]


def grant(row: Mapping[str, Any], app: Mapping[str, Any], user: str) -> Observation:
    everyone = row.get("consentType") == "AllPrincipals"
    scope = str(row.get("scope") or "").strip()
    kind = grant_category(scope)
    sighting = AppSighting(external_id=app["app_id"] or app["id"], name=app["name"], hostnames=tuple(app["hosts"]),
                           scopes=tuple(scope.split()), publisher=app["publisher"], user="" if everyone else user)
    principal = "all" if everyone else str(row.get("principalId") or "")
    return Observation(
        kind.key, key=f"grant:{app['id']}:{principal}:{row.get('resourceId')}", asset=app["name"],
        asset_kind="OAuth grant", owner="All users (admin consent)" if everyone else user, app=sighting,
        details={"scopes": scope.split(), "consent": "admin" if everyone else "user", "app_id": app["app_id"],
                 "publisher": app["publisher"], "verified_publisher": app["verified"]})


def user(row: Mapping[str, Any], *, now: datetime, password_before: datetime, sync_before: datetime
         ) -> list[Observation]:
    name = str(row.get("userPrincipalName") or row.get("id"))
    policies = str(row.get("passwordPolicies") or "")
    base = {"key": f"user:{row.get('id')}", "asset": name, "asset_kind": "User", "owner": name,
            "details": {"display_name": row.get("displayName"), "user_type": row.get("userType")}}
    found = []
    enabled = row.get("accountEnabled") is not False
    if not enabled:
        found.append(Observation(DISABLED.key, **base))
    if row.get("onPremisesProvisioningErrors"):
        found.append(Observation(PROVISIONING_ERROR.key, **base))
    if "DisablePasswordExpiration" in policies:
        found.append(Observation(PASSWORD_EXPIRY_OFF.key, **base))
    if "DisableStrongPassword" in policies:
        found.append(Observation(STRONG_PASSWORD_OFF.key, **base))
    changed = parse_time(row.get("lastPasswordChangeDateTime"))
    if enabled and changed and changed < password_before:
        found.append(Observation(PASSWORD_OLD.key, **base))
    if row.get("onPremisesSyncEnabled") is False:
        found.append(Observation(SYNC_DISABLED.key, **base))
    synced = parse_time(row.get("onPremisesLastSyncDateTime"))
    if row.get("onPremisesSyncEnabled") is True and synced and synced < sync_before:
        found.append(Observation(NOT_SYNCED.key, **base))
    if str(row.get("legalAgeGroupClassification") or "").lower() in MINORS:
        found.append(Observation(MINOR.key, **base))
    return found


def domain(row: Mapping[str, Any]) -> list[Observation]:
    if row.get("isVerified") is not False:
        return []
    return [Observation(DOMAIN_UNVERIFIED.key, key=f"domain:{row.get('id')}", asset=str(row.get("id")),
                        asset_kind="Domain")]


# --- Domains the tenant owns, and addresses outside them -------------------------------------------


def verified_domains(rows: list[Mapping[str, Any]]) -> list[str]:
    return sorted({str(r.get("id")).lower() for r in rows if r.get("isVerified") is True and r.get("id")})


def external(address: Any, verified: frozenset[str] | set[str]) -> bool:
    """An e-mail address at a domain that is not one of the tenant's verified domains. Addresses
    without a domain (Exchange's internal ``/o=ExchangeLabs/...`` form) are internal."""
    text = str(address or "").strip().lower()
    if "@" not in text:
        return False
    return text.rsplit("@", 1)[1].rstrip(".") not in verified


def _person(row: Mapping[str, Any]) -> dict[str, Any]:
    name = str(row.get("userPrincipalName") or row.get("id"))
    return {"asset": name, "owner": name}


def proxy_addresses(row: Mapping[str, Any], verified: frozenset[str] | set[str]) -> list[Observation]:
    """SMTP proxy addresses (``SMTP:`` primary, ``smtp:`` aliases) at domains the tenant has not
    verified: mail for an address the organization cannot prove it owns. Other prefixes (SIP, X500)
    are not e-mail addresses and are left alone, and so are guests (their address is elsewhere)."""
    if row.get("userType") == "Guest":
        return []
    foreign = [str(a)[5:] for a in row.get("proxyAddresses") or []
               if isinstance(a, str) and a[:5].lower() == "smtp:" and external(a[5:], verified)]
    if not foreign:
        return []
    return [Observation(PROXY_ADDRESSES.key, key=f"user:{row.get('id')}", asset_kind="User", **_person(row),
                        details={"addresses": foreign, "display_name": row.get("displayName")})]


# --- Authentication methods ----------------------------------------------------------------------


def _method_type(method: Mapping[str, Any]) -> str:
    return str(method.get("@odata.type") or "").rsplit(".", 1)[-1]


def authentication_methods(row: Mapping[str, Any], methods: list[Mapping[str, Any]], *, now: datetime
                           ) -> list[Observation]:
    """FIDO2 keys without attestation, weak Windows Hello keys, and temporary access passes that
    can still be used and are reusable or live longer than ``TAP_LONG_MINUTES``."""
    found = []
    for method in methods:
        kind, method_id = _method_type(method), str(method.get("id") or "")
        base = {"key": f"method:{row.get('id')}:{method_id}", "asset_kind": "User", **_person(row)}
        created = method.get("createdDateTime") or method.get("creationDateTime")
        if kind == "fido2AuthenticationMethod" and method.get("attestationLevel") == "notAttested":
            found.append(Observation(FIDO2_UNATTESTED.key, **base, details={
                "method": method.get("displayName"), "model": method.get("model"), "aaguid": method.get("aaGuid"),
                "registered": created}))
        elif kind == "windowsHelloForBusinessAuthenticationMethod" and method.get("keyStrength") == "weak":
            found.append(Observation(WHFB_WEAK.key, **base, details={
                "device": method.get("displayName"), "key_strength": "weak", "registered": created}))
        elif kind == "temporaryAccessPassAuthenticationMethod" and _pass_alive(method, now):
            lifetime = method.get("lifetimeInMinutes")
            details = {"lifetime_minutes": lifetime, "reusable": method.get("isUsableOnce") is False,
                       "starts": method.get("startDateTime"), "usable": method.get("isUsable"),
                       "state": method.get("methodUsabilityReason"), "created": created}
            if method.get("isUsableOnce") is False:
                found.append(Observation(TAP_REUSABLE.key, **base, details=details))
            if isinstance(lifetime, int) and lifetime > TAP_LONG_MINUTES:
                found.append(Observation(TAP_LONG.key, **base, details=details))
    return found


def _pass_alive(method: Mapping[str, Any], now: datetime) -> bool:
    """A pass that has expired or was used up is no risk (Entra keeps it listed for a while)."""
    if method.get("methodUsabilityReason") in ("Expired", "OneTimeUsed"):
        return False
    start, lifetime = parse_time(method.get("startDateTime")), method.get("lifetimeInMinutes")
    if start and isinstance(lifetime, int):
        return start + timedelta(minutes=lifetime) > now
    return True


# --- Mailboxes -----------------------------------------------------------------------------------


def inbox_rules(row: Mapping[str, Any], rules: list[Mapping[str, Any]], verified: frozenset[str] | set[str]
                ) -> list[Observation]:
    """Enabled inbox rules (not in error) that forward, forward as attachment or redirect to an
    address outside the verified domains: one instance per rule and kind of action."""
    found = []
    for rule in rules:
        if rule.get("isEnabled") is not True or rule.get("hasError") is True:
            continue
        actions = rule.get("actions") if isinstance(rule.get("actions"), Mapping) else {}
        for field_name, kind in RULE_ACTIONS:
            recipients = [r.get("emailAddress") for r in actions.get(field_name) or [] if isinstance(r, Mapping)]
            outside = [str(e.get("address")) for e in recipients
                       if isinstance(e, Mapping) and external(e.get("address"), verified)]
            if outside:
                found.append(Observation(kind.key, key=f"rule:{row.get('id')}:{rule.get('id')}",
                                         asset=f"{rule.get('displayName') or 'Inbox rule'} ({_person(row)['asset']})",
                                         asset_kind="Inbox rule", owner=_person(row)["owner"],
                                         details={"rule": rule.get("displayName"), "recipients": outside}))
    return found


def calendar_sharing(row: Mapping[str, Any], permissions: list[Mapping[str, Any]],
                     verified: frozenset[str] | set[str]) -> list[Observation]:
    """People outside the verified domains the user's primary calendar is shared with ("My
    Organization", which has no address, and entries with the role ``none`` are not sharing)."""
    found = []
    for entry in permissions:
        email = entry.get("emailAddress") if isinstance(entry.get("emailAddress"), Mapping) else {}
        address = str(email.get("address") or "")
        if entry.get("role") == "none" or not external(address, verified):
            continue
        found.append(Observation(CALENDAR_EXTERNAL.key, key=f"calendar:{row.get('id')}:{address.lower()}",
                                 asset=f"Calendar of {_person(row)['asset']}", asset_kind="Calendar",
                                 owner=_person(row)["owner"],
                                 details={"shared_with": address, "role": entry.get("role")}))
    return found


# --- App registrations ---------------------------------------------------------------------------


def expiring_certificates(app: Mapping[str, Any], *, now: datetime, within_days: int = 90) -> list[Observation]:
    """Certificates (key credentials) of one of the tenant's own app registrations that expire in
    the next ``within_days`` days. Already expired ones no longer sign anything in and are left out."""
    found = []
    for cert in app.get("keyCredentials") or []:
        if not isinstance(cert, Mapping):
            continue
        ends = parse_time(cert.get("endDateTime"))
        if ends is None or not now < ends <= now + timedelta(days=within_days):
            continue
        found.append(Observation(CERT_EXPIRING.key, key=f"cert:{app.get('id')}:{cert.get('keyId')}",
                                 asset=str(app.get("displayName") or app.get("appId")), asset_kind="Application",
                                 details={"certificate": cert.get("displayName"), "expires": cert.get("endDateTime"),
                                          "days_left": (ends - now).days, "app_id": app.get("appId"),
                                          "usage": cert.get("usage")}))
    return found


# --- Email admin: e-mail authentication of the verified domains (SPF, DMARC; shadow_ai/casb/mailauth.py) ---

MAIL = mail_types(_t, {
    "spf_allows_any": "Domain SPF allows any IP", "spf_missing": "SPF not present",
    "dmarc_missing": "DMARC not present", "dmarc_not_enforced": "DMARC not enforced",
    "dmarc_subdomains_not_enforced": "DMARC not enforced for subdomains",
    "dmarc_partial": "DMARC only partially enforced",
}, spf_example="for Exchange Online: include:spf.protection.outlook.com",
   dmarc_extra=" Microsoft 365 Defender › Email authentication settings shows DKIM.")
SPF_ANY, SPF_MISSING, DMARC_MISSING, DMARC_NONE, DMARC_SUBDOMAINS, DMARC_PARTIAL = MAIL_TYPES = tuple(MAIL)
TYPES = (*TYPES, *MAIL_TYPES)
MAIL_PROBLEMS = MAIL.problems



# --- File sharing: OneDrive and SharePoint sharing links ----------------------------------------

_PUBLIC_FIX = ("Open Manage access on the item in OneDrive or SharePoint and delete the “Anyone with the link” link "
               "(or replace it with one for specific people); to stop it happening again, restrict external sharing "
               "for OneDrive and SharePoint (SharePoint admin center › Policies › Sharing) or give Anyone links an "
               "expiry.")
_COMPANY_FIX = ("Check that everyone in the organization should have this; otherwise open Manage access and delete the "
                "“People in your organization” link, sharing with the people who need it instead (SharePoint admin "
                "center › Policies › Sharing › File and folder links: default to Specific people).")
FILE_PUBLIC_EDIT = _t("file_public_edit", "File publicly accessible with edit access", Severity.CRITICAL,
                      "Anyone with the link can change or delete this file. " + _PUBLIC_FIX, "File")
FOLDER_PUBLIC_EDIT = _t("folder_public_edit", "Folder publicly accessible with edit access", Severity.CRITICAL,
                        "Anyone with the link can add, change or delete files in this folder. " + _PUBLIC_FIX, "Folder")
FILE_PUBLIC_VIEW = _t("file_public_view", "File publicly accessible with view access", Severity.HIGH,
                      "Anyone with the link can read this file. " + _PUBLIC_FIX, "File")
FOLDER_PUBLIC_VIEW = _t("folder_public_view", "Folder publicly accessible with view access", Severity.HIGH,
                        "Anyone with the link can read every file in this folder. " + _PUBLIC_FIX, "Folder")
FILE_COMPANY_EDIT = _t("file_company_edit", "File shared company-wide with edit access", Severity.MEDIUM,
                       "Everyone in the organization can change this file. " + _COMPANY_FIX, "File")
FILE_COMPANY_VIEW = _t("file_company_view", "File shared company-wide with view access", Severity.MEDIUM,
                       "Everyone in the organization can read this file. " + _COMPANY_FIX, "File")
FOLDER_COMPANY_EDIT = _t("folder_company_edit", "Folder shared company-wide with edit access", Severity.MEDIUM,
                         "Everyone in the organization can change the files in this folder. " + _COMPANY_FIX, "Folder")
FOLDER_COMPANY_VIEW = _t("folder_company_view", "Folder shared company-wide with view access", Severity.MEDIUM,
                         "Everyone in the organization can read the files in this folder. " + _COMPANY_FIX, "Folder")
SHARING_TYPES = (FILE_PUBLIC_EDIT, FOLDER_PUBLIC_EDIT, FILE_PUBLIC_VIEW, FOLDER_PUBLIC_VIEW, FILE_COMPANY_EDIT,
                 FILE_COMPANY_VIEW, FOLDER_COMPANY_EDIT, FOLDER_COMPANY_VIEW)
TYPES = (*TYPES, *SHARING_TYPES)

#: A sharing link's ``scope`` → who it opens the item to. ``users`` (specific people) and
#: ``existingAccess`` links give nobody new access and are not findings.
LINK_AUDIENCES = {"anonymous": "public", "organization": "company"}
#: Roles that can change the item; link types that write into it (an edit link, and a folder's
#: upload-only "file request" link, which lets its holders add files). Other link types
#: (``view``, ``review``, ``blocksDownload``, ``embed``; ``addressBar`` / ``adminDefault`` follow
#: the tenant's default) are view access unless their roles say ``write``.
EDIT_ROLES = frozenset({"write", "owner"})
EDIT_LINK_TYPES = frozenset({"edit", "createOnly", "submitOnly"})
_SHARING_KINDS = {  # (audience, folder) → (edit type, view type)
    ("public", False): (FILE_PUBLIC_EDIT, FILE_PUBLIC_VIEW), ("public", True): (FOLDER_PUBLIC_EDIT, FOLDER_PUBLIC_VIEW),
    ("company", False): (FILE_COMPANY_EDIT, FILE_COMPANY_VIEW),
    ("company", True): (FOLDER_COMPANY_EDIT, FOLDER_COMPANY_VIEW),
}


def drive_summary(drive: Mapping[str, Any], *, owner: str, kind: str, site: str = "", site_url: str = ""
                  ) -> dict[str, Any]:
    """What a finding says about the drive an item lives in (kept in the scan's cursor)."""
    return {"id": str(drive.get("id") or ""), "name": str(drive.get("name") or ""), "kind": kind, "owner": owner,
            "web_url": str(drive.get("webUrl") or ""), "site": site, "site_url": site_url}


def needs_permissions(item: Mapping[str, Any]) -> bool:
    """Whether an item from a delta page may be open to anyone or the whole company, so its
    permissions are worth a request: not deleted, with a ``shared`` facet whose scope is
    ``anonymous`` or ``organization``. A facet without a scope is read too (Graph documents the
    scope as optional); an empty facet marks an item with its own permissions and no links."""
    shared = item.get("shared")
    if item.get("deleted") is not None or not isinstance(shared, Mapping) or not item.get("id"):
        return False
    scope = shared.get("scope")
    return scope in LINK_AUDIENCES if scope else bool(shared)


def _link_access(permission: Mapping[str, Any], now: datetime) -> tuple[str, bool, dict[str, Any]] | None:
    link = permission.get("link")
    if not isinstance(link, Mapping) or permission.get("inheritedFrom"):
        return None  # not a sharing link, or one set on a folder above (reported there)
    audience = LINK_AUDIENCES.get(str(link.get("scope") or ""))
    if audience is None:
        return None
    expires = parse_time(permission.get("expirationDateTime"))
    if expires and expires.year == 1:  # 0001-01-01T00:00:00Z is Graph's "never"
        expires = None
    if expires and expires <= now:
        return None
    roles = [str(r) for r in permission.get("roles") or []]
    edit = bool(EDIT_ROLES & set(roles)) or link.get("type") in EDIT_LINK_TYPES
    return audience, edit, {"type": link.get("type"), "scope": link.get("scope"), "roles": roles,
                            "url": link.get("webUrl"), "expires": iso(expires),
                            "prevents_download": bool(link.get("preventsDownload"))}


def shared_item(drive: Mapping[str, Any], item: Mapping[str, Any], permissions: list[Mapping[str, Any]], *,
                now: datetime) -> list[Observation]:
    """One instance per audience (anyone with the link, everyone in the organization) an item's
    sharing links open it to, at the strongest access those links give."""
    folder = isinstance(item.get("folder"), Mapping)
    seen: dict[str, dict[str, Any]] = {}
    for permission in permissions:
        found = _link_access(permission, now) if isinstance(permission, Mapping) else None
        if found is None:
            continue
        audience, edit, link = found
        entry = seen.setdefault(audience, {"edit": False, "links": []})
        entry["edit"] = entry["edit"] or edit
        entry["links"].append(link)
    file_facet = item.get("file") if isinstance(item.get("file"), Mapping) else {}
    where = (f"OneDrive of {drive['owner']}" if drive["kind"] == "OneDrive"
             else f"{drive['site'] or drive['owner']} › {drive['name']}")
    observations = []
    for audience, entry in seen.items():
        edit_type, view_type = _SHARING_KINDS[(audience, folder)]
        observations.append(Observation(
            (edit_type if entry["edit"] else view_type).key, key=f"item:{drive['id']}:{item['id']}",
            asset=str(item.get("name") or item["id"]), asset_kind="Folder" if folder else "File", owner=drive["owner"],
            details={"drive_id": drive["id"], "item_id": item["id"], "name": item.get("name"), "size": item.get("size"),
                     "mime_type": file_facet.get("mimeType"), "web_url": item.get("webUrl"), "location": where,
                     "drive": drive["name"], "drive_kind": drive["kind"], "site_url": drive["site_url"] or None,
                     "link_types": sorted({str(link["type"]) for link in entry["links"]}), "links": entry["links"]}))
    return observations


# --- DLP: contents of widely shared files, and Copilot interactions -----------------------------

_DLP_FIX = (" The file's contents match the integration's DLP profiles (see the redacted samples): remove the link "
            "first, then move or redact the sensitive data.")
DLP_PUBLIC_EDIT = _t("dlp_file_public_edit", "File publicly accessible with edit access with DLP Profile match",
                     Severity.CRITICAL, "Anyone with the link can read and change this file." + _DLP_FIX + " "
                     + _PUBLIC_FIX, "File")
DLP_PUBLIC_VIEW = _t("dlp_file_public_view", "File publicly accessible with view access with DLP Profile match",
                     Severity.HIGH, "Anyone with the link can read this file." + _DLP_FIX + " " + _PUBLIC_FIX, "File")
DLP_COMPANY_EDIT = _t("dlp_file_company_edit", "File shared company-wide with edit access with DLP Profile match",
                      Severity.MEDIUM, "Everyone in the organization can read and change this file." + _DLP_FIX + " "
                      + _COMPANY_FIX, "File")
DLP_COMPANY_VIEW = _t("dlp_file_company_view", "File shared company-wide with view access with DLP Profile match",
                      Severity.MEDIUM, "Everyone in the organization can read this file." + _DLP_FIX + " "
                      + _COMPANY_FIX, "File")
DLP_SHARING_TYPES = (DLP_PUBLIC_EDIT, DLP_PUBLIC_VIEW, DLP_COMPANY_EDIT, DLP_COMPANY_VIEW)
#: The plain sharing type of a file → its DLP type.
DLP_OF = {FILE_PUBLIC_EDIT.key: DLP_PUBLIC_EDIT, FILE_PUBLIC_VIEW.key: DLP_PUBLIC_VIEW,
          FILE_COMPANY_EDIT.key: DLP_COMPANY_EDIT, FILE_COMPANY_VIEW.key: DLP_COMPANY_VIEW}

_COPILOT_FIX = ("Sensitive data went through Microsoft 365 Copilot. Check with the user, rotate any exposed secret, "
                "and consider a Microsoft Purview DLP policy for the “Microsoft 365 Copilot and Copilot Chat” location "
                "and sensitivity labels on the files Copilot may read.")
COPILOT_FILE = _t("copilot_referenced_file_dlp", "Copilot Referenced File with DLP Profile match", Severity.HIGH,
                  "Copilot read or cited a file whose contents match the integration's DLP profiles. " + _COPILOT_FIX,
                  "File")
COPILOT_RESPONSE = _t("copilot_response_dlp", "Copilot AI Response with DLP Profile match", Severity.HIGH,
                      "A Copilot answer contained data matching the integration's DLP profiles. " + _COPILOT_FIX,
                      "Copilot interaction")
COPILOT_PROMPT = _t("copilot_prompt_dlp", "Copilot User Prompt with DLP Profile match", Severity.HIGH,
                    "A user sent Copilot data matching the integration's DLP profiles. " + _COPILOT_FIX,
                    "Copilot interaction")
COPILOT_TYPES = (COPILOT_FILE, COPILOT_RESPONSE, COPILOT_PROMPT)
TYPES = (*TYPES, *DLP_SHARING_TYPES, *COPILOT_TYPES)

#: What a content scan reads: text by MIME type or, when Graph reports a generic type, by extension.
#: Office documents (.docx, .xlsx, .pptx) and PDFs are binary: Graph documents no text conversion
#: (``?format=`` converts to PDF or HTML only for some types), so they are passed over and counted.
TEXT_MIME_PREFIXES = ("text/",)
TEXT_MIMES = frozenset({"application/json", "application/xml", "application/javascript", "application/x-yaml",
                        "application/yaml", "application/x-sh", "application/sql", "application/csv",
                        "application/x-httpd-php", "application/toml", "application/x-ndjson"})
TEXT_EXTENSIONS = frozenset({
    "txt", "csv", "tsv", "md", "markdown", "json", "jsonl", "ndjson", "xml", "yaml", "yml", "toml", "ini", "cfg",
    "conf", "env", "log", "sql", "html", "htm", "css", "js", "ts", "py", "java", "r", "rb", "go", "rs", "c", "h",
    "cpp", "cs", "php", "sh", "ps1", "bat", "properties", "tf", "pem", "key", "eml", "vtt", "srt", "rtf", "tex",
})


def is_text_file(name: str, mime: str | None) -> bool:
    mime = (mime or "").split(";")[0].strip().lower()
    if mime.startswith(TEXT_MIME_PREFIXES) or mime in TEXT_MIMES:
        return True
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return mime in ("", "application/octet-stream") and extension in TEXT_EXTENSIONS


def decode_text(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16", "replace")
    return content.decode("utf-8-sig", "replace")


def dlp_shared_file(sharing: Observation, details: Mapping[str, Any]) -> Observation | None:
    """The DLP instance of a file sharing instance (same key: one file, one audience's type)."""
    kind = DLP_OF.get(sharing.type_key)
    if kind is None:
        return None
    return Observation(kind.key, key=sharing.key, asset=sharing.asset, asset_kind="File", owner=sharing.owner,
                       details={**sharing.details, **details})


def interaction_text(row: Mapping[str, Any]) -> str:
    """What a Copilot interaction says: its body, and the text of attachments carried inline
    (adaptive cards hold the answer text; ``reference`` attachments only point elsewhere)."""
    body = row.get("body") if isinstance(row.get("body"), Mapping) else {}
    parts = [str(body.get("content") or "")]
    for attachment in row.get("attachments") or []:
        if isinstance(attachment, Mapping) and isinstance(attachment.get("content"), str):
            parts.append(attachment["content"])
    return "\n".join(p for p in parts if p)


def interaction(row: Mapping[str, Any], user: Mapping[str, Any], details: Mapping[str, Any]) -> Observation | None:
    kind = {"userPrompt": COPILOT_PROMPT, "aiResponse": COPILOT_RESPONSE}.get(str(row.get("interactionType")))
    if kind is None:
        return None
    person = str(user.get("userPrincipalName") or user.get("id"))
    app = str(row.get("appClass") or "").rsplit(".", 1)[-1] or "Copilot"
    return Observation(kind.key, key=f"copilot:{user.get('id')}:{row.get('id')}",
                       asset=f"{'Prompt' if kind is COPILOT_PROMPT else 'Response'} in Copilot ({app})",
                       asset_kind="Copilot interaction", owner=person,
                       details={"interaction_id": row.get("id"), "session_id": row.get("sessionId"),
                                "request_id": row.get("requestId"), "app_class": row.get("appClass"),
                                "created": row.get("createdDateTime"), **details})


def referenced_files(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The files an interaction points at, as (URL, name): links of type ``File`` and contexts
    whose reference is a SharePoint or OneDrive address."""
    found: dict[str, str] = {}
    for link in row.get("links") or []:
        if isinstance(link, Mapping) and str(link.get("linkType") or "").lower() == "file" and link.get("linkUrl"):
            found.setdefault(str(link["linkUrl"]), str(link.get("displayName") or ""))
    for context in row.get("contexts") or []:
        reference = str(context.get("contextReference") or "") if isinstance(context, Mapping) else ""
        if ".sharepoint.com/" in reference:
            found.setdefault(reference, str(context.get("displayName") or ""))
    return list(found.items())


def copilot_file(user: Mapping[str, Any], item: Mapping[str, Any], url: str, row: Mapping[str, Any],
                 details: Mapping[str, Any]) -> Observation:
    parent = item.get("parentReference") if isinstance(item.get("parentReference"), Mapping) else {}
    file_facet = item.get("file") if isinstance(item.get("file"), Mapping) else {}
    return Observation(COPILOT_FILE.key, key=f"copilot-file:{user.get('id')}:{parent.get('driveId')}:{item.get('id')}",
                       asset=str(item.get("name") or url), asset_kind="File",
                       owner=str(user.get("userPrincipalName") or user.get("id")),
                       details={"drive_id": parent.get("driveId"), "item_id": item.get("id"), "name": item.get("name"),
                                "size": item.get("size"), "mime_type": file_facet.get("mimeType"),
                                "web_url": item.get("webUrl") or url, "interaction_id": row.get("id"),
                                "app_class": row.get("appClass"), "created": row.get("createdDateTime"), **details})
