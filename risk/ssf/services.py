"""Every write on SSF streams, for the console and for receivers calling the SSF API alike.

``actor`` is the signed-in person (console) or ``None`` when a receiver acts through the API
with its token (``receiver``); both are recorded in the audit trail. ``actor=None`` without a
receiver is refused, except for a stream the system itself sets up (``stream_create(system=True)``)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.access.idp.models import Client
from console.access.models import ApiToken
from console.audit.services import audit_record, diff, snapshot
from console.core import outbound
from console.core.errors import Conflict, ValidationFailed
from console.core.permissions import require_role
from console.core.roles import ADMINS
from risk.ssf import delivery, events
from risk.ssf.models import POLL, PUSH, Delivery, Stream, StreamSubject

# Older drafts named the delivery methods with these URIs; receivers still send them.
LEGACY_METHODS = {
    "https://schemas.openid.net/secevent/risc/delivery-method/push": PUSH,
    "https://schemas.openid.net/secevent/risc/delivery-method/poll": POLL,
}
STREAM_FIELDS = ("description", "audience", "delivery_method", "endpoint_url", "events_requested",
                 "events_delivered", "subjects_default", "subject_format", "event_subject", "receiver",
                 "receiver_client")
# Who manages a stream through the SSF API: a console API token (scope ssf:stream) or an OAuth
# client of the console's authorization server (client credentials, scopes ssf.manage / ssf.read).
Receiver = ApiToken | Client
# Okta's receiver reads event subjects in its older shape; a stream pushing to an Okta org gets
# that shape unless someone chose otherwise.
OKTA_HOST_SUFFIXES = (".okta.com", ".oktapreview.com", ".okta-emea.com", ".okta-gov.com", ".okta.mil")


def default_event_subject(endpoint_url: str) -> str:
    host = (urlsplit(endpoint_url or "").hostname or "").lower()
    return Stream.EventSubject.OKTA if host.endswith(OKTA_HOST_SUFFIXES) else Stream.EventSubject.SSF


def _by(actor, receiver: Receiver | None) -> dict[str, str]:
    if actor is not None:
        return {"via": "console"}
    if receiver is None:
        return {"via": "system"}
    kind = "OAuth client" if isinstance(receiver, Client) else "token"
    return {"via": f"SSF API ({kind} {receiver.name})"}


def clean_endpoint(url: str, *, field: str = "delivery.endpoint_url") -> str:
    url = (url or "").strip()
    if not url:
        raise ValidationFailed("Push delivery needs the receiver's endpoint_url.", field=field)
    if len(url) > 500:
        raise ValidationFailed("The endpoint URL is longer than 500 characters.", field=field)
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.SSF_ALLOW_HTTP_ENDPOINTS else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise ValidationFailed(f"The endpoint URL must be an {' or '.join(allowed)} URL.", field=field)
    if parts.username or parts.password:
        raise ValidationFailed("Put credentials in the authorization header, not in the URL.", field=field)
    if not settings.SSF_ALLOW_PRIVATE_ENDPOINTS:
        _refuse_internal(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), field)
    try:
        # The rules every push meets (console/core/outbound.py), told now rather than at delivery;
        # delivery checks the address again when it connects.
        outbound.check_url(url)
    except outbound.OutboundRefused as exc:
        raise ValidationFailed(f"The endpoint URL was refused: {exc.reason}.", field=field) from None
    except outbound.OutboundUnavailable:
        pass  # a host that does not resolve yet is reported on the stream at delivery
    return url


def _refuse_internal(host: str, port: int, field: str) -> None:
    """Receivers choose where we POST: never to this machine or the private network, even where
    the outbound allow-list would let an admin's own configuration reach it."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError):
        raise ValidationFailed(f"The endpoint's host {host} does not resolve.", field=field)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        label = outbound.classify(ip)
        if label is not None:
            raise ValidationFailed(f"The endpoint's host {host} is on a private or local address ({ip}: {label}).",
                                   field=field)


def clean_method(method: Any, *, field: str = "delivery.method") -> str:
    method = LEGACY_METHODS.get(method, method)
    if method not in (PUSH, POLL):
        raise ValidationFailed(f"The delivery method must be {PUSH} (push) or {POLL} (poll).", field=field)
    return method


