"""The DLP engine: detection entries as data, checksum validators, and ``scan``.

Pure Python, no Django. Every pattern runs on Google's RE2 (``re2``), so matching is linear in
the size of the text whatever an admin types into a custom entry: no backtracking, no worker
stuck on ``(a+)+$``. RE2 has no lookarounds and no backreferences; what they would express
(digit boundaries, one separator used throughout, checksums) is checked by validators in Python.

Text is scanned as UTF-8 bytes: offsets and the 75 bytes of context on each side of a match are
byte counts, as in the reference. No result carries the raw match: a match is reported redacted
(``123-45-6789`` → ``XXX-XX-XXXX``) and so is every other match inside its context, of the
scanned profiles' entries and of every predefined entry, whichever profiles were scanned.

Everything here is a frozen dataclass of plain values (validators and redaction rules are named,
not referenced), so profiles can be pickled, cached and handed to a worker."""

from __future__ import annotations

import bisect
import enum
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import re2

CONTEXT_BYTES = 75
DEFAULT_PROXIMITY = 50  # bytes on each side of a match searched for proximity keywords
MAX_MATCH_COUNT = 1000  # the largest "allowed match count" a profile takes
MAX_REPORTED = 100  # matches listed per profile; the count goes on past it
MAX_PATTERN_CHARS = 2000
MAX_WORDLIST_TERMS = 5000
MIN_WORD_CHARS = 6
MAX_WORD_CHARS = 200
_MAX_MEM = 64 << 20  # RE2 program memory; a bigger pattern is refused with a message


