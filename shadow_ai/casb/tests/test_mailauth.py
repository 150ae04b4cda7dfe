"""SPF and DMARC of a domain, read through dnspython's real resolver from a DNS server on loopback
(shadow_ai.casb.dnstesting): each problem, a healthy domain, the lookups that cannot answer."""

from __future__ import annotations

import time

import pytest

from shadow_ai.casb import mailauth
from shadow_ai.casb.connectors.base import Skip
from shadow_ai.casb.mailauth import Problem

HEALTHY = {
    "acme.example": ["v=spf1 include:_spf.google.com -all", "google-site-verification=abc"],
    "_dmarc.acme.example": ["v=DMARC1; p=reject; rua=mailto:dmarc@acme.example"],
}


def check(dns_server, records: dict, domain: str, timeout: float = 2.0) -> mailauth.Report:
    dns_server.records.update(records)
    return mailauth.check_domain(domain, mailauth.resolver([dns_server.address], timeout))


def problems(report: mailauth.Report) -> dict[Problem, str]:
    return {issue.problem: issue.detail for issue in report.issues}


def test_a_healthy_domain_has_no_issue(dns_server):
    report = check(dns_server, HEALTHY, "acme.example")
    assert report.issues == [] and report.unchecked == set()
    assert ("acme.example", "TXT", "udp") in dns_server.queries
    assert ("_dmarc.acme.example", "TXT", "udp") in dns_server.queries


@pytest.mark.parametrize(("record", "says"), [
    ("v=spf1 include:_spf.google.com +all", "“+all” lets every IP address"),
    ("v=spf1 mx all", "“all” lets every IP address"),
    ("v=spf1 ip4:0.0.0.0/0 -all", "“ip4:0.0.0.0/0” lets every IP address"),
    ("v=spf1 ip6:::/0 ~all", "“ip6:::/0” lets every IP address"),
    ("V=SPF1 include:_spf.google.com ?all", "“?all” makes no statement"),
    ("v=spf1 include:_spf.google.com", "ends without an “all” mechanism"),
])
def test_spf_that_lets_any_address_send(dns_server, record, says):
    report = check(dns_server, {**HEALTHY, "acme.example": [record]}, "acme.example")
    assert list(problems(report)) == [Problem.SPF_ALLOWS_ANY] and says in report.issues[0].detail
    assert report.issues[0].record == record


@pytest.mark.parametrize("record", ["v=spf1 include:_spf.google.com ~all", "v=spf1 -all +all",
                                    "v=spf1 -ip4:0.0.0.0/0 +all", "v=spf1 a/24 mx -all"])
def test_softfail_fail_and_unreached_terms_are_not_any_ip(dns_server, record):
    assert check(dns_server, {**HEALTHY, "acme.example": [record]}, "acme.example").issues == []


def test_spf_missing_two_records_and_a_broken_redirect(dns_server):
    report = check(dns_server, {**HEALTHY, "acme.example": ["google-site-verification=abc"]}, "acme.example")
    assert problems(report) == {Problem.SPF_MISSING: "acme.example has no TXT record starting with “v=spf1”."}
    report = check(dns_server, {"acme.example": ["v=spf1 -all", "v=spf1 include:mailgun.org ~all"]}, "acme.example")
    assert "publishes 2 SPF records" in problems(report)[Problem.SPF_MISSING]
    assert report.issues[0].record == "v=spf1 -all | v=spf1 include:mailgun.org ~all"  # sorted: DNS has no order
    report = check(dns_server, {"acme.example": ["v=spf1 redirect=_spf.gone.example"]}, "acme.example")
    assert "redirects to _spf.gone.example, which has no SPF record" in problems(report)[Problem.SPF_MISSING]


def test_a_redirect_is_followed_one_level(dns_server):
    dns_server.records.update({"_spf.acme.example": ["v=spf1 ip4:192.0.2.0/24 ?all"],
                               "_spf.safe.example": ["v=spf1 ip4:192.0.2.0/24 -all"]})
    report = check(dns_server, {"acme.example": ["v=spf1 redirect=_spf.acme.example"]}, "acme.example")
    assert "“?all” (through redirect=_spf.acme.example)" in problems(report)[Problem.SPF_ALLOWS_ANY]
    report = check(dns_server, {"acme.example": ["v=spf1 redirect=_spf.safe.example"]}, "acme.example")
    assert Problem.SPF_ALLOWS_ANY not in problems(report)
    # an "all" in the record wins over its redirect (RFC 7208 §6.1)
    report = check(dns_server, {"acme.example": ["v=spf1 redirect=_spf.acme.example -all"]}, "acme.example")
    assert Problem.SPF_ALLOWS_ANY not in problems(report)


def test_a_record_split_into_strings_and_too_big_for_udp_is_read_whole_over_tcp(dns_server):
    long = "v=spf1 " + " ".join(f"ip4:198.51.{i}.0/24" for i in range(40)) + " +all"
    report = check(dns_server, {**HEALTHY, "acme.example": [long, ("v=DKIM-ish ", "filler " * 30)]}, "acme.example")
    assert problems(report).keys() == {Problem.SPF_ALLOWS_ANY} and report.issues[0].record == long
    assert ("acme.example", "TXT", "tcp") in dns_server.queries