def clean_events(requested: Any, *, field: str = "events_requested") -> tuple[list[str], list[str]]:
    """(requested, delivered). Unknown event types are kept as requested and not delivered."""
    if requested is None:
        requested = list(events.DEFAULT_REQUESTED)
    if not isinstance(requested, list) or not all(isinstance(e, str) and 0 < len(e) <= 300 for e in requested):
        raise ValidationFailed("events_requested must be a list of event type URIs.", field=field)
    if not requested:
        raise ValidationFailed("events_requested must name at least one event type.", field=field)
    if len(requested) > 50:
        raise ValidationFailed("events_requested lists more than 50 event types.", field=field)
    requested = list(dict.fromkeys(requested))
    return requested, [e for e in events.SUPPORTED if e in requested]


def clean_audience(audience: Any, *, field: str = "audience") -> list[str]:
    if isinstance(audience, str):
        audience = [a.strip() for a in audience.replace("\n", ",").split(",")]
    if not isinstance(audience, list):
        raise ValidationFailed("The audience is a list of strings.", field=field)
    audience = [a for a in dict.fromkeys(audience) if a]
    if not audience or not all(isinstance(a, str) and len(a) <= 300 for a in audience):
        raise ValidationFailed("Name the receiver's audience, e.g. https://tenant.okta.com.", field=field)
    return audience


def _default_audience(*, method: str, endpoint_url: str, receiver: Receiver | None, stream_id: str) -> list[str]:
    """The receiver's audience when nobody named one: the origin of its push endpoint, else
    the receiver token's name."""
    if method == PUSH and endpoint_url:
        parts = urlsplit(endpoint_url)
        return [f"{parts.scheme}://{parts.netloc}"]
    return [receiver.name if receiver else stream_id]


def _apply(stream: Stream, *, description: str, method: str, endpoint_url: str, authorization_header: str | None,
           events_requested: Any, audience: Any, subjects_default: str | None, subject_format: str | None,
           receiver: Receiver | None, event_subject: str | None = None) -> None:
    description = (description or "").strip()
    if len(description) > 300:
        raise ValidationFailed("The description is longer than 300 characters.", field="description")
    stream.description = description
    stream.delivery_method = clean_method(method)
    if stream.delivery_method == PUSH:
        stream.endpoint_url = clean_endpoint(endpoint_url)
        if authorization_header is not None:
            header = authorization_header.strip()
            if len(header) > 4096 or any(c in header for c in "\r\n\x00"):
                raise ValidationFailed("The authorization header must be one line of at most 4096 characters.",
                                       field="delivery.authorization_header")
            stream.authorization_header = header
    else:
        stream.endpoint_url, stream.authorization_header = "", ""
    stream.events_requested, stream.events_delivered = clean_events(events_requested)
    if subjects_default is not None:
        if subjects_default not in Stream.Subjects.values:
            raise ValidationFailed("Subjects must be ALL or NONE.", field="subjects_default")
        stream.subjects_default = subjects_default
    if subject_format is not None:
        if subject_format not in Stream.SubjectFormat.values:
            raise ValidationFailed(f"The subject format must be one of {', '.join(events.SUBJECT_FORMATS)}.",
                                   field="subject_format")
        stream.subject_format = subject_format
    if event_subject is not None:
        if event_subject not in Stream.EventSubject.values:
            raise ValidationFailed("The event subject shape must be ssf or okta.", field="event_subject")
        stream.event_subject = event_subject
    if isinstance(receiver, Client):
        stream.receiver, stream.receiver_client = None, receiver
    else:
        if receiver is not None and ApiToken.Scope.SSF_STREAM not in receiver.scopes:
            raise ValidationFailed("The receiver's API token needs the ssf:stream scope.", field="receiver")
        stream.receiver, stream.receiver_client = receiver, None
    if audience is not None:
        stream.audience = clean_audience(audience)
    elif not stream.audience:
        stream.audience = _default_audience(method=stream.delivery_method, endpoint_url=stream.endpoint_url,
                                            receiver=receiver, stream_id=stream.stream_id)


@transaction.atomic
def stream_create(
    *, actor, issuer: str, receiver: Receiver | None = None, description: str = "", delivery_method: str = POLL,
    endpoint_url: str = "", authorization_header: str = "", events_requested: list[str] | None = None,
    audience: list[str] | str | None = None, subjects_default: str | None = None, subject_format: str = "email",
    event_subject: str | None = None, system: bool = False,
) -> Stream:
    """A new stream. ``issuer`` is the transmitter's issuer as the receiver knows it: it goes
    into every SET of the stream as ``iss``. ``event_subject`` (``ssf`` or ``okta``) defaults to
    ``okta`` for a push endpoint at an Okta org, else ``ssf``. ``system=True`` with
    ``actor=None``: set up by the system, not by a person or a receiver."""
    require_role(actor, ADMINS, "create SSF streams", system=system or receiver is not None)
    stream = Stream(issuer=issuer.rstrip("/"), created_by_email=actor.email if actor else "")
    _apply(stream, description=description, method=delivery_method, endpoint_url=endpoint_url,
           authorization_header=authorization_header, events_requested=events_requested, audience=audience,
           subjects_default=subjects_default or settings.SSF_DEFAULT_SUBJECTS, subject_format=subject_format,
           receiver=receiver,
           event_subject=event_subject or default_event_subject(endpoint_url if delivery_method == PUSH else ""))
    stream.save()
    changes = diff({}, snapshot(stream, STREAM_FIELDS))
    if stream.authorization_header:
        changes["authorization_header"] = {"old": None, "new": "[secret]"}
    audit_record(actor=actor, action="ssf.stream.created", obj=stream, changes=changes | _by(actor, receiver))
    return stream


