"""Forms for Access, including the policy rule editor: each rule is one row of a formset
(kind, selector type and the inputs that type needs), turned into the selector configuration
the engine compiles."""

from __future__ import annotations

from typing import Any

from django import forms
from django.forms import formset_factory

from accounts.models import Group, User
from console.access.models import SESSION_CHOICES, ApiToken, Application, Policy, ServiceToken
from console.access.rules import SELECTOR_LABELS, selector_config
from console.access.whatif import DeviceChoice, Scenario
from console.core.errors import ValidationFailed
from console.core.policy import DevicePosture


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

    def to_config(self) -> dict[str, Any]:
        """The selector configuration for this row; ``forms.ValidationError`` when it is wrong."""
        try:
            return selector_config(self.cleaned_data)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None


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


class PolicyChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Policy) -> str:
        return f"{obj.name} ({obj.get_action_display()})"


class ApplicationCreateForm(ApplicationForm):
    """A new application, with the existing policies that decide who may open it."""

    remove_logo = None  # nothing to remove yet
    policies = PolicyChoiceField(
        queryset=Policy.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Attached in the order listed; change the order on the application's page. None: nobody can "
                  "open it until a policy is attached.",
    )


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


class ScenarioForm(forms.Form):
    """Where a what-if request comes from: address, country and device (``whatif.Scenario``).
    The policy tester has these fields; the impact preview uses it with the prefix "preview"."""

    ip = forms.GenericIPAddressField(required=False, label="IP address")
    country = forms.CharField(required=False, max_length=2, label="Country", help_text="Empty: the address's country.",
                              error_messages={"max_length": "Use a two-letter country code, e.g. DE."})
    device = forms.ChoiceField(choices=DeviceChoice.choices, required=False, initial=DeviceChoice.NONE,
                               label="Device")
    device_os = forms.CharField(required=False, max_length=40, label="Device OS",
                                widget=forms.TextInput(attrs={"placeholder": "macOS, Windows, Linux, iOS…"}))
    device_os_version = forms.CharField(required=False, max_length=40, label="OS version")
    device_managed = forms.BooleanField(required=False, label="Managed")
    device_disk_encrypted = forms.BooleanField(required=False, label="Disk encrypted")
    device_edr_score = forms.IntegerField(required=False, min_value=0, max_value=100, label="EDR score")

    DESCRIBED = ("device_os", "device_os_version", "device_managed", "device_disk_encrypted", "device_edr_score")

    def clean_country(self) -> str:
        country = (self.cleaned_data.get("country") or "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise forms.ValidationError("Use a two-letter country code, e.g. DE.")
        return country

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("device") != DeviceChoice.DESCRIBED and any(data.get(f) for f in self.DESCRIBED):
            self.add_error("device", "Choose \"A device like the one described below\" to preview for that "
                                     "device, or clear its description.")
        return data

    def scenario(self) -> Scenario:
        """The scenario once the form is valid."""
        data = self.cleaned_data
        device = data.get("device") or DeviceChoice.NONE
        posture = None
        if device == DeviceChoice.DESCRIBED:
            posture = DevicePosture(
                device_id="what-if", managed=data["device_managed"], os=data["device_os"].strip(),
                os_version=data["device_os_version"].strip(), disk_encrypted=data["device_disk_encrypted"],
                edr_score=data["device_edr_score"],
            )
        return Scenario(ip=data.get("ip") or None, country=data.get("country", ""), device=device, posture=posture)


class TesterForm(ScenarioForm):
    email = forms.CharField(
        required=False, label="User",
        widget=forms.EmailInput(attrs={
            "list": "people-emails", "autocomplete": "off", "placeholder": "Empty: all active users",
        }),
    )
    application = forms.ModelChoiceField(queryset=Application.objects.defer("logo").order_by("name"))
    identity_provider = forms.CharField(required=False, initial="password", label="Login method")

    field_order = ["email", "application", "identity_provider", "ip", "country", "device", *ScenarioForm.DESCRIBED]

    def clean_email(self) -> User | None:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if not email:
            return None
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(f"No user with the e-mail {email} exists.")
        return user
