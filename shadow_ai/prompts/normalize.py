"""Text normalisation before prompt scoring, so trivial obfuscation does not hide what a prompt
says or asks for. Pure Python, no Django.

``normalize(text)`` returns the text as a reader would see it plus what was hidden in it:

* Unicode NFKC (full-width ``ｉｇｎｏｒｅ``, ligatures, circled and mathematical letters become
  plain letters), then a small table of Cyrillic and Greek look-alikes mapped to Latin letters
  inside words that are otherwise Latin (``іgnоrе`` with Cyrillic і/о/е);
* invisible characters removed: zero-width spaces and joiners, the word joiner, soft hyphens,
  bidirectional controls, variation selectors and Unicode tag characters (U+E0000–U+E007F);
* text smuggled in tag characters (each tag character mirrors an ASCII one) is decoded and
  appended, so a hidden instruction is scored rather than dropped;
* letters spelt out one by one (``i g n o r e``, ``i.g.n.o.r.e``) are joined;
* base64 runs are decoded (bounded: at most ``MAX_B64_RUNS`` runs of ``MAX_B64_CHARS`` each,
  two levels deep) when they decode to readable UTF-8 text, and the decoded text is appended.

The original characters stay in ``text`` apart from the invisible ones, so content detectors
(a base64-looking secret) still see them; ``expanded`` is ``text`` plus the revealed parts, and is
what the classifiers score. Long texts are scored on their first and last ``MAX_SCORED_CHARS / 2``
characters (``scored``)."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

MAX_SCORED_CHARS = 32_000
MAX_B64_RUNS = 8
MAX_B64_CHARS = 8_192
MIN_B64_CHARS = 16
MAX_DEPTH = 2

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
_TAG_RUN = re.compile("[\U000e0020-\U000e007e]{2,}")
_B64_RUN = re.compile(rf"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{{{MIN_B64_CHARS},}}={{0,2}}")
# Four or more single letters or digits with the same separator between them: "i g n o r e".
_SPELT = re.compile(r"(?<![\w])(?:\w([ .\-_*|])){3,}\w(?![\w])")

# Look-alike letters that NFKC leaves alone (Cyrillic and Greek), mapped to Latin ones.
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u",
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Χ": "X", "Υ": "Y", "Ζ": "Z",
})
_MIXED_WORD = re.compile(r"\w*[a-zA-Z]\w*")


@dataclass(frozen=True)
class Normalized:
    """``text``: normalised, invisible characters gone. ``revealed``: text decoded from tag
    characters and base64 runs. ``notes``: what was done, in words, for explanations."""

    text: str
    revealed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def expanded(self) -> str:
        return "\n".join((self.text, *self.revealed)) if self.revealed else self.text

    @property
    def scored(self) -> str:
        """``expanded``, bounded: long texts keep their head and their tail."""
        text = self.expanded
        if len(text) <= MAX_SCORED_CHARS:
            return text
        half = MAX_SCORED_CHARS // 2
        return text[:half] + "\n" + text[-half:]


def _unconfuse(text: str) -> str:
    """Latin look-alikes replaced in words that also hold a Latin letter (so Russian or Greek
    text is left alone)."""

    def fix(found: re.Match[str]) -> str:
        word = found.group(0)
        return word.translate(_CONFUSABLES) if not word.isascii() else word

    return _MIXED_WORD.sub(fix, text)


def _join_spelt(text: str) -> tuple[str, int]:
    count = 0

    def join(found: re.Match[str]) -> str:
        nonlocal count
        run = found.group(0)
        sep = found.group(1)
        parts = run.split(sep)
        if sep == " " and sum(len(p) == 1 for p in parts) < len(parts):
            return run
        count += 1
        return "".join(parts)

    return _SPELT.sub(join, text), count


def _tag_text(text: str) -> list[str]:
    return [
        "".join(chr(ord(c) - 0xE0000) for c in found.group(0))
        for found in _TAG_RUN.finditer(text)
    ]


def _readable(raw: bytes) -> str | None:
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(decoded) < 4:
        return None
    printable = sum(1 for c in decoded if c.isprintable() or c in "\n\r\t")
    letters = sum(1 for c in decoded if c.isalpha())
    if printable < 0.95 * len(decoded) or letters < 0.4 * len(decoded):
        return None
    return decoded


def _b64_decode(run: str) -> str | None:
    run = run.rstrip("=")
    if len(run) % 4 == 1:
        return None
    padded = run + "=" * (-len(run) % 4)
    try:
        if "-" in run or "_" in run:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _readable(raw)


def _decode_runs(text: str, budget: list[int], depth: int = 1) -> list[str]:
    found: list[str] = []
    for match in _B64_RUN.finditer(text):
        if budget[0] <= 0:
            break
        run = match.group(0)
        if len(run) > MAX_B64_CHARS or run.isalpha() or run.isdigit():
            continue  # long blobs are files, not hidden prompts; all-letter runs are words
        decoded = _b64_decode(run)
        if decoded is None:
            continue
        budget[0] -= 1
        found.append(decoded)
        if depth < MAX_DEPTH:
            found.extend(_decode_runs(decoded, budget, depth + 1))
    return found


def _clean(text: str) -> tuple[str, list[str]]:
    notes: list[str] = []
    if text.isascii():  # ASCII is its own NFKC form and holds no invisible or look-alike characters
        joined, spelt = _join_spelt(text)
        return joined, [f"{spelt} spelt-out word(s) joined"] if spelt else []
    folded = unicodedata.normalize("NFKC", text)
    if folded != text:
        notes.append("Unicode compatibility forms folded (NFKC)")
    stripped, invisible = _INVISIBLE.subn("", folded)
    if invisible:
        notes.append(f"{invisible} invisible character(s) removed")
    joined, spelt = _join_spelt(stripped)
    if spelt:
        notes.append(f"{spelt} spelt-out word(s) joined")
    unconfused = _unconfuse(joined)
    if unconfused != joined:
        notes.append("look-alike letters mapped to Latin")
    return unconfused, notes


def normalize(text: str) -> Normalized:
    """``text`` as a reader (or a model) would understand it, with whatever it hides revealed."""
    if not text:
        return Normalized("")
    clean, notes = _clean(text)
    revealed: list[str] = []
    for hidden in ([] if text.isascii() else _tag_text(text)):
        revealed.append(_clean(hidden)[0])
    if revealed:
        notes.append(f"{len(revealed)} run(s) of tag characters decoded")
    decoded = [_clean(d)[0] for d in _decode_runs(clean, [MAX_B64_RUNS])]
    if decoded:
        notes.append(f"{len(decoded)} base64 run(s) decoded")
        revealed.extend(decoded)
    return Normalized(clean, tuple(revealed), tuple(notes))