class Confidence(enum.StrEnum):
    """How sure a match is. A profile's threshold counts the matches at or above it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def label(self) -> str:
        return self.value.capitalize()


_RANK = {Confidence.LOW: 0, Confidence.MEDIUM: 1, Confidence.HIGH: 2}


class PatternError(ValueError):
    """A custom pattern or wordlist that cannot be used; the message says why, for the admin."""


@dataclass(frozen=True)
class Entry:
    """One detection entry.

    ``pattern`` is RE2 syntax; when it has a group named ``value``, that group is the match (the
    rest anchors it, e.g. the word "CVV" before three digits). ``validator`` names a function in
    ``VALIDATORS`` that the matched value must pass. ``keywords`` near a match (within
    ``proximity`` bytes on either side) raise its confidence: none → ``base``, one → at least
    Medium, two different ones → High. ``keep_prefix`` is an RE2 pattern for the part of a match
    that redaction keeps (a vendor's token prefix); the rest has its letters and digits masked."""

    key: str
    name: str
    category: str
    pattern: str
    validator: str = ""
    keywords: tuple[str, ...] = ()
    proximity: int = DEFAULT_PROXIMITY
    base: Confidence = Confidence.LOW
    keep_prefix: str = ""
    keep_suffix: str = ""
    custom: bool = False


@dataclass(frozen=True)
class Profile:
    """What ``scan`` needs of a profile: its enabled entries and its two settings.

    The profile triggers when more than ``match_count`` matches (not unique) reach
    ``confidence``: ``match_count=0`` triggers on the first one."""

    id: int | str
    name: str
    entries: tuple[Entry, ...]
    match_count: int = 0
    confidence: Confidence = Confidence.LOW


@dataclass(frozen=True)
class Match:
    """One match, redacted. ``offset`` is in bytes of the UTF-8 text; ``before`` and ``after`` are
    up to 75 bytes of context each, with any other match inside them (of any predefined entry,
    in the profile or not) redacted as well."""

    entry_key: str
    entry_name: str
    confidence: Confidence
    offset: int
    length: int
    redacted: str
    before: str
    after: str

    @property
    def context(self) -> str:
        return f"{self.before}{self.redacted}{self.after}"


@dataclass(frozen=True)
class ProfileResult:
    profile_id: int | str
    profile_name: str
    triggered: bool
    match_count: int
    confidence: Confidence
    total: int  # matches at or above the threshold
    below_threshold: int  # matches found but under the confidence threshold
    matches: tuple[Match, ...] = field(default=())  # at most MAX_REPORTED, in text order

    @property
    def more(self) -> int:
        return self.total - len(self.matches)


# --- Validators -----------------------------------------------------------------------------------


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _one_separator(value: str) -> bool:
    """Either no separators or the same one (space or dash) between every group."""
    seps = {c for c in value if not c.isalnum()}
    return len(seps) <= 1


def luhn(number: str) -> bool:
    digits = [int(c) for c in number]
    if not digits:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(value: str) -> bool:
    if not _one_separator(value):
        return False
    digits = _digits(value)
    return 12 <= len(digits) <= 19 and luhn(digits) and len(set(digits)) > 1


def _aba(value: str) -> bool:
    d = [int(c) for c in value]
    if len(d) != 9:
        return False
    prefix = d[0] * 10 + d[1]
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return total % 10 == 0 and len(set(d)) > 1


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def _iban(value: str) -> bool:
    compact = value.replace(" ", "")
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    as_digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(as_digits) % 97 == 1


def _ssn(value: str) -> bool:
    if not _one_separator(value):
        return False
    area, group, serial = value[0:3], value[4:6], value[7:11]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _sin(value: str) -> bool:
    if not _one_separator(value):
        return False
    digits = _digits(value)
    return len(set(digits)) > 1 and luhn(digits)


def _nhs(value: str) -> bool:
    if not _one_separator(value):
        return False
    d = [int(c) for c in _digits(value)]
    if len(set(d)) == 1:
        return False
    check = 11 - sum(w * x for w, x in zip(range(10, 1, -1), d[:9], strict=True)) % 11
    if check == 11:
        check = 0
    return check != 10 and check == d[9]


def _nino(value: str) -> bool:
    compact = value.replace(" ", "")
    return compact[:2] not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def _phone(value: str) -> bool:
    digits = _digits(value)
    if len(digits) == 11:
        digits = digits[1:]
    # NANP: neither the area code nor the exchange is N11 (211, 311… are service codes).
    return len(digits) == 10 and digits[1:3] != "11" and digits[4:6] != "11"


def _aws_secret(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "card": _card,
    "aba": _aba,
    "iban": _iban,
    "ssn": _ssn,
    "sin": _sin,
    "nhs": _nhs,
    "nino": _nino,
    "phone": _phone,
    "aws_secret": _aws_secret,
}


# --- Predefined entries and profiles --------------------------------------------------------------

CARD_KEYWORDS = ("card", "credit", "debit", "visa", "mastercard", "amex", "american express", "diners",
                 "unionpay", "union pay", "card number", "cc", "ccn", "pan", "expiry", "expiration", "exp")
SECRET_KEYWORDS = ("key", "token", "secret", "password", "credential", "api")
SEP = "[ -]?"

FINANCIAL, SECRETS, IDS, PERSONAL = ("Financial Information", "Credentials and Secrets",
                                     "Social Security, Insurance, Tax, and Identifier Numbers",
                                     "Personal Information")
HIGH = Confidence.HIGH


def _e(key: str, name: str, category: str, pattern: str, **kw) -> Entry:
    return Entry(key=key, name=name, category=category, pattern=pattern, **kw)


PREDEFINED_ENTRIES: tuple[Entry, ...] = (
    # Financial information: card numbers per brand, Luhn-checked, with or without separators.
    _e("card_visa", "Visa Card Number", FINANCIAL,
       rf"\b4\d{{3}}(?:{SEP}\d{{4}}){{3}}(?:{SEP}\d{{3}})?\b", validator="card", keywords=CARD_KEYWORDS),
    _e("card_mastercard", "Mastercard Card Number", FINANCIAL,
       rf"\b(?:5[1-5]\d{{2}}|222[1-9]|22[3-9]\d|2[3-6]\d{{2}}|27[01]\d|2720)(?:{SEP}\d{{4}}){{3}}\b",
       validator="card", keywords=CARD_KEYWORDS),
    _e("card_amex", "American Express Card Number", FINANCIAL, rf"\b3[47]\d{{2}}{SEP}\d{{6}}{SEP}\d{{5}}\b",
       validator="card", keywords=CARD_KEYWORDS),
    _e("card_diners", "Diners Club Card Number", FINANCIAL,
       rf"\b3(?:0[0-5]|[689]\d)\d{SEP}\d{{6}}{SEP}\d{{4}}\b", validator="card", keywords=CARD_KEYWORDS),
    _e("card_unionpay", "UnionPay Card Number", FINANCIAL,
       rf"\b62\d{{2}}(?:{SEP}\d{{4}}){{3}}(?:{SEP}\d{{1,3}})?\b", validator="card", keywords=CARD_KEYWORDS),
    _e("cvv", "Generic CVV Card Number", FINANCIAL,
       r"(?i)\b(?:cvv2?|cvc2?|cvn|cid|csc|card security code|security code|card verification (?:value|code))"
       r"(?:\s*(?:number|no\.?|#))?\s*[:=]?\s*(?P<value>\d{3,4})\b",
       keywords=CARD_KEYWORDS, base=Confidence.MEDIUM),
    _e("aba_routing", "US ABA Routing Number", FINANCIAL, r"\b[0-8]\d{8}\b", validator="aba",
       keywords=("routing", "aba", "rtn", "abartn", "transit", "bank", "wire", "ach")),
    _e("iban", "IBAN", FINANCIAL, r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
       validator="iban", keywords=("iban", "account", "bank", "swift", "bic", "transfer", "wire")),
    # Social Security, insurance, tax and identifier numbers.
    _e("us_ssn", "US Social Security Number (SSN)", IDS, r"\b\d{3}[ -]\d{2}[ -]\d{4}\b", validator="ssn",
       keywords=("ssn", "ssns", "social security", "ss#", "ssa", "social sec", "taxpayer")),
    _e("ca_sin", "Canada Social Insurance Number (SIN)", IDS, rf"\b\d{{3}}{SEP}\d{{3}}{SEP}\d{{3}}\b",
       validator="sin", keywords=("sin", "social insurance", "assurance sociale", "nas", "insurance number")),
    _e("uk_nhs", "UK National Health Service (NHS) Number", IDS, rf"\b\d{{3}}{SEP}\d{{3}}{SEP}\d{{4}}\b",
       validator="nhs", keywords=("nhs", "national health service", "health service", "patient", "nhs number")),
    _e("uk_nino", "UK National Insurance Number (NINO)", IDS,
       r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", validator="nino",
       keywords=("national insurance", "nino", "ni number", "nin", "insurance number")),
    # Personal information.
    _e("email", "Email Address", PERSONAL,
       r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b",
       keywords=("email", "e-mail", "mail", "contact", "address")),
    _e("us_phone", "US Phone Number", PERSONAL,
       r"(?:\+1[ .-]?|\b1[ .-])?(?:\([2-9]\d{2}\) ?|\b[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}\b", validator="phone",
       keywords=("phone", "tel", "telephone", "mobile", "cell", "call", "fax", "contact")),
    # Credentials and secrets: a vendor prefix is itself the keyword, so these count as High.
    _e("aws_access_key_id", "AWS Access Key ID", SECRETS, r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
       base=HIGH, keep_prefix="(?:AKIA|ASIA|ABIA|ACCA)", keywords=SECRET_KEYWORDS),
    _e("aws_secret_access_key", "AWS Secret Access Key", SECRETS,
       r"(?i)\b(?:aws)?_?secret_?(?:access)?_?key(?:_?id)?[\"']?\s*[:=]\s*[\"']?"
       r"(?P<value>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|\z)",
       validator="aws_secret", base=HIGH, keywords=SECRET_KEYWORDS),
    _e("gcp_api_key", "Google Cloud API Key", SECRETS, r"\b(?P<value>AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|\z)",
       base=HIGH, keep_prefix="AIza", keywords=SECRET_KEYWORDS),
    _e("github_token", "GitHub Token", SECRETS, r"\bgh[pousr]_[A-Za-z0-9]{36,251}\b", base=HIGH,
       keep_prefix="gh[pousr]_", keywords=SECRET_KEYWORDS),
    _e("github_fine_grained_pat", "GitHub Fine-grained Personal Access Token", SECRETS,
       r"\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b", base=HIGH, keep_prefix="github_pat_",
       keywords=SECRET_KEYWORDS),
    _e("slack_token", "Slack Token", SECRETS, r"\bxox[abpr]-[0-9]{6,}-[0-9A-Za-z-]{10,}", base=HIGH,
       keep_prefix="xox[abpr]-", keywords=SECRET_KEYWORDS),
    _e("slack_webhook", "Slack Webhook URL", SECRETS,
       r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_]{8,}/[A-Za-z0-9_]{8,}"
       r"/[A-Za-z0-9_]{16,}", base=HIGH, keep_prefix=r"https://hooks\.slack\.com/[a-z]+/", keywords=SECRET_KEYWORDS),
    _e("discord_webhook", "Discord Webhook URL", SECRETS,
       r"https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com/api/webhooks/\d{17,20}/[A-Za-z0-9_-]{60,68}",
       base=HIGH, keep_prefix=r"https://[a-z.]+/api/webhooks/", keywords=SECRET_KEYWORDS),
    _e("stripe_key", "Stripe Live Secret or Restricted Key", SECRETS, r"\b[rs]k_live_[0-9A-Za-z]{24,247}\b",
       base=HIGH, keep_prefix="[rs]k_live_", keywords=SECRET_KEYWORDS),
    _e("openai_key", "OpenAI API Key", SECRETS, r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,300}",
       base=HIGH, keep_prefix="sk-(?:proj|svcacct|admin)-", keywords=SECRET_KEYWORDS),
    _e("anthropic_key", "Anthropic API Key", SECRETS, r"\bsk-ant-(?:api|admin|oat)\d{2}-[A-Za-z0-9_-]{32,200}",
       base=HIGH, keep_prefix=r"sk-ant-[a-z]+\d\d-", keywords=SECRET_KEYWORDS),
    _e("npm_token", "npm Access Token", SECRETS, r"\bnpm_[A-Za-z0-9]{36}\b", base=HIGH, keep_prefix="npm_",
       keywords=SECRET_KEYWORDS),
    _e("pypi_token", "PyPI API Token", SECRETS, r"\bpypi-AgE[A-Za-z0-9_-]{50,}", base=HIGH,
       keep_prefix="pypi-", keywords=SECRET_KEYWORDS),
    _e("private_key", "Private Key (PEM or OpenSSH)", SECRETS,
       r"(?s)-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----.+?"
       r"-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----", base=HIGH,
       keep_prefix=r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----",
       keep_suffix=r"-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----", keywords=SECRET_KEYWORDS),
)

