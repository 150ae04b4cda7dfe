"""Reading the JSON object an API request sends: size limit first, then content type, syntax,
shape and the known fields. The APIs turn ``BodyError`` into their own fail-closed answers."""

from __future__ import annotations

import json
from collections.abc import Collection

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest


class BodyError(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


def json_object(request: HttpRequest, *, limit: int, fields: Collection[str]) -> dict:
    """The body as a dict with only ``fields`` in it, or ``BodyError`` saying what is wrong."""
    too_big = f"the body is larger than {limit // 1024} KB"
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyError(too_big)
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BodyError(too_big) from None
    if len(raw) > limit:
        raise BodyError(too_big)
    if request.content_type != "application/json":
        raise BodyError("send Content-Type: application/json")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BodyError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError("the body must be a JSON object")
    unknown = set(body) - set(fields)
    if unknown:
        raise BodyError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    return body