@transaction.atomic
def stream_update(
    *, actor, stream: Stream, receiver: Receiver | None = None, replace: bool = False, via_api: bool = False,
    **values: Any,
) -> Stream:
    """Change a stream. ``values`` holds what the caller sent: description, delivery_method,
    endpoint_url, authorization_header, events_requested, audience, subjects_default,
    subject_format, event_subject, receiver_token. With ``replace`` (PUT) receiver-supplied values left out
    return to their defaults; otherwise (PATCH, the console) they are kept."""
    require_role(actor, ADMINS, "change SSF streams", system=receiver is not None)
    stream = Stream.objects.select_for_update().get(pk=stream.pk)
    before = snapshot(stream, STREAM_FIELDS)
    old_header = stream.authorization_header
    defaults = {"description": "", "delivery_method": POLL, "endpoint_url": "", "events_requested": None}
    current = {"description": stream.description, "delivery_method": stream.delivery_method,
               "endpoint_url": stream.endpoint_url, "events_requested": stream.events_requested}
    merged = {k: values.get(k, defaults[k] if replace else current[k]) for k in defaults}
    header = values.get("authorization_header")
    if replace and header is None:
        header = ""
    # The console's form names API tokens only: leaving it empty keeps an OAuth client that owns the stream.
    chosen = values.get("receiver_token")
    owner = chosen if "receiver_token" in values and (chosen is not None or stream.receiver_client_id is None) \
        else stream.owner
    _apply(stream, description=merged["description"], method=merged["delivery_method"],
           endpoint_url=merged["endpoint_url"], authorization_header=header,
           events_requested=merged["events_requested"], audience=values.get("audience"),
           subjects_default=values.get("subjects_default"), subject_format=values.get("subject_format"),
           receiver=owner, event_subject=values.get("event_subject"))
    changes = diff(before, snapshot(stream, STREAM_FIELDS))
    if stream.authorization_header != old_header:
        changes["authorization_header"] = {"old": "[secret]" if old_header else None,
                                           "new": "[secret]" if stream.authorization_header else None}
    if not changes:
        return stream
    stream.save()
    audit_record(actor=actor, action="ssf.stream.updated", obj=stream, changes=changes | _by(actor, receiver))
    if stream.status == Stream.Status.ENABLED and stream.is_push:
        delivery.schedule(stream.pk)
    return stream


@transaction.atomic
def stream_delete(*, actor, stream: Stream, receiver: Receiver | None = None) -> None:
    require_role(actor, ADMINS, "delete SSF streams", system=receiver is not None)
    pending = stream.deliveries.filter(status=Delivery.Status.PENDING).count()
    audit_record(actor=actor, action="ssf.stream.deleted", obj=stream,
                 changes={"stream_id": stream.stream_id, "pending_events_discarded": pending} | _by(actor, receiver))
    stream.delete()


@transaction.atomic
def stream_status_set(*, actor, stream: Stream, status: str, reason: str = "",
                      receiver: Receiver | None = None) -> Stream:
    """Enable, pause (events are held) or disable (events are dropped) a stream. When the
    transmitter's side changes it (the console), the receiver is told with a stream-updated
    event before the stream stops, or once it starts again."""
    require_role(actor, ADMINS, "change a stream's status", system=receiver is not None)
    if status not in Stream.Status.values:
        raise ValidationFailed("status must be enabled, paused or disabled.", field="status")
    reason = (reason or "").strip()
    if len(reason) > 300:
        raise ValidationFailed("The reason is longer than 300 characters.", field="reason")
    stream = Stream.objects.select_for_update().get(pk=stream.pk)
    old = stream.status
    if old == status and stream.status_reason == reason:
        return stream
    stream.status, stream.status_reason = status, reason
    stream.save(update_fields=["status", "status_reason", "updated_at"])
    dropped = 0
    if status == Stream.Status.DISABLED:
        dropped = stream.deliveries.filter(status=Delivery.Status.PENDING, control=False).update(
            status=Delivery.Status.DROPPED, last_error="the stream was disabled"
        )
    if actor is not None and old != status:
        delivery.enqueue_stream_updated(stream, status=status, reason=reason)
    audit_record(actor=actor, action="ssf.stream.status_changed", obj=stream,
                 changes={"status": {"old": old, "new": status}, "reason": reason, "events_dropped": dropped}
                 | _by(actor, receiver))
    delivery.schedule(stream.pk)
    return stream


