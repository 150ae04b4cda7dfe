"""Prompt topics: what a prompt (or a model's response) holds and what it asks for, each with a
confidence. Pure Python, no Django; ``score_prompt`` and ``score_response`` are the entry points
the gateway, the evaluate API and the policy tester call.

Content topics (what the text holds) build on the DLP engine's predefined entries where they can:

* **PII**: e-mail addresses, phone numbers and national identifiers;
* **Credentials and secrets**: the vendor secret entries, plus ``password=``/``token:``
  assignments whose value looks random (Shannon entropy);
* **Source code**: the share and number of lines that look like code (``sourcecode``);
* **Customer data**: several records of personal data (lines holding PII), or PII beside words
  such as customer, client, account holder or patient;
* **Financial information**: card numbers, CVVs, routing numbers and IBANs, or money amounts
  beside financial vocabulary (revenue, forecast, EBITDA…).

Intent topics (what the prompt asks for) come from the trained classifier (``classifier``),
raised by a few explicit phrase rules: **PII extraction**, **Code abuse and malicious code**,
**Jailbreak and prompt injection**. Responses get content topics only: intent is the person's.

Every text is normalised first (``normalize``), so zero-width characters, full-width letters,
tag-character smuggling and base64 do not hide anything. The content patterns run on RE2 (linear
time, as the DLP engine's do)."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from shadow_ai.dlp import engine as dlp_engine
from shadow_ai.prompts import classifier, sourcecode
from shadow_ai.prompts.normalize import Normalized, normalize

Confidence = dlp_engine.Confidence
LOW, MEDIUM, HIGH = Confidence.LOW, Confidence.MEDIUM, Confidence.HIGH

CONTENT, INTENT = "content", "intent"


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    kind: str
    description: str


TOPICS: tuple[Topic, ...] = (
    Topic("content_pii", "Content: PII", CONTENT, "Names with e-mail addresses, phone numbers, national identifiers."),
    Topic("content_credentials", "Content: Credentials and secrets", CONTENT,
          "API keys, access tokens, private keys, passwords in assignments."),
    Topic("content_source_code", "Content: Source code", CONTENT, "Code or code snippets in a common language."),
    Topic("content_customer_data", "Content: Customer data", CONTENT,
          "Records of customers' personal data: lists, tables, exports."),
    Topic("content_financial", "Content: Financial information", CONTENT,
          "Card and bank numbers, or money amounts with financial terms."),
    Topic("intent_pii", "Intent: PII extraction", INTENT, "Asks for personal information about people."),
    Topic("intent_code_abuse", "Intent: Code abuse and malicious code", INTENT,
          "Asks for malware, exploits or attack tooling."),
    Topic("intent_jailbreak", "Intent: Jailbreak and prompt injection", INTENT,
          "Tries to get around the model's rules or to override its instructions."),
)
TOPICS_BY_KEY = {t.key: t for t in TOPICS}
# The classifier's labels, by topic.
INTENT_LABELS = {"intent_pii": "pii_extraction", "intent_code_abuse": "malicious_code",
                 "intent_jailbreak": "jailbreak"}


@dataclass(frozen=True)
class TopicHit:
    key: str
    confidence: Confidence
    reasons: tuple[str, ...] = ()
    probability: float | None = None  # intent topics: the classifier's probability

    @property
    def topic(self) -> Topic:
        return TOPICS_BY_KEY[self.key]

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"key": self.key, "name": self.topic.name, "kind": self.topic.kind,
                                 "confidence": self.confidence.value, "reasons": list(self.reasons)}
        if self.probability is not None:
            found["probability"] = round(self.probability, 3)
        return found


@dataclass(frozen=True)
class PromptTopics:
    """The topics of one text, strongest first; ``notes`` say what normalisation revealed."""

    hits: tuple[TopicHit, ...] = ()
    notes: tuple[str, ...] = ()
    by_key: Mapping[str, TopicHit] = field(default_factory=dict, compare=False, repr=False)

    def confidence(self, key: str) -> Confidence | None:
        hit = self.by_key.get(key)
        return hit.confidence if hit else None

    def at_least(self, key: str, level: Confidence) -> bool:
        found = self.confidence(key)
        return found is not None and found.rank >= level.rank

    def as_dict(self) -> dict[str, Any]:
        return {"topics": [h.as_dict() for h in self.hits], "normalization": list(self.notes)}

    def summary(self) -> dict[str, str]:
        """``{topic key: confidence}``: what logs keep in clear."""
        return {h.key: h.confidence.value for h in self.hits}


def _result(hits: Iterable[TopicHit], notes: tuple[str, ...]) -> PromptTopics:
    ordered = tuple(sorted(hits, key=lambda h: (-h.confidence.rank, [t.key for t in TOPICS].index(h.key))))
    return PromptTopics(ordered, notes, {h.key: h for h in ordered})


# --- Content ------------------------------------------------------------------------------------

_PII_CATEGORIES = (dlp_engine.PERSONAL, dlp_engine.IDS)


@functools.lru_cache(maxsize=1)
def _profiles() -> tuple[dlp_engine.Profile, ...]:
    """Three profiles per content group (one per confidence threshold): the DLP engine runs each
    entry once however many profiles share it."""
    groups = {
        "pii": tuple(e for e in dlp_engine.PREDEFINED_ENTRIES if e.category in _PII_CATEGORIES),
        "secrets": tuple(e for e in dlp_engine.PREDEFINED_ENTRIES if e.category == dlp_engine.SECRETS),
        "financial": tuple(e for e in dlp_engine.PREDEFINED_ENTRIES if e.category == dlp_engine.FINANCIAL),
    }
    return tuple(dlp_engine.Profile(id=f"{name}:{level.value}", name=name, entries=entries, confidence=level)
                 for name, entries in groups.items() for level in (LOW, MEDIUM, HIGH))


@dataclass(frozen=True)
class _DlpCounts:
    low: int
    medium: int
    high: int
    names: tuple[str, ...]
    offsets: tuple[int, ...]

    def level(self) -> Confidence | None:
        """High: a High match or two Medium ones; Medium: a Medium match or two of any; Low: one."""
        if self.high or self.medium >= 2:
            return HIGH
        if self.medium or self.low >= 2:
            return MEDIUM
        return LOW if self.low else None


def _dlp(text: str) -> dict[str, _DlpCounts]:
    results = {r.profile_id: r for r in dlp_engine.scan(text, _profiles(), max_reported=50)}
    counts = {}
    for name in ("pii", "secrets", "financial"):
        low = results[f"{name}:low"]
        counts[name] = _DlpCounts(
            low=low.total, medium=results[f"{name}:medium"].total, high=results[f"{name}:high"].total,
            names=tuple(sorted({m.entry_name for m in low.matches})), offsets=tuple(m.offset for m in low.matches),
        )
    return counts


def _found(counts: _DlpCounts) -> str:
    return f"{counts.low} DLP match(es): {', '.join(counts.names)}"


_ASSIGNMENT = re2.compile(
    r"(?i)\b(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth)"
    r"[\"']?\s*[:=]\s*[\"']?([^\s\"',;]{8,200})"
)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())


def _assigned_secrets(text: str) -> list[str]:
    found = []
    for match in _ASSIGNMENT.finditer(text):
        value = match.group(1)
        classes = sum((any(c.islower() for c in value), any(c.isupper() for c in value),
                       any(c.isdigit() for c in value), any(not c.isalnum() for c in value)))
        if _entropy(value) >= 3.0 and classes >= 2 and not value.startswith(("<", "{", "$", "%")):
            found.append(value)
    return found


def _credentials(counts: _DlpCounts, text: str) -> TopicHit | None:
    assigned = _assigned_secrets(text)
    level = counts.level()
    reasons = [_found(counts)] if level else []
    if assigned:
        strong = any(len(v) >= 16 and _entropy(v) >= 3.5 for v in assigned)
        guess = HIGH if strong else MEDIUM
        level = guess if level is None or guess.rank > level.rank else level
        reasons.append(f"{len(assigned)} secret-looking assignment(s) (password=, token=, api_key=…)")
    return TopicHit("content_credentials", level, tuple(reasons)) if level else None


def _source_code(text: str) -> TopicHit | None:
    found = sourcecode.score(text)
    if (found.code_lines >= 8 and found.share >= 0.5) or (found.fenced and found.code_lines >= 5):
        level = HIGH
    elif (found.code_lines >= 4 and found.share >= 0.3) or (found.fenced and found.code_lines >= 2):
        level = MEDIUM
    elif found.code_lines >= 2 or (found.code_lines == 1 and found.text_lines <= 2):
        level = LOW
    else:
        return None
    reason = f"{found.code_lines} of {found.text_lines} line(s) look like code" + (" (fenced)" if found.fenced else "")
    return TopicHit("content_source_code", level, (reason,))


_CUSTOMER_WORDS = re2.compile(r"(?i)\b(?:customers?|clients?|account holders?|subscribers?|patients?|members?|"
                             r"buyers?|shoppers?|policyholders?|crm|leads?)\b")


def _customer_data(pii: _DlpCounts, text: str) -> TopicHit | None:
    if not pii.low:
        return None
    lines = {text.encode("utf-8", "replace")[:offset].count(b"\n") for offset in pii.offsets}
    records = len(lines)
    worded = bool(_CUSTOMER_WORDS.search(text))
    if records >= 10 or (records >= 3 and worded):
        level = HIGH
    elif records >= 3 or (worded and pii.low >= 2):
        level = MEDIUM
    elif worded:
        level = LOW
    else:
        return None
    reason = f"personal data on {records} line(s)" + (" with customer terms" if worded else "")
    return TopicHit("content_customer_data", level, (reason,))


_AMOUNT = re2.compile(r"(?i)(?:[$€£¥]\s?\d[\d,.]*\s?(?:k|m|bn|million|billion)?\b|"
                     r"\b\d[\d,.]*\s?(?:usd|eur|gbp|dollars|euros|million|billion|bn)\b)")
_FINANCE_WORDS = re2.compile(
    r"(?i)\b(?:revenue|ebitda|earnings|profit|loss|margin|forecast|guidance|quarter(?:ly)?|q[1-4]|fy\d{2,4}|"
    r"balance sheet|cash flow|p&l|valuation|acquisition|merger|budget|payroll|invoice|bank account|"
    r"wire transfer|salary|salaries|bonus|dividend|net income|operating income|burn rate|arr|mrr)\b")


def _financial(counts: _DlpCounts, text: str) -> TopicHit | None:
    level = counts.level()
    reasons = [_found(counts)] if level else []
    amounts = len(_AMOUNT.findall(text))
    words = {w.lower() for w in _FINANCE_WORDS.findall(text)}
    if amounts and words:
        guess = MEDIUM if amounts >= 2 and len(words) >= 2 else LOW
        if amounts >= 4 and len(words) >= 3:
            guess = HIGH
        if level is None or guess.rank > level.rank:
            level = guess
        reasons.append(f"{amounts} amount(s) with financial terms ({', '.join(sorted(words)[:5])})")
    return TopicHit("content_financial", level, tuple(reasons)) if level else None


def content_topics(text: str) -> list[TopicHit]:
    """The content topics of a normalised text."""
    counts = _dlp(text)
    hits: list[TopicHit | None] = []
    pii = counts["pii"].level()
    hits.append(TopicHit("content_pii", pii, (_found(counts["pii"]),)) if pii else None)
    hits.append(_credentials(counts["secrets"], text))
    hits.append(_source_code(text))
    hits.append(_customer_data(counts["pii"], text))
    hits.append(_financial(counts["financial"], text))
    return [h for h in hits if h is not None]


# --- Intent -------------------------------------------------------------------------------------

# Phrases that leave little doubt, each with the confidence it gives on its own. The classifier
# agreeing (at Low or more) raises a rule's confidence by one level. Each rule runs only when one
# of its words is in the lower-cased text (a cheap prefilter: most prompts match no rule).
RULES: dict[str, tuple[tuple[re.Pattern[str], Confidence, str], ...]] = {
    "jailbreak": (
        (re.compile(r"(?i)\b(?:ignore|disregard|forget|override)\b.{0,30}\b(?:previous|prior|above|earlier|"
                    r"preceding|all)\b.{0,20}\b(?:instructions?|directions?|rules|prompts?|guidelines)\b"),
         MEDIUM, "asks to ignore earlier instructions"),
        (re.compile(r"(?i)\b(?:do anything now|developer mode|dan mode|jailbr(?:eak|oken)|no (?:content )?"
                    r"(?:restrictions|filters|rules) (?:apply|anymore)|without any (?:restrictions|rules|filters))\b"),
         MEDIUM, "jailbreak persona or mode"),
        (re.compile(r"(?i)\b(?:reveal|print|show|output|repeat|tell me)\b.{0,40}\b(?:system prompt|initial "
                    r"instructions|hidden (?:rules|instructions|prompt)|secret instructions)\b"),
         MEDIUM, "asks for the hidden system prompt"),
    ),
    "malicious_code": (
        (re.compile(r"(?i)\b(?:write|create|build|code|make|develop|give me)\b.{0,40}\b(?:ransomware|keylogger|"
                    r"rootkit|botnet|info-?stealer|credential stealer|remote access trojan|reverse shell)\b"
                    r"(?!.{0,40}\b(?:detect|detection|defen[cs]e|remove|protect))"),
         MEDIUM, "asks for malware"),
        (re.compile(r"(?i)\b(?:evade|bypass|avoid|get past)\b.{0,20}\b(?:antivirus|anti-virus|defender|edr|"
                    r"detection)\b"), LOW, "asks to evade security tools"),
    ),
    "pii_extraction": (
        (re.compile(r"(?i)\b(?:find|give me|tell me|look up|get me|dig up|what is)\b.{0,60}\b(?:home address|"
                    r"social security number|ssn|date of birth|personal (?:phone|email|cell))\b"),
         LOW, "asks for someone's personal details"),
        (re.compile(r"(?i)\bdox+(?:x)?(?:ing)?\b(?!\s+(?:is|means))"), LOW, "asks to dox someone"),
    ),
}


_PREFILTER: dict[str, tuple[tuple[str, ...], ...]] = {
    "jailbreak": (("ignore", "disregard", "forget", "override"),
                  ("anything now", "developer mode", "dan mode", "jailbr", "restrictions", "filters", "rules"),
                  ("system prompt", "instructions", "hidden")),
    "malicious_code": (("ransomware", "keylogger", "rootkit", "botnet", "stealer", "trojan", "reverse shell"),
                       ("evade", "bypass", "avoid", "get past")),
    "pii_extraction": (("home address", "social security", "ssn", "date of birth", "personal "), ("dox",)),
}


def _raise(level: Confidence | None, other: Confidence) -> Confidence:
    return other if level is None or other.rank > level.rank else level


def intent_levels(text: str, model: classifier.Model | None = None) -> dict[str, TopicHit]:
    """The intent topics of a normalised text, by classifier label."""
    model = model or classifier.shipped()
    probabilities = model.probabilities(text)
    lowered = text.lower()
    found: dict[str, TopicHit] = {}
    for index, label in enumerate(model.labels):
        probability = probabilities[label]
        level = None
        reasons: list[str] = []
        for name, threshold in zip((LOW, MEDIUM, HIGH), model.thresholds[index], strict=True):
            if probability >= threshold:
                level = name
        if level is not None:
            reasons.append(f"classifier: {probability:.2f}")
        for (pattern, rule_level, why), words in zip(RULES.get(label, ()), _PREFILTER.get(label, ()), strict=True):
            if any(w in lowered for w in words) and pattern.search(text):
                boosted = rule_level
                if level is not None and rule_level.rank < HIGH.rank:
                    boosted = Confidence.HIGH if rule_level == MEDIUM else MEDIUM
                level = _raise(level, boosted)
                reasons.append(f"rule: {why}")
        if level is not None:
            key = next(k for k, v in INTENT_LABELS.items() if v == label)
            found[label] = TopicHit(key, level, tuple(reasons), probability)
    return found


# --- Entry points -------------------------------------------------------------------------------


def score_normalized(normalized: Normalized, *, intents: bool = True) -> PromptTopics:
    text = normalized.scored
    hits = content_topics(text)
    if intents:
        hits += list(intent_levels(text).values())
    return _result(hits, normalized.notes)


def score_prompt(text: str) -> PromptTopics:
    """The content and intent topics of a prompt, strongest first."""
    if not text or not text.strip():
        return PromptTopics()
    return score_normalized(normalize(text))


def score_response(text: str) -> PromptTopics:
    """The content topics of a model's response (intent is the person's, not the model's)."""
    if not text or not text.strip():
        return PromptTopics()
    return score_normalized(normalize(text), intents=False)