ENTRIES_BY_KEY: dict[str, Entry] = {e.key: e for e in PREDEFINED_ENTRIES}


@dataclass(frozen=True)
class PredefinedProfile:
    key: str
    name: str
    description: str
    entry_keys: tuple[str, ...]


PREDEFINED_PROFILES: tuple[PredefinedProfile, ...] = (
    PredefinedProfile("credentials_and_secrets", SECRETS,
                      "Cloud and SaaS API keys, access tokens, webhook URLs and private keys.",
                      tuple(e.key for e in PREDEFINED_ENTRIES if e.category == SECRETS)),
    PredefinedProfile("financial_information", FINANCIAL,
                      "Payment card numbers (Luhn-checked), CVVs, US ABA routing numbers and IBANs.",
                      tuple(e.key for e in PREDEFINED_ENTRIES if e.category == FINANCIAL)),
    PredefinedProfile("ssn_insurance_tax_ids", IDS,
                      "US Social Security, Canadian Social Insurance, UK NHS and UK National Insurance numbers.",
                      tuple(e.key for e in PREDEFINED_ENTRIES if e.category == IDS)),
    PredefinedProfile("personal_information", PERSONAL, "E-mail addresses and US phone numbers.",
                      tuple(e.key for e in PREDEFINED_ENTRIES if e.category == PERSONAL)),
)


