"""Forms of the DLP pages. Checks that need the engine (RE2 syntax, wordlist rules) happen in
the services, whose messages are shown on the field they name."""

from __future__ import annotations

from django import forms

from shadow_ai.dlp.engine import MAX_MATCH_COUNT
from shadow_ai.dlp.models import DlpEntry, DlpProfile


class ProfileForm(forms.Form):
    """``predefined``: only the two settings are offered."""

    name = forms.CharField(max_length=120, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    match_count = forms.IntegerField(
        min_value=0, max_value=MAX_MATCH_COUNT, initial=0, label="Match count",
        help_text="The profile triggers on more than this many matches (duplicates count): 0 triggers on the "
                  "first match, 2 needs three or more.")
    confidence = forms.ChoiceField(
        choices=DlpProfile.Threshold.choices, initial="low", label="Confidence threshold",
        help_text="Low counts every match (pattern and checksum). Medium counts only matches with a proximity "
                  "keyword nearby, High only those with two or more. Custom entries count at every level.")

    def __init__(self, *args, predefined: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if predefined:
            del self.fields["name"]
            del self.fields["description"]


class EntryForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(DlpEntry.Kind.REGEX, "Regular expression (RE2)"), (DlpEntry.Kind.WORDLIST, "Wordlist")],
        initial=DlpEntry.Kind.REGEX, widget=forms.RadioSelect, label="Type")
    name = forms.CharField(max_length=120, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    pattern = forms.CharField(
        required=False, label="Pattern", strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "class": "mono"}),
        help_text="RE2 syntax, e.g. \\bPRJ-\\d{6}\\b. No lookarounds or backreferences. Add (?i) at the start to "
                  "ignore case.")
    words = forms.CharField(
        required=False, label="Terms", strip=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="One term a line, each at least 6 characters. Terms match as whole words.")
    case_sensitive = forms.BooleanField(required=False, label="Case-sensitive (wordlists only)")

    def __init__(self, *args, kind: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if kind is not None:  # editing: the type stays
            del self.fields["kind"]
            if kind == DlpEntry.Kind.REGEX:
                del self.fields["words"]
                del self.fields["case_sensitive"]
            else:
                del self.fields["pattern"]


class TestTextForm(forms.Form):
    text = forms.CharField(strip=False, label="Text to test",
                           widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "autocomplete": "off"}),
                           help_text="Up to 1 MB. Scanned in memory and thrown away: never stored or logged.")
