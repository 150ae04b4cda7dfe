"""The application library that ships with the console (``data/app_library.toml``): reading and
checking it, and bringing the database in step with it.

``sync_library`` upserts by each entry's stable ``key``. An entry whose content has not changed
since the last sync is skipped (a digest of the entry is stored with the application), so a
second run writes nothing. The organization's own data, approval status and evidence
overrides, is never touched; custom applications are never touched either, and a catalogue
hostname a custom application already claims stays with it (reported, and retried next time)."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from console.access import policies
from console.audit.services import audit_record
from shadow_ai import hostnames, scoring
from shadow_ai.models import Application, ApplicationHostname, Category, EvidenceOverride
from shadow_ai.services import effective_evidence, rescore
from shadow_ai.usage import cache as usage_cache
from shadow_ai.usage import services as usage

CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "app_library.toml"
KEY_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
SYNCED_FIELDS = ("name", "vendor", "category", "is_gen_ai", "description", "aliases", "url", "trust_url", "evidence",
                 "evidence_as_of", "catalogue_digest", "updated_at", "saas_score", "genai_score", "saas_known",
                 "genai_known")
_ENTRY_FIELDS = {"key", "name", "vendor", "category", "gen_ai", "hostnames", "url", "aliases", "description",
                 "evidence", "sources", "checked"}
_VENDOR_FIELDS = {"trust_url", "evidence", "sources", "checked"}
CHECKED_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class CatalogueError(ValueError):
    """The catalogue file is wrong; the message names the entry and the field."""


@dataclass(frozen=True)
class Entry:
    key: str
    name: str
    vendor: str
    category: str
    gen_ai: bool
    hostnames: tuple[str, ...]
    url: str
    aliases: str
    description: str
    evidence: dict[str, Any]
    trust_url: str
    as_of: str

    @property
    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Catalogue:
    version: str
    as_of: str
    entries: tuple[Entry, ...]


def _text(raw: dict, name: str, where: str, *, required: bool = False, limit: int = 300) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise CatalogueError(f"{where}: {name} must be text")
    value = value.strip()
    if required and not value:
        raise CatalogueError(f"{where}: {name} is required")
    if len(value) > limit:
        raise CatalogueError(f"{where}: {name} is longer than {limit} characters")
    return value


def _evidence(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: evidence must be a table")
    try:
        return scoring.clean_evidence(raw)
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None


def _url(value: str, where: str) -> str:
    if value and not re.match(r"^https://[a-z0-9.-]+(:\d+)?(/\S*)?$", value):
        raise CatalogueError(f"{where}: {value!r} is not an https:// URL")
    return value


def _review(raw: dict, where: str) -> None:
    """Checks the review record of a vendor block or an entry: ``sources`` (https URLs that back
    its evidence) and ``checked`` (the month it was last checked against them, YYYY-MM). They are
    for the people who maintain the file and are not stored."""
    sources = raw.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise CatalogueError(f"{where}: sources must be a list of https:// URLs")
    for source in sources:
        if len(source) > 500 or not re.match(r"^https://[A-Za-z0-9.-]+(:\d+)?(/\S*)?$", source):
            raise CatalogueError(f"{where}: source {source!r} is not an https:// URL")
    if len(set(sources)) != len(sources):
        raise CatalogueError(f"{where}: a source is listed twice")
    checked = raw.get("checked")
    if checked is not None and (not isinstance(checked, str) or not CHECKED_RE.match(checked)):
        raise CatalogueError(f"{where}: checked must be a month written YYYY-MM")
    if checked is not None and not sources:
        raise CatalogueError(f"{where}: checked needs the sources it was checked against")


def _vendors(data: dict) -> tuple[dict[str, dict], dict[str, str]]:
    """The evidence and trust page of each vendor block, by vendor name."""
    vendors = data.get("vendors", {})
    for name, raw_vendor in vendors.items():
        unknown = set(raw_vendor) - _VENDOR_FIELDS
        if unknown:
            raise CatalogueError(f"vendor {name}: unknown field(s) {', '.join(sorted(unknown))}")
        _review(raw_vendor, f"vendor {name}")
    vendor_evidence = {name: _evidence(v.get("evidence"), f"vendor {name}") for name, v in vendors.items()}
    vendor_trust = {name: _url(_text(v, "trust_url", f"vendor {name}", limit=500), f"vendor {name}")
                    for name, v in vendors.items()}
    return vendor_evidence, vendor_trust


def _hostnames(raw: dict, where: str, key: str, owners: dict[str, str]) -> tuple[str, ...]:
    """An entry's hostnames, cleaned; none may belong to another entry or overlap another of its own.
    Records them in ``owners``."""
    hosts = raw.get("hostnames")
    if not isinstance(hosts, list) or not hosts:
        raise CatalogueError(f"{where}: hostnames must be a non-empty list")
    cleaned: list[str] = []
    for host in hosts:
        try:
            host = hostnames.clean_for_library(host if isinstance(host, str) else "")
        except ValueError as exc:
            raise CatalogueError(f"{where}: {exc}") from None
        if host in owners:
            raise CatalogueError(f"{where}: {host} already belongs to {owners[host]}")
        for other in cleaned:
            if host.endswith("." + other) or other.endswith("." + host):
                raise CatalogueError(f"{where}: {host} and {other} overlap (subdomains are included)")
        owners[host] = key
        cleaned.append(host)
    return tuple(cleaned)


def _entry_identity(raw: dict, where: str, keys: set[str], names: set[str]) -> tuple[str, str, str, bool]:
    """An entry's key, name, category and gen_ai flag, checked (keys and names are unique)."""
    unknown = set(raw) - _ENTRY_FIELDS
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    key = _text(raw, "key", where, required=True, limit=80)
    _review(raw, where)
    if not KEY_RE.match(key) or key.startswith("custom-"):
        raise CatalogueError(f"{where}: key must be lower-case words joined by dashes, not custom-…")
    if key in keys:
        raise CatalogueError(f"{where}: the key {key} is used twice")
    name = _text(raw, "name", where, required=True, limit=120)
    if name.lower() in names:
        raise CatalogueError(f"{where}: the name {name} is used twice")
    category = _text(raw, "category", where, required=True)
    if category not in Category.values:
        raise CatalogueError(f"{where}: unknown category {category!r}")
    gen_ai = raw.get("gen_ai", False)
    if not isinstance(gen_ai, bool):
        raise CatalogueError(f"{where}: gen_ai must be true or false")
    return key, name, category, gen_ai


