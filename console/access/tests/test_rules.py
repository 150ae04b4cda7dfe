"""The rule editor's rows turned into selector configurations, without a form or a request."""

import pytest

from accounts.tests.factories import GroupFactory
from console.access.rules import selector_config
from console.core.errors import ValidationFailed

pytestmark = pytest.mark.django_db


def test_group_names_become_ids_whatever_their_case():
    engineering = GroupFactory(name="Engineering")
    assert selector_config({"type": "group", "values": "engineering"}) == {
        "type": "group", "values": [engineering.pk],
    }


@pytest.mark.parametrize(("row", "message"), [
    ({"type": "group", "values": "Nobody"}, "Unknown group(s): Nobody."),
    ({"type": "service_token", "values": "ghost"}, "Unknown service token(s): ghost."),
    ({"type": "identity_provider", "values": "okta"}, "Unknown login method(s): okta. Known: passkey, password."),
    ({"type": "email", "values": ""}, "E-mails: enter at least one value."),
    ({"type": "device_posture", "min_os_version": "14.2"}, 'Write "14.2" as an OS and a version, e.g. "macOS 14.2".'),
])
def test_a_wrong_row_is_refused_saying_what_is_wrong(row, message):
    with pytest.raises(ValidationFailed) as caught:
        selector_config(row)
    assert caught.value.message == message


def test_device_posture_keeps_only_what_was_asked_for():
    config = selector_config({
        "type": "device_posture", "managed": True, "disk_encrypted": False, "min_edr_score": 0,
        "min_os_version": "macOS 14.2\n\nWindows 11 10.0.22631",
    })
    assert config == {
        "type": "device_posture", "managed": True, "min_edr_score": 0,
        "min_os_version": {"macOS": "14.2", "Windows 11": "10.0.22631"},
    }
