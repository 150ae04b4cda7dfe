"""Keeps the predefined profiles in the database in step with the engine's list. Run by a data
migration and by ``manage.py dlp_sync_predefined`` after an upgrade adds entries. Admins' choices
(entries on or off, match count, confidence threshold) are kept; entries the engine no longer
has are removed."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from shadow_ai.dlp import engine


@dataclass
class SyncResult:
    profiles_created: int = 0
    entries_created: int = 0
    entries_renamed: int = 0
    entries_removed: int = 0

    @property
    def changed(self) -> bool:
        return any((self.profiles_created, self.entries_created, self.entries_renamed, self.entries_removed))


def sync(profile_model, entry_model) -> SyncResult:
    """Takes the model classes so a migration can pass its historical models."""
    result = SyncResult()
    now = timezone.now()
    for spec in engine.PREDEFINED_PROFILES:
        profile = profile_model.objects.filter(key=spec.key).first()
        if profile is None:
            name = spec.name
            if profile_model.objects.filter(name__iexact=name).exists():
                name = f"{spec.name} (predefined)"  # an admin took the name first: keep both
            profile = profile_model.objects.create(key=spec.key, kind="predefined", name=name,
                                                   description=spec.description, created_at=now, updated_at=now)
            result.profiles_created += 1
        elif profile.description != spec.description:
            profile.description = spec.description
            profile.save(update_fields=["description"])
        existing = {e.predefined_key: e for e in entry_model.objects.filter(profile=profile, kind="predefined")}
        for key in spec.entry_keys:
            entry = engine.ENTRIES_BY_KEY[key]
            row = existing.pop(key, None)
            if row is None:
                entry_model.objects.create(profile=profile, kind="predefined", predefined_key=key, name=entry.name,
                                           enabled=True, created_at=now, updated_at=now)
                result.entries_created += 1
            elif row.name != entry.name:
                row.name = entry.name
                row.save(update_fields=["name"])
                result.entries_renamed += 1
        for row in existing.values():
            row.delete()
            result.entries_removed += 1
    return result
