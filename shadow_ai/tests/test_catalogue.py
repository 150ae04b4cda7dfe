"""The shipped catalogue: what it holds, that loading it twice changes nothing, and that an
updated catalogue applies without touching the organization's statuses and overrides."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.management import call_command

from console.audit.models import AuditEvent
from shadow_ai import catalogue, scoring
from shadow_ai.models import Application, ApplicationHostname, Category, EvidenceOverride, Status

pytestmark = pytest.mark.django_db

MUST_HAVE = {
    "ChatGPT": "chatgpt.com", "Claude": "claude.ai", "Gemini": "gemini.google.com",
    "Microsoft Copilot": "copilot.microsoft.com", "Perplexity": "perplexity.ai", "Le Chat": "chat.mistral.ai",
    "DeepSeek": "deepseek.com", "Poe": "poe.com", "Character.AI": "character.ai", "Midjourney": "midjourney.com",
    "GitHub Copilot": "githubcopilot.com", "Cursor": "cursor.com", "Notion": "notion.so",
    "Grammarly": "grammarly.com", "Slack": "slack.com", "Salesforce": "salesforce.com", "Zoom": "zoom.us",
    "Dropbox": "dropbox.com", "GitHub": "github.com", "Gmail": "mail.google.com",
}


def test_the_shipped_catalogue_is_valid_and_real():
    shipped = catalogue.load()
    assert len(shipped.entries) >= 150
    by_name = {e.name: e for e in shipped.entries}
    for name, host in MUST_HAVE.items():
        assert host in by_name[name].hostnames, name
    gen_ai = [e for e in shipped.entries if e.gen_ai]
    assert len(gen_ai) >= 50 and by_name["ChatGPT"].gen_ai and not by_name["Slack"].gen_ai
    assert by_name["Notion"].aliases == "Notion AI"  # Notion AI shares Notion's hostnames
    categories = {e.category for e in shipped.entries}
    assert categories <= set(Category.values) and len(categories) >= 30
    assert all(e.vendor for e in shipped.entries)
    # Evidence is there where public facts allow, and stays unknown elsewhere.
    assert by_name["Claude"].evidence["iso42001"] is True
    assert by_name["ChatGPT"].evidence["training_on_customer_data"] == "opt_out"
    assert by_name["DeepSeek"].evidence["recent_material_breach"] is True
    assert "soc2" not in by_name["Poe"].evidence
    # The 2026-11 check: corrected facts (see the file's header) stay corrected.
    assert "iso42001" not in by_name["Gemini"].evidence  # no source for it
    assert by_name["GitHub Copilot"].evidence["iso42001"] is True
    assert by_name["Midjourney"].evidence["training_on_customer_data"] == "used"
    assert "third_party_sharing" not in by_name["ChatGPT"].evidence
    assert sum(1 for e in shipped.entries if not e.evidence) > 20


def test_loading_creates_every_application_with_scores_and_hostnames(library):
    assert library.total == len(library.created) >= 150
    assert Application.objects.count() == library.total
    assert set(Application.objects.values_list("status", flat=True)) == {Status.UNREVIEWED}
    claude = Application.objects.get(key="claude")
    assert claude.source == "catalogue" and claude.is_gen_ai and claude.vendor == "Anthropic"
    assert claude.url == "https://claude.ai/" and claude.trust_url == "https://trust.anthropic.com/"
    assert set(claude.hostnames.values_list("hostname", flat=True)) == {"claude.ai", "claude.com"}
    expected = scoring.scores_for(claude.evidence, gen_ai=True)
    assert (claude.saas_score, claude.genai_score) == (expected["saas"].score, expected["gen_ai"].score)
    assert Application.objects.get(key="poe").saas_score is not None  # financial standing is known
    assert Application.objects.get(key="slack").genai_score is None  # not generative AI
    assert ApplicationHostname.objects.count() == sum(len(e.hostnames) for e in catalogue.load().entries)
    assert AuditEvent.objects.filter(action="shadow_ai.library.synced").count() == 1


def test_reloading_changes_nothing(library, capsys):
    before = list(Application.objects.order_by("pk").values_list("pk", "updated_at", "saas_score", "genai_score"))
    hosts = list(ApplicationHostname.objects.order_by("pk").values_list("pk", "hostname", "application_id"))
    audit = AuditEvent.objects.count()

    again = catalogue.sync_library()
    assert (again.created, again.updated, again.unchanged) == ([], [], library.total)
    call_command("sync_app_library")
    assert f"{library.total} unchanged" in capsys.readouterr().out

    assert list(Application.objects.order_by("pk").values_list("pk", "updated_at", "saas_score",
                                                               "genai_score")) == before
    assert list(ApplicationHostname.objects.order_by("pk").values_list("pk", "hostname", "application_id")) == hosts
    assert AuditEvent.objects.count() == audit


def _edited(shipped: catalogue.Catalogue, key: str, **changes) -> catalogue.Catalogue:
    entries = tuple(dataclasses.replace(e, **changes) if e.key == key else e for e in shipped.entries)
    return dataclasses.replace(shipped, entries=entries)


def test_an_updated_catalogue_applies_and_keeps_the_organizations_decisions(library, super_admin):
    from shadow_ai import services

    chatgpt = Application.objects.get(key="chatgpt")
    services.application_set_status(actor=super_admin, application=chatgpt, status="unapproved",
                                    reason="Consumer plans train on prompts.")
    services.evidence_override_set(actor=super_admin, application=chatgpt, field="iso42001", value=True,
                                   note="Certificate seen in the vendor review.")
    shipped = catalogue.load()
    entry = next(e for e in shipped.entries if e.key == "chatgpt")
    updated = _edited(shipped, "chatgpt", hostnames=(*entry.hostnames, "chatgpt-cdn.example"),
                      evidence={**entry.evidence, "system_card": False}, description="Changed upstream.")

    result = catalogue.sync_library(catalogue=updated)
    assert result.updated == ["chatgpt"] and result.created == [] and result.unchanged == library.total - 1
    chatgpt.refresh_from_db()
    assert chatgpt.description == "Changed upstream."
    assert "chatgpt-cdn.example" in set(chatgpt.hostnames.values_list("hostname", flat=True))
    assert chatgpt.status == Status.UNAPPROVED and chatgpt.status_reason == "Consumer plans train on prompts."
    assert EvidenceOverride.objects.get(application=chatgpt, field="iso42001").value is True
    effective = {**chatgpt.evidence, "iso42001": True}
    assert chatgpt.genai_score == scoring.score(scoring.GEN_AI, effective).score
    assert chatgpt.evidence["system_card"] is False

    # A hostname moves from one catalogue application to another in one run.
    moved = _edited(_edited(updated, "chatgpt", hostnames=entry.hostnames), "sora",
                    hostnames=("sora.com", "sora.chatgpt.com", "chatgpt-cdn.example"))
    catalogue.sync_library(catalogue=moved)
    assert ApplicationHostname.objects.get(hostname="chatgpt-cdn.example").application.key == "sora"


def test_a_custom_application_keeps_a_hostname_the_catalogue_adds_later(library, super_admin):
    from shadow_ai import services

    internal = services.application_create(actor=super_admin, name="Chat mirror", category="business",
                                           hostnames=["mirror.chatgpt-cdn.example"])
    shipped = catalogue.load()
    entry = next(e for e in shipped.entries if e.key == "chatgpt")
    updated = _edited(shipped, "chatgpt", hostnames=(*entry.hostnames, "mirror.chatgpt-cdn.example"))
    result = catalogue.sync_library(catalogue=updated)
    assert result.hostnames_kept_elsewhere == [("mirror.chatgpt-cdn.example", "ChatGPT", "Chat mirror")]
    assert ApplicationHostname.objects.get(hostname="mirror.chatgpt-cdn.example").application == internal
    # Retried on the next run: once the custom application is gone, the catalogue gets it.
    services.application_delete(actor=super_admin, application=internal)
    assert catalogue.sync_library(catalogue=updated).updated == ["chatgpt"]
    assert ApplicationHostname.objects.get(hostname="mirror.chatgpt-cdn.example").application.key == "chatgpt"


@pytest.mark.parametrize(("text", "message"), [
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "nope"\n'
     'hostnames = ["a.example"]', "unknown category 'nope'"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["*.a.example"]', "leave out the *."),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example", "x.a.example"]', "overlap"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\n[[apps]]\nkey = "b"\nname = "B"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]', "a.example already belongs to a"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nevidence = { soc2 = "yes" }', "SOC 2 report: 'yes' is not one of"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nevidence = { iso42001 = true }', "generative AI evidence"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nhomepage = "x"', "unknown field(s) homepage"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "Bad Key"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]', "key must be"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nsources = ["http://a.example/trust"]', "source 'http://a.example/trust' is not"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nsources = "https://a.example/"', "sources must be a list"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nsources = ["https://a.example/"]\nchecked = "2026-13"', "checked must be a month"),
    ('version = "1"\nas_of = "x"\n[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\n'
     'hostnames = ["a.example"]\nchecked = "2026-11"', "checked needs the sources"),
    ('version = "1"\nas_of = "x"\n[vendors.V]\nsources = ["https://v.example/", "https://v.example/"]\n'
     '[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\nhostnames = ["a.example"]',
     "vendor V: a source is listed twice"),
    ('version = "1"\nas_of = "x"\n[vendors.V]\ntrust = "https://v.example/"\n'
     '[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\nhostnames = ["a.example"]',
     "vendor V: unknown field(s) trust"),
])
def test_a_broken_catalogue_says_where(text, message):
    with pytest.raises(catalogue.CatalogueError, match=None) as caught:
        catalogue.parse(text)
    assert message in str(caught.value)


def test_review_records_are_checked_but_not_stored():
    text = ('version = "1"\nas_of = "2026-11"\n[vendors.V]\nevidence = { soc2 = true }\n'
            'sources = ["https://v.example/trust"]\nchecked = "2026-11"\n'
            '[[apps]]\nkey = "a"\nname = "A"\nvendor = "V"\ncategory = "business"\nhostnames = ["a.example"]\n'
            'sources = ["https://a.example/security", "https://a.example/privacy"]\nchecked = "2026-11"\n')
    entry = catalogue.parse(text).entries[0]
    assert entry.evidence == {"soc2": True}
    assert "sources" not in dataclasses.asdict(entry) and "checked" not in dataclasses.asdict(entry)


def test_every_checked_entry_of_the_shipped_catalogue_names_its_sources():
    import tomllib

    data = tomllib.loads(catalogue.CATALOGUE_PATH.read_text(encoding="utf-8"))
    checked = [a for a in data["apps"] if a.get("checked")] + [v for v in data["vendors"].values() if v.get("checked")]
    assert len(checked) >= 25
    assert all(block["sources"] for block in checked)
