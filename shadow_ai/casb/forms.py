"""Forms of the CASB pages. The connect form is built from the connector's own field list, so a
new vendor needs no form code. Secret fields are never filled in when a form is shown again."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html

from shadow_ai.casb.connectors.base import Connector
from shadow_ai.casb.findings import Severity
from shadow_ai.casb.models import Integration
from shadow_ai.dlp.selectors import profiles_for_list


class DlpProfileChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.get_kind_display().lower()})"


def dlp_profiles_field() -> forms.ModelMultipleChoiceField:
    return DlpProfileChoice(
        queryset=profiles_for_list().order_by("kind", "name"), required=False, label="DLP profiles",
        widget=forms.CheckboxSelectMultiple(attrs={"data-testid": "dlp-profiles"}),
        help_text=format_html(
            "Shared and AI files are downloaded (up to {} each, CASB_DLP_MAX_BYTES) and scanned with these "
            "profiles. Leave empty to not scan file contents. <a href=\"{}\">DLP profiles</a>",
            filesizeformat(settings.CASB_DLP_MAX_BYTES), reverse("dlp:profile-list")))


class IntegrationForm(forms.Form):
    """``mode``: ``create`` (everything), ``edit`` (name, schedule, settings) or ``credentials``."""

    def __init__(self, *args, connector: Connector, mode: str = "create", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connector, self.mode = connector, mode
        if mode in ("create", "edit"):
            self.fields["name"] = forms.CharField(
                max_length=120, help_text="How this integration is shown in the console.",
                widget=forms.TextInput(attrs={"autocomplete": "off"}))
        if mode in ("create", "credentials"):
            for spec in connector.credential_fields:
                widget = (forms.Textarea(attrs={"rows": 6, "autocomplete": "off", "spellcheck": "false"})
                          if spec.multiline else forms.PasswordInput(render_value=False,
                                                                     attrs={"autocomplete": "new-password"}))
                help_text = spec.help + (" Stored encrypted; never shown again." if spec.secret else "")
                self.fields[spec.name] = forms.CharField(label=spec.label, required=spec.required, widget=widget,
                                                         help_text=help_text.strip(), strip=True)
        if mode in ("create", "edit"):
            for spec in connector.config_fields:
                self.fields[spec.name] = forms.CharField(
                    label=spec.label, required=spec.required, help_text=spec.help, initial=spec.default or None,
                    widget=forms.TextInput(attrs={"placeholder": spec.placeholder, "autocomplete": "off"}))
            self.fields["dlp_profiles"] = dlp_profiles_field()
            self.fields["scan_interval_hours"] = forms.IntegerField(
                label="Scan every (hours)", min_value=1, max_value=24, initial=connector.default_interval,
                help_text="From 1 to 24 hours. A scan can also be started by hand at any time.")
            if settings.CASB_ALLOW_BASE_URL_OVERRIDE:
                self.fields["base_url"] = forms.CharField(
                    label="Vendor address (testing only)", required=False, max_length=300,
                    help_text="Outside production only: send every request for this vendor to this address "
                              "(a local replay server). Leave empty to use the vendor's own API.",
                    widget=forms.TextInput(attrs={"placeholder": "http://127.0.0.1:8900", "autocomplete": "off"}))

    def credentials(self) -> dict[str, str]:
        return {s.name: self.cleaned_data.get(s.name, "") for s in self.connector.credential_fields}

    def config(self) -> dict[str, str]:
        return {s.name: self.cleaned_data.get(s.name, "") for s in self.connector.config_fields}

    def dlp_profiles(self) -> list[int]:
        return [p.pk for p in self.cleaned_data.get("dlp_profiles") or []]


def edit_initial(integration: Integration) -> dict:
    return {"name": integration.name, "scan_interval_hours": integration.scan_interval_hours,
            "base_url": integration.base_url, "dlp_profiles": list(integration.dlp_profiles.all()),
            **integration.config}


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class SeverityForm(forms.Form):
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    reason = forms.CharField(max_length=500)
