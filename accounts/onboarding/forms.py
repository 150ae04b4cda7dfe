from __future__ import annotations

from django import forms

from accounts.forms import manager_from_email
from accounts.models import Group, IdentityProvider, User


class CaseForm(forms.Form):
    legal_name = forms.CharField(max_length=200, label="Legal name",
                                 help_text="As on the new hire's government ID: the provider compares them.")
    personal_email = forms.EmailField(max_length=254, label="Personal e-mail",
                                      help_text="The invitation goes here.")
    work_email = forms.EmailField(max_length=254, label="Work e-mail",
                                  help_text="Their account; the verified e-mail must match it.")
    start_date = forms.DateField(label="Start date", widget=forms.DateInput(attrs={"type": "date"}))
    date_of_birth = forms.DateField(
        required=False, label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. If the account is ever recovered, the verified birthdate must match it.",
    )
    manager = forms.EmailField(
        required=False, label="Manager's e-mail",
        widget=forms.EmailInput(attrs={"list": "people-emails", "autocomplete": "off"}),
    )
    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
    )
    provider = forms.ModelChoiceField(
        queryset=IdentityProvider.objects.none(), label="Identity verification provider", empty_label=None,
    )

    def __init__(self, *args, providers: list[IdentityProvider] | None = None, with_groups: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not with_groups:
            # Only admins put people into groups (HR invites; an admin adds the groups).
            del self.fields["groups"]
        ids = [p.pk for p in providers or []]
        self.fields["provider"].queryset = IdentityProvider.objects.filter(pk__in=ids).order_by("name")

    def clean_manager(self) -> User | None:
        return manager_from_email(self.cleaned_data.get("manager"))


class RecoveryForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Your work e-mail")
