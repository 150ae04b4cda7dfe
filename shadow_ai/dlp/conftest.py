import pytest


@pytest.fixture(autouse=True)
def predefined_profiles(db) -> None:
    """The data migration creates the predefined profiles, but a transactional test elsewhere in
    the session flushes the tables: make sure they are there (idempotent)."""
    from shadow_ai.dlp import predefined
    from shadow_ai.dlp.models import DlpEntry, DlpProfile

    predefined.sync(DlpProfile, DlpEntry)
