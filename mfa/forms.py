from django import forms

from mfa.models import Method

METHOD_CHOICES = [(Method.SECURITY_KEY, "Security key"), (Method.BIOMETRICS, "Biometrics"),
                  (Method.TOTP, "Authenticator app")]
LEVEL_CHOICES = [("respect", "Respect the level above"), ("custom", "Custom MFA settings"), ("disabled", "Disable MFA")]


class OrganizationSettingsForm(forms.Form):
    required_for_all = forms.BooleanField(required=False, label="Require MFA for all applications",
                                          help_text="Applications and policies can still say otherwise.")
    allowed_methods = forms.MultipleChoiceField(choices=METHOD_CHOICES, required=False,
                                                widget=forms.CheckboxSelectMultiple,
                                                help_text="None ticked: every method.")
    reverify_minutes = forms.IntegerField(min_value=0, max_value=43200, label="Verify again after (minutes)",
                                          help_text="0: once per sign-in (each new sign-in asks again; signing "
                                                    "in with a passkey counts). 1440: once a day.")
    phishing_resistant_only = forms.BooleanField(required=False, label="Phishing-resistant methods only",
                                                 help_text="Security keys and biometrics; no authenticator apps.")
    allowed_aaguids = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                      label="Allowed authenticator models (AAGUIDs)",
                                      help_text="One per line. Empty: any model. Checked when someone enrolls.")

    def clean_allowed_aaguids(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("allowed_aaguids", "").splitlines() if line.strip()]


class MfaLevelFields(forms.Form):
    """The MFA fieldset shared by the application and policy forms."""

    mfa_mode = forms.ChoiceField(choices=LEVEL_CHOICES, initial="respect", label="MFA", required=False)
    mfa_methods = forms.MultipleChoiceField(choices=METHOD_CHOICES, required=False,
                                            widget=forms.CheckboxSelectMultiple, label="Allowed MFA methods",
                                            help_text="Custom only. None ticked: the organization's.")
    mfa_reverify_minutes = forms.IntegerField(min_value=0, max_value=43200, initial=1440, required=False,
                                              label="Verify again after (minutes)",
                                              help_text="Custom only. 0: once per sign-in.")
    mfa_phishing_resistant = forms.BooleanField(required=False, label="Phishing-resistant methods only")
