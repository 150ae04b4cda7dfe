"""E-mail authentication of a mail domain, read from DNS: its SPF policy (RFC 7208) and its DMARC
policy (RFC 7489). The Google Workspace and Microsoft 365 connectors list their verified domains
and hand each one to ``domains_page``; this module does the lookups and judges the records.

What counts as a problem:

* **SPF allows any IP address.** The first mechanism that matches every address decides: ``+all``
  or a bare ``all`` (every address passes), ``?all`` (every address gets "neutral", which says
  nothing), and ``ip4``/``ip6``/``a``/``mx`` with a ``/0`` prefix (``ip4:0.0.0.0/0``) with those
  qualifiers. A record without ``all`` and without ``redirect=`` ends in "neutral" for unlisted
  addresses (RFC 7208 §4.7), so it counts too. ``~all`` (softfail) and ``-all`` do not: receivers
  treat mail from unlisted addresses as suspicious or reject it, and DMARC fails it. Mechanisms
  after the catch-all are never reached and are ignored. ``include:`` targets are not read (what
  they allow is the included domain's business); ``redirect=`` is followed one level, as receivers
  do when the record has no ``all``; a redirect from the target is not followed further.
* **SPF record not present.** No TXT record starting with ``v=spf1``, or more than one (a
  permanent error: receivers use none of them), or a ``redirect=`` to a domain without exactly one.
* **DMARC record not present.** No ``v=DMARC1`` record at ``_dmarc.<domain>`` nor at a parent
  domain (walked up like DMARCbis's tree walk, stopping at two labels), more than one record, or
  a record without a valid ``p=`` and without ``rua=`` (receivers ignore it).
* **DMARC not enforced.** ``p=none`` (or a missing ``p=`` with ``rua=``, read as ``p=none``); for a
  record inherited from a parent, the parent's ``sp=`` (else ``p=``) is the one that applies.
* **DMARC not enforced for subdomains.** ``sp=none`` while ``p=`` quarantines or rejects.
* **DMARC only partially enforced.** ``pct=`` below 100 with an enforcing policy.

NXDOMAIN and an empty answer mean "no record". A timeout, SERVFAIL or refusal means "could not
check": the caller keeps the finding types as they were and warns; it never reports "not present"
for a lookup that did not answer. The resolvers come from ``CASB_DNS_RESOLVERS`` (empty: the
system's resolver) with ``CASB_DNS_TIMEOUT`` seconds per lookup."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
from django.conf import settings

from shadow_ai.casb.connectors.base import Context, Observation, Page, Skip

#: Domains checked per page of a scan (each costs two to a few lookups), so a scan keeps its place.
BATCH = 10
STATE_KEY = "mailauth_domains"


class Problem(StrEnum):
    SPF_ALLOWS_ANY = "spf_allows_any"
    SPF_MISSING = "spf_missing"
    DMARC_MISSING = "dmarc_missing"
    DMARC_NOT_ENFORCED = "dmarc_not_enforced"
    DMARC_SUBDOMAINS = "dmarc_subdomains_not_enforced"
    DMARC_PARTIAL = "dmarc_partial"


SPF_PROBLEMS = (Problem.SPF_ALLOWS_ANY, Problem.SPF_MISSING)
DMARC_PROBLEMS = (Problem.DMARC_MISSING, Problem.DMARC_NOT_ENFORCED, Problem.DMARC_SUBDOMAINS, Problem.DMARC_PARTIAL)


@dataclass(frozen=True)
class Issue:
    problem: Problem
    record: str  # the record found, "" when there is none
    detail: str  # what is wrong, in an admin's words


@dataclass
class Report:
    """What one domain's DNS says. ``unchecked``: problems that could not be judged (a lookup
    failed), with the reasons in ``errors``."""

    domain: str
    issues: list[Issue] = field(default_factory=list)
    unchecked: set[Problem] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class LookupFailed(Exception):
    """DNS did not answer (timeout, SERVFAIL, refused): nothing can be said about the record."""


# --- DNS ------------------------------------------------------------------------------------------


def parse_resolver(entry: str) -> tuple[str, int]:
    """``192.0.2.53``, ``192.0.2.53:5353``, ``2001:db8::53`` or ``[2001:db8::53]:5353`` → (address, port)."""
    text = entry.strip()
    host, port = text, 53
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(entry)
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            raise ValueError(entry)
        port = int(number)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(entry) from None
    if not 0 < port < 65536:
        raise ValueError(entry)
    return host, port


def resolver(nameservers: Sequence[str] | None = None, timeout: float | None = None) -> dns.resolver.Resolver:
    """A resolver for the given entries (default ``CASB_DNS_RESOLVERS``; empty: the system's).
    Raises ``Skip`` with a message for an admin when it cannot be set up."""
    entries = list(settings.CASB_DNS_RESOLVERS if nameservers is None else nameservers)
    lifetime = float(settings.CASB_DNS_TIMEOUT if timeout is None else timeout)
    if entries:
        found: list[dns.nameserver.Nameserver] = []
        for entry in entries:
            try:
                host, port = parse_resolver(entry)
            except ValueError:
                raise Skip(f"CASB_DNS_RESOLVERS has “{entry}”, which is not an IP address (with an optional "
                           "port, e.g. 192.0.2.53:5353 or [2001:db8::53]:5353): SPF and DMARC were not checked.") \
                    from None
            found.append(dns.nameserver.Do53Nameserver(host, port))
        made = dns.resolver.Resolver(configure=False)
        made.nameservers = found
    else:
        try:
            made = dns.resolver.Resolver()
        except dns.exception.DNSException as exc:
            raise Skip(f"The system has no usable DNS resolver ({exc}): set CASB_DNS_RESOLVERS. SPF and DMARC were "
                       "not checked.") from None
    made.lifetime = lifetime
    made.timeout = min(2.0, lifetime)  # per try; a lost UDP datagram is asked again within the lifetime
    return made


def txt(res: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT records at ``name`` (each record's strings joined, RFC 7208 §3.3); [] when the name
    or the records do not exist. ``LookupFailed`` when DNS did not answer."""
    try:
        answer = res.resolve(dns.name.from_text(name), "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.Timeout:
        raise LookupFailed(f"no answer for {name} TXT within {res.lifetime:g} seconds") from None
    except dns.resolver.NoNameservers:
        raise LookupFailed(f"the DNS resolver failed for {name} TXT (SERVFAIL or refused)") from None
    except dns.exception.DNSException as exc:
        raise LookupFailed(f"{name} TXT: {exc}") from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


# --- SPF ------------------------------------------------------------------------------------------

_SPF = re.compile(r"v=spf1(?: |$)", re.IGNORECASE)
_MODIFIER = re.compile(r"([a-z][a-z0-9_.-]*)=(.*)", re.IGNORECASE)
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_WITH_PREFIX = {"ip4", "ip6", "a", "mx"}


def spf_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if _SPF.match(t)]


def _covers_everything(mechanism: str) -> bool:
    name = re.split(r"[:/]", mechanism, maxsplit=1)[0].lower()
    if name == "all":
        return True
    if name not in _WITH_PREFIX:
        return False
    rest = mechanism[len(name):]
    dual = re.search(r"//(\d+)$", rest)
    if dual:
        rest = rest[:dual.start()]
    single = re.search(r"/(\d+)$", rest)
    return any(m is not None and int(m.group(1)) == 0 for m in (single, dual))


def spf_catch_all(record: str) -> tuple[str, str, str]:
    """(result for unlisted addresses, the deciding term, the redirect target) of one record:
    ("softfail", "~all", ""), ("", "", "_spf.example.com") when a redirect decides, ("neutral", "", "")
    when nothing does (RFC 7208 §4.7)."""
    redirect = ""
    for term in record.split()[1:]:
        modifier = _MODIFIER.fullmatch(term)
        if modifier:
            if modifier.group(1).lower() == "redirect":
                redirect = modifier.group(2)
            continue
        qualifier = term[0] if term[0] in _QUALIFIERS else "+"
        mechanism = term[1:] if term[0] in _QUALIFIERS else term
        if _covers_everything(mechanism):
            return _QUALIFIERS[qualifier], term, ""
    if redirect:
        return "", "", redirect
    return "neutral", "", ""


def _any_ip(domain: str, record: str, result: str, term: str, via: str = "") -> Issue | None:
    where = f" (through redirect={via})" if via else ""
    if result == "pass":
        return Issue(Problem.SPF_ALLOWS_ANY, record, f"“{term}”{where} lets every IP address on the internet send mail "
                     f"as {domain} and pass SPF.")
    if result == "neutral" and term:
        return Issue(Problem.SPF_ALLOWS_ANY, record, f"“{term}”{where} makes no statement about addresses the record "
                     "does not list: mail from any IP address gets “neutral”, as if there were no SPF record.")
    if result == "neutral":
        return Issue(Problem.SPF_ALLOWS_ANY, record, f"The record{where} ends without an “all” mechanism, so mail "
                     "from any address it does not list gets “neutral” (RFC 7208 §4.7). End it with “-all” or "
                     "“~all”.")
    return None


def check_spf(domain: str, res: dns.resolver.Resolver) -> list[Issue]:
    records = spf_records(txt(res, domain))
    if not records:
        return [Issue(Problem.SPF_MISSING, "", f"{domain} has no TXT record starting with “v=spf1”.")]
    if len(records) > 1:
        return [Issue(Problem.SPF_MISSING, " | ".join(sorted(records)), f"{domain} publishes {len(records)} SPF "
                      "records; that is a permanent error (RFC 7208 §4.5) and receivers use none of them. "
                      "Merge them into one.")]
    record = records[0]
    result, term, redirect = spf_catch_all(record)
    if not redirect:
        issue = _any_ip(domain, record, result, term)
        return [issue] if issue else []
    target = redirect.rstrip(".")
    if "%" in target:  # a macro: it depends on the message, nothing to look up
        return []
    targets = spf_records(txt(res, target))
    if len(targets) != 1:
        found = "no SPF record" if not targets else f"{len(targets)} SPF records"
        return [Issue(Problem.SPF_MISSING, record, f"The record redirects to {target}, which has {found}: a permanent "
                      "error (RFC 7208 §6.1), so receivers have no SPF policy for the domain.")]
    result, term, further = spf_catch_all(targets[0])
    if further:
        return []  # followed one level only
    issue = _any_ip(domain, f"{record} → {targets[0]}", result, term, via=target)
    return [issue] if issue else []


# --- DMARC ----------------------------------------------------------------------------------------

_DMARC = re.compile(r"v\s*=\s*DMARC1\s*(?:;|$)", re.IGNORECASE)
_POLICIES = {"none", "quarantine", "reject"}


def dmarc_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if _DMARC.match(t.strip())]


