"""The time-range picker and the filters of the usage lists."""

from __future__ import annotations

from typing import Any

from django import forms

from shadow_ai.models import Category, Status
from shadow_ai.usage import dashboard
from shadow_ai.usage.queries import SCOPES

RANGE_FIELDS = ("range", "start", "end", "__all__")
RANGE_CHOICES = [*((key, label) for key, (label, _) in dashboard.RANGES.items()), ("custom", "Custom")]
SCOPE_CHOICES = [("ai", "Generative AI applications"), ("all", "All applications")]


class RangeForm(forms.Form):
    """``?range=7d`` or ``?range=custom&start=2026-03-01&end=2026-03-31`` (days inclusive)."""

    range = forms.ChoiceField(choices=RANGE_CHOICES, required=False, label="Time range")
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}),
                            error_messages={"invalid": "Enter the first day as a date, e.g. 2026-03-01."})
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}),
                          error_messages={"invalid": "Enter the last day as a date, e.g. 2026-03-31."})

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None and not data.get("range"):  # show the default in the picker
            data = data.copy()
            data["range"] = dashboard.DEFAULT_RANGE
        super().__init__(data, *args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("range") != "custom":
            return data
        start, end = data.get("start"), data.get("end")
        if start is None and "start" not in self.errors:
            self.add_error("start", "A custom range needs its first day.")
        if end is None and "end" not in self.errors:
            self.add_error("end", "A custom range needs its last day.")
        if start and end:
            if end < start:
                self.add_error("end", "The last day is before the first day.")
            elif (end - start).days + 1 > dashboard.MAX_DAYS:
                self.add_error("start", f"Pick at most {dashboard.MAX_DAYS} days.")
        return data

    def period(self) -> dashboard.Period:
        """The period asked for; the default (30 days) when the input is missing or wrong."""
        if not self.is_bound or not self.is_valid():
            return dashboard.resolve_range(dashboard.DEFAULT_RANGE)
        data = self.cleaned_data
        return dashboard.resolve_range(data.get("range") or dashboard.DEFAULT_RANGE, data.get("start"),
                                       data.get("end"))

    def problems(self) -> list[str]:
        """What could not be used, naming the field, and what is shown instead."""
        if not self.is_bound or self.is_valid():
            return []
        found = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self.fields else "Time range"
            instead = "Showing the last 30 days instead." if name in RANGE_FIELDS else "This filter is left out."
            found.append(f"{label}: {' '.join(errors)} {instead}")
        return found


def scope_of(value: str | None, default: str = "ai") -> str:
    return value if value in SCOPES else default


class AppListFilter(RangeForm):
    q = forms.CharField(required=False, label="Search", max_length=100)
    scope = forms.ChoiceField(choices=SCOPE_CHOICES, required=False, label="Applications")
    status = forms.ChoiceField(choices=[("", "Any"), *Status.choices], required=False)
    category = forms.ChoiceField(choices=[("", "Any"), *Category.choices], required=False)
    country = forms.CharField(required=False, max_length=60, label="Country",
                              widget=forms.TextInput(attrs={"placeholder": "e.g. DE", "size": 4}))
    new = forms.ChoiceField(choices=[("", "Any"), ("yes", "Yes")], required=False, label="Newly seen")

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and (len(value) != 2 or not value.isalpha()):
            raise forms.ValidationError("Enter a two-letter country code, e.g. DE.")
        return value


class PeopleFilter(RangeForm):
    q = forms.CharField(required=False, label="Search", max_length=100)
    scope = forms.ChoiceField(choices=SCOPE_CHOICES, required=False, label="Applications")


class SearchForm(RangeForm):
    q = forms.CharField(required=False, label="Search", max_length=100)
