"""Every write of DLP profiles, and ``compiled_profiles``, the one way other parts (the CASB
scanner, prompt protection) get profiles to scan with.

Predefined profiles cannot be deleted or renamed, and their entries' patterns cannot change:
only entries' on/off switches and the profile's match count and confidence threshold can.
Custom profiles are created, changed and deleted freely, with regex and wordlist entries checked
by the engine before they are saved. Each write is audited, old → new, in its transaction.
Text tested against a profile is never stored, audited or logged.

Gateway HTTP policies embed compiled profiles in their cached compiled form: every write that
can change what a profile detects bumps the decision cache version after it commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from accounts.models import User
from console.access import policies as access_policies
from console.audit.services import audit_record, diff
from console.core.errors import Conflict, ValidationFailed
from console.core.names import clean_name, require_free_name
from console.core.permissions import require_role
from console.core.roles import ADMINS, CONSOLE_READERS
from shadow_ai.casb.selectors import integrations_using_dlp_profile
from shadow_ai.dlp import engine, predefined
from shadow_ai.dlp.models import DlpEntry, DlpProfile
from shadow_ai.selectors import gateway_policies_using_dlp_profile

log = logging.getLogger(__name__)

MAX_TEST_BYTES = 1_000_000
PROFILE_FIELDS = ("name", "description", "match_count", "confidence")
ENTRY_FIELDS = ("name", "pattern", "words", "case_sensitive", "enabled")


def _scanning_changed() -> None:
    """Compiled Gateway policies carry their profiles: have every process rebuild them."""
    transaction.on_commit(access_policies.bump_version)


def _profile_snapshot(profile: DlpProfile) -> dict[str, Any]:
    return {name: getattr(profile, name) for name in PROFILE_FIELDS}


def _entry_snapshot(entry: DlpEntry) -> dict[str, Any]:
    values = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    # Wordlist terms can themselves be confidential (project code names): the trail keeps the count.
    values["words"] = f"{entry.term_count} term(s)" if entry.kind == DlpEntry.Kind.WORDLIST else None
    if entry.kind != DlpEntry.Kind.REGEX:
        values["pattern"] = None
    return values


def _audit_entry(actor: User, action: str, entry: DlpEntry, changes: dict, *, gone: bool = False) -> None:
    """Entry changes are recorded on their profile, so the profile's history tells the whole story."""
    label = f"{entry.name} (#{entry.pk})"
    audit_record(actor=actor, action=action, obj=entry.profile,
                 object_repr=f"{entry.profile.name} › {entry.name}"[:255],
                 changes={"entry": {"old": label, "new": None} if gone else {"old": None, "new": label}, **changes})


# --- Cleaning what an admin typed ---------------------------------------------------------------


def _clean_name(name: str, model, *, exclude_pk: int | None = None, scope: dict | None = None,
                noun: str = "profile") -> str:
    name = clean_name(name, collapse_spaces=True)
    clash = model.objects.filter(**(scope or {}))
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    require_free_name(clash, name, f"A {noun} named {name} already exists.")
    return name


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > 500:
        raise ValidationFailed("Keep the description under 500 characters.", field="description")
    return description


def _clean_match_count(value: Any) -> int:
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"A whole number from 0 to {engine.MAX_MATCH_COUNT}.", field="match_count") from None
    if not 0 <= count <= engine.MAX_MATCH_COUNT:
        raise ValidationFailed(f"A whole number from 0 to {engine.MAX_MATCH_COUNT}.", field="match_count")
    return count


def _clean_confidence(value: Any) -> str:
    if value not in DlpProfile.Threshold.values:
        raise ValidationFailed("Choose Low, Medium or High.", field="confidence")
    return str(value)


def _clean_content(kind: str, pattern: str, words: str, case_sensitive: bool) -> tuple[str, str]:
    """``(pattern, words)`` as stored; the engine says what is wrong with either."""
    try:
        if kind == DlpEntry.Kind.REGEX:
            return engine.check_regex(pattern), ""
        if kind == DlpEntry.Kind.WORDLIST:
            terms = engine.parse_wordlist(words)
            engine.wordlist_pattern(terms, case_sensitive=case_sensitive)
            return "", "\n".join(terms)
    except engine.PatternError as exc:
        raise ValidationFailed(str(exc), field="pattern" if kind == DlpEntry.Kind.REGEX else "words") from None
    raise ValidationFailed("Choose a regular expression or a wordlist.", field="kind")


# --- Profiles -------------------------------------------------------------------------------------


def profile_create(*, actor: User, name: str, description: str = "", match_count: Any = 0,
                   confidence: str = "low") -> DlpProfile:
    """A new custom profile, with no entries yet."""
    require_role(actor, ADMINS, "create DLP profiles")
    name = _clean_name(name, DlpProfile)
    description = _clean_description(description)
    count, threshold = _clean_match_count(match_count), _clean_confidence(confidence)
    with transaction.atomic():
        now = timezone.now()
        profile = DlpProfile.objects.create(
            kind=DlpProfile.Kind.CUSTOM, name=name, description=description, match_count=count,
            confidence=threshold, created_by_email=actor.email, created_at=now, updated_at=now)
        audit_record(actor=actor, action="dlp.profile.created", obj=profile,
                     changes=diff({}, _profile_snapshot(profile)))
    return profile


