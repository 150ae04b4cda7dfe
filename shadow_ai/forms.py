"""Forms for the library pages and the Gateway policy editor. A policy's conditions are rows of
a formset (condition type and the inputs that type needs), turned into the configurations the
engine compiles (``shadow_ai.gateway.engine.CONDITIONS``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.forms import formset_factory

from accounts.models import Group, User
from console.core.errors import ValidationFailed
from shadow_ai import hostnames, scoring
from shadow_ai.dlp.models import DlpProfile
from shadow_ai.gateway import engine
from shadow_ai.gateway.api import MAX_INSPECTED_BYTES
from shadow_ai.gateway.conditions import CONDITION_LABELS, condition_config
from shadow_ai.models import Application, Category, GatewayPolicy, Status
from shadow_ai.prompts import topics as prompt_topics

UNKNOWN = "unknown"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").replace(",", "\n").splitlines() if line.strip()]


class ApplicationForm(forms.Form):
    name = forms.CharField(max_length=120)
    vendor = forms.CharField(max_length=120, required=False)
    category = forms.ChoiceField(choices=Category.choices)
    hostnames = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, e.g. chat.example.com. Subdomains are included; a hostname belongs to one "
        "application only.",
    )
    is_gen_ai = forms.BooleanField(required=False, label="Generative AI application")
    url = forms.CharField(max_length=500, required=False, label="URL",
                          help_text="Where people open it; empty: https:// and the first hostname.")
    description = forms.CharField(max_length=300, required=False)

    def clean_hostnames(self) -> list[str]:
        return _lines(self.cleaned_data["hostnames"])


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Status.choices)
    reason = forms.CharField(max_length=500,
                             widget=forms.TextInput(attrs={"placeholder": "Why (kept in the audit trail)"}))


class BulkStatusForm(StatusForm):
    applications = forms.TypedMultipleChoiceField(coerce=int, choices=[], required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ids = [v for v in self.data.getlist("applications") if str(v).isdigit()] if self.data else []
        self.fields["applications"].choices = [(int(i), i) for i in ids]


def evidence_choices(field: scoring.Field) -> list[tuple[str, str]]:
    def encode(value: Any) -> str:
        return "true" if value is True else "false" if value is False else str(value)

    return [(encode(v), label) for v, label in field.choices] + [(UNKNOWN, "Unknown")]


def decode_evidence(field: scoring.Field, raw: str) -> Any:
    if raw == UNKNOWN:
        return None
    for value, _ in field.choices:
        if (value is True and raw == "true") or (value is False and raw == "false") or value == raw:
            return value
    raise forms.ValidationError(f"{raw!r} is not a value of {field.label}.")


class EvidenceForm(forms.Form):
    field = forms.ChoiceField(choices=[(k, f.label) for k, f in scoring.FIELDS.items()])
    value = forms.CharField(max_length=40, required=False)
    note = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"placeholder": "Source or reason"}))
    clear = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "field" in data and not data.get("clear"):
            data["value"] = decode_evidence(scoring.FIELDS[data["field"]], data.get("value") or "")
        return data


# --- Gateway policy editor --------------------------------------------------------------------

class ConditionForm(forms.Form):
    type = forms.ChoiceField(choices=list(CONDITION_LABELS.items()), label="Condition")
    operator = forms.ChoiceField(choices=[("in", "is"), ("not_in", "is not")], required=False)
    values = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    categories = forms.MultipleChoiceField(choices=Category.choices, required=False,
                                           widget=forms.SelectMultiple(attrs={"size": 6}))
    statuses = forms.MultipleChoiceField(choices=Status.choices, required=False,
                                         widget=forms.CheckboxSelectMultiple)
    risk_levels = forms.MultipleChoiceField(choices=[(r, r.capitalize()) for r in engine.RISK_LEVELS],
                                            required=False, widget=forms.CheckboxSelectMultiple)
    gen_ai = forms.ChoiceField(choices=[("true", "is a generative AI application"),
                                        ("false", "is not a generative AI application")], required=False)
    comparison = forms.ChoiceField(choices=[("lt", "<"), ("lte", "≤"), ("gt", ">"), ("gte", "≥")], required=False)
    threshold = forms.DecimalField(required=False, min_value=0, max_value=5, decimal_places=1, max_digits=2)
    match_unscored = forms.BooleanField(required=False, label="Unscored applications match too")
    posture = forms.ChoiceField(choices=[("passes", "passes"), ("fails", "fails")], required=False)
    managed = forms.BooleanField(required=False)
    disk_encrypted = forms.BooleanField(required=False)
    min_edr_score = forms.IntegerField(required=False, min_value=0, max_value=100)
    dlp_profiles = forms.ModelMultipleChoiceField(queryset=DlpProfile.objects.order_by("name"), required=False,
                                                  widget=forms.SelectMultiple(attrs={"size": 6}))
    prompt_topics = forms.MultipleChoiceField(choices=[(t.key, t.name) for t in prompt_topics.TOPICS],
                                              required=False, widget=forms.CheckboxSelectMultiple)
    topic_confidence = forms.ChoiceField(choices=[(v, f"{v.capitalize()} or higher") for v in engine.TOPIC_LEVELS],
                                         required=False, initial="medium", label="Confidence")

    def to_config(self) -> dict[str, Any]:
        """The condition's configuration; ``forms.ValidationError`` when it is wrong."""
        try:
            return condition_config(self.cleaned_data)
        except ValidationFailed as exc:
            raise forms.ValidationError(exc.message) from None


ConditionFormSet = formset_factory(ConditionForm, extra=0, can_delete=True, min_num=1, validate_min=True)


