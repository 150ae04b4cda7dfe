"""Forms for Access, including the policy rule editor: each rule is one row of a formset
(kind, selector type and the inputs that type needs), turned into the selector configuration
the engine compiles."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import formset_factory

from accounts.models import Group, IdentityProvider, User
from console.access import engine
from console.access.models import SESSION_CHOICES, ApiToken, Application, Policy, ServiceToken

SELECTOR_LABELS = {
    "everyone": "Everyone",
    "email": "E-mails",
    "email_domain": "E-mails ending in",
    "group": "Groups",
    "identity_provider": "Login method (identity provider)",
    "oidc_claim": "OIDC claim",
    "country": "Country",
    "ip_range": "IP ranges",
    "device_posture": "Device posture",
    "service_token": "Service token",
    "any_service_token": "Any valid service token",
    "auth_method": "Authentication method (AMR)",
    "mfa_method": "MFA method used",
    "identity_verified": "Identity verified",
    "risk_score": "User risk score",
}
VALUE_HELP = {
    "email": "One e-mail address per line.",
    "email_domain": "One domain per line, e.g. corp.example.",
    "group": "One group name per line.",
    "identity_provider": "One per line: password, or an identity provider's slug.",
    "country": "Two-letter codes, one per line, e.g. DE.",
    "ip_range": "Addresses or CIDR ranges (IPv4 or IPv6), one per line.",
    "service_token": "Service token names, one per line.",
    "auth_method": "AMR values, one per line, e.g. mfa, hwk, pwd.",
    "mfa_method": "One per line: " + ", ".join(engine.MFA_METHODS) + ".",
    "risk_score": "One per line: " + ", ".join(engine.RISK_LEVELS) + ".",
}
USES_VALUES = frozenset(VALUE_HELP)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


class RuleForm(forms.Form):
    kind = forms.ChoiceField(choices=[("include", "Include"), ("require", "Require"), ("exclude", "Exclude")])
    type = forms.ChoiceField(choices=list(SELECTOR_LABELS.items()), label="Selector")
    values = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    claim_name = forms.CharField(required=False, max_length=100)
    claim_value = forms.CharField(required=False, max_length=200)
    max_age = forms.IntegerField(required=False, min_value=1, help_text="MFA: minutes. Verification: days.")
    managed = forms.BooleanField(required=False)
    disk_encrypted = forms.BooleanField(required=False)
    min_edr_score = forms.IntegerField(required=False, min_value=0, max_value=100)
    min_os_version = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text='One per line: an OS and its lowest version, e.g. "macOS 14.2".',
    )

    def to_config(self) -> dict[str, Any]:  # noqa: C901 - selector rules still in the form; move to a service
        """The selector configuration for this row; ``forms.ValidationError`` when it is wrong."""
        data = self.cleaned_data
        kind = data["type"]
        config: dict[str, Any] = {"type": kind}
        values = _lines(data.get("values", ""))
        if kind in USES_VALUES and not values:
            raise forms.ValidationError(f"{SELECTOR_LABELS[kind]}: enter at least one value.")
        if kind == "group":
            found = {g.name.lower(): g for g in Group.objects.filter(name__in=values)}
            by_lower = {g.name.lower(): g for g in Group.objects.all()} if len(found) < len(values) else found
            missing = [v for v in values if v.lower() not in by_lower]
            if missing:
                raise forms.ValidationError(f"Unknown group(s): {', '.join(missing)}.")
            config["values"] = [by_lower[v.lower()].pk for v in values]
        elif kind == "service_token":
            tokens = {t.name.lower(): t for t in ServiceToken.objects.all()}
            missing = [v for v in values if v.lower() not in tokens]
            if missing:
                raise forms.ValidationError(f"Unknown service token(s): {', '.join(missing)}.")
            config["values"] = [str(tokens[v.lower()].pk) for v in values]
        elif kind == "identity_provider":
            known = {"password"} | set(IdentityProvider.objects.values_list("slug", flat=True))
            unknown = [v for v in values if v.lower() not in known]
            if unknown:
                raise forms.ValidationError(
                    f"Unknown login method(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
                )
            config["values"] = values
        elif kind in USES_VALUES:
            config["values"] = values
        if kind == "oidc_claim":
            config["name"], config["value"] = data.get("claim_name", ""), data.get("claim_value", "")
        if kind == "mfa_method" and data.get("max_age"):
            config["max_age_minutes"] = data["max_age"]
        if kind == "identity_verified" and data.get("max_age"):
            config["max_age_days"] = data["max_age"]
        if kind == "device_posture":
            if data.get("managed"):
                config["managed"] = True
            if data.get("disk_encrypted"):
                config["disk_encrypted"] = True
            if data.get("min_edr_score") is not None:
                config["min_edr_score"] = data["min_edr_score"]
            versions = {}
            for line in (data.get("min_os_version") or "").splitlines():
                if line.strip():
                    name, _, version = line.strip().rpartition(" ")
                    if not name or not version:
                        raise forms.ValidationError(
                            f'Write "{line.strip()}" as an OS and a version, e.g. "macOS 14.2".'
                        )
                    versions[name.strip()] = version
            if versions:
                config["min_os_version"] = versions
        try:
            engine.compile_selector(config)
        except engine.SelectorError as exc:
            raise forms.ValidationError(f"{SELECTOR_LABELS[kind]}: {exc}") from None
        return config


RuleFormSet = formset_factory(RuleForm, extra=0, can_delete=True, min_num=1, validate_min=True)


def rule_rows(rules: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Initial data for the editor from stored rules."""
    groups = dict(Group.objects.values_list("pk", "name"))
    tokens = {str(pk): name for pk, name in ServiceToken.objects.values_list("pk", "name")}
    rows = []
    for kind in ("include", "require", "exclude"):
        for config in rules.get(kind) or []:
            row: dict[str, Any] = {"kind": kind, "type": config.get("type")}
            values = config.get("values") or []
            if config.get("type") == "group":
                values = [groups.get(int(v), f"(deleted group {v})") for v in values]
            elif config.get("type") == "service_token":
                values = [tokens.get(str(v), f"(deleted token {v})") for v in values]
            row["values"] = "\n".join(str(v) for v in values)
            row["claim_name"], row["claim_value"] = config.get("name", ""), config.get("value", "")
            row["max_age"] = config.get("max_age_minutes") or config.get("max_age_days")
            row["managed"], row["disk_encrypted"] = config.get("managed", False), config.get("disk_encrypted", False)
            row["min_edr_score"] = config.get("min_edr_score")
            row["min_os_version"] = "\n".join(f"{k} {v}" for k, v in (config.get("min_os_version") or {}).items())
            rows.append(row)
    return rows


