"""Gateway HTTP conditions on the request itself (the reference's *Request* and *Files* selectors
and the applications' granular operations), kept apart from ``engine.py`` so each selector family
can grow on its own: HTTP method, URL path (prefixes), URL (RE2 regex), upload file type and
application operation. ``engine.CONDITIONS`` includes them.

Their facts come with the request (``engine.GatewayRequest``): ``method``, ``url``,
``upload_types`` (extensions of the files a request uploads) and ``operation``
(``operations.operation_of``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import re2

from console.core import policy as shared
from shadow_ai.gateway import operations

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
FILE_TYPES = frozenset({
    "7z", "bz2", "gz", "cab", "chm", "rar", "xz", "zip",  # compressed
    "doc", "docx", "docm", "xls", "xlsx", "xlsm", "ppt", "pptx", "pptm", "pdf", "txt", "csv", "json", "md",  # documents
    "pkg", "dll", "elf", "jar", "class", "macho", "msi", "msix", "appx", "exe", "dmg",  # executables, systems
    "psd", "bmp", "gif", "ico", "jpg", "jpeg", "png", "webp", "torrent",  # images, other
})


def _negated(config: Mapping[str, Any]) -> bool:
    operator = config.get("operator", "in")
    if operator not in ("in", "not_in"):
        raise shared.RuleError(f"operator must be in or not_in, not {operator!r}")
    return operator == "not_in"


def _path(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "/"


def http_method(config: Mapping[str, Any]):
    from shadow_ai.gateway.engine import Condition  # imported here: engine imports this module

    methods = frozenset(m.upper() for m in shared.strings(config))
    unknown = methods - METHODS
    if unknown:
        raise shared.RuleError(f"unknown HTTP method {', '.join(sorted(unknown))}")
    negate = _negated(config)
    return Condition("http_method", f"HTTP method {'is not' if negate else 'is'} {', '.join(sorted(methods))}",
                     lambda r: (r.method.upper() in methods) != negate)


def url_path(config: Mapping[str, Any]):
    """Any of the paths, each matching itself and everything below it (``/api`` covers ``/api/x``)."""
    from shadow_ai.gateway.engine import Condition  # imported here: engine imports this module

    paths = shared.strings(config, lower=False)
    for path in paths:
        if not path.startswith("/"):
            raise shared.RuleError(f"{path!r} is not a URL path (it starts with /)")
    prefixes = tuple(p.rstrip("/") + "/" for p in paths)
    negate = _negated(config)

    def test(r) -> bool:
        path = _path(r.url)
        return (path in paths or path.startswith(prefixes)) != negate

    return Condition("url_path", f"URL path {'is not under' if negate else 'is under'} {', '.join(sorted(paths))}",
                     test)


def url_regex(config: Mapping[str, Any]):
    """The full URL matches any of the RE2 expressions (linear time, whatever the URL)."""
    from shadow_ai.gateway.engine import Condition  # imported here: engine imports this module

    patterns = shared.strings(config, lower=False)
    compiled = []
    for pattern in sorted(patterns):
        try:
            compiled.append(re2.compile(pattern))
        except re2.error as exc:
            raise shared.RuleError(f"{pattern!r} is not a valid regular expression: {exc}") from None
    negate = _negated(config)

    def test(r) -> bool:
        return any(p.search(r.url) for p in compiled) != negate

    return Condition("url_regex", f"URL {'does not match' if negate else 'matches'} {', '.join(sorted(patterns))}",
                     test)


def upload_file_type(config: Mapping[str, Any]):
    from shadow_ai.gateway.engine import Condition  # imported here: engine imports this module

    types = frozenset(t.lstrip(".") for t in shared.strings(config))
    unknown = types - FILE_TYPES
    if unknown:
        raise shared.RuleError(f"unknown file type {', '.join(sorted(unknown))}")
    negate = _negated(config)
    return Condition("upload_file_type",
                     f"Uploaded file type {'is not' if negate else 'is'} {', '.join(sorted(types))}",
                     lambda r: (not types.isdisjoint(r.upload_types)) != negate)


def operation(config: Mapping[str, Any]):
    from shadow_ai.gateway.engine import Condition  # imported here: engine imports this module

    wanted = frozenset(shared.strings(config, lower=False))
    unknown = wanted - set(operations.OPERATIONS)
    if unknown:
        raise shared.RuleError(f"unknown operation {', '.join(sorted(unknown))}; use "
                               f"{', '.join(operations.OPERATIONS)}")
    negate = _negated(config)
    return Condition("operation", f"Operation {'is not' if negate else 'is'} {', '.join(sorted(wanted))}",
                     lambda r: (r.operation in wanted) != negate)


CONDITIONS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "http_method": http_method,
    "url_path": url_path,
    "url_regex": url_regex,
    "upload_file_type": upload_file_type,
    "operation": operation,
}