# --- Compiling ------------------------------------------------------------------------------------


def _options(case_sensitive: bool = True) -> re2.Options:
    options = re2.Options()
    options.max_mem = _MAX_MEM
    options.log_errors = False
    options.case_sensitive = case_sensitive
    return options


def _explain(error: Exception) -> str:
    raw = error.args[0] if error.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if message.startswith("invalid perl operator: (?<") or message.startswith("invalid perl operator: (?=") \
            or message.startswith("invalid perl operator: (?!"):
        return ("RE2 has no lookahead or lookbehind ((?=…), (?!…), (?<=…), (?<!…)). Match the surrounding text "
                f"instead, or use \\b for word boundaries. ({message})")
    if message.startswith("invalid escape sequence: \\") and message[-1:].isdigit():
        return f"RE2 has no backreferences (\\1, \\2…): repeat the group instead. ({message})"
    if message.startswith("bad repetition operator") and ("++" in message or "*+" in message or "?+" in message):
        return f"RE2 has no possessive quantifiers (++, *+, ?+): RE2 never backtracks, so use + or *. ({message})"
    if message.startswith("invalid repetition size"):
        return f"A repetition count can be at most 1000. ({message})"
    if "pattern too large" in message:
        return "The pattern is too large: make it shorter or split it into several entries."
    return f"Not a valid RE2 pattern: {message}."


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re2._Regexp:
    try:
        return re2.compile(pattern.encode("utf-8"), _options())
    except re2.error as exc:
        raise PatternError(_explain(exc)) from None