def condition_rows(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Initial editor rows from stored conditions."""
    names = dict(Application.objects.values_list("key", "name"))
    groups = dict(Group.objects.values_list("pk", "name"))
    rows = []
    for config in conditions:
        kind = config.get("type")
        row: dict[str, Any] = {"type": kind, "operator": config.get("operator", "in")}
        values = config.get("values") or []
        if kind == "application":
            row["values"] = "\n".join(names.get(v, v) for v in values)
        elif kind == "group":
            row["values"] = "\n".join(groups.get(int(v), f"(deleted group {v})") for v in values)
        elif kind in ("hostname", "user_email"):
            row["values"] = "\n".join(values)
        row["categories"] = values if kind == "category" else []
        row["statuses"] = values if kind == "status" else []
        row["risk_levels"] = values if kind == "risk_score" else []
        row["dlp_profiles"] = values if kind == "dlp_profile" else []
        row["prompt_topics"] = values if kind == "prompt_topic" else []
        if kind == "prompt_topic":
            row["topic_confidence"] = config.get("confidence", "low")
        if kind == "gen_ai":
            row["gen_ai"] = "true" if config.get("value") else "false"
        if kind in ("saas_score", "genai_score"):
            row["comparison"], row["threshold"] = config.get("comparison"), config.get("value")
            row["match_unscored"] = config.get("match_unscored", False)
        if kind == "device_posture":
            row["posture"] = config.get("result", "passes")
            row["managed"], row["disk_encrypted"] = config.get("managed", False), config.get("disk_encrypted", False)
            row["min_edr_score"] = config.get("min_edr_score")
        rows.append(row)
    return rows


def conditions_from_formset(formset) -> list[dict[str, Any]]:
    """Stored conditions from a valid formset; adds row errors and raises ValidationError otherwise."""
    conditions: list[dict[str, Any]] = []
    failed = False
    for form in formset.forms:
        if not form.cleaned_data or form.cleaned_data.get("DELETE"):
            continue
        try:
            conditions.append(form.to_config())
        except forms.ValidationError as exc:
            form.add_error(None, exc)
            failed = True
    if failed:
        raise forms.ValidationError("Some conditions need fixing.")
    if not conditions:
        raise forms.ValidationError("Add at least one condition.")
    return conditions


class GatewayPolicyForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(max_length=300, required=False)
    action = forms.ChoiceField(choices=GatewayPolicy.Action.choices)
    enabled = forms.BooleanField(required=False, initial=True)
    target = forms.ModelChoiceField(
        queryset=Application.objects.filter(status=Status.APPROVED).order_by("name"), required=False,
        label="Approved alternative", empty_label="—",
        help_text="Redirect: where people are sent. Block: what the block page suggests instead. Only Approved "
        "applications are offered.",
    )
    block_message = forms.CharField(max_length=500, required=False, label="Block page message",
                                    widget=forms.Textarea(attrs={"rows": 2}),
                                    help_text="Why it is blocked, shown on the block page.")
    isolate_block_upload = forms.BooleanField(required=False, label="Block uploads")
    isolate_block_download = forms.BooleanField(required=False, label="Block downloads")
    isolate_block_copy = forms.BooleanField(required=False, label="Block copy")
    isolate_block_paste = forms.BooleanField(required=False, label="Block paste")
    isolate_block_print = forms.BooleanField(required=False, label="Block printing")
    capture_prompts = forms.BooleanField(required=False, label="Capture prompts")
    capture_groups = forms.CharField(required=False, label="Capture prompts only for these groups",
                                     widget=forms.Textarea(attrs={"rows": 2}),
                                     help_text="Group names, one per line; empty: everyone the policy matches.")

    def clean_capture_groups(self) -> list[int]:
        names = _lines(self.cleaned_data.get("capture_groups", ""))
        groups = {g.name.lower(): g.pk for g in Group.objects.all()} if names else {}
        missing = [n for n in names if n.lower() not in groups]
        if missing:
            raise forms.ValidationError(f"Unknown group(s): {', '.join(missing)}.")
        return [groups[n.lower()] for n in names]

    def service_kwargs(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["isolation"] = {c: data.pop(f"isolate_block_{c}") for c in ("upload", "download", "copy", "paste",
                                                                            "print")}
        return data


class TesterForm(forms.Form):
    email = forms.CharField(
        required=False, label="User",
        widget=forms.EmailInput(attrs={"list": "people-emails", "autocomplete": "off",
                                       "placeholder": "Empty: all active users"}),
    )
    destination = forms.CharField(max_length=4096, label="Hostname or URL",
                                  widget=forms.TextInput(attrs={"placeholder": "e.g. chatgpt.com"}))
    device_id = forms.CharField(max_length=120, required=False, label="Device id")
    body = forms.CharField(
        required=False, strip=False, label="Request body",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Optional: a prompt or uploaded text, for DLP "
                                     "profile and prompt topic conditions. Not stored."}),
        help_text="Scanned for the DLP profiles and prompt topics the policies use; never stored or logged.",
    )

    def clean_body(self) -> str:
        body = self.cleaned_data.get("body") or ""
        if len(body.encode("utf-8", "replace")) > MAX_INSPECTED_BYTES:
            raise forms.ValidationError(f"The gateway inspects at most {MAX_INSPECTED_BYTES // 1_000_000} MB.")
        return body

    def clean_email(self) -> User | None:
        email = (self.cleaned_data.get("email") or "").strip().lower()
        if not email:
            return None
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user with the e-mail {email} exists.")
        return user

    def clean_destination(self) -> str:
        raw = self.cleaned_data["destination"].strip()
        host = urlsplit(raw if "://" in raw else f"https://{raw}").hostname or ""
        try:
            return hostnames.normalize(host)
        except ValueError:
            raise forms.ValidationError("Enter a hostname such as chatgpt.com, or a URL.") from None
