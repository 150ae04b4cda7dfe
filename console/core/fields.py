from __future__ import annotations

from typing import Any

from django.db import models

from console.core import crypto


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; Python code sees plaintext.

    Never rendered by forms: views offer "replace" and show only whether a value is set."""

    description = "Text encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(value)
