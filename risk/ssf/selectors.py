"""Reads: streams as receivers and the console see them, outbox statistics."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.urls import reverse

from console.access.idp.models import Client
from console.core.permissions import get_for_role
from console.core.roles import CONSOLE_READERS
from risk.ssf import events
from risk.ssf.models import POLL, PUSH, Delivery, SigningKey, Stream, StreamSubject

# The OAuth scopes of the SSF API (CAEP interoperability profile 1.0): every management
# operation accepts ssf.manage, every read operation ssf.read.
SCOPE_MANAGE = "ssf.manage"
SCOPE_READ = "ssf.read"
SCOPES = (SCOPE_MANAGE, SCOPE_READ)


def issuer_for(request) -> str:
    """The transmitter's issuer: ``SSF_ISSUER``, or the URL this request came in on."""
    return (settings.SSF_ISSUER or f"{request.scheme}://{request.get_host()}").rstrip("/")


def transmitter_configuration(issuer: str) -> dict[str, Any]:
    """SSF 1.0 §6.1 Transmitter Configuration Metadata."""
    def url(name: str) -> str:
        return f"{issuer}{reverse(name)}"

    return {
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": url("ssf-api:jwks"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": url("ssf-api:streams"),
        "status_endpoint": url("ssf-api:status"),
        "add_subject_endpoint": url("ssf-api:subjects-add"),
        "remove_subject_endpoint": url("ssf-api:subjects-remove"),
        "verification_endpoint": url("ssf-api:verify"),
        # OAuth 2.0 (required by the CAEP interoperability profile) with bearer tokens: the
        # scopes are in the protected resource metadata below.
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}, {"spec_urn": "urn:ietf:rfc:6750"}],
        "default_subjects": settings.SSF_DEFAULT_SUBJECTS,
    }


def protected_resource_metadata(issuer: str, authorization_server: str) -> dict[str, Any]:
    """RFC 9728 metadata of the SSF API: the resource, the console's authorization server that
    issues tokens for it (client credentials; RFC 8414 metadata at its
    ``/.well-known/oauth-authorization-server``), the scopes it accepts and that bearer tokens go
    in the Authorization header. Console API tokens with the ssf:stream scope work too."""
    return {
        "resource": f"{issuer}/ssf",
        "authorization_servers": [authorization_server],
        "scopes_supported": list(SCOPES),
        "bearer_methods_supported": ["header"],
        "resource_name": "Shared Signals (SSF 1.0) stream management and poll delivery",
    }


def poll_url(stream: Stream) -> str:
    return f"{stream.issuer}{reverse('ssf-api:poll', kwargs={'stream_id': stream.stream_id})}"


def stream_config(stream: Stream) -> dict[str, Any]:
    """SSF 1.0 §8.1.1 Stream Configuration. The authorization header is never sent back."""
    delivery: dict[str, Any] = {"method": stream.delivery_method}
    delivery["endpoint_url"] = stream.endpoint_url if stream.is_push else poll_url(stream)
    config: dict[str, Any] = {
        "stream_id": stream.stream_id,
        "iss": stream.issuer,
        "aud": stream.audience[0] if len(stream.audience) == 1 else stream.audience,
        "events_supported": list(events.SUPPORTED),
        "events_requested": stream.events_requested,
        "events_delivered": stream.events_delivered,
        "delivery": delivery,
        "min_verification_interval": settings.SSF_MIN_VERIFICATION_INTERVAL,
    }
    if stream.description:
        config["description"] = stream.description
    return config


def streams_with_stats() -> QuerySet[Stream]:
    return Stream.objects.select_related("receiver").annotate(
        pending=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING)),
        delivered=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED)),
        failed=Count("deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED)),
        subject_count=Count("subjects", distinct=True),
    )


def streams_of(receiver: Any) -> QuerySet[Stream]:
    """The streams a receiver manages through the SSF API: an API token's or an OAuth client's."""
    if isinstance(receiver, Client):
        return Stream.objects.filter(receiver_client=receiver)
    return Stream.objects.filter(receiver=receiver)


def get_stream_for(user, pk: int) -> Stream:
    """Streams are visible to every console reader."""
    return get_for_role(Stream.objects.select_related("receiver"), user, pk, "stream", CONSOLE_READERS)


def get_delivery_for(user, pk: int) -> Delivery:
    return get_for_role(Delivery.objects.select_related("stream"), user, pk, "event", CONSOLE_READERS)


def subject_of(stream: Stream, subject_id: int) -> StreamSubject | None:
    """One subject entry of the stream (None when it is gone or belongs to another stream)."""
    return StreamSubject.objects.filter(stream=stream, pk=subject_id).first()


def streams_by_description() -> QuerySet[Stream]:
    return Stream.objects.order_by("description")


def signing_keys() -> QuerySet[SigningKey]:
    return SigningKey.objects.all()


def deliveries() -> QuerySet[Delivery]:
    return Delivery.objects.select_related("stream")


def stats(stream: Stream) -> dict[str, int]:
    counts = dict(stream.deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in Delivery.Status.values}