@functools.lru_cache(maxsize=512)
def _compiled_keywords(keywords: tuple[str, ...]) -> re2._Regexp | None:
    if not keywords:
        return None
    return _compiled("(?i)" + _alternation(keywords))


def _edge(term: str) -> tuple[str, str]:
    word = lambda c: c.isalnum() or c == "_"  # noqa: E731
    return ("\\b" if word(term[0]) else ""), ("\\b" if word(term[-1]) else "")


def _alternation(terms: Iterable[str]) -> str:
    parts = []
    for term in terms:
        left, right = _edge(term)
        parts.append(f"{left}{re2.escape(term)}{right}")
    return "(?:" + "|".join(parts) + ")"


def check_regex(pattern: str) -> str:
    """A custom regex as it will be stored, or ``PatternError`` with a message for the admin."""
    pattern = (pattern or "").strip()
    if not pattern:
        raise PatternError("A pattern is required.")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"Keep the pattern under {MAX_PATTERN_CHARS} characters.")
    compiled = _compiled(pattern)
    for probe in (b"", b" ", b"a", b"0"):
        found = compiled.search(probe)
        if found is not None and found.end() == found.start():
            raise PatternError("The pattern matches empty text, so it would match everywhere: make sure it needs "
                               "at least one character (use + rather than *).")
    return pattern


def parse_wordlist(text: str) -> list[str]:
    """The terms of a wordlist, one a line (blank lines and duplicates dropped), or ``PatternError``."""
    terms: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate((text or "").replace("\r\n", "\n").split("\n"), start=1):
        term = line.strip()
        if not term:
            continue
        if len(term) < MIN_WORD_CHARS:
            raise PatternError(f"Line {number}: each term needs at least {MIN_WORD_CHARS} characters "
                               f"(shorter ones match too much text).")
        if len(term) > MAX_WORD_CHARS:
            raise PatternError(f"Line {number}: keep each term under {MAX_WORD_CHARS} characters.")
        if term not in seen:
            seen.add(term)
            terms.append(term)
    if not terms:
        raise PatternError("Give at least one term, one a line.")
    if len(terms) > MAX_WORDLIST_TERMS:
        raise PatternError(f"A wordlist holds at most {MAX_WORDLIST_TERMS} terms.")
    return terms


def wordlist_pattern(terms: Sequence[str], *, case_sensitive: bool) -> str:
    """The RE2 pattern that matches any of ``terms`` as whole words."""
    pattern = ("" if case_sensitive else "(?i)") + _alternation(terms)
    _compiled(pattern)
    return pattern


def regex_entry(key: str, name: str, pattern: str) -> Entry:
    """A custom regex entry. Custom entries carry no keywords and count at every confidence level."""
    return Entry(key=key, name=name, category="Custom", pattern=check_regex(pattern), base=HIGH, custom=True)


def wordlist_entry(key: str, name: str, words: str, *, case_sensitive: bool) -> Entry:
    pattern = wordlist_pattern(parse_wordlist(words), case_sensitive=case_sensitive)
    return Entry(key=key, name=name, category="Custom", pattern=pattern, base=HIGH, custom=True)


# --- Scanning -------------------------------------------------------------------------------------


@dataclass
class _Hit:
    entry: Entry
    start: int
    end: int
    confidence: Confidence


def _find(entry: Entry, data: bytes) -> list[_Hit]:
    compiled = _compiled(entry.pattern)
    group = compiled.groupindex.get(b"value", 0)
    validate = VALIDATORS.get(entry.validator) if entry.validator else None
    keywords = _compiled_keywords(entry.keywords)
    hits = []
    for found in compiled.finditer(data):
        start, end = found.span(group)
        if start < 0 or end <= start:
            continue
        if validate is not None and not validate(data[start:end].decode("utf-8", "replace")):
            continue
        confidence = entry.base
        if keywords is not None and confidence is not Confidence.HIGH:
            window = data[max(0, start - entry.proximity):end + entry.proximity]
            distinct = {k.group(0).lower() for k in keywords.finditer(window)}
            if len(distinct) >= 2:
                confidence = Confidence.HIGH
            elif distinct and confidence.rank < Confidence.MEDIUM.rank:
                confidence = Confidence.MEDIUM
        hits.append(_Hit(entry, start, end, confidence))
    return hits


