"""Forms of the risk pages: investigation reasons, behaviour settings, telemetry sources."""

from __future__ import annotations

from django import forms

from risk.models import Level, TelemetryKind


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Kept in the person's risk history and the audit trail.")


class BehaviourForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Enabled")
    level = forms.ChoiceField(choices=[(str(int(v)), label) for v, label in Level.choices if v],
                              label="Risk level")

    def __init__(self, *args, behaviour, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.behaviour = behaviour
        for param in behaviour.params:
            if param.kind == "list":
                field = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label=param.label,
                                        help_text=(param.help + " " if param.help else "") + "Comma-separated.")
            else:
                field = forms.FloatField(label=f"{param.label}" + (f" ({param.unit})" if param.unit else ""),
                                         help_text=param.help, min_value=param.minimum, max_value=param.maximum)
                if param.kind == "int":
                    field = forms.IntegerField(label=field.label, help_text=param.help,
                                               min_value=param.minimum, max_value=param.maximum)
            self.fields[f"param_{param.name}"] = field


class SettingsForm(forms.Form):
    lookback_days = forms.IntegerField(min_value=0, max_value=3650, label="Look-back (days)",
                                       help_text="Events older than this stop counting. 0 counts everything since "
                                                 "the last reset.")


class SourceForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. Logpush – Gateway HTTP, CrowdStrike webhook")
    kind = forms.ChoiceField(choices=TelemetryKind.choices, label="Sends")
