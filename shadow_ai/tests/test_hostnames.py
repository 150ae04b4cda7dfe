"""Matching hostnames to applications: subdomains, the longest match, what is not a match, and
the cached map seeing library changes."""

from __future__ import annotations

import time

import pytest

from shadow_ai import hostnames, selectors

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("raw", "expected"), [
    ("ChatGPT.com", "chatgpt.com"),
    ("chatgpt.com.", "chatgpt.com"),
    ("chatgpt.com:443", "chatgpt.com"),
    ("https://chat.openai.com/c/123?x=1", "chat.openai.com"),
    ("https://user@claude.ai:8443/new", "claude.ai"),
    ("bücher.example", "xn--bcher-kva.example"),
])
def test_normalize(raw, expected):
    assert hostnames.normalize(raw) == expected


@pytest.mark.parametrize("raw", ["", "localhost", "not a host", "[::1]", "exa mple.com", "-bad-.example",
                                 "a" * 64 + ".example"])
def test_normalize_refuses_what_is_not_a_hostname(raw):
    with pytest.raises(ValueError):
        hostnames.normalize(raw)


@pytest.mark.parametrize(("raw", "message"), [
    ("*.chat.example", "leave out the *."),
    ("https://chat.example", "without https://"),
    ("chat.example/path", "without https://"),
    ("chat_example.com", "not a valid hostname"),
    ("10.0.0.1", "not a valid hostname"),
])
def test_library_hostnames_are_plain_names(raw, message):
    with pytest.raises(ValueError, match=message):
        hostnames.clean_for_library(raw)


def test_the_matcher_prefers_the_longest_hostname_and_never_matches_part_of_a_label():
    matcher = hostnames.HostnameMatcher({"google.com": "search", "mail.google.com": "gmail",
                                         "githubusercontent.com": "github",
                                         "copilot-proxy.githubusercontent.com": "copilot"})
    assert matcher.match("google.com") == "search"
    assert matcher.match("www.google.com") == "search"
    assert matcher.match("mail.google.com") == "gmail"
    assert matcher.match("a.b.mail.google.com") == "gmail"
    assert matcher.match("raw.githubusercontent.com") == "github"
    assert matcher.match("copilot-proxy.githubusercontent.com") == "copilot"
    assert matcher.match("notgoogle.com") is None
    assert matcher.match("google.com.evil.example") is None
    assert matcher.match("com") is None
    assert matcher.match("mail.google.com.") == "gmail"


def test_application_for_hostname_over_the_shipped_library(library):
    find = selectors.application_for_hostname
    assert find("chatgpt.com").name == "ChatGPT"
    assert find("https://chat.openai.com/c/1").name == "ChatGPT"
    assert find("CHATGPT.COM:443").name == "ChatGPT"
    assert find("sora.chatgpt.com").name == "Sora"  # longer than chatgpt.com
    assert find("api.deepseek.com").name == "DeepSeek"
    assert find("mail.google.com").name == "Gmail"
    assert find("www.google.com").name == "Google Search"
    assert find("gemini.google.com").name == "Gemini"
    assert find("acme.atlassian.net").name == "Atlassian Cloud"
    assert find("copilot-proxy.githubusercontent.com").name == "GitHub Copilot"
    assert find("raw.githubusercontent.com").name == "GitHub"
    assert find("outlook.office.com").name == "Outlook"
    assert find("www.office.com").name == "Microsoft 365"
    assert find("aws.amazon.com").name == "Amazon Web Services"
    assert find("www.amazon.com").name == "Amazon"
    assert find("example.org") is None
    assert find("not a hostname") is None
    claude = find("claude.ai")
    assert (claude.key, claude.category, claude.status, claude.gen_ai, claude.url) == (
        "claude", "artificial_intelligence", "unreviewed", True, "https://claude.ai/")


def test_the_cached_map_sees_changes_after_they_commit(library, super_admin, settings,
                                                       django_capture_on_commit_callbacks):
    from console.access import hotcache
    from shadow_ai import services

    settings.ACCESS_HOT_CACHE = True
    settings.ACCESS_CACHE_SECONDS = 60
    hotcache.clear()
    matcher = selectors.hostname_matcher()
    assert selectors.hostname_matcher() is matcher  # built once per version
    assert selectors.application_for_hostname("wiki.acme.example") is None
    with django_capture_on_commit_callbacks(execute=True):
        services.application_create(actor=super_admin, name="Acme Wiki", category="productivity",
                                    hostnames=["wiki.acme.example"])
    assert selectors.hostname_matcher() is not matcher
    assert selectors.application_for_hostname("docs.wiki.acme.example").name == "Acme Wiki"
    with django_capture_on_commit_callbacks(execute=True):
        services.application_set_status(actor=super_admin, application=library_app("chatgpt"), status="approved",
                                        reason="Enterprise agreement signed.")
    assert selectors.application_for_hostname("chatgpt.com").status == "approved"
    hotcache.clear()


def library_app(key):
    from shadow_ai.models import Application

    return Application.objects.get(key=key)


def test_lookups_are_fast_enough_for_log_ingest(library):
    """A few hundred thousand lookups a second on one core (distinct hosts, no memo help)."""
    matcher = selectors.hostname_matcher()
    hosts = [f"h{i}.cdn{i % 97}.chatgpt.com" if i % 3 else f"h{i}.unknown{i % 89}.example" for i in range(100_000)]
    started = time.perf_counter()
    found = sum(1 for h in hosts if matcher.match(h) is not None)
    elapsed = time.perf_counter() - started
    assert found == sum(1 for i in range(100_000) if i % 3)
    assert elapsed < 2.0, f"100,000 lookups took {elapsed:.2f} s"