def parse(text: str) -> Catalogue:
    """Read and check a catalogue; ``CatalogueError`` says what is wrong and where."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"not valid TOML: {exc}") from None
    version = _text(data, "version", "catalogue", required=True, limit=20)
    as_of = _text(data, "as_of", "catalogue", required=True, limit=20)
    vendor_evidence, vendor_trust = _vendors(data)
    entries: list[Entry] = []
    keys: set[str] = set()
    names: set[str] = set()
    owners: dict[str, str] = {}
    for index, raw in enumerate(data.get("apps", []), start=1):
        where = f"app {index} ({raw.get('key', '?')})"
        key, name, category, gen_ai = _entry_identity(raw, where, keys, names)
        cleaned = _hostnames(raw, where, key, owners)
        vendor = _text(raw, "vendor", where, required=True, limit=120)
        evidence = {**vendor_evidence.get(vendor, {}), **_evidence(raw.get("evidence"), where)}
        if not gen_ai and any(f.key in evidence for f in scoring.GEN_AI.fields):
            raise CatalogueError(f"{where}: generative AI evidence on an application that is not generative AI")
        entries.append(Entry(
            key=key, name=name, vendor=vendor, category=category, gen_ai=gen_ai, hostnames=cleaned,
            url=_url(_text(raw, "url", where, limit=500), where), aliases=_text(raw, "aliases", where),
            description=_text(raw, "description", where), evidence=evidence,
            trust_url=vendor_trust.get(vendor, ""), as_of=as_of,
        ))
        keys.add(key)
        names.add(name.lower())
    if not entries:
        raise CatalogueError("the catalogue has no [[apps]] entries")
    return Catalogue(version=version, as_of=as_of, entries=tuple(entries))


def load(path: Path = CATALOGUE_PATH) -> Catalogue:
    return parse(path.read_text(encoding="utf-8"))


@dataclass
class SyncResult:
    version: str
    total: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    # (hostname, catalogue application, the application that already has it)
    hostnames_kept_elsewhere: list[tuple[str, str, str]] = field(default_factory=list)
    names_taken: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


@transaction.atomic
def sync_library(*, catalogue: Catalogue | None = None) -> SyncResult:
    """Bring the library in step with the shipped catalogue (idempotent)."""

    catalogue = catalogue or load()
    result = SyncResult(version=catalogue.version, total=len(catalogue.entries))
    existing = {a.key: a for a in Application.objects.select_for_update().filter(
        key__in=[e.key for e in catalogue.entries])}
    name_owner = {n.lower(): k for n, k in Application.objects.values_list("name", "key")}
    overrides: dict[int, dict[str, Any]] = {}
    for app_id, field_key, value in EvidenceOverride.objects.values_list("application_id", "field", "value"):
        overrides.setdefault(app_id, {})[field_key] = value
    owner_of = dict(ApplicationHostname.objects.values_list("hostname", "application_id"))
    now = timezone.now()

    changed: list[tuple[Entry, Application]] = []
    to_create: list[Application] = []
    to_update: list[Application] = []
    for entry in catalogue.entries:
        app = existing.get(entry.key)
        if app is not None and app.catalogue_digest == entry.digest:
            result.unchanged += 1
            continue
        if name_owner.get(entry.name.lower(), entry.key) != entry.key:
            result.names_taken.append(entry.name)
            continue
        creating = app is None
        if creating:
            app = Application(key=entry.key, source=Application.Source.CATALOGUE, created_at=now)
        app.name, app.vendor, app.category, app.is_gen_ai = entry.name, entry.vendor, entry.category, entry.gen_ai
        app.description, app.aliases, app.url, app.trust_url = entry.description, entry.aliases, entry.url, \
            entry.trust_url
        app.evidence, app.evidence_as_of = entry.evidence, entry.as_of
        app.catalogue_digest, app.updated_at = entry.digest, now
        rescore(app, effective_evidence(app.evidence, overrides.get(app.pk, {})))
        (to_create if creating else to_update).append(app)
        (result.created if creating else result.updated).append(entry.key)
        changed.append((entry, app))
    Application.objects.bulk_create(to_create)
    Application.objects.bulk_update(to_update, SYNCED_FIELDS)

    # Release hostnames first, so one can move between two catalogue applications in one run.
    for entry, app in changed:
        mine = {h for h, owner in owner_of.items() if owner == app.pk}
        gone = mine - set(entry.hostnames)
        if gone:
            ApplicationHostname.objects.filter(application=app, hostname__in=gone).delete()
            for host in gone:
                del owner_of[host]
    names = dict(Application.objects.values_list("pk", "name"))
    new_rows = []
    for entry, app in changed:
        for host in entry.hostnames:
            owner = owner_of.get(host)
            if owner == app.pk:
                continue
            if owner is not None:
                result.hostnames_kept_elsewhere.append((host, entry.name, names.get(owner, "?")))
                Application.objects.filter(pk=app.pk).update(catalogue_digest="")  # try again next run
                continue
            owner_of[host] = app.pk
            new_rows.append(ApplicationHostname(application=app, hostname=host))
    ApplicationHostname.objects.bulk_create(new_rows)

    if result.changed:
        audit_record(
            actor=None, action="shadow_ai.library.synced", object_type="shadow_ai.application",
            object_repr=f"Application library {catalogue.version}",
            changes={"version": catalogue.version, "created": len(result.created), "updated": len(result.updated),
                     "updated_keys": result.updated[:50],
                     "hostnames_kept_elsewhere": [h for h, _, _ in result.hostnames_kept_elsewhere]},
        )
        transaction.on_commit(policies.bump_version)

        usage.reattribute_everything()  # hostnames may have moved: past usage is rolled up again
        transaction.on_commit(usage_cache.bump)
    return result
