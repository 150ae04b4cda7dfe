"""The DLP engine on its own: true positives with valid checksums, false positives rejected,
confidence and match-count semantics, redaction, and RE2's guarantees for custom patterns."""

from __future__ import annotations

import pickle
import time

import pytest

from shadow_ai.dlp import engine
from shadow_ai.dlp.engine import Confidence, PatternError


def profile(*keys: str, match_count: int = 0, confidence: Confidence = Confidence.LOW,
            extra: tuple[engine.Entry, ...] = ()) -> engine.Profile:
    entries = tuple(engine.ENTRIES_BY_KEY[k] for k in keys) + extra
    return engine.Profile(id=1, name="Test", entries=entries, match_count=match_count, confidence=confidence)


def found(text: str, *keys: str) -> list[str]:
    """The entry keys that match ``text``, one per match."""
    return [m.entry_key for m in engine.scan(text, [profile(*keys)])[0].matches]


SECRETS = {
    # Built from pieces so no scanner mistakes this file for a leak.
    "aws_access_key_id": "AKIA" + "IOSFODNN7EXAMPLE",
    "gcp_api_key": "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "github_token": "ghp_" + "R2d2C3poL3ia0rgAnaSoloSkywalker0fTat",
    "github_fine_grained_pat": "github_pat_" + "11ABCDEFG0123456789abc_" + "Z" * 59,
    "slack_token": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack_webhook": "https://hooks.slack.com/services/" + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "discord_webhook": "https://discord.com/api/webhooks/" + "123456789012345678/" + "a1B2" * 17,
    "stripe_key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "openai_key": "sk-proj-" + "Abc123Def456Ghi789Jkl012Mno345Pqr678",
    "anthropic_key": "sk-ant-api03-" + "x" * 40 + "-AbCd1234",
    "npm_token": "npm_" + "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8",
    "pypi_token": "pypi-AgEIcHlwaS5vcmc" + "CJDU3OGQ0YjFmLWE0YzYtNDQ3Zi1iZDFmLTg3ZjIwYmQ5Yjg1NQ",
}


class TestTruePositives:
    @pytest.mark.parametrize(("key", "number"), [
        ("card_visa", "4111 1111 1111 1111"),
        ("card_visa", "4012888888881881"),
        ("card_visa", "4111-1111-1111-1111"),
        ("card_mastercard", "5555 5555 5555 4444"),
        ("card_mastercard", "2223003122003222"),
        ("card_amex", "3782 822463 10005"),
        ("card_amex", "371449635398431"),
        ("card_diners", "3056-930902-5904"),
        ("card_unionpay", "6200000000000005"),
        ("aba_routing", "021000021"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "GB82WEST12345698765432"),
        ("us_ssn", "123-45-6789"),
        ("us_ssn", "123 45 6789"),
        ("ca_sin", "046 454 286"),
        ("uk_nhs", "943 476 5919"),
        ("uk_nino", "AB 12 34 56 C"),
        ("email", "jane.doe+dlp@mail.example.com"),
        ("us_phone", "(415) 555-2671"),
        ("us_phone", "+1 415-555-2671"),
    ])
    def test_valid_values_match(self, key, number):
        assert found(f"here: {number}, thanks", key) == [key]

    def test_cvv_needs_its_keyword(self):
        assert found("CVV: 123", "cvv") == ["cvv"]
        assert found("security code 4821 on the back", "cvv") == ["cvv"]
        assert found("order 123 shipped", "cvv") == []

    @pytest.mark.parametrize("key", sorted(SECRETS))
    def test_secrets_match_and_count_as_high(self, key):
        result = engine.scan(f"config = {SECRETS[key]}\n", [profile(key, confidence=Confidence.HIGH)])[0]
        assert result.triggered
        assert [m.entry_key for m in result.matches] == [key]

    def test_aws_secret_key_is_anchored_on_its_name(self):
        secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
        assert found(f"aws_secret_access_key = {secret}", "aws_secret_access_key") == ["aws_secret_access_key"]
        assert found(f"AWS_SECRET_ACCESS_KEY: '{secret}'", "aws_secret_access_key") == ["aws_secret_access_key"]
        assert found(f"checksum {secret}", "aws_secret_access_key") == []

    def test_private_key_blocks(self):
        pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x\nabc+/=\n-----END RSA PRIVATE KEY-----"
        ssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----"
        result = engine.scan(f"{pem}\n\n{ssh}", [profile("private_key")])[0]
        assert [m.redacted for m in result.matches] == [
            "-----BEGIN RSA PRIVATE KEY-----\nXXXXXXXXXXXXXXXXXX\nXXX+/=\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nXXXXXXXXXXXXXXXXXXX\n-----END OPENSSH PRIVATE KEY-----",
        ]


