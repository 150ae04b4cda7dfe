"""The key a signer signs with: the newest one not retired, made on first use, loaded once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from console.access import tokens
from console.access.models import SigningKey
from console.core import signing_keys

pytestmark = pytest.mark.django_db


def test_first_use_makes_one_key_and_then_keeps_it():
    made = []

    def new_key() -> SigningKey:
        made.append(tokens._new_key())
        return made[-1]

    first = signing_keys.current_key(SigningKey, new_key)
    again = signing_keys.current_key(SigningKey, new_key)
    assert len(made) == 1 and first.pk is not None
    assert again.pk == first.pk
    assert SigningKey.objects.count() == 1


def test_a_retired_key_is_not_current_and_the_newest_active_one_is():
    old = tokens._new_key()
    old.save()
    newer = tokens._new_key()
    newer.save()
    assert signing_keys.current_key(SigningKey, tokens._new_key).pk == newer.pk
    SigningKey.objects.filter(pk=newer.pk).update(retired_at=timezone.now())
    assert signing_keys.current_key(SigningKey, tokens._new_key).pk == old.pk


def test_private_keys_are_loaded_once_per_kid():
    key = tokens._new_key()
    loaded = signing_keys.PrivateKeys()
    first, was_loaded = loaded.get(key)
    second, loaded_again = loaded.get(key)
    assert (was_loaded, loaded_again) == (True, False)
    assert second is first
    assert first.public_key().public_numbers().x  # an EC private key, ready to sign