@transaction.atomic
def subject_add(*, actor, stream: Stream, subject: dict, verified: bool = True,
                receiver: Receiver | None = None) -> StreamSubject:
    """Events about this subject go out on the stream (under NONE), or again (under ALL)."""
    require_role(actor, ADMINS, "add subjects", system=receiver is not None)
    return _subject_set(actor=actor, stream=stream, subject=subject, included=True, verified=verified,
                        receiver=receiver)


@transaction.atomic
def subject_remove(*, actor, stream: Stream, subject: dict, receiver: Receiver | None = None) -> StreamSubject:
    """No more events about this subject on the stream."""
    require_role(actor, ADMINS, "remove subjects", system=receiver is not None)
    return _subject_set(actor=actor, stream=stream, subject=subject, included=False, verified=True,
                        receiver=receiver)


def _subject_set(*, actor, stream: Stream, subject: dict, included: bool, verified: bool,
                 receiver: Receiver | None) -> StreamSubject:
    if not isinstance(verified, bool):
        raise ValidationFailed("verified must be true or false.", field="verified")
    key = events.subject_key(subject)
    if StreamSubject.objects.filter(stream=stream).count() >= settings.SSF_MAX_SUBJECTS_PER_STREAM and not (
        StreamSubject.objects.filter(stream=stream, key=key).exists()
    ):
        raise Conflict(f"A stream holds at most {settings.SSF_MAX_SUBJECTS_PER_STREAM} subjects.", field="subject")
    row, created = StreamSubject.objects.get_or_create(
        stream=stream, key=key, defaults={"subject": subject, "included": included, "verified": verified}
    )
    if not created and (row.included, row.verified) == (included, verified):
        return row
    row.subject, row.included, row.verified = subject, included, verified
    row.save()
    audit_record(actor=actor, action="ssf.subject.added" if included else "ssf.subject.removed", obj=stream,
                 changes={"subject": key, "verified": verified} | _by(actor, receiver))
    return row


@transaction.atomic
def subject_forget(*, actor, stream: Stream, subject_row: StreamSubject) -> None:
    """Delete a subject entry (the console's undo of an add or a remove)."""
    require_role(actor, ADMINS, "change subjects")
    audit_record(actor=actor, action="ssf.subject.forgotten", obj=stream,
                 changes={"subject": subject_row.key, "was": "added" if subject_row.included else "removed"})
    subject_row.delete()


@transaction.atomic
def verification_request(*, actor, stream: Stream, state: str = "", receiver: Receiver | None = None) -> Delivery:
    """Queue a verification event; it goes out like any other event of the stream."""
    require_role(actor, ADMINS, "send verification events", system=receiver is not None)
    if not isinstance(state, str) or len(state) > 1000:
        raise ValidationFailed("state must be a string of at most 1000 characters.", field="state")
    row = delivery.enqueue_verification(stream, state=state)
    audit_record(actor=actor, action="ssf.stream.verification_requested", obj=stream,
                 changes={"jti": row.jti} | _by(actor, receiver))
    return row


@transaction.atomic
def delivery_retry(*, actor, deliveries: Iterable[Delivery]) -> int:
    """Put failed or dropped events back in the queue, to be sent at once."""
    require_role(actor, ADMINS, "retry deliveries")

    rows = [d for d in deliveries if d.status in (Delivery.Status.FAILED, Delivery.Status.DROPPED)]
    if not rows:
        return 0
    Delivery.objects.filter(pk__in=[d.pk for d in rows]).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), last_attempt_at=None
    )
    for stream_pk in {d.stream_id for d in rows}:
        mine = [d for d in rows if d.stream_id == stream_pk]
        audit_record(actor=actor, action="ssf.delivery.retried", object_type="ssf.stream", object_id=str(stream_pk),
                     object_repr=str(mine[0].stream), changes={"jti": [d.jti for d in mine]})
        delivery.schedule(stream_pk)
    return len(rows)
