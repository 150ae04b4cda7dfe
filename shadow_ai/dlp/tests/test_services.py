"""DLP services: predefined profiles from the migration, what may change in them, custom
profiles and entries, their audit rows, and ``compiled_profiles`` for scanners."""

from __future__ import annotations

import pytest

from console.audit.models import AuditEvent
from console.core.errors import Conflict, PermissionRefused, ValidationFailed
from shadow_ai.dlp import engine, services
from shadow_ai.dlp.models import DlpEntry, DlpProfile

pytestmark = pytest.mark.django_db


def predefined(key: str) -> DlpProfile:
    return DlpProfile.objects.get(key=key)


def test_predefined_profiles_exist_with_every_entry_on():
    names = set(DlpProfile.objects.filter(kind="predefined").values_list("name", flat=True))
    assert names == {p.name for p in engine.PREDEFINED_PROFILES}
    secrets = predefined("credentials_and_secrets")
    keys = set(secrets.entries.values_list("predefined_key", flat=True))
    assert {"aws_access_key_id", "github_token", "private_key", "openai_key"} <= keys
    assert not secrets.entries.filter(enabled=False).exists()


def test_sync_keeps_admin_choices_and_reports_nothing_when_in_step(super_admin):
    entry = predefined("financial_information").entries.get(predefined_key="cvv")
    services.entry_set_enabled(actor=super_admin, entry=entry, enabled=False)
    entry.delete()  # as if an upgrade had added it
    result = services.predefined_sync(actor=None, system=True)
    assert result.entries_created == 1 and result.profiles_created == 0
    assert AuditEvent.objects.filter(action="dlp.predefined.synced").count() == 1
    assert not services.predefined_sync(actor=None, system=True).changed
    assert AuditEvent.objects.filter(action="dlp.predefined.synced").count() == 1


def test_predefined_profiles_take_settings_and_switches_but_keep_their_shape(super_admin):
    profile = predefined("ssn_insurance_tax_ids")
    assert services.profile_update(actor=super_admin, profile=profile, match_count=2, confidence="medium")
    event = AuditEvent.objects.get(action="dlp.profile.updated")
    assert event.changes == {"match_count": {"old": 0, "new": 2}, "confidence": {"old": "low", "new": "medium"}}
    assert not services.profile_update(actor=super_admin, profile=profile, match_count=2, confidence="medium")

    with pytest.raises(ValidationFailed, match="keeps its name"):
        services.profile_update(actor=super_admin, profile=profile, name="Mine now", match_count=2,
                                confidence="medium")
    with pytest.raises(ValidationFailed, match="cannot be deleted"):
        services.profile_delete(actor=super_admin, profile=profile)
    ssn = profile.entries.get(predefined_key="us_ssn")
    with pytest.raises(ValidationFailed):
        services.entry_update(actor=super_admin, entry=ssn, name="SSN", pattern=r"\d+")
    with pytest.raises(ValidationFailed):
        services.entry_delete(actor=super_admin, entry=ssn)
    with pytest.raises(ValidationFailed, match="Predefined profiles hold only predefined entries"):
        services.entry_create(actor=super_admin, profile=profile, kind="regex", name="Mine", pattern="abc")

    assert services.entry_set_enabled(actor=super_admin, entry=ssn, enabled=False)
    assert not services.entry_set_enabled(actor=super_admin, entry=ssn, enabled=False)
    toggled = AuditEvent.objects.get(action="dlp.entry.disabled")
    assert toggled.object_id == str(profile.pk) and toggled.actor_id == super_admin.pk
    assert toggled.changes["enabled"] == {"old": True, "new": False}
    assert toggled.changes["entry"]["new"].startswith("US Social Security Number (SSN)")
    assert DlpProfile.objects.get(pk=profile.pk).match_count == 2


