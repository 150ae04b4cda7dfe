"""The source-code detector behind the "Source code" content topic: how many lines of a text look
like code in a common language (C, C#, C++, Go, Java, JavaScript/TypeScript, Python, Rust, Swift,
PHP, Ruby, shell, SQL), and what share of the text they are. Pure Python, one pass over the lines."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINES = 2000

_STATEMENT = re.compile(
    r"^\s*(?:"
    r"def \w+\s*\(|class \w+[\s(:{<]|import [\w.{*]|from [\w.]+ import |return\b|elif\b|else\s*[:{]|"
    r"if\s*\(|if .+:\s*$|for\s*\(|for \w+(?:, ?\w+)* in .+:\s*$|while\s*\(|while .+:\s*$|try\s*[:{]|"
    r"except\b.*:\s*$|catch\s*\(|finally\s*[:{]|switch\s*\(|case .+:|"
    r"#include\s*[<\"]|#define |#ifn?def |using (?:namespace |System)|namespace [\w.]+|"
    r"(?:public|private|protected|internal|static|final|abstract|override|async|export)\s+[\w<>\[\],]+|"
    r"function\*?\s*\w*\s*\(|(?:const|let|var)\s+[\w{\[]+\s*=|package \w+|func (?:\(\w+ \*?\w+\) )?\w+\(|"
    r"fn \w+|(?:pub(?:\(crate\))? )?(?:fn|struct|enum|impl|trait|mod) \w+|let mut |use [\w:]+|"
    r"@\w+(?:\(.*\))?\s*$|"
    r"(?:SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE (?:TABLE|INDEX|VIEW)|ALTER TABLE)\b|"
    r"echo |export \w+=|\$\(|"
    r"\w+(?:\.\w+)*\s*(?:=|\+=|-=|:=)\s*[^=].*[;)\]}\"']\s*$"
    r")"
)
_PUNCTUATION_END = re.compile(r"(?:;|\{|\}|\);|\)\s*\{|=>|->|\]\)?;?|\):)\s*$")
_OPERATORS = re.compile(r"==|!=|<=|>=|&&|\|\||->|=>|::|\+\+|\w\[\w*\]|\w\(\w*[,)]|\w\.\w+\(")
_FENCE = re.compile(r"^\s*```")


@dataclass(frozen=True)
class CodeScore:
    code_lines: int
    text_lines: int
    fenced: bool

    @property
    def share(self) -> float:
        return self.code_lines / self.text_lines if self.text_lines else 0.0


def _looks_like_code(line: str) -> bool:
    if _STATEMENT.search(line):
        return True
    stripped = line.strip()
    if _PUNCTUATION_END.search(stripped) and _OPERATORS.search(stripped):
        return True
    return stripped in ("}", "};", "})", "});", "end", "fi", "done", "esac", "]", ")", "{")


def score(text: str) -> CodeScore:
    """How much of ``text`` is code: the lines that look like code, among its non-blank lines."""
    code = lines = 0
    fenced = False
    for line in text.splitlines()[:MAX_LINES]:
        if not line.strip():
            continue
        if _FENCE.match(line):
            fenced = True
            continue
        lines += 1
        if _looks_like_code(line):
            code += 1
    return CodeScore(code_lines=code, text_lines=lines, fenced=fenced)
