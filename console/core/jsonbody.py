"""Reading the JSON object an API request sends: size limit first, then content type, syntax,
shape and the known fields. The APIs turn ``BodyError`` into their own fail-closed answers."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

MAX_DEPTH = 32  # objects and arrays nested deeper than any API here takes


class BodyError(ValueError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


class BodyTooLarge(BodyError):
    """The body is over the size limit (an API whose limit is set by one field can name it)."""


def json_object(request: HttpRequest, *, limit: int, fields: Collection[str]) -> dict:
    """The body as a dict with only ``fields`` in it, or ``BodyError`` saying what is wrong."""
    too_big = f"the body is larger than {limit // 1024} KB"
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge(too_big)
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BodyTooLarge(too_big) from None
    if len(raw) > limit:
        raise BodyTooLarge(too_big)
    if request.content_type != "application/json":
        raise BodyError("send Content-Type: application/json")
    body = loads(raw or b"null")
    if not isinstance(body, dict):
        raise BodyError("the body must be a JSON object")
    unknown = set(body) - set(fields)
    if unknown:
        raise BodyError(f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    return body


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text to Python values, or ``BodyError`` naming the problem: not JSON, nested deeper
    than ``max_depth``, or a string that is not valid Unicode (a lone surrogate such as
    ``"\\ud800"``, which Python's decoder accepts and nothing downstream can encode)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyError(f"the body nests objects or arrays deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise BodyError("the body is not valid JSON") from None
    _check(value, max_depth)
    return value


def _check(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            raise BodyError(f"the body nests objects or arrays deeper than {max_depth} levels", _top(path))
        if isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else key
                _check_text(key, where)
                stack.append((child, depth + 1, where))
        else:
            stack.extend((child, depth + 1, f"{path}[{n}]") for n, child in enumerate(item))


def _check_text(text: str, path: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError(f"{path or 'the body'} is not valid Unicode (it holds a lone surrogate)", _top(path)) from None


def _top(path: str) -> str:
    """The top-level field a path is in (``user`` for ``user.claims.x[2]``)."""
    return path.split(".")[0].split("[")[0]