def profile_update(*, actor: User, profile: DlpProfile, match_count: Any, confidence: str,
                   name: str | None = None, description: str | None = None) -> bool:
    """Change a profile's settings (and, for a custom profile, its name and description).
    Returns whether anything changed."""
    require_role(actor, ADMINS, "change DLP profiles")
    count, threshold = _clean_match_count(match_count), _clean_confidence(confidence)
    with transaction.atomic():
        profile = DlpProfile.objects.select_for_update().get(pk=profile.pk)
        before = _profile_snapshot(profile)
        if profile.is_predefined:
            if (name is not None and name.strip() != profile.name) or (
                    description is not None and description.strip() != profile.description):
                raise ValidationFailed("A predefined profile keeps its name and description.", field="name")
        else:
            if name is not None:
                profile.name = _clean_name(name, DlpProfile, exclude_pk=profile.pk)
            if description is not None:
                profile.description = _clean_description(description)
        profile.match_count, profile.confidence = count, threshold
        changes = diff(before, _profile_snapshot(profile))
        if not changes:
            return False
        profile.updated_at = timezone.now()
        profile.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="dlp.profile.updated", obj=profile, changes=changes)
        _scanning_changed()
    return True


def profile_delete(*, actor: User, profile: DlpProfile) -> None:
    """Delete a custom profile; refused while CASB integrations scan with it or Gateway HTTP
    policies name it in a DLP profile condition."""
    require_role(actor, ADMINS, "delete DLP profiles")
    if profile.is_predefined:
        raise ValidationFailed("A predefined profile cannot be deleted; switch its entries off instead.")

    with transaction.atomic():
        profile = DlpProfile.objects.select_for_update().get(pk=profile.pk)
        users = [f"the CASB integration{'s' if len(found) > 1 else ''} {', '.join(found)}"
                 for found in [integrations_using_dlp_profile(profile.pk)] if found]
        # Deleting it would silently stop those scans from looking at file contents, or make the
        # Gateway fail closed on a policy that names a profile that is gone.
        users += [f"the Gateway polic{'ies' if len(found) > 1 else 'y'} {', '.join(found)}"
                  for found in [gateway_policies_using_dlp_profile(profile.pk)] if found]
        if users:
            raise Conflict(f"{profile.name} is used by {' and '.join(users)}: remove it there first.")
        audit_record(actor=actor, action="dlp.profile.deleted", obj=profile,
                     changes=diff({**_profile_snapshot(profile), "entries": profile.entries.count()}, {}))
        profile.delete()
        _scanning_changed()


# --- Entries --------------------------------------------------------------------------------------


def entry_set_enabled(*, actor: User, entry: DlpEntry, enabled: bool) -> bool:
    """Switch an entry (predefined or custom) on or off. Returns whether anything changed."""
    require_role(actor, ADMINS, "switch DLP entries")
    with transaction.atomic():
        entry = DlpEntry.objects.select_for_update().select_related("profile").get(pk=entry.pk)
        if entry.enabled == enabled:
            return False
        entry.enabled, entry.updated_at = enabled, timezone.now()
        entry.save(update_fields=["enabled", "updated_at"])
        _audit_entry(actor, "dlp.entry.enabled" if enabled else "dlp.entry.disabled", entry,
                     {"enabled": {"old": not enabled, "new": enabled}})
        _scanning_changed()
    return True


def _require_custom(profile: DlpProfile) -> None:
    if profile.is_predefined:
        raise ValidationFailed("Predefined profiles hold only predefined entries: create a custom profile for "
                               "your own patterns and wordlists.")


def entry_create(*, actor: User, profile: DlpProfile, kind: str, name: str, pattern: str = "", words: str = "",
                 case_sensitive: bool = False, enabled: bool = True) -> DlpEntry:
    """A custom regex or wordlist entry in a custom profile."""
    require_role(actor, ADMINS, "add DLP entries")
    _require_custom(profile)
    name = _clean_name(name, DlpEntry, scope={"profile": profile}, noun="entry")
    pattern, words = _clean_content(kind, pattern, words, case_sensitive)
    with transaction.atomic():
        now = timezone.now()
        entry = DlpEntry.objects.create(profile=profile, kind=kind, name=name, pattern=pattern, words=words,
                                        case_sensitive=case_sensitive and kind == DlpEntry.Kind.WORDLIST,
                                        enabled=enabled, created_at=now, updated_at=now)
        _audit_entry(actor, "dlp.entry.created", entry,
                     {"kind": {"old": None, "new": kind}, **diff({}, _entry_snapshot(entry))})
        DlpProfile.objects.filter(pk=profile.pk).update(updated_at=now)
        _scanning_changed()
    return entry


