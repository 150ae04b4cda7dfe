"""The SSF HTTP interface: transmitter metadata, JWKS, the stream management API (SSF 1.0 §8)
and poll delivery (RFC 8936).

Receivers authenticate with a bearer token (RFC 6750, in the Authorization header only); each
token sees and manages only its own streams. Access is decided by the OAuth scopes the CAEP
interoperability profile names: ``ssf.manage`` for every management operation (or
``ssf.manage.<operation>``), ``ssf.read`` (or ``ssf.manage``) for reading a stream's
configuration and status. An API token with the ``ssf:stream`` scope carries both; an access
token of the console's authorization server (client credentials) carries the scopes it was granted. Errors are
JSON bodies in the shape RFC 8935/8936 use, ``{"err": ..., "description": ..., "field": ...}``,
with the status codes SSF 1.0 names for each endpoint."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from console.access.api import authenticate_api_token
from console.access.idp import tokens as oauth_tokens
from console.access.models import ApiToken
from console.core import apijson, ratelimit
from console.core.errors import Conflict, ConsoleError, PermissionRefused
from console.core.permissions import api_view, public
from console.core.request_context import client_ip
from risk.ssf import delivery, events, keys, selectors, services
from risk.ssf.models import POLL, PUSH, Stream

MAX_BODY = 64 * 1024
RECEIVER_FIELDS = {"delivery", "events_requested", "description"}
TRANSMITTER_FIELDS = {"stream_id", "iss", "aud", "events_supported", "events_delivered", "min_verification_interval",
                      "inactivity_timeout"}


SCOPE_MANAGE, SCOPE_READ, SCOPES = selectors.SCOPE_MANAGE, selectors.SCOPE_READ, selectors.SCOPES
# What each kind of console API token carries, in OAuth scopes. Access tokens from the console's
# own authorization server carry their scopes as granted.
API_TOKEN_SCOPES = {ApiToken.Scope.SSF_STREAM: frozenset(SCOPES)}


def api_token_scopes(token: ApiToken) -> frozenset[str]:
    return frozenset().union(*(API_TOKEN_SCOPES.get(scope, frozenset()) for scope in token.scopes))


def scope_allows(granted: frozenset[str] | set[str], need: str, operation: str) -> bool:
    """Whether ``granted`` OAuth scopes allow an operation: ``ssf.read`` operations take
    ``ssf.read`` or ``ssf.manage``; ``ssf.manage`` operations take ``ssf.manage`` or the
    operation's own postfixed scope (``ssf.manage.poll``), as the interoperability profile allows."""
    if need == SCOPE_READ:
        return bool({SCOPE_READ, SCOPE_MANAGE} & set(granted))
    return SCOPE_MANAGE in granted or f"{SCOPE_MANAGE}.{operation}" in granted


class ApiError(Exception):
    def __init__(self, status: int, err: str, description: str, field: str = "", *, scope: str = "") -> None:
        super().__init__(description)
        self.status, self.err, self.description, self.field, self.scope = status, err, description, field, scope


def _error(status: int, err: str, description: str, field: str = "", scope: str = "") -> HttpResponse:
    body = {"err": err, "description": description} | ({"field": field} if field else {})
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="ssf"'
    elif status == 403 and err == "insufficient_scope":
        # RFC 6750 §3.1
        headers["WWW-Authenticate"] = f'Bearer realm="ssf", error="insufficient_scope", scope="{scope}"'
    return apijson.json_response(body, status=status, headers=headers)


def _ok(body: Any = None, status: int = 200) -> HttpResponse:
    return apijson.json_response(body, status=status, headers={"Cache-Control": "no-store"})


def _methods(*methods: str):
    """405 with ``Allow`` and an SSF error body for any other method."""
    return apijson.allow_methods(methods, lambda request, message: _error(405, "invalid_request", message))


def _credential(request: HttpRequest) -> tuple[services.Receiver, frozenset[str]] | None:
    """The receiver a request speaks for and its OAuth scopes: a console API token, or an access
    token of the console's authorization server (bound, if to any resource, to this API)."""
    token = authenticate_api_token(request, ApiToken.Scope.SSF_STREAM)
    if token is not None:
        return token, api_token_scopes(token)
    return oauth_tokens.authenticate_bearer(request, resource=f"{selectors.issuer_for(request)}/ssf")


