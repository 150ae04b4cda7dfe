from __future__ import annotations

from django import forms
from oauth2_provider.models import get_application_model

from console.access.idp import scopes

OAuthApplication = get_application_model()

URIS_HELP = "One address per line, exactly as the application sends it (no wildcards)."


class SaasClientForm(forms.Form):
    client_type = forms.ChoiceField(
        label="Client type", initial=OAuthApplication.CLIENT_CONFIDENTIAL,
        choices=[(OAuthApplication.CLIENT_CONFIDENTIAL, "Confidential: the application's server keeps a secret"),
                 (OAuthApplication.CLIENT_PUBLIC, "Public: a browser or mobile app, no secret (PKCE required)")],
        widget=forms.RadioSelect,
    )
    redirect_uris = forms.CharField(label="Redirect URIs", widget=forms.Textarea(attrs={"rows": 3}),
                                    help_text=URIS_HELP)
    post_logout_redirect_uris = forms.CharField(
        label="Post-logout redirect URIs", required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the application may send people after signing them out. " + URIS_HELP,
    )
    require_pkce = forms.BooleanField(
        label="Require PKCE", required=False, initial=True,
        help_text="Turn off only for an application that cannot send a code challenge (public clients always need it).",
    )


class SaasClientEditForm(SaasClientForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["client_type"]


class MachineClientForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Who uses it, e.g. okta-ssf-receiver.")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [(name, f"{name}: {text}") for name, text in scopes.machine_scopes().items()]