def entry_update(*, actor: User, entry: DlpEntry, name: str, pattern: str = "", words: str = "",
                 case_sensitive: bool = False) -> bool:
    """Change a custom entry's name and pattern or terms. Returns whether anything changed."""
    require_role(actor, ADMINS, "change DLP entries")
    _require_custom(entry.profile)
    if entry.is_predefined:
        raise ValidationFailed("A predefined entry's pattern cannot be changed; switch it off instead.")
    name = _clean_name(name, DlpEntry, exclude_pk=entry.pk, scope={"profile": entry.profile}, noun="entry")
    pattern, words = _clean_content(entry.kind, pattern, words, case_sensitive)
    with transaction.atomic():
        entry = DlpEntry.objects.select_for_update().select_related("profile").get(pk=entry.pk)
        before = _entry_snapshot(entry)
        old_words = entry.words
        entry.name, entry.pattern, entry.words = name, pattern, words
        entry.case_sensitive = case_sensitive and entry.kind == DlpEntry.Kind.WORDLIST
        changes = diff(before, _entry_snapshot(entry))
        if old_words != words and "words" not in changes:
            changes["words"] = {"old": before["words"], "new": "changed, same count"}
        if not changes:
            return False
        entry.updated_at = timezone.now()
        entry.save(update_fields=["name", "pattern", "words", "case_sensitive", "updated_at"])
        _audit_entry(actor, "dlp.entry.updated", entry, changes)
        _scanning_changed()
    return True


def entry_delete(*, actor: User, entry: DlpEntry) -> None:
    require_role(actor, ADMINS, "delete DLP entries")
    if entry.is_predefined:
        raise ValidationFailed("A predefined entry cannot be deleted; switch it off instead.")
    with transaction.atomic():
        entry = DlpEntry.objects.select_for_update().select_related("profile").get(pk=entry.pk)
        _audit_entry(actor, "dlp.entry.deleted", entry, diff(_entry_snapshot(entry), {}), gone=True)
        entry.delete()
        _scanning_changed()


def predefined_sync(*, actor: User | None, system: bool = False) -> predefined.SyncResult:
    """Bring the predefined profiles in step with the engine (``actor=None, system=True`` for
    the system's own command)."""
    require_role(actor, ADMINS, "update predefined DLP profiles", system=system)
    with transaction.atomic():
        result = predefined.sync(DlpProfile, DlpEntry)
        if result.changed:
            audit_record(actor=actor, action="dlp.predefined.synced", object_type="dlp.dlpprofile",
                         object_repr="Predefined DLP profiles", changes={
                             "profiles_created": {"old": None, "new": result.profiles_created},
                             "entries_created": {"old": None, "new": result.entries_created},
                             "entries_renamed": {"old": None, "new": result.entries_renamed},
                             "entries_removed": {"old": None, "new": result.entries_removed}})
            _scanning_changed()
    return result


# --- What scanners use ----------------------------------------------------------------------------


def _engine_entry(row: DlpEntry) -> engine.Entry | None:
    try:
        if row.kind == DlpEntry.Kind.PREDEFINED:
            return engine.ENTRIES_BY_KEY.get(row.predefined_key)
        if row.kind == DlpEntry.Kind.REGEX:
            return engine.regex_entry(f"custom:{row.pk}", row.name, row.pattern)
        return engine.wordlist_entry(f"custom:{row.pk}", row.name, row.words, case_sensitive=row.case_sensitive)
    except engine.PatternError as exc:
        # Checked when saved; only an RE2 upgrade could get here. Skip it rather than fail every scan.
        log.warning("DLP entry %s of profile %s no longer compiles: %s", row.pk, row.profile_id, exc)
        return None


def compiled_profiles(ids: Iterable[int]) -> list[engine.Profile]:
    """The profiles with these ids as plain engine objects (enabled entries only), in the order
    given; ids that no longer exist are left out. Two queries whatever the number of profiles."""
    wanted = list(dict.fromkeys(int(i) for i in ids))
    rows = DlpProfile.objects.filter(pk__in=wanted).prefetch_related(
        Prefetch("entries", queryset=DlpEntry.objects.filter(enabled=True).order_by("pk")))
    by_pk = {p.pk: p for p in rows}
    profiles = []
    for pk in wanted:
        row = by_pk.get(pk)
        if row is None:
            continue
        entries = tuple(e for e in (_engine_entry(r) for r in row.entries.all()) if e is not None)
        profiles.append(engine.Profile(id=row.pk, name=row.name, entries=entries, match_count=row.match_count,
                                       confidence=engine.Confidence(row.confidence)))
    return profiles


def profile_test(*, actor: User, profile: DlpProfile, text: str) -> engine.ProfileResult:
    """Scan pasted text against one profile as it is saved now. The text is neither kept nor logged."""
    require_role(actor, CONSOLE_READERS, "test DLP profiles")
    if not text or not text.strip():
        raise ValidationFailed("Paste some text to test.", field="text")
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_TEST_BYTES:
        raise ValidationFailed(f"The text is {size / 1_000_000:.1f} MB; test at most 1 MB at a time.", field="text")
    return engine.scan(text, compiled_profiles([profile.pk]))[0]
