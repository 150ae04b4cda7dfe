"""The DLP pages through Django's test client: the list with search, filter, sort and paging;
predefined and custom profile pages; entries; the Test text panel; what each role may do."""

from __future__ import annotations

import pytest

from console.audit.models import AuditEvent
from shadow_ai.dlp import services
from shadow_ai.dlp.models import DlpEntry, DlpProfile

pytestmark = pytest.mark.django_db

LIST = "/shadow-ai/dlp/profiles/"


def detail(profile: DlpProfile) -> str:
    return f"/shadow-ai/dlp/profiles/{profile.pk}/"


@pytest.fixture
def custom(security_admin) -> DlpProfile:
    profile = services.profile_create(actor=security_admin, name="Project data", description="Code names")
    services.entry_create(actor=security_admin, profile=profile, kind="regex", name="Project code",
                          pattern=r"\bPRJ-\d{6}\b")
    return profile


def test_list_shows_predefined_and_custom_profiles_with_search_filter_and_sort(client_for, auditor, custom,
                                                                              django_assert_max_num_queries):
    client = client_for(auditor)
    with django_assert_max_num_queries(12):
        page = client.get(LIST).content.decode()
    assert "Credentials and Secrets" in page and "Project data" in page
    assert "Create a profile" not in page  # auditors read only
    assert page.count('data-testid="profile-row"') == 5

    filtered = client.get(LIST, {"kind": "custom"}, headers={"HX-Request": "true"}).content.decode()
    assert filtered.count('data-testid="profile-row"') == 1 and "<html" not in filtered
    assert client.get(LIST, {"q": "aws access"}).content.decode().count('data-testid="profile-row"') == 1
    assert "No profiles match" in client.get(LIST, {"q": "nothing like this"}).content.decode()
    by_name_desc = client.get(LIST, {"sort": "-name"}).content.decode()
    assert by_name_desc.index("Social Security") < by_name_desc.index("Credentials and Secrets")
    paged = client.get(LIST, {"per_page": "25", "page": "9"}).content.decode()
    assert "1–5 of 5" in paged


def test_empty_state_when_there_are_no_profiles(client_for, super_admin):
    DlpProfile.objects.all().delete()
    page = client_for(super_admin).get(LIST).content.decode()
    assert "No DLP profiles yet" in page and "dlp_sync_predefined" in page


def test_predefined_profile_page_offers_switches_and_settings_only(client_for, security_admin):
    profile = DlpProfile.objects.get(key="ssn_insurance_tax_ids")
    client = client_for(security_admin)
    page = client.get(detail(profile)).content.decode()
    assert "US Social Security Number (SSN)" in page and "Add an entry" not in page
    assert 'data-testid="profile-delete"' not in page and 'data-testid="entry-edit"' not in page

    ssn = profile.entries.get(predefined_key="us_ssn")
    response = client.post(f"/shadow-ai/dlp/entries/{ssn.pk}/toggle/", {"enabled": "false"})
    assert response.status_code == 302 and not DlpEntry.objects.get(pk=ssn.pk).enabled
    page = client.get(detail(profile)).content.decode()
    assert "is off." in page and "dlp.entry.disabled" in page

    settings = client.post(f"{detail(profile)}edit/", {"match_count": "4", "confidence": "high"})
    assert settings.status_code == 302
    profile.refresh_from_db()
    assert (profile.match_count, profile.confidence) == (4, "high")
    assert "triggers on 5 or more matches" in client.get(detail(profile)).content.decode()
    assert client.get(f"/shadow-ai/dlp/entries/{ssn.pk}/edit/").status_code == 302
    refused = client.post(f"{detail(profile)}delete/", follow=True).content.decode()
    assert "cannot be deleted" in refused and DlpProfile.objects.filter(pk=profile.pk).exists()


