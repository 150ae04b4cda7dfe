"""What the console's JSON APIs share: reading the bearer credential of a request, the
bad-request error they fail closed with, and readers for the fields of a JSON body.

The credentials themselves live in the app that issues them (API tokens in ``console.access``,
telemetry source tokens in ``risk``); this module only knows their shape,
``Authorization: Bearer <kind>_<prefix>_<secret>``, where ``<kind>`` says which credential it is
(``ztc`` for API tokens, ``zts`` for telemetry sources) and ``<prefix>`` is the stored lookup key."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.http import HttpRequest, HttpResponse

from console.core import apijson


class BearerCredential(NamedTuple):
    prefix: str
    secret: str


def bearer_credential(source: HttpRequest | str, kind: str) -> BearerCredential | None:
    """The prefix and secret of a ``Bearer <kind>_<prefix>_<secret>`` credential, taken from a
    request's Authorization header (or the header's value), or ``None`` when there is none of
    that kind. Only the shape is checked; the caller looks the prefix up and compares secrets."""
    header = source if isinstance(source, str) else source.META.get("HTTP_AUTHORIZATION", "")
    if not header.startswith(f"Bearer {kind}_"):
        return None
    try:
        _, prefix, secret = header.removeprefix("Bearer ").split("_", 2)
    except ValueError:
        return None
    return BearerCredential(prefix, secret)


class BadRequest(Exception):
    """The request is malformed; ``field`` names the body field that is wrong (``user.email``)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message, self.field = message, field


def json_answer(body: dict, status: int = 200, *, headers: dict[str, str] | None = None) -> HttpResponse:
    """A JSON answer (the C encoder; date-times in RFC 3339)."""
    return apijson.json_response(body, status=status, headers=headers)


def error_answer(status: int, message: str, field: str = "", *, headers: dict[str, str] | None = None) -> HttpResponse:
    """``{"error": message, "field": field}``, the error body of the decision, telemetry and risk
    APIs (``field`` names what is wrong: a body field, ``Authorization``, ``method``)."""
    return apijson.json_response({"error": message, "field": field}, status=status, headers=headers)


def text_field(body: dict, name: str, *, limit: int = 500, required: bool = False, where: str = "") -> str:
    """A string field, stripped: absent is empty (unless required); null, other types, NUL
    characters and over-long values are refused. ``where`` is the enclosing object's name."""
    label = f"{where}.{name}" if where else name
    if name not in body:
        if required:
            raise BadRequest(f"{label} is required", label)
        return ""
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"{label} must be a string", label)
    if len(value) > limit:
        raise BadRequest(f"{label} is longer than {limit} characters", label)
    if "\x00" in value:
        raise BadRequest(f"{label} contains a NUL character", label)
    return value.strip()


def object_field(body: dict, name: str) -> dict[str, Any] | None:
    """An object field, or ``None`` when it is absent."""
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, dict):
        raise BadRequest(f"{name} must be an object", name)
    return value
