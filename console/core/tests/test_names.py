"""Names are unique in any case: the service check and the database constraint behind it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import UniqueConstraint
from django.db.models.functions import Lower

from accounts.models import Group, IdentityProvider
from console.access.models import ApiToken, Application, Policy, ServiceToken
from console.core.errors import Conflict, ValidationFailed
from console.core.names import clean_name, require_free_name
from risk.models import TelemetryKind, TelemetrySource
from shadow_ai.casb.models import Integration
from shadow_ai.dlp.models import DlpEntry, DlpProfile
from shadow_ai.models import Application as LibraryApplication
from shadow_ai.models import GatewayPolicy

NAMED = [Group, IdentityProvider, Application, Policy, ServiceToken, ApiToken, TelemetrySource, Integration,
         DlpProfile, DlpEntry, LibraryApplication, GatewayPolicy]


@pytest.mark.parametrize("model", NAMED, ids=lambda m: m._meta.label)
def test_every_named_model_refuses_the_same_name_in_another_case(model):
    lowered = [c for c in model._meta.constraints
               if isinstance(c, UniqueConstraint) and Lower("name") in c.expressions]
    assert len(lowered) == 1, f"{model._meta.label} has no unique constraint on Lower(name)"


def source(name: str, prefix: str) -> TelemetrySource:
    return TelemetrySource.objects.create(name=name, kind=TelemetryKind.values[0], prefix=prefix, secret_hash="x")


@pytest.mark.django_db
def test_the_database_refuses_a_second_name_that_differs_only_in_case():
    source("Okta sign-ins", "p1")
    with pytest.raises(IntegrityError), transaction.atomic():
        source("OKTA SIGN-INS", "p2")
    source("Okta sign-ins 2", "p3")
    assert TelemetrySource.objects.count() == 2


@pytest.mark.django_db
def test_require_free_name_says_which_field_and_lets_a_row_keep_its_own_name():
    existing = source("Okta sign-ins", "p1")
    with pytest.raises(Conflict) as caught:
        require_free_name(TelemetrySource.objects, "okta SIGN-INS", "Taken.")
    assert (caught.value.message, caught.value.field) == ("Taken.", "name")
    require_free_name(TelemetrySource.objects, "OKTA sign-ins", "Taken.", instance=existing)  # a rename in case
    require_free_name(TelemetrySource.objects, "CrowdStrike", "Taken.")


def test_clean_name_strips_and_says_what_is_wrong():
    assert clean_name("  Okta  sign-ins ") == "Okta  sign-ins"
    assert clean_name("  Okta  sign-ins ", collapse_spaces=True) == "Okta sign-ins"
    assert clean_name("x" * 500, limit=None) == "x" * 500
    for name, message in [("   ", "A name is required."), (None, "A name is required."),
                          ("x" * 121, "Keep the name under 120 characters.")]:
        with pytest.raises(ValidationFailed) as caught:
            clean_name(name)
        assert (caught.value.message, caught.value.field) == (message, "name")
