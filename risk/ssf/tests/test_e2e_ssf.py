"""Clicked through in Chromium: an admin connects a receiver, checks it with a verification
event, pauses the stream and deletes it after confirming."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from risk.ssf import delivery, events
from risk.ssf.models import Stream
from risk.ssf.testing import run_set_receiver

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_admin_connects_a_receiver_verifies_pauses_and_deletes_the_stream(page, sign_in, live_server,
                                                                             super_admin):
    with run_set_receiver(jwks_url=f"{live_server.url}/ssf/jwks.json", issuer=live_server.url,
                          audience="https://acme.okta.example") as receiver:
        sign_in(page, super_admin.email)
        page.locator("nav").get_by_role("link", name="Shared Signals streams").click()
        expect(page.get_by_role("heading", name="Shared Signals streams", level=1)).to_be_visible()
        expect(page.get_by_text("No streams yet")).to_be_visible()
        expect(page.get_by_test_id("well-known")).to_have_text(f"{live_server.url}/.well-known/ssf-configuration")

        page.get_by_test_id("stream-create").click()
        page.fill("#id_description", "Okta ITP")
        page.select_option("#id_delivery_method", Stream.Method.PUSH)
        page.fill("#id_endpoint_url", receiver.url)
        page.fill("#id_audience", "https://acme.okta.example")
        page.get_by_label("Credential change").uncheck()
        page.get_by_test_id("stream-save").click()
        expect(page.get_by_text("The stream was created.")).to_be_visible()
        stream = Stream.objects.get()
        assert stream.events_delivered == [events.USER_RISK_CHANGE, events.SESSION_REVOKED]

        page.get_by_test_id("stream-verify").click()
        expect(page.get_by_text("queued; follow it in the outbox")).to_be_visible()
        delivery.deliver_stream(stream.pk)  # what the worker does after the commit
        [claims] = receiver.wait_for(1)
        assert claims["events"] == {events.VERIFICATION: {"state": f"console-{super_admin.pk}"}}
        page.reload()
        expect(page.get_by_test_id("stat-delivered")).to_have_text("1")
        expect(page.get_by_test_id("recent-events")).to_contain_text("Delivered")

        page.select_option("#id_status", "paused")
        page.fill("#id_reason", "Okta maintenance")
        page.get_by_test_id("status-save").click()
        expect(page.get_by_text("The stream is paused")).to_be_visible()
        delivery.deliver_stream(stream.pk)
        [_, updated] = receiver.wait_for(2)
        assert updated["events"] == {events.STREAM_UPDATED: {"status": "paused", "reason": "Okta maintenance"}}

        page.get_by_test_id("stream-delete").click()
        dialog = page.get_by_role("dialog", name="Delete this stream?")
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Delete").click()
        expect(page.get_by_text("its receiver gets no more events")).to_be_visible()
        assert not Stream.objects.exists()