def dmarc_tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def _pct(tags: Mapping[str, str]) -> int:
    value = tags.get("pct", "")
    return int(value) if value.isdigit() and int(value) <= 100 else 100  # an invalid value is ignored


def _parents(domain: str) -> list[str]:
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels) - 1)]


def check_dmarc(domain: str, res: dns.resolver.Resolver) -> list[Issue]:
    found_at, records = f"_dmarc.{domain}", dmarc_records(txt(res, f"_dmarc.{domain}"))
    inherited = False
    if not records:
        for parent in _parents(domain):
            records = dmarc_records(txt(res, f"_dmarc.{parent}"))
            if records:
                found_at, inherited = f"_dmarc.{parent}", True
                break
    if not records:
        return [Issue(Problem.DMARC_MISSING, "", f"No TXT record starting with “v=DMARC1” at _dmarc.{domain} "
                      "(nor at a parent domain).")]
    if len(records) > 1:
        return [Issue(Problem.DMARC_MISSING, " | ".join(sorted(records)), f"{found_at} has {len(records)} DMARC "
                      "records; receivers apply none of them (RFC 7489 §6.6.3). Keep one.")]
    record = records[0]
    tags = dmarc_tags(record)
    policy = tags.get("p", "").lower()
    said = f"p={policy}"
    if policy not in _POLICIES:
        if not tags.get("rua"):
            return [Issue(Problem.DMARC_MISSING, record, f"The record at {found_at} has no valid “p=” tag, so "
                          "receivers ignore it (RFC 7489 §6.6.3).")]
        policy, said = "none", "missing (read as p=none, RFC 7489 §6.6.3)"
    sub = tags.get("sp", "").lower()
    sub = sub if sub in _POLICIES else policy
    where = f" (inherited from {found_at})" if inherited else ""
    if inherited:
        policy = sub
        said = f"sp={sub}" if tags.get("sp", "").lower() in _POLICIES else said
    if policy == "none":
        return [Issue(Problem.DMARC_NOT_ENFORCED, record, f"The policy is {said}{where}: receivers only report mail "
                      "that fails DMARC and deliver it anyway. Move to p=quarantine, then p=reject.")]
    issues = []
    if not inherited and sub == "none":
        issues.append(Issue(Problem.DMARC_SUBDOMAINS, record, f"sp=none: mail from any subdomain of {domain} that "
                            "fails DMARC is delivered anyway. Remove sp= or set it to quarantine or reject."))
    pct = _pct(tags)
    if pct < 100:
        issues.append(Issue(Problem.DMARC_PARTIAL, record, f"pct={pct}{where}: the policy ({policy}) applies to "
                            f"{pct}% of failing mail only; the rest is delivered. Set pct=100 or remove it."))
    return issues


