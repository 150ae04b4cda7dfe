"""Scanning file contents with an integration's DLP profiles, the same way for every connector:
only text files (by MIME type or file name) up to ``ctx.dlp.max_bytes`` are downloaded, decoded
as UTF-8 (undecodable bytes replaced) and scanned; larger and binary files are passed over and
counted, and the counts become one warning per step (``warn_passed_over``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from shadow_ai.casb.connectors.base import Context, DlpCheck, Skip

TEXT_MIME_PREFIXES = ("text/",)
TEXT_MIME_TYPES = {
    "application/json", "application/xml", "application/x-yaml", "application/yaml", "application/csv",
    "application/javascript", "application/x-javascript", "application/sql", "application/x-sh",
    "application/x-ndjson", "application/jsonl", "application/toml", "application/x-python",
    "application/x-httpd-php", "application/ld+json", "application/graphql",
}
TEXT_EXTENSIONS = {
    "txt", "text", "md", "markdown", "csv", "tsv", "json", "jsonl", "ndjson", "xml", "yaml", "yml", "toml", "ini",
    "cfg", "conf", "env", "log", "sql", "html", "htm", "css", "js", "mjs", "ts", "tsx", "jsx", "py", "rb", "go", "rs",
    "java", "kt", "c", "h", "cc", "cpp", "hpp", "cs", "php", "sh", "bash", "ps1", "swift", "scala", "r", "tex",
    "rst", "properties", "pem", "eml", "vcf", "ics", "srt", "vtt",
}


def is_text(name: str, mime: str | None = None) -> bool:
    """A file worth scanning as text: a text MIME type, or (no telling MIME type) a text extension."""
    mime = (mime or "").split(";")[0].strip().lower()
    if mime.startswith(TEXT_MIME_PREFIXES) or mime in TEXT_MIME_TYPES or mime.endswith(("+json", "+xml")):
        return True
    if mime and mime not in ("application/octet-stream", "binary/octet-stream"):
        return False
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return extension in TEXT_EXTENSIONS


def require_dlp(ctx: Context, *types: str) -> DlpCheck:
    """The integration's DLP profiles, or Skip (the types stay as they were) when it has none."""
    if ctx.dlp is None:
        ctx.unchecked(*types)
        raise Skip("File contents were not scanned: choose DLP profiles on the integration's page to scan "
                   "shared and AI files with them.")
    return ctx.dlp


def scan_file(ctx: Context, step: str, *, name: str, mime: str | None, size: int | None,
              download: Callable[[int], bytes | None]) -> dict[str, Any] | None:
    """Download one file (``download(max_bytes)`` returns None when it is larger) and scan it: the
    finding details of its DLP match, or None (clean, passed over, or not text). Passed-over files
    are counted in ``ctx.state`` under the step's key."""
    check = ctx.dlp
    assert check is not None
    if not is_text(name, mime):
        _count(ctx, step, "binary")
        return None
    if size is not None and size > check.max_bytes:
        _count(ctx, step, "large")
        return None
    data = download(check.max_bytes)
    if data is None:
        _count(ctx, step, "large")
        return None
    if b"\x00" in data[:8192]:  # named like text, but binary inside
        _count(ctx, step, "binary")
        return None
    _count(ctx, step, "scanned")
    results = check.scan(data.decode("utf-8", "replace"))
    return DlpCheck.details(results) if results else None


def _count(ctx: Context, step: str, what: str) -> None:
    counts = ctx.state.setdefault("dlp_files", {}).setdefault(step, {})
    counts[what] = int(counts.get(what, 0)) + 1


def warn_passed_over(ctx: Context, step: str, where: str) -> None:
    """One warning at the end of a step for the files it did not scan."""
    counts: Mapping[str, int] = ctx.state.get("dlp_files", {}).get(step, {})
    large, binary = int(counts.get("large", 0)), int(counts.get("binary", 0))
    if not (large or binary):
        return
    limit = ctx.dlp.max_bytes if ctx.dlp else 0
    parts = []
    if large:
        parts.append(f"{large} larger than {limit // 1024} KiB (CASB_DLP_MAX_BYTES)")
    if binary:
        parts.append(f"{binary} not text (images, PDFs, office and other binary files)")
    ctx.warn(f"{where}: {' and '.join(parts)} were not scanned for DLP matches.")