def _receiver(request: HttpRequest, operation: str, need: str = SCOPE_MANAGE) -> services.Receiver:
    found = _credential(request)
    if found is None:
        if not ratelimit.hit("ssf-auth", client_ip(request) or "unknown", limit=60, window=60):
            raise ApiError(429, "too_many_requests", "too many failed authentications; wait a minute")
        raise ApiError(401, "authentication_failed",
                       "send Authorization: Bearer <API token with the ssf:stream scope, or an access token "
                       "with the ssf.manage or ssf.read scope>")
    receiver, granted = found
    if not scope_allows(granted, need, operation):
        raise ApiError(403, "insufficient_scope", f"this operation needs the {need} scope", scope=need)
    return receiver


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError(400, "invalid_request", "the body is larger than 64 KB") from None
    if len(raw) > MAX_BODY:
        raise ApiError(400, "invalid_request", "the body is larger than 64 KB")
    if request.content_type not in ("", "application/json", "text/plain"):
        raise ApiError(400, "invalid_request", "send a JSON body (Content-Type: application/json)")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_request", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return body


def _stream_of(token: services.Receiver, stream_id: Any, *, field: str = "stream_id") -> Stream:
    if not isinstance(stream_id, str) or not stream_id:
        raise ApiError(400, "invalid_request", f"{field} is required", field)
    stream = selectors.streams_of(token).filter(stream_id=stream_id).first()
    if stream is None:
        raise ApiError(404, "not_found", f"no stream {stream_id} for this receiver", field)
    return stream


def _handle(view):
    """Turn ``ApiError`` and service errors into SSF error responses."""
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return _error(exc.status, exc.err, exc.description, exc.field, exc.scope)
        except events.SubjectNotRecognized as exc:
            # SSF 1.0 §8.1.3.2–3: a subject the transmitter does not recognize is a 404.
            return _error(404, "not_found", exc.message, exc.field or "")
        except PermissionRefused as exc:
            return _error(403, "access_denied", exc.message, exc.field or "")
        except Conflict as exc:
            return _error(409, "conflict", exc.message, exc.field or "")
        except ConsoleError as exc:
            return _error(400, "invalid_request", exc.message, exc.field or "")

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return wrapper


# --- Discovery ----------------------------------------------------------------------------------


@public
@_methods("GET")
def configuration(request: HttpRequest) -> HttpResponse:
    """``/.well-known/ssf-configuration``: what a receiver needs to set itself up."""
    return apijson.json_response(selectors.transmitter_configuration(selectors.issuer_for(request)),
                                 headers={"Cache-Control": "public, max-age=300"})


@public
@_methods("GET")
def protected_resource(request: HttpRequest) -> HttpResponse:
    """``/.well-known/oauth-protected-resource/ssf`` (RFC 9728): the SSF API as an OAuth protected
    resource, with the scopes it accepts, which the CAEP interoperability profile tells receivers
    to discover here."""
    return apijson.json_response(selectors.protected_resource_metadata(selectors.issuer_for(request),
                                                                       oauth_tokens.issuer(request)),
                                 headers={"Cache-Control": "public, max-age=300"})


