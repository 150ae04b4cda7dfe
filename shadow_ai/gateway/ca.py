"""The organization's certificate authorities for the web gateway.

The first gateway that starts creates one (``ca_ensure``); its private key is kept only in the
database, encrypted with ``FIELD_ENCRYPTION_KEYS`` (``EncryptedTextField``). A rotation
(``ca_rotate``) makes the next CA at once but lets gateways sign with it only after
``GATEWAY_CA_OVERLAP_DAYS``: in between, people install it beside the current one (the download
holds every trusted CA), so nobody sees a certificate error when the gateways switch. A CA whose
successor has signed for longer than the overlap is retired by the next ``ca_ensure``."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from console.audit.services import audit_record
from console.core.errors import ValidationFailed
from console.core.permissions import get_for_role, require_role
from console.core.roles import ADMINS, EVERYONE
from shadow_ai.gateway.models import GatewayCA

KEY_BITS = 2048  # what browsers and mitmproxy's leaf certificates (which reuse the CA's key) handle best
LOCK_ID = 0x6777_6361  # "gwca": one creator at a time across gateway processes


def _name(created: datetime) -> str:
    return f"Zero Trust Console gateway CA {created:%Y-%m-%d %H%M%S}"


def generate(*, subject: str, valid_days: int, now: datetime | None = None) -> tuple[str, str]:
    """A new self-signed CA: (certificate PEM, private key PEM)."""
    now = now or timezone.now()
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zero Trust Console")])
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=2))  # clocks of the devices that trust it may lag
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def spki_sha256(certificate: x509.Certificate) -> str:
    """What Chromium's ``--ignore-certificate-errors-spki-list`` and HPKP-style pins name."""
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _create(*, actor: User | None, signs_from: datetime, now: datetime) -> GatewayCA:
    subject = _name(now)
    cert_pem, key_pem = generate(subject=subject, valid_days=settings.GATEWAY_CA_VALID_DAYS, now=now)
    certificate = x509.load_pem_x509_certificate(cert_pem.encode())
    ca = GatewayCA.objects.create(
        created_at=now, created_by_email=actor.email if actor else "", subject=subject,
        fingerprint_sha256=fingerprint(certificate), spki_sha256=spki_sha256(certificate),
        certificate_pem=cert_pem, private_key_pem=key_pem, not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc, signs_from=signs_from,
    )
    audit_record(actor=actor, action="shadow_ai.gateway_ca.created", obj=ca,
                 changes={"fingerprint_sha256": {"old": None, "new": ca.fingerprint_sha256},
                          "signs_from": {"old": None, "new": signs_from}})
    return ca


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_ID])


def trusted() -> list[GatewayCA]:
    """Every CA browsers must trust now (newest first): the signing one, the next one of a
    rotation, and the previous one during the overlap."""
    return list(GatewayCA.objects.filter(retired_at__isnull=True, not_after__gt=timezone.now()))


def signing(cas: list[GatewayCA] | None = None) -> GatewayCA | None:
    """The CA gateways sign with now: the newest trusted one whose ``signs_from`` has passed."""
    now = timezone.now()
    return next((ca for ca in (cas if cas is not None else trusted()) if ca.signs_from <= now), None)


@transaction.atomic
def ca_ensure() -> GatewayCA:
    """The signing CA, created when there is none (a gateway's first start), retiring CAs whose
    successor has signed for longer than the overlap. Several gateways starting together create one."""
    _lock()
    now = timezone.now()
    cas = trusted()
    current = signing(cas)
    if current is None:
        current = _create(actor=None, signs_from=now, now=now)
        cas.insert(0, current)
    overlap = timedelta(days=settings.GATEWAY_CA_OVERLAP_DAYS)
    for older in (ca for ca in cas if ca.signs_from < current.signs_from):
        if current.signs_from + overlap <= now:
            older.retired_at = now
            older.save(update_fields=["retired_at"])
            audit_record(actor=None, action="shadow_ai.gateway_ca.retired", obj=older,
                         changes={"retired_at": {"old": None, "new": now}})
    return current


@transaction.atomic
def ca_rotate(*, actor: User, overlap_days: int | None = None) -> GatewayCA:
    """Make the next CA; gateways sign with it after ``overlap_days`` (``GATEWAY_CA_OVERLAP_DAYS``).
    Refused while an earlier rotation is still waiting to sign."""
    require_role(actor, ADMINS, "rotate the gateway certificate authority")
    days = settings.GATEWAY_CA_OVERLAP_DAYS if overlap_days is None else overlap_days
    if not 0 <= days <= 365:
        raise ValidationFailed("The overlap must be from 0 to 365 days.", field="overlap_days")
    _lock()
    now = timezone.now()
    if any(ca.signs_from > now for ca in trusted()):
        raise ValidationFailed("A rotation is already under way: the next CA has not started signing yet.",
                               field="overlap_days")
    return _create(actor=actor, signs_from=now + timedelta(days=days), now=now)


def bundle_pem() -> str:
    """Every trusted CA certificate, for installing on devices (PEM, newest first)."""
    return "".join(ca.certificate_pem for ca in trusted())


def get_ca_for(viewer: User, pk: int) -> GatewayCA:
    """A CA certificate (public material) for anyone signed in."""
    return get_for_role(GatewayCA.objects.all(), viewer, pk, "gateway CA", EVERYONE)


def all_cas() -> list[GatewayCA]:
    """Every CA ever made, newest first (the admin page lists them)."""
    return list(GatewayCA.objects.defer("private_key_pem"))


def der(certificate_pem: str) -> bytes:
    return x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(serialization.Encoding.DER)


def state(ca_row: GatewayCA, signing_id: int | None) -> str:
    """signing, next (published, not yet signing), previous (still trusted), retired or expired."""
    now = timezone.now()
    if ca_row.retired_at is not None:
        return "retired"
    if ca_row.not_after <= now:
        return "expired"
    if ca_row.pk == signing_id:
        return "signing"
    return "next" if ca_row.signs_from > now else "previous"