class TestFalsePositivesRejected:
    @pytest.mark.parametrize("number", ["4111 1111 1111 1112", "4111111111111112", "5555555555554445",
                                        "4111-1111 1111-1111", "4000 0000 0000 0001"])
    def test_cards_failing_luhn_or_mixing_separators(self, number):
        keys = ("card_visa", "card_mastercard")
        assert found(f"card {number}", *keys) == []

    @pytest.mark.parametrize("ssn", ["000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567", "123-45-0000",
                                     "123456789", "123-45 6789", "1123-45-6789"])
    def test_ssn_invalid_areas_groups_serials_or_no_separators(self, ssn):
        assert found(f"SSN: {ssn}", "us_ssn") == []

    def test_random_nine_digits_are_no_ssn(self):
        assert found("order 483920175 shipped", "us_ssn") == []

    def test_routing_iban_nhs_and_sin_checksums(self):
        assert found("routing 021000022", "aba_routing") == []
        assert found("IBAN DE89 3704 0044 0532 0130 01", "iban") == []
        assert found("NHS 943 476 5918", "uk_nhs") == []
        assert found("SIN 046 454 287", "ca_sin") == []
        assert found("NI number GB 12 34 56 A", "uk_nino") == []

    def test_secret_prefix_inside_a_word_is_no_token(self):
        assert found("xghp_" + "a" * 36, "github_token") == []
        assert found("AKIA" + "short", "aws_access_key_id") == []


class TestConfidenceAndMatchCount:
    def test_low_counts_regex_matches_medium_and_high_need_keywords(self):
        bare, one, two = "ref 123-45-6789", "SSN: 123-45-6789", "Social security number (SSN) 123-45-6789"
        low, medium, high = (profile("us_ssn", confidence=c) for c in Confidence)
        assert [engine.scan(bare, [p])[0].triggered for p in (low, medium, high)] == [True, False, False]
        assert [engine.scan(one, [p])[0].triggered for p in (low, medium, high)] == [True, True, False]
        assert [engine.scan(two, [p])[0].triggered for p in (low, medium, high)] == [True, True, True]
        missed = engine.scan(bare, [medium])[0]
        assert missed.total == 0 and missed.below_threshold == 1 and missed.matches == ()

    def test_keywords_count_only_nearby_and_as_whole_words(self):
        far = "SSN" + " filler" * 20 + " 123-45-6789"
        assert not engine.scan(far, [profile("us_ssn", confidence=Confidence.MEDIUM)])[0].triggered
        assert not engine.scan("lessons 123-45-6789", [profile("us_ssn", confidence=Confidence.MEDIUM)])[0].triggered

    def test_match_count_n_needs_n_plus_one_matches_duplicates_included(self):
        two = "123-45-6789 and 123-45-6789"
        three = two + " and 123-45-6789"
        assert not engine.scan(two, [profile("us_ssn", match_count=2)])[0].triggered
        result = engine.scan(three, [profile("us_ssn", match_count=2)])[0]
        assert result.triggered and result.total == 3 and result.match_count == 2
        assert engine.scan("123-45-6789", [profile("us_ssn", match_count=0)])[0].triggered

    def test_custom_entries_count_at_every_threshold(self):
        custom = engine.regex_entry("custom:1", "Project code", r"\bPRJ-\d{6}\b")
        result = engine.scan("see PRJ-123456", [profile(confidence=Confidence.HIGH, extra=(custom,))])[0]
        assert result.triggered and result.matches[0].entry_name == "Project code"

    def test_one_result_per_profile_in_order(self):
        a = engine.Profile(id="a", name="A", entries=(engine.ENTRIES_BY_KEY["email"],))
        b = engine.Profile(id="b", name="B", entries=(engine.ENTRIES_BY_KEY["us_ssn"],))
        results = engine.scan("mail me at a@b.example", [a, b])
        assert [(r.profile_id, r.triggered) for r in results] == [("a", True), ("b", False)]


