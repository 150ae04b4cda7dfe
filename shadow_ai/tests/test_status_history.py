"""An application's page: its status history agrees with its "since … by …" line, for a change
made in the console long ago and for the statuses the demo organization ships with."""

from __future__ import annotations

import re

import pytest

from console.audit.services import audit_record
from shadow_ai import services
from shadow_ai.demo import REVIEWER, _seed_library_and_policies
from shadow_ai.models import Application

pytestmark = pytest.mark.django_db


def _status_card(text: str) -> tuple[str, list[str]]:
    card = text[text.index('data-testid="status-card"'):]
    card = card[:card.index("</section>")]
    since = re.search(r"since (\d{4}-\d\d-\d\d \d\d:\d\d) by ([^<]+)</span>", card)
    assert since, "no since line"
    rows = re.findall(r'<tr><td class="nowrap"><a href="/audit/\d+/">([^<]+)</a></td><td>([^<]+)</td>', card)
    return f"{since.group(1)} {since.group(2).strip()}", [f"{when} {who}" for when, who in rows]


def test_the_latest_status_change_stays_in_the_history_after_many_other_changes(
        client_for, library, app_named, security_admin, auditor):
    chatgpt = app_named("ChatGPT")
    services.application_set_status(actor=security_admin, application=chatgpt, status="unapproved",
                                    reason="Trains on prompts.")
    for n in range(60):  # later edits of the same application (evidence, hostnames, scores…)
        audit_record(actor=security_admin, action="shadow_ai.application.updated", obj=chatgpt,
                     changes={"description": {"old": str(n), "new": str(n + 1)}})
    since, history = _status_card(client_for(auditor).get(f"/shadow-ai/library/{chatgpt.pk}/").content.decode())
    assert history and history[0] == since


def test_the_demo_statuses_have_the_history_their_since_line_names(client_for, make_user, library, auditor):
    make_user("security_admin", email=REVIEWER)
    _seed_library_and_policies()
    claude = Application.objects.get(key="claude")
    since, history = _status_card(client_for(auditor).get(f"/shadow-ai/library/{claude.pk}/").content.decode())
    assert since.endswith(REVIEWER)
    assert history == [since]
    _seed_library_and_policies()  # a second run changes nothing and records nothing more
    assert _status_card(client_for(auditor).get(f"/shadow-ai/library/{claude.pk}/").content.decode()) == (
        since, history)
