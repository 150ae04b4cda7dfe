"""Microsoft Graph objects → finding instances: consented third-party apps, users, domains."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shadow_ai.casb.connectors.base import AppSighting, Observation, parse_time
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

APP_TYPES = (APP_MAIL, APP_FILES, APP_CALENDAR, APP_LIMITED)
USER_TYPES = (PROVISIONING_ERROR, PASSWORD_EXPIRY_OFF, PASSWORD_OLD, STRONG_PASSWORD_OFF, SYNC_DISABLED, NOT_SYNCED,
              MINOR, DISABLED)
TYPES = (*APP_TYPES, APP_DISABLED, *USER_TYPES, DOMAIN_UNVERIFIED)

MAIL_SCOPES = ("mail.", "mailboxsettings.", "imap.", "pop.", "smtp.", "ews.", "full_access_as_user")
FILE_SCOPES = ("files.", "sites.", "notes.")
CALENDAR_SCOPES = ("calendars.",)
MINORS = {"minorwithoutparentalconsent", "minorwithparentalconsent", "minornoparentalconsentrequired", "notadult"}
NOT_HOSTS = {"localhost", "127.0.0.1", "login.microsoftonline.com"}


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
            "publisher": str(verified.get("displayName") or sp.get("publisherName") or ""),
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


# --- Email admin: e-mail authentication of the verified domains (SPF, DMARC; shadow_ai/casb/mailauth.py) ---

_SPF_FIX = ("Publish one TXT record starting with “v=spf1” that lists the servers allowed to send for the domain "
            "(for Exchange Online: include:spf.protection.outlook.com) and ends with “-all” or “~all”.")
_DMARC_FIX = ("Publish a DMARC record at _dmarc.<domain>: start with p=none and rua= reports, then move to "
              "p=quarantine and p=reject once legitimate senders pass SPF or DKIM (Microsoft 365 Defender › Email "
              "authentication settings shows DKIM).")
SPF_ANY = _t("spf_allows_any_ip", "Domain SPF allows any IP", Severity.HIGH,
             "Replace “+all” / “?all” (or a missing “all”) with “-all” or “~all”, and list only the servers that "
             "send for the domain: anyone can send mail as the domain today.", "Domain")
SPF_MISSING = _t("spf_not_present", "SPF not present", Severity.MEDIUM, _SPF_FIX, "Domain")
DMARC_MISSING = _t("dmarc_not_present", "DMARC not present", Severity.MEDIUM, _DMARC_FIX, "Domain")
DMARC_NONE = _t("dmarc_not_enforced", "DMARC not enforced", Severity.MEDIUM,
                "Change p=none to p=quarantine, then p=reject, after the DMARC reports show legitimate mail passing.",
                "Domain")
DMARC_SUBDOMAINS = _t("dmarc_subdomains_not_enforced", "DMARC not enforced for subdomains", Severity.MEDIUM,
                      "Remove sp=none from the DMARC record (subdomains then follow p=) or set sp=quarantine or "
                      "sp=reject.", "Domain")
DMARC_PARTIAL = _t("dmarc_partially_enforced", "DMARC only partially enforced", Severity.MEDIUM,
                   "Raise pct= to 100 (or remove it) so the policy applies to all mail that fails DMARC.", "Domain")
MAIL_TYPES = (SPF_ANY, SPF_MISSING, DMARC_MISSING, DMARC_NONE, DMARC_SUBDOMAINS, DMARC_PARTIAL)
TYPES = (*TYPES, *MAIL_TYPES)
# mailauth.Problem values (strings, so this module does not import mailauth, which imports the connectors)
MAIL_PROBLEMS = dict(zip(("spf_allows_any", "spf_missing", "dmarc_missing", "dmarc_not_enforced",
                          "dmarc_subdomains_not_enforced", "dmarc_partial"), (t.key for t in MAIL_TYPES), strict=True))


def mail_domains(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Verified domains of the tenant, without the *.onmicrosoft.com ones (Microsoft runs their DNS)."""
    names = []
    for row in rows:
        name = str(row.get("id") or "").lower()
        if row.get("isVerified") is True and name and not name.endswith(".onmicrosoft.com"):
            names.append(name)
    return names