def _mask(value: str) -> str:
    return "".join("X" if c.isalnum() else c for c in value)


def redact(entry: Entry, value: str) -> str:
    """``value`` with its letters and digits replaced by ``X``; separators stay, and so does a
    vendor prefix the entry names (``ghp_XXXX…``) or a PEM block's BEGIN/END lines."""
    head, tail = "", ""
    if entry.keep_prefix:
        found = _compiled(entry.keep_prefix).match(value)
        if found is not None:
            head, value = value[:found.end()], value[found.end():]
    if entry.keep_suffix:
        found = _compiled(f"(?:{entry.keep_suffix})\\z").search(value)
        if found is not None:
            value, tail = value[:found.start()], value[found.start():]
    return head + _mask(value) + tail


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _context(data: bytes, lo: int, hi: int, spans: list[tuple[int, int]], starts: list[int]) -> str:
    """``data[lo:hi]`` decoded, with every part covered by a match masked."""

    pieces, cursor = [], lo
    i = max(0, bisect.bisect_right(starts, lo) - 1)
    while i < len(spans) and spans[i][0] < hi:
        start, end = max(spans[i][0], lo), min(spans[i][1], hi)
        if end > cursor:
            if start > cursor:
                pieces.append(data[cursor:start].decode("utf-8", "ignore"))
            pieces.append(_mask(data[max(start, cursor):end].decode("utf-8", "ignore")))
            cursor = end
        i += 1
    if cursor < hi:
        pieces.append(data[cursor:hi].decode("utf-8", "ignore"))
    return "".join(pieces)


def scan(text: str, profiles: Sequence[Profile], *, max_reported: int = MAX_REPORTED) -> list[ProfileResult]:
    """Scan ``text`` against each profile; one result per profile, in order.

    Each entry runs once however many profiles share it. A match counts for a profile when its
    confidence reaches the profile's threshold (custom entries count at every threshold); the
    profile triggers when more than ``match_count`` matches count."""
    data = text.encode("utf-8", "replace")
    hits_by_key: dict[str, list[_Hit]] = {}
    for profile in profiles:
        for entry in profile.entries:
            if entry.key not in hits_by_key:
                hits_by_key[entry.key] = _find(entry, data)
    masking: list[tuple[list[tuple[int, int]], list[int]]] = []

    def mask_spans() -> tuple[list[tuple[int, int]], list[int]]:
        """What a context must hide: the matches of the scanned entries and of every predefined
        entry, whatever the profiles (a card number beside an AWS key is hidden in the context of a
        "Credentials and Secrets" match too). Found once, and only when a match is reported."""
        if not masking:
            found = [(h.start, h.end) for hits in hits_by_key.values() for h in hits]
            for entry in PREDEFINED_ENTRIES:
                if entry.key not in hits_by_key:
                    found.extend((h.start, h.end) for h in _find(entry, data))
            merged = _merged(found)
            masking.append((merged, [start for start, _ in merged]))
        return masking[0]

    results = []
    for profile in profiles:
        threshold = Confidence(profile.confidence).rank
        counted: list[_Hit] = []
        below = 0
        for entry in profile.entries:
            for hit in hits_by_key[entry.key]:
                if entry.custom or hit.confidence.rank >= threshold:
                    counted.append(hit)
                else:
                    below += 1
        counted.sort(key=lambda h: (h.start, h.entry.key))
        reported = counted[:max_reported]
        spans, starts = mask_spans() if reported else ([], [])
        matches = tuple(
            Match(
                entry_key=h.entry.key, entry_name=h.entry.name, confidence=h.confidence, offset=h.start,
                length=h.end - h.start,
                redacted=redact(h.entry, data[h.start:h.end].decode("utf-8", "replace")),
                before=_context(data, max(0, h.start - CONTEXT_BYTES), h.start, spans, starts),
                after=_context(data, h.end, min(len(data), h.end + CONTEXT_BYTES), spans, starts),
            )
            for h in reported
        )
        results.append(ProfileResult(
            profile_id=profile.id, profile_name=profile.name, triggered=len(counted) > profile.match_count,
            match_count=profile.match_count, confidence=Confidence(profile.confidence), total=len(counted),
            below_threshold=below, matches=matches,
        ))
    return results