def test_admin_creates_a_profile_and_adds_entries_errors_shown_on_the_field(client_for, security_admin):
    client = client_for(security_admin)
    created = client.post("/shadow-ai/dlp/profiles/new/", {"name": "HR data", "description": "",
                                                          "match_count": "0", "confidence": "low"})
    profile = DlpProfile.objects.get(name="HR data")
    assert created["Location"] == detail(profile)
    assert "No entries yet" in client.get(detail(profile)).content.decode()

    bad = client.post(f"{detail(profile)}entries/new/", {"kind": "regex", "name": "Lookahead",
                                                         "pattern": "(?=salary)\\d+"})
    assert bad.status_code == 200 and "RE2 has no lookahead or lookbehind" in bad.content.decode()
    short = client.post(f"{detail(profile)}entries/new/", {"kind": "wordlist", "name": "Names", "words": "Bob"})
    assert "each term needs at least 6 characters" in short.content.decode()
    assert not profile.entries.exists()

    client.post(f"{detail(profile)}entries/new/", {"kind": "wordlist", "name": "Names", "words": "Salary band"})
    entry = profile.entries.get()
    edit = client.post(f"/shadow-ai/dlp/entries/{entry.pk}/edit/", {"name": "Names", "words": "Salary band\nPayroll",
                                                                     "case_sensitive": "on"})
    assert edit.status_code == 302
    entry.refresh_from_db()
    assert entry.words == "Salary band\nPayroll" and entry.case_sensitive
    client.post(f"/shadow-ai/dlp/entries/{entry.pk}/delete/")
    assert not profile.entries.exists()
    client.post(f"{detail(profile)}delete/")
    assert not DlpProfile.objects.filter(pk=profile.pk).exists()
    assert AuditEvent.objects.filter(action__startswith="dlp.").count() == 5


def test_test_text_shows_the_verdict_and_redacted_matches_never_the_text(client_for, auditor, custom, caplog):
    client = client_for(auditor)
    secret_text = "Ticket PRJ-123456 from jane@corp.example"
    response = client.post(f"{detail(custom)}test/", {"text": secret_text}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200 and 'data-triggered="true"' in page and "<html" not in page
    assert "XXX-XXXXXX" in page and "PRJ-123456" not in page
    assert "Ticket " in page  # the context around the match
    assert secret_text not in caplog.text and not AuditEvent.objects.filter(action__contains="test").exists()

    quiet = client.post(f"{detail(custom)}test/", {"text": "nothing here"}).content.decode()
    assert 'data-triggered="false"' in quiet and "Does not trigger." in quiet


def test_test_text_over_one_megabyte_is_refused_with_a_clear_error(client_for, auditor, custom):
    response = client_for(auditor).post(f"{detail(custom)}test/", {"text": "a" * 1_100_000})
    assert response.status_code == 400
    assert "test at most 1 MB at a time" in response.content.decode()


@pytest.mark.parametrize(("role", "can_read", "can_write"), [
    ("super_admin", True, True), ("security_admin", True, True), ("auditor", True, False),
    ("hr", False, False), ("employee", False, False),
])
def test_roles(client_for, make_user, custom, role, can_read, can_write):
    client = client_for(make_user(role))
    entry = custom.entries.get()
    assert client.get(LIST).status_code == (200 if can_read else 403)
    assert client.get(detail(custom)).status_code == (200 if can_read else 403)
    assert client.post(f"{detail(custom)}test/", {"text": "PRJ-123456"}).status_code == (200 if can_read else 403)
    writes = [
        client.get("/shadow-ai/dlp/profiles/new/"),
        client.post(f"/shadow-ai/dlp/entries/{entry.pk}/toggle/", {"enabled": "false"}),
        client.post(f"{detail(custom)}edit/", {"name": "Renamed", "match_count": "1", "confidence": "low"}),
    ]
    assert [r.status_code for r in writes] == ([200, 302, 302] if can_write else [403, 403, 403])
    custom.refresh_from_db()
    assert (custom.name == "Renamed") is can_write
    page = client.get(detail(custom)).content.decode() if can_read else ""
    assert ('data-testid="entry-toggle"' in page) is can_write