def rules_from_formset(formset) -> dict[str, list[dict[str, Any]]]:
    """Stored rules from a valid formset; adds row errors and raises ValidationError otherwise."""
    rules: dict[str, list[dict[str, Any]]] = {"include": [], "require": [], "exclude": []}
    failed = False
    for form in formset.forms:
        if not form.cleaned_data or form.cleaned_data.get("DELETE"):
            continue
        try:
            rules[form.cleaned_data["kind"]].append(form.to_config())
        except forms.ValidationError as exc:
            form.add_error(None, exc)
            failed = True
    if failed:
        raise forms.ValidationError("Some rules need fixing.")
    return rules


SESSION_FIELD_CHOICES = [(str(v), label) for v, label in SESSION_CHOICES]


from mfa.forms import MfaLevelFields  # noqa: E402


class PolicyForm(MfaLevelFields, forms.Form):
    field_order = ["name", "action", "description", "session_seconds"]  # MFA last
    name = forms.CharField(max_length=120)
    action = forms.ChoiceField(choices=Policy.Action.choices)
    description = forms.CharField(max_length=300, required=False)
    session_seconds = forms.TypedChoiceField(
        choices=[("", "Same as application session timeout"), *SESSION_FIELD_CHOICES],
        coerce=int, empty_value=None, required=False, label="Session duration",
    )


class ApplicationForm(MfaLevelFields, forms.Form):
    field_order = ["name", "type", "domain", "path", "url", "description", "session_seconds", "launcher_visible",
                   "logo", "remove_logo"]  # MFA last
    name = forms.CharField(max_length=120)
    type = forms.ChoiceField(choices=Application.Type.choices)
    domain = forms.CharField(max_length=253, required=False, label="Hostname",
                             help_text="Self-hosted, LLM and MCP: where the application is served.")
    path = forms.CharField(max_length=255, required=False, help_text="Optional path prefix, e.g. /admin")
    url = forms.CharField(max_length=500, required=False, label="Launch URL",
                          help_text="SaaS and bookmarks: the address people open.")
    description = forms.CharField(max_length=300, required=False)
    session_seconds = forms.TypedChoiceField(choices=SESSION_FIELD_CHOICES, coerce=int, initial="86400",
                                             label="Session duration")
    launcher_visible = forms.BooleanField(required=False, initial=True, label="Show in the App Launcher")
    logo = forms.FileField(required=False, help_text="PNG, JPEG or WebP, at most 256 KB.")
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")


class ServiceTokenForm(forms.Form):
    name = forms.CharField(max_length=120)
    expires_at = forms.DateTimeField(
        required=False, label="Expires", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: never expires.",
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Who uses it, e.g. edge-proxy-eu.")
    scopes = forms.MultipleChoiceField(choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[ApiToken.Scope.ACCESS_DECIDE])


class DeviceForm(forms.Form):
    owner = forms.EmailField(label="Owner's e-mail",
                             widget=forms.EmailInput(attrs={"list": "people-emails", "autocomplete": "off"}))
    device_id = forms.CharField(max_length=120, label="Device id")
    name = forms.CharField(max_length=120)
    os = forms.CharField(max_length=40, label="Operating system")
    os_version = forms.CharField(max_length=40, required=False, label="OS version")
    managed = forms.BooleanField(required=False)
    disk_encrypted = forms.BooleanField(required=False, label="Disk encrypted")
    edr_score = forms.IntegerField(required=False, min_value=0, max_value=100, label="EDR score (0–100)")

    def clean_owner(self) -> User:
        email = self.cleaned_data["owner"].strip().lower()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(f"No user with the e-mail {email} exists.")
        return user


class TesterForm(forms.Form):
    email = forms.CharField(
        required=False, label="User",
        widget=forms.EmailInput(attrs={
            "list": "people-emails", "autocomplete": "off", "placeholder": "Empty: all active users",
        }),
    )
    application = forms.ModelChoiceField(queryset=Application.objects.defer("logo").order_by("name"))
    ip = forms.GenericIPAddressField(required=False, label="IP address")
    country = forms.CharField(required=False, max_length=2)
    identity_provider = forms.CharField(required=False, initial="password", label="Login method")

    def clean_email(self) -> User | None:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if not email:
            return None
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(f"No user with the e-mail {email} exists.")
        return user

    def clean_country(self) -> str:
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError("Use a two-letter country code, e.g. DE.")
        return country