def test_custom_profile_and_entries_round_trip_with_audit(super_admin):
    profile = services.profile_create(actor=super_admin, name="  Project  data ", description="Code names",
                                      match_count=1, confidence="high")
    assert profile.name == "Project data" and profile.kind == "custom" and profile.created_by_email == super_admin.email
    created = AuditEvent.objects.get(action="dlp.profile.created")
    assert created.changes["name"] == {"old": None, "new": "Project data"}

    with pytest.raises(Conflict):
        services.profile_create(actor=super_admin, name="project DATA")
    with pytest.raises(ValidationFailed, match="0 to 1000"):
        services.profile_create(actor=super_admin, name="Other", match_count=1001)

    regex = services.entry_create(actor=super_admin, profile=profile, kind="regex", name="Project code",
                                  pattern=r"\bPRJ-\d{6}\b")
    words = services.entry_create(actor=super_admin, profile=profile, kind="wordlist", name="Code names",
                                  words="Bluebird\nNightjar\n", case_sensitive=True)
    assert words.words == "Bluebird\nNightjar" and words.case_sensitive
    added = AuditEvent.objects.filter(action="dlp.entry.created").order_by("pk").last()
    assert added.changes["words"] == {"old": None, "new": "2 term(s)"}
    assert "Bluebird" not in str(added.changes)  # terms may be confidential: the trail keeps the count

    assert services.entry_update(actor=super_admin, entry=regex, name="Project code", pattern=r"\bPRJ-\d{7}\b")
    updated = AuditEvent.objects.get(action="dlp.entry.updated")
    assert updated.changes["pattern"] == {"old": r"\bPRJ-\d{6}\b", "new": r"\bPRJ-\d{7}\b"}
    assert services.entry_update(actor=super_admin, entry=words, name="Code names", words="Bluebird\nKestrel",
                                 case_sensitive=True)
    assert AuditEvent.objects.filter(action="dlp.entry.updated").order_by("pk").last().changes["words"]["new"] == \
        "changed, same count"

    services.entry_delete(actor=super_admin, entry=regex)
    assert AuditEvent.objects.get(action="dlp.entry.deleted").changes["entry"]["old"].startswith("Project code")
    services.profile_delete(actor=super_admin, profile=profile)
    assert not DlpEntry.objects.filter(pk=words.pk).exists()
    gone = AuditEvent.objects.get(action="dlp.profile.deleted")
    assert gone.changes["entries"] == {"old": 1, "new": None}


@pytest.mark.parametrize(("kind", "fields", "message"), [
    ("regex", {"pattern": "(?=x)y"}, "no lookahead"),
    ("regex", {"pattern": "(a)\\1"}, "no backreferences"),
    ("regex", {"pattern": ".*"}, "matches empty text"),
    ("wordlist", {"words": "Bluebird\nowl"}, "Line 2"),
    ("wordlist", {"words": "\n\n"}, "at least one term"),
])
def test_bad_custom_entries_are_refused_with_the_reason_on_their_field(super_admin, kind, fields, message):
    profile = services.profile_create(actor=super_admin, name="Custom")
    with pytest.raises(ValidationFailed) as caught:
        services.entry_create(actor=super_admin, profile=profile, kind=kind, name="Bad", **fields)
    assert message in caught.value.message
    assert caught.value.field == ("pattern" if kind == "regex" else "words")
    assert not profile.entries.exists()


def test_readers_cannot_write(auditor, security_admin):
    with pytest.raises(PermissionRefused):
        services.profile_create(actor=auditor, name="Nope")
    profile = services.profile_create(actor=security_admin, name="Allowed")
    with pytest.raises(PermissionRefused):
        services.profile_delete(actor=auditor, profile=profile)
    with pytest.raises(PermissionRefused):
        services.entry_set_enabled(actor=auditor, entry=predefined("personal_information").entries.first(),
                                   enabled=False)


def test_compiled_profiles_returns_plain_engine_objects_with_enabled_entries(super_admin,
                                                                            django_assert_max_num_queries):
    custom = services.profile_create(actor=super_admin, name="Custom", match_count=1, confidence="medium")
    entry = services.entry_create(actor=super_admin, profile=custom, kind="regex", name="Code", pattern=r"PRJ-\d+")
    services.entry_create(actor=super_admin, profile=custom, kind="wordlist", name="Names", words="Bluebird",
                          enabled=False)
    finance = predefined("financial_information")
    services.entry_set_enabled(actor=super_admin, entry=finance.entries.get(predefined_key="iban"), enabled=False)

    with django_assert_max_num_queries(2):
        compiled = services.compiled_profiles([custom.pk, 999_999, finance.pk])
    assert [type(p) for p in compiled] == [engine.Profile, engine.Profile]
    first, second = compiled
    assert (first.id, first.name, first.match_count, first.confidence) == (custom.pk, "Custom", 1, "medium")
    assert [e.key for e in first.entries] == [f"custom:{entry.pk}"]
    assert "iban" not in {e.key for e in second.entries} and "card_visa" in {e.key for e in second.entries}

    results = engine.scan("PRJ-1 and PRJ-2", compiled)
    assert results[0].triggered and results[0].total == 2 and not results[1].triggered


def test_profile_test_refuses_empty_and_oversized_text(auditor):
    profile = predefined("personal_information")
    with pytest.raises(ValidationFailed, match="Paste some text"):
        services.profile_test(actor=auditor, profile=profile, text="  ")
    with pytest.raises(ValidationFailed, match="at most 1 MB"):
        services.profile_test(actor=auditor, profile=profile, text="x" * 1_000_001)
    result = services.profile_test(actor=auditor, profile=profile, text="write to jane@corp.example")
    assert result.triggered and result.matches[0].redacted == "XXXX@XXXX.XXXXXXX"
    assert not AuditEvent.objects.exists()
