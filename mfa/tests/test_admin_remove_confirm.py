"""An admin removing one of someone's authenticators confirms first, in a dialog naming it."""

from __future__ import annotations

import re

import pytest

from conftest import TEST_TOTP_SECRET
from mfa.models import TotpAuthenticator

pytestmark = pytest.mark.django_db


def test_removing_one_authenticator_of_someone_opens_a_confirmation(client_for, security_admin, employee):
    device = TotpAuthenticator.objects.create(user=employee, name="Phone", key=TEST_TOTP_SECRET, confirmed=True)
    text = client_for(security_admin).get("/mfa/admin/").content.decode()
    testid = f"mfa-remove-{employee.pk}-1"
    assert re.search(rf'<button type="button" class="btn btn-danger btn-small" disabled data-needs-script '
                     rf'data-confirm-open="{testid}"', text)
    dialog = text[text.index(f'id="dialog-{testid}"'):]
    dialog = dialog[:dialog.index("</dialog>")]
    assert f'<input type="hidden" name="device" value="{device.persistent_id}">' in dialog
    assert f"Remove Phone of {employee.email}?" in dialog
    assert f'data-testid="confirm-{testid}"' in dialog
