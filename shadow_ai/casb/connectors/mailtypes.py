"""The e-mail authentication finding types (SPF and DMARC of a tenant's domains), shared by the
connectors that check them (Google Workspace, Microsoft 365). The checks themselves are in
``shadow_ai/casb/mailauth.py``; this module imports nothing of the connectors, so a vendor's
``mapping.py`` can build its types from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from shadow_ai.casb.findings import FindingType, Severity

#: ``mailauth.Problem`` values in their order, each with our stable key suffix and severity.
PROBLEMS = (
    ("spf_allows_any", "spf_allows_any_ip", Severity.HIGH),
    ("spf_missing", "spf_not_present", Severity.MEDIUM),
    ("dmarc_missing", "dmarc_not_present", Severity.MEDIUM),
    ("dmarc_not_enforced", "dmarc_not_enforced", Severity.MEDIUM),
    ("dmarc_subdomains_not_enforced", "dmarc_subdomains_not_enforced", Severity.MEDIUM),
    ("dmarc_partial", "dmarc_partially_enforced", Severity.MEDIUM),
)


class MailTypes(NamedTuple):
    spf_any: FindingType
    spf_missing: FindingType
    dmarc_missing: FindingType
    dmarc_none: FindingType
    dmarc_subdomains: FindingType
    dmarc_partial: FindingType

    @property
    def problems(self) -> dict[str, str]:
        """``mailauth.Problem`` value → finding type key (what ``mailauth.domains_page`` takes)."""
        return {problem: found.key for (problem, _, _), found in zip(PROBLEMS, self, strict=True)}


def mail_types(make: Callable[..., FindingType], titles: Mapping[str, str], *, spf_example: str,
               dmarc_extra: str = "") -> MailTypes:
    """The six types with a vendor's ``titles`` (by ``mailauth.Problem`` value, in the vendor's
    own words), built with its ``make`` (``_t`` of its mapping). ``spf_example`` names the
    vendor's SPF include; ``dmarc_extra`` is added to the DMARC advice."""
    spf_fix = ("Publish one TXT record starting with “v=spf1” that lists the servers allowed to send for the domain "
               f"({spf_example}) and ends with “-all” or “~all”.")
    dmarc_fix = ("Publish a DMARC record at _dmarc.<domain>: start with p=none and rua= reports, then move to "
                 "p=quarantine and p=reject once legitimate senders pass SPF or DKIM." + dmarc_extra)
    fixes = {
        "spf_allows_any": "Replace “+all” / “?all” (or a missing “all”) with “-all” or “~all”, and list only the "
                          "servers that send for the domain: anyone can send mail as the domain today.",
        "spf_missing": spf_fix,
        "dmarc_missing": dmarc_fix,
        "dmarc_not_enforced": "Change p=none to p=quarantine, then p=reject, after the DMARC reports show "
                              "legitimate mail passing.",
        "dmarc_subdomains_not_enforced": "Remove sp=none from the DMARC record (subdomains then follow p=) or set "
                                         "sp=quarantine or sp=reject.",
        "dmarc_partial": "Raise pct= to 100 (or remove it) so the policy applies to all mail that fails DMARC.",
    }
    return MailTypes(*(make(key, titles[problem], severity, fixes[problem], "Domain")
                       for problem, key, severity in PROBLEMS))