# --- One domain, and the scan step ----------------------------------------------------------------


def check_domain(domain: str, res: dns.resolver.Resolver) -> Report:
    domain = domain.strip().rstrip(".").lower()
    report = Report(domain)
    for problems, check in ((SPF_PROBLEMS, check_spf), (DMARC_PROBLEMS, check_dmarc)):
        try:
            report.issues.extend(check(domain, res))
        except LookupFailed as exc:
            report.unchecked.update(problems)
            report.errors.append(str(exc))
    return report


def domains_page(ctx: Context, cursor: str | None, *, list_domains: Callable[[], Iterable[str]],
                 types: Mapping[Problem, str]) -> Page:
    """One page of a connector's e-mail authentication step: the first call lists the domains
    (kept in ``ctx.state``), each call checks up to ``BATCH`` of them. A domain whose lookups fail
    leaves its finding types unchecked for the scan (nothing is resolved) and adds a warning."""
    res = ctx.cache.get("dns_resolver")
    if res is None:
        res = ctx.cache["dns_resolver"] = resolver()
    if cursor is None:
        names = sorted({n.strip().rstrip(".").lower() for n in list_domains() if n and n.strip()})
        ctx.state[STATE_KEY] = names
        start = 0
    else:
        names, start = list(ctx.state.get(STATE_KEY, [])), int(cursor)
    chunk = names[start:start + BATCH]
    found = []
    for name in chunk:
        report = check_domain(name, res)
        for issue in report.issues:
            found.append(Observation(types[issue.problem], key=f"domain:{name}", asset=name, asset_kind="Domain",
                                     details={"record": issue.record or "(none)", "problem": issue.detail}))
        if report.unchecked:
            ctx.unchecked(*(types[p] for p in sorted(report.unchecked)))
            ctx.warn(f"{name}: SPF/DMARC could not be checked ({'; '.join(report.errors)}); its e-mail "
                     "authentication findings are left as they were.")
    following = start + BATCH
    return Page(found, len(chunk), str(following) if following < len(names) else None)