@pytest.mark.parametrize(("record", "expected", "says"), [
    ("v=DMARC1; p=none; rua=mailto:d@acme.example", {Problem.DMARC_NOT_ENFORCED}, "The policy is p=none"),
    ("v=DMARC1; rua=mailto:d@acme.example", {Problem.DMARC_NOT_ENFORCED}, "missing (read as p=none"),
    ("v=DMARC1; p=reject; sp=none", {Problem.DMARC_SUBDOMAINS}, "sp=none: mail from any subdomain of acme.example"),
    ("v=DMARC1; p=quarantine; pct=20", {Problem.DMARC_PARTIAL}, "pct=20: the policy (quarantine) applies to 20%"),
    ("v=DMARC1; p=reject; sp=none; pct=50", {Problem.DMARC_SUBDOMAINS, Problem.DMARC_PARTIAL}, "pct=50"),
    ("v=DMARC1; p=none; sp=none; pct=10", {Problem.DMARC_NOT_ENFORCED}, "p=none"),
    ("v=DMARC1; p=bogus", {Problem.DMARC_MISSING}, "no valid “p=” tag"),
])
def test_dmarc_policies(dns_server, record, expected, says):
    report = check(dns_server, {**HEALTHY, "_dmarc.acme.example": [record]}, "acme.example")
    assert set(problems(report)) == expected
    assert any(says in issue.detail for issue in report.issues)
    assert {issue.record for issue in report.issues} == {record}


def test_dmarc_missing_two_records_and_an_inherited_policy(dns_server):
    report = check(dns_server, {"acme.example": ["v=spf1 -all"]}, "acme.example")
    assert problems(report) == {Problem.DMARC_MISSING: "No TXT record starting with “v=DMARC1” at _dmarc.acme.example "
                                "(nor at a parent domain)."}
    report = check(dns_server, {"_dmarc.acme.example": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]}, "acme.example")
    assert "has 2 DMARC records" in problems(report)[Problem.DMARC_MISSING]
    # a subdomain without a record of its own follows the parent's sp= (else p=)
    dns_server.records["eu.acme.example"] = ["v=spf1 -all"]
    report = check(dns_server, {"_dmarc.acme.example": ["v=DMARC1; p=reject; sp=none"]}, "eu.acme.example")
    assert problems(report) == {Problem.DMARC_NOT_ENFORCED: "The policy is sp=none (inherited from "
                                "_dmarc.acme.example): receivers only report mail that fails DMARC and deliver it "
                                "anyway. Move to p=quarantine, then p=reject."}
    report = check(dns_server, {"_dmarc.acme.example": ["v=DMARC1; p=reject"]}, "eu.acme.example")
    assert report.issues == []


def test_a_lookup_that_times_out_or_fails_is_unchecked_never_missing(dns_server):
    dns_server.records.update(HEALTHY)
    dns_server.silent.add("acme.example")
    started = time.monotonic()
    report = check(dns_server, {}, "acme.example", timeout=0.3)
    assert time.monotonic() - started < 3
    assert report.issues == [] and report.unchecked == set(mailauth.SPF_PROBLEMS)
    assert report.errors == ["no answer for acme.example TXT within 0.3 seconds"]
    dns_server.silent.clear()
    dns_server.servfail.add("_dmarc.acme.example")
    report = check(dns_server, {}, "acme.example")
    assert report.issues == [] and report.unchecked == set(mailauth.DMARC_PROBLEMS)
    assert "SERVFAIL" in report.errors[0]


def test_resolver_entries(settings):
    assert mailauth.parse_resolver("192.0.2.53") == ("192.0.2.53", 53)
    assert mailauth.parse_resolver("192.0.2.53:5353") == ("192.0.2.53", 5353)
    assert mailauth.parse_resolver("2001:db8::53") == ("2001:db8::53", 53)
    assert mailauth.parse_resolver("[2001:db8::53]:5353") == ("2001:db8::53", 5353)
    for bad in ("dns.example", "192.0.2.53:dns", "[2001:db8::53]5353", "192.0.2.53:70000"):
        with pytest.raises(ValueError):
            mailauth.parse_resolver(bad)
    settings.CASB_DNS_RESOLVERS = ["192.0.2.53", "dns.example"]
    with pytest.raises(Skip, match=r"CASB_DNS_RESOLVERS has “dns\.example”, which is not an IP address"):
        mailauth.resolver()
    settings.CASB_DNS_RESOLVERS, settings.CASB_DNS_TIMEOUT = ["192.0.2.53:5353"], 3.0
    made = mailauth.resolver()
    assert [(n.address, n.port) for n in made.nameservers] == [("192.0.2.53", 5353)] and made.lifetime == 3.0


def test_each_connector_maps_every_problem_to_its_finding_type():
    from shadow_ai.casb.connectors.google_workspace import mapping as google
    from shadow_ai.casb.connectors.microsoft_365 import mapping as microsoft

    for mapping in (google, microsoft):
        assert list(mapping.MAIL_PROBLEMS) == list(Problem)
        assert list(mapping.MAIL_PROBLEMS.values()) == [t.key for t in mapping.MAIL_TYPES]