class TestRedaction:
    def test_predefined_alphanumerics_become_x(self):
        result = engine.scan("SSN 123-45-6789 ok", [profile("us_ssn")])[0]
        match = result.matches[0]
        assert match.redacted == "XXX-XX-XXXX"
        assert (match.before, match.after, match.offset, match.length) == ("SSN ", " ok", 4, 11)
        assert match.context == "SSN XXX-XX-XXXX ok"

    def test_vendor_prefixes_stay_visible(self):
        token = SECRETS["github_token"]
        match = engine.scan(token, [profile("github_token")])[0].matches[0]
        assert match.redacted == "ghp_" + "X" * 36

    def test_context_is_75_bytes_each_side_and_other_matches_are_redacted_too(self):
        text = "é" * 60 + " 234-56-7890 and 123-45-6789 " + "z" * 100
        first, second = engine.scan(text, [profile("us_ssn")])[0].matches
        assert len(second.before.encode()) <= 75 and second.before.endswith("XXX-XX-XXXX and ")
        assert len(first.before.encode()) <= 75 and first.before.startswith("é")
        assert second.after == " " + "z" * 74
        assert "7890" not in first.after

    def test_no_raw_match_anywhere_in_the_result(self):
        text = "card 4111 1111 1111 1111, SSN 123-45-6789, " + SECRETS["stripe_key"]
        profiles = [profile("card_visa"), profile("us_ssn"), profile("stripe_key")]
        dumped = repr(engine.scan(text, profiles))
        assert "4111" not in dumped and "6789" not in dumped and SECRETS["stripe_key"][8:] not in dumped


class TestCustomEntries:
    def test_pathological_pattern_runs_in_linear_time(self):
        entry = engine.regex_entry("custom:1", "Evil", "(a+)+$")
        started = time.monotonic()
        result = engine.scan("a" * 200_000 + "!", [engine.Profile(id=1, name="P", entries=(entry,))])[0]
        assert time.monotonic() - started < 2
        assert not result.triggered

    @pytest.mark.parametrize(("pattern", "message"), [
        ("(?=secret)\\w+", "no lookahead or lookbehind"),
        ("(?<!x)abc", "no lookahead or lookbehind"),
        ("(a)\\1", "no backreferences"),
        ("a++", "no possessive quantifiers"),
        ("(ab", "missing )"),
        ("a{2000}", "at most 1000"),
        ("a*", "matches empty text"),
        ("", "A pattern is required"),
    ])
    def test_invalid_patterns_are_rejected_with_a_reason(self, pattern, message):
        with pytest.raises(PatternError, match=None) as caught:
            engine.check_regex(pattern)
        assert message in str(caught.value)

    def test_wordlist_terms_need_six_characters(self):
        with pytest.raises(PatternError, match="Line 2: each term needs at least 6 characters"):
            engine.parse_wordlist("Bluebird\nOwl\n")
        assert engine.parse_wordlist("Bluebird\n\n  Nightingale  \nBluebird\r\n") == ["Bluebird", "Nightingale"]

    def test_wordlist_matches_whole_words_with_optional_case_sensitivity(self):
        insensitive = engine.wordlist_entry("custom:1", "Code names", "Bluebird\nProject Nightjar",
                                            case_sensitive=False)
        sensitive = engine.wordlist_entry("custom:2", "Code names", "Bluebird", case_sensitive=True)
        text = "BLUEBIRD launch; project nightjar; Bluebirds"
        assert len(engine.scan(text, [engine.Profile(1, "P", (insensitive,))])[0].matches) == 2
        assert engine.scan(text, [engine.Profile(1, "P", (sensitive,))])[0].total == 0
        assert engine.scan("the Bluebird.", [engine.Profile(1, "P", (sensitive,))])[0].matches[0].redacted == \
            "XXXXXXXX"


def test_profiles_and_results_pickle():
    p = engine.Profile(id=7, name="All", entries=engine.PREDEFINED_ENTRIES, confidence=Confidence.MEDIUM)
    copy = pickle.loads(pickle.dumps(p))  # noqa: S301 - our own bytes: workers get profiles this way
    result = engine.scan("SSN 123-45-6789", [copy])
    assert pickle.loads(pickle.dumps(result)) == result and result[0].triggered  # noqa: S301


def test_predefined_profiles_name_existing_entries():
    names = [p.name for p in engine.PREDEFINED_PROFILES]
    assert names == ["Credentials and Secrets", "Financial Information",
                     "Social Security, Insurance, Tax, and Identifier Numbers", "Personal Information"]
    for p in engine.PREDEFINED_PROFILES:
        assert p.entry_keys and all(k in engine.ENTRIES_BY_KEY for k in p.entry_keys)
    for entry in engine.PREDEFINED_ENTRIES:
        engine._compiled(entry.pattern)
