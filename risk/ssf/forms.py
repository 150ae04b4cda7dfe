from __future__ import annotations

from django import forms

from console.access.models import ApiToken
from risk.ssf import events
from risk.ssf.models import Delivery, Stream


def receiver_tokens():
    usable = [t.pk for t in ApiToken.objects.filter(revoked_at__isnull=True)
              if ApiToken.Scope.SSF_STREAM in t.scopes]
    return ApiToken.objects.filter(pk__in=usable).order_by("name")


class StreamForm(forms.Form):
    description = forms.CharField(max_length=300, required=False,
                                  help_text="Who receives this stream, e.g. “Okta ITP, production tenant”.")
    delivery_method = forms.ChoiceField(choices=Stream.Method.choices, label="Delivery",
                                        help_text="Push: we POST each event to the receiver. Poll: the receiver "
                                                  "fetches events with its API token.")
    endpoint_url = forms.CharField(max_length=500, required=False, label="Receiver's push endpoint",
                                   help_text="Push only. Okta: https://<your-org>.okta.com/security/api/v1/"
                                             "security-events")
    authorization_header = forms.CharField(
        max_length=4096, required=False, label="Authorization header for the push endpoint",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Optional; sent with every push. Stored encrypted and never shown again.",
    )
    clear_authorization_header = forms.BooleanField(required=False, label="Remove the stored authorization header")
    audience = forms.CharField(max_length=600, required=False, label="Audience (aud)",
                               help_text="How the receiver names itself; Okta: https://<your-org>.okta.com. "
                                         "Empty: the origin of the push endpoint, or the receiver token's name.")
    events_requested = forms.MultipleChoiceField(
        choices=[(e, events.label(e)) for e in events.SUPPORTED], widget=forms.CheckboxSelectMultiple,
        initial=list(events.DEFAULT_REQUESTED), label="Events",
        help_text="Okta takes User risk change and Session revoked; receivers that speak CAEP 1.0 take "
                  "Risk level change (CAEP) instead of User risk change.",
    )
    subjects_default = forms.ChoiceField(choices=Stream.Subjects.choices, label="People covered")
    subject_format = forms.ChoiceField(choices=Stream.SubjectFormat.choices, label="Identify people by",
                                       help_text="Okta matches people by e-mail address.")
    event_subject = forms.ChoiceField(
        choices=[("", "Automatic: Okta compatible for an Okta push endpoint, else SSF 1.0"),
                 *Stream.EventSubject.choices],
        label="Subject inside events", required=False,
        help_text="How the person is written in the subject member of each event body (sub_id is always "
                  "SSF 1.0). Okta reads only its older shape.")
    receiver = forms.ModelChoiceField(queryset=ApiToken.objects.none(), required=False, empty_label="None",
                                      label="Receiver's API token",
                                      help_text="Lets that token manage this stream through the SSF API "
                                                "(and poll it). Create tokens with the ssf:stream scope under "
                                                "Settings › API tokens.")

    def __init__(self, *args, editing: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["receiver"].queryset = receiver_tokens()
        if not editing:
            del self.fields["clear_authorization_header"]
        else:
            self.fields["authorization_header"].help_text = "Leave empty to keep the stored one."


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Stream.Status.choices)
    reason = forms.CharField(max_length=300, required=False)


class SubjectForm(forms.Form):
    action = forms.ChoiceField(choices=[("add", "Add"), ("remove", "Remove")])
    format = forms.ChoiceField(choices=Stream.SubjectFormat.choices)
    value = forms.CharField(max_length=300, label="E-mail, subject or id")
    issuer = forms.CharField(max_length=300, required=False, label="Issuer (iss_sub only)")

    def subject(self) -> dict:
        data = self.cleaned_data
        if data["format"] == "email":
            return {"format": "email", "email": data["value"].strip()}
        if data["format"] == "iss_sub":
            return {"format": "iss_sub", "iss": data["issuer"].strip(), "sub": data["value"].strip()}
        return {"format": "opaque", "id": data["value"].strip()}


DELIVERY_STATUS_CHOICES = Delivery.Status.choices