@public
@_methods("GET")
def jwks(request: HttpRequest) -> HttpResponse:
    keys.current_key()  # a transmitter always publishes the key it will sign with
    return apijson.json_response(keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


# --- Stream configuration -----------------------------------------------------------------------


def _delivery_values(body: dict[str, Any], *, stream: Stream | None) -> dict[str, Any]:
    delivery_obj = body.get("delivery")
    if delivery_obj is None:
        return {}
    if not isinstance(delivery_obj, dict):
        raise ApiError(400, "invalid_request", "delivery must be an object", "delivery")
    unknown = set(delivery_obj) - {"method", "endpoint_url", "authorization_header"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, "invalid_request", f"delivery.{name} is not a delivery property", f"delivery.{name}")
    method = services.clean_method(delivery_obj.get("method", POLL))
    values: dict[str, Any] = {"delivery_method": method}
    endpoint = delivery_obj.get("endpoint_url")
    if endpoint is not None and not isinstance(endpoint, str):
        raise ApiError(400, "invalid_request", "delivery.endpoint_url must be a string", "delivery.endpoint_url")
    if method == PUSH:
        values["endpoint_url"] = endpoint or ""
        header = delivery_obj.get("authorization_header")
        if header is not None and not isinstance(header, str):
            raise ApiError(400, "invalid_request", "delivery.authorization_header must be a string",
                           "delivery.authorization_header")
        if header is not None:
            values["authorization_header"] = header
    elif endpoint and (stream is None or stream.is_push or endpoint != selectors.poll_url(stream)):
        raise ApiError(400, "invalid_request", "the poll endpoint_url is set by the transmitter; leave it out",
                       "delivery.endpoint_url")
    return values


def _check_fields(body: dict[str, Any], stream: Stream | None) -> None:
    """Receiver-supplied fields are taken; transmitter-supplied ones must match what we hold
    (SSF 1.0 §8.1.1.3); anything else is refused by name."""
    for name in body:
        if name in RECEIVER_FIELDS:
            continue
        if name in TRANSMITTER_FIELDS and stream is not None:
            expected = selectors.stream_config(stream).get(name)
            if name == "aud" and isinstance(body[name], list) and len(body[name]) == 1:
                matches = body[name][0] == expected or body[name] == expected
            else:
                matches = body[name] == expected
            if not matches:
                raise ApiError(400, "invalid_request", f"{name} is set by the transmitter and does not match", name)
            continue
        if name in TRANSMITTER_FIELDS:
            raise ApiError(400, "invalid_request", f"{name} is set by the transmitter", name)
        raise ApiError(400, "invalid_request", f"unknown stream property {name}", name)


def _values(body: dict[str, Any], stream: Stream | None) -> dict[str, Any]:
    values = _delivery_values(body, stream=stream)
    if "events_requested" in body:
        values["events_requested"] = body["events_requested"]
    if "description" in body:
        if not isinstance(body["description"], str):
            raise ApiError(400, "invalid_request", "description must be a string", "description")
        values["description"] = body["description"][:300]
    return values


@csrf_exempt
@api_view
@_methods("GET", "POST", "PATCH", "PUT", "DELETE")
@_handle
def streams(request: HttpRequest) -> HttpResponse:
    """The configuration endpoint: POST creates, GET reads (one or all), PATCH updates, PUT
    replaces, DELETE deletes."""
    operation = {"GET": "read", "POST": "create", "DELETE": "delete"}.get(request.method, "update")
    token = _receiver(request, operation, SCOPE_READ if request.method == "GET" else SCOPE_MANAGE)
    if request.method == "GET":
        stream_id = request.GET.get("stream_id")
        if stream_id is None:
            return _ok([selectors.stream_config(s) for s in selectors.streams_of(token).order_by("id")])
        return _ok(selectors.stream_config(_stream_of(token, stream_id)))
    if request.method == "DELETE":
        services.stream_delete(actor=None, stream=_stream_of(token, request.GET.get("stream_id")), receiver=token)
        return _ok(status=204)
    body = _body(request)
    if request.method == "POST":
        _check_fields(body, None)
        values = _values(body, None)
        stream = services.stream_create(
            actor=None, receiver=token, issuer=selectors.issuer_for(request),
            description=values.get("description", ""), delivery_method=values.get("delivery_method", POLL),
            endpoint_url=values.get("endpoint_url", ""), authorization_header=values.get("authorization_header", ""),
            events_requested=values.get("events_requested"),
        )
        return _ok(selectors.stream_config(stream), status=201)
    stream = _stream_of(token, body.get("stream_id"))
    _check_fields(body, stream)
    values = _values(body, stream)
    if request.method == "PATCH" and "delivery" in body and "delivery_method" in values:
        if values["delivery_method"] == PUSH and "endpoint_url" not in body["delivery"]:
            values["endpoint_url"] = stream.endpoint_url
    stream = services.stream_update(actor=None, stream=stream, receiver=token, replace=request.method == "PUT",
                                    **values)
    return _ok(selectors.stream_config(stream))


# --- Status, subjects, verification -------------------------------------------------------------


def _status_body(stream: Stream) -> dict[str, str]:
    body = {"stream_id": stream.stream_id, "status": stream.status}
    if stream.status_reason:
        body["reason"] = stream.status_reason
    return body


@csrf_exempt
@api_view
@_methods("GET", "POST")
@_handle
def status(request: HttpRequest) -> HttpResponse:
    token = _receiver(request, "status", SCOPE_READ if request.method == "GET" else SCOPE_MANAGE)
    if request.method == "GET":
        return _ok(_status_body(_stream_of(token, request.GET.get("stream_id"))))
    body = _body(request)
    unknown = set(body) - {"stream_id", "status", "reason"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, "invalid_request", f"unknown status property {name}", name)
    stream = _stream_of(token, body.get("stream_id"))
    new_status, reason = body.get("status"), body.get("reason", "")
    if new_status not in Stream.Status.values:
        raise ApiError(400, "invalid_request", "status must be enabled, paused or disabled", "status")
    if not isinstance(reason, str):
        raise ApiError(400, "invalid_request", "reason must be a string", "reason")
    stream = services.stream_status_set(actor=None, stream=stream, status=new_status, reason=reason, receiver=token)
    return _ok(_status_body(stream))


def _subject_request(request: HttpRequest, allowed: set[str]) -> tuple[ApiToken, Stream, dict[str, Any]]:
    token = _receiver(request, "subjects")
    body = _body(request)
    unknown = set(body) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, "invalid_request", f"unknown property {name}", name)
    stream = _stream_of(token, body.get("stream_id"))
    if "subject" not in body:
        raise ApiError(400, "invalid_request", "subject is required", "subject")
    if not ratelimit.hit("ssf-subjects", stream.stream_id, limit=600, window=60):
        raise ApiError(429, "too_many_requests", "at most 600 subject changes a minute per stream")
    return token, stream, body


