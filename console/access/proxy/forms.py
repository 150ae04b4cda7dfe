from __future__ import annotations

from urllib.parse import urlsplit

from django import forms


class ConnectForm(forms.Form):
    """Where the proxy reaches the application and the console, for the configurations shown."""

    upstream = forms.URLField(label="Your application, as the proxy reaches it", required=False,
                              assume_scheme="http", help_text="e.g. http://127.0.0.1:3000")
    console = forms.URLField(label="The console, as the proxy reaches it", required=False, assume_scheme="https",
                             help_text="Default: CONSOLE_URL")

    def clean_upstream(self) -> str:
        return _origin(self.cleaned_data["upstream"], "upstream")

    def clean_console(self) -> str:
        return _origin(self.cleaned_data["console"], "console")


def _origin(value: str, field: str) -> str:
    """Scheme, host and port only: the configurations add the paths themselves."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or parts.query:
        raise forms.ValidationError("Give only http(s)://host[:port], without a path.")
    return f"{parts.scheme}://{parts.netloc}"
