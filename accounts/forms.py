from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts import selectors
from accounts.models import IdentityProvider, User, default_barred_roles
from console.core.roles import Role


def manager_from_email(value: str | None) -> User | None:
    """The person a manager field names by e-mail (``None`` when it is empty), or the field's error."""
    email = (value or "").strip().lower()
    if not email:
        return None
    manager = selectors.user_with_email(email)
    if manager is None:
        raise forms.ValidationError(f"No user with the e-mail {email} exists.")
    return manager


class SignInForm(AuthenticationForm):
    """The sign-in form, with messages that say what is missing (an empty field is an error the
    page shows next to that field, not a silent reload)."""

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].error_messages["required"] = "Enter your e-mail address."
        self.fields["password"].error_messages["required"] = (
            "Enter your password. No password? Use \"Sign in with a passkey or security key\"."
        )


class UserForm(forms.Form):
    email = forms.EmailField(max_length=254)
    full_name = forms.CharField(max_length=200, label="Full name")
    role = forms.ChoiceField(choices=Role.choices)
    title = forms.CharField(max_length=200, required=False)
    country = forms.CharField(
        max_length=2, required=False, help_text="Two-letter ISO code, e.g. DE",
    )
    manager = forms.EmailField(
        required=False, label="Manager's e-mail",
        widget=forms.EmailInput(attrs={"list": "people-emails", "autocomplete": "off"}),
    )

    def __init__(self, *args, allowed_roles: list[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if allowed_roles is not None:
            self.fields["role"].choices = [c for c in Role.choices if c[0] in allowed_roles]

    def clean_manager(self) -> User | None:
        return manager_from_email(self.cleaned_data.get("manager"))


class UserCreateForm(UserForm):
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Optional. Leave empty for people who sign in through the identity provider.",
    )


class UserImportForm(forms.Form):
    file = forms.FileField(help_text="UTF-8 CSV; the first line names the columns.")
    dry_run = forms.BooleanField(
        required=False, label="Check only (change nothing)",
        help_text="Validate every row and show what would happen.",
    )


class GroupForm(forms.Form):
    name = forms.CharField(max_length=150)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class AddMemberForm(forms.Form):
    email = forms.EmailField(
        label="Add member by e-mail",
        widget=forms.EmailInput(attrs={"list": "people-emails", "autocomplete": "off"}),
    )

    def clean_email(self) -> User:
        email = self.cleaned_data["email"].strip().lower()
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise forms.ValidationError(f"No user with the e-mail {email} exists.")
        return user


class IdentityProviderForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=IdentityProvider.Kind.choices)
    issuer = forms.URLField(
        max_length=500, assume_scheme="https",
        help_text="The issuer URL; discovery is read from /.well-known/openid-configuration.",
    )
    client_id = forms.CharField(max_length=255, label="Client ID")
    client_secret = forms.CharField(
        required=False, label="Client secret",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    scopes = forms.CharField(max_length=255, initial="openid email profile")
    email_claim = forms.CharField(max_length=64, initial="email", label="E-mail claim")
    verified_claim = forms.CharField(
        max_length=128, initial="identity_verified", label="Verified claim", required=False,
        help_text="Identity verification: the claim that is true when the person was verified.",
    )
    assurance_claim = forms.CharField(
        max_length=128, initial="verification_level", label="Assurance-level claim", required=False,
        help_text="Identity verification: the claim with the assurance level (empty: none is checked). "
        "Dotted paths reach nested claims.",
    )
    assurance_levels = forms.CharField(
        max_length=255, initial="low medium high", label="Assurance levels, lowest first", required=False,
        help_text="The values the provider uses, separated by spaces; numbers compare as numbers.",
    )
    min_assurance_level = forms.CharField(
        max_length=64, initial="high", label="Minimum level accepted", required=False,
    )
    enabled = forms.BooleanField(required=False, initial=True)
    create_users = forms.BooleanField(
        required=False, label="Create accounts on first sign-in",
        help_text="Unknown e-mails in the trusted domains become Employees, linked to this provider. "
        "Off: only people already in the directory may sign in.",
    )
    allowed_domains = forms.CharField(
        required=False, label="Trusted e-mail domains",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "corp.example"}),
        help_text="Sign-in (primary) providers: the provider may sign in only people whose e-mail is in one "
        "of these domains (one per line or separated by spaces; exact match, so list subdomains too). "
        "Anyone else is refused.",
    )
    allowed_emails = forms.CharField(
        required=False, label="Trusted people outside those domains",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "contractor@partner.example"}),
        help_text="Individual e-mail addresses the provider may also sign in.",
    )
    barred_roles = forms.MultipleChoiceField(
        required=False, label="Roles that may not sign in through this provider",
        choices=[(r.value, r.label) for r in (Role.SUPER_ADMIN, Role.SECURITY_ADMIN, Role.HR, Role.AUDITOR)],
        initial=default_barred_roles, widget=forms.CheckboxSelectMultiple,
        help_text="People with a checked role sign in with their password (and MFA) instead. "
        "Both admin roles are barred by default.",
    )

    TRUST_FIELDS = ("kind", "issuer", "client_id", "email_claim", "create_users", "allowed_domains",
                    "allowed_emails", "barred_roles")

    def __init__(self, *args, editing: bool = False, can_change_trust: bool = True,
                 primary: bool = False, **kwargs) -> None:
        """``can_change_trust`` False (not a Super Admin): no primary provider can be added, and a
        primary provider's trust settings are shown but cannot be changed."""
        super().__init__(*args, **kwargs)
        if not can_change_trust:
            note = "Only a Super Admin can change this on a sign-in (primary) provider."
            if primary:
                for name in self.TRUST_FIELDS:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = f"{self.fields[name].help_text} {note}".strip()
            else:
                # They can only make identity verification providers, which these do not apply to.
                for name in ("allowed_domains", "allowed_emails", "barred_roles"):
                    del self.fields[name]
                self.fields["kind"].choices = [
                    c for c in IdentityProvider.Kind.choices if c[0] != IdentityProvider.Kind.PRIMARY
                ]
                self.fields["kind"].help_text = "Only a Super Admin can add or make a sign-in (primary) provider."
        if editing:
            self.fields["client_secret"].help_text = (
                "Stored encrypted and never shown. Leave empty to keep it; type a new one to replace it."
            )
        else:
            self.fields["client_secret"].required = True
            self.fields["client_secret"].help_text = "Stored encrypted; it will not be shown again."
