from __future__ import annotations

from django import forms


class KeyForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="To tell keys apart, e.g. \"2026-12 security team key\".")
    public_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}),
        help_text="The X25519 public key: 32 bytes in base64 (as printed by python -m shadow_ai.prompts.offline "
        "keygen) or a PEM PUBLIC KEY block. Never paste the private key.",
    )
