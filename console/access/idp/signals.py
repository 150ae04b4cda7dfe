"""Keeping django-oauth-toolkit's rows with ours: a client removed with its Access application
takes its OAuth application (and so its tokens and grants) with it."""

from __future__ import annotations

from typing import Any

from oauth2_provider.models import get_application_model


def remove_oauth_application(sender: Any, instance: Any, **kwargs: Any) -> None:
    get_application_model().objects.filter(pk=instance.oauth_id).delete()