@csrf_exempt
@api_view
@_methods("POST")
@_handle
def subjects_add(request: HttpRequest) -> HttpResponse:
    token, stream, body = _subject_request(request, {"stream_id", "subject", "verified"})
    services.subject_add(actor=None, stream=stream, subject=body["subject"], verified=body.get("verified", True),
                         receiver=token)
    return _ok(status=200)


@csrf_exempt
@api_view
@_methods("POST")
@_handle
def subjects_remove(request: HttpRequest) -> HttpResponse:
    token, stream, body = _subject_request(request, {"stream_id", "subject"})
    services.subject_remove(actor=None, stream=stream, subject=body["subject"], receiver=token)
    return _ok(status=204)


@csrf_exempt
@api_view
@_methods("POST")
@_handle
def verify(request: HttpRequest) -> HttpResponse:
    token = _receiver(request, "verify")
    body = _body(request)
    unknown = set(body) - {"stream_id", "state"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, "invalid_request", f"unknown property {name}", name)
    stream = _stream_of(token, body.get("stream_id"))
    if not ratelimit.once_per("ssf-verify", stream.stream_id, seconds=settings.SSF_MIN_VERIFICATION_INTERVAL):
        raise ApiError(429, "too_many_requests",
                       f"at most one verification every {settings.SSF_MIN_VERIFICATION_INTERVAL} s "
                       "(min_verification_interval)")
    services.verification_request(actor=None, stream=stream, state=body.get("state", ""), receiver=token)
    return _ok(status=204)


# --- Poll delivery (RFC 8936) -------------------------------------------------------------------


def _poll_arguments(body: dict[str, Any]) -> tuple[int, bool, list[str], dict[str, dict[str, str]]]:
    unknown = set(body) - {"maxEvents", "returnImmediately", "ack", "setErrs"}
    if unknown:
        name = sorted(unknown)[0]
        raise ApiError(400, "invalid_request", f"unknown poll parameter {name}", name)
    max_events = body.get("maxEvents", 100)
    if isinstance(max_events, bool) or not isinstance(max_events, int) or not 0 <= max_events <= 1000:
        raise ApiError(400, "invalid_request", "maxEvents must be a whole number from 0 to 1000", "maxEvents")
    immediately = body.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise ApiError(400, "invalid_request", "returnImmediately must be true or false", "returnImmediately")
    ack = body.get("ack", [])
    if not isinstance(ack, list) or len(ack) > 1000 or not all(isinstance(j, str) and len(j) <= 64 for j in ack):
        raise ApiError(400, "invalid_request", "ack must be a list of at most 1000 jti strings", "ack")
    errs = body.get("setErrs", {})
    if not isinstance(errs, dict) or len(errs) > 1000:
        raise ApiError(400, "invalid_request", "setErrs must be an object of jti → {err, description}", "setErrs")
    for jti, problem in errs.items():
        if (not isinstance(problem, dict) or not isinstance(problem.get("err"), str)
                or not isinstance(problem.get("description", ""), str)):
            raise ApiError(400, "invalid_request", f"setErrs.{jti} must be {{err, description}}", f"setErrs.{jti}")
    return max_events, immediately, ack, errs


@csrf_exempt
@api_view
@_methods("POST")
@_handle
def poll(request: HttpRequest, stream_id: str) -> HttpResponse:
    """RFC 8936: acknowledge what the receiver processed and hand out what is waiting."""
    token = _receiver(request, "poll")
    stream = _stream_of(token, stream_id)
    if stream.is_push:
        raise ApiError(400, "invalid_request", "this stream delivers by push, not poll")
    max_events, immediately, ack, errs = _poll_arguments(_body(request))
    result = delivery.poll(stream, max_events=max_events, return_immediately=immediately, ack=ack, set_errs=errs)
    return _ok({"sets": result.sets, "moreAvailable": result.more_available})
