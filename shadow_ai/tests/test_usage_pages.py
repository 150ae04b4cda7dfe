"""The usage dashboards: every runner against numbers computed here from the logs sent, read
from the rollups only (no query touches the log table) with few queries; the dashboard, list,
person and application pages; the time-range picker; the on-demand rollup and its progress; the
library's "New" badge and filter; the result cache."""

from __future__ import annotations

import html as html_module
import json
import re
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from console.audit.models import AuditEvent
from risk.services import batches
from shadow_ai import services as library_services
from shadow_ai.models import Application
from shadow_ai.tests.usage_data import GEN_AI, HOSTS, NAMED_APP, NAMED_HOST, make_rows, ndjson
from shadow_ai.usage import cache, dashboard, rollup, runners, services
from shadow_ai.usage import queries as q
from shadow_ai.usage.models import UsageRollupRun

pytestmark = pytest.mark.django_db
STATUSES = {"chatgpt": "unapproved", "deepseek": "unapproved", "claude": "approved", "github-copilot": "approved",
            "perplexity": "in_review"}


def app_of(row: dict) -> str | None:
    return NAMED_APP if row["HTTPHost"] == NAMED_HOST else HOSTS[row["HTTPHost"]]


def status_of(key: str) -> str:
    return STATUSES.get(key, "unreviewed")


@pytest.fixture
def world(library, people, source, super_admin):
    """Three days of logs ending today, ingested and rolled up; a few applications reviewed."""
    today = rollup.today()
    days = [today - timedelta(days=2), today - timedelta(days=1), today]
    rows = make_rows(days, people, per_person_day=16, seed=11)
    batch = batches.ingest(source=source, body=ndjson(rows))
    assert batch.rows_stored == len(rows)
    services.rollup_scheduled()
    for key, status in STATUSES.items():
        library_services.application_set_status(actor=super_admin, application=Application.objects.get(key=key),
                                                status=status, reason="Reviewed for the test.")
    counted = {p.device_id: p.counted_as for p in people}
    for row in rows:
        row["_app"] = app_of(row)
        row["_day"] = datetime.strptime(row["Datetime"], "%Y-%m-%dT%H:%M:%SZ").date()
        row["_person"] = counted[row["DeviceID"]]
    return {"rows": rows, "days": days, "today": today}


def window(world, scope: str = "ai", **extra):
    return {"start": world["days"][0], "end": world["today"], "scope": scope, **extra}


def in_scope(row: dict, scope: str) -> bool:
    return row["_app"] is not None and (scope == "all" or row["_app"] in GEN_AI)


def run(query, django_assert_max_num_queries, most: int):
    with CaptureQueriesContext(connection) as seen, django_assert_max_num_queries(most):
        result = runners.run(query)
    assert not [s for s in seen.captured_queries if "risk_gatewayhttpevent" in s["sql"]], "read the raw logs"
    return result


@pytest.mark.parametrize("scope", ["ai", "all"])
def test_summary(world, scope, django_assert_max_num_queries):
    rows = [r for r in world["rows"] if in_scope(r, scope)]
    unapproved = [r for r in rows if status_of(r["_app"]) == "unapproved"]
    found = run(q.SummaryQuery(**window(world, scope)), django_assert_max_num_queries, 3)
    apps = {r["_app"] for r in rows}
    assert found.applications == len(apps)
    assert found.by_status == {s: len({a for a in apps if status_of(a) == s}) for s in q.STATUS_ORDER}
    assert found.requests == len(rows)
    assert found.bytes_up == sum(r["UploadBytes"] for r in rows)
    assert found.bytes_down == sum(r["DownloadBytes"] for r in rows)
    assert found.blocked == sum(r["Action"] == "block" for r in rows)
    assert found.uploaded_unapproved == sum(r["UploadBytes"] for r in unapproved) > 0
    assert found.unapproved_people == len({r["_person"] for r in unapproved if r["_person"]}) == 4
    assert found.new_applications == len(apps)  # everything was first used in these three days


def test_status_series(world, django_assert_max_num_queries):
    found = run(q.StatusSeriesQuery(**window(world)), django_assert_max_num_queries, 1)
    assert found.days == tuple(world["days"])
    for status in q.STATUS_ORDER:
        for n, day in enumerate(world["days"]):
            mine = [r for r in world["rows"] if in_scope(r, "ai") and r["_day"] == day
                    and status_of(r["_app"]) == status]
            assert found.requests[status][n] == len(mine)
            assert found.bytes_up[status][n] == sum(r["UploadBytes"] for r in mine)
            assert found.bytes_down[status][n] == sum(r["DownloadBytes"] for r in mine)


@pytest.mark.parametrize("scope", ["ai", "all"])
def test_people_per_status_per_day(world, scope, django_assert_max_num_queries):
    found = run(q.StatusPeopleQuery(**window(world, scope)), django_assert_max_num_queries, 1)
    assert found.days == tuple(world["days"])
    for status in q.STATUS_ORDER:
        expected = [len({r["_person"] for r in world["rows"] if in_scope(r, scope) and r["_person"]
                         and r["_day"] == day and status_of(r["_app"]) == status}) for day in world["days"]]
        assert list(found.people[status]) == expected
    # Someone using an approved and an unapproved application on the same day counts under both.
    assert any(found.people["approved"]) and any(found.people["unapproved"])


def test_people_by_status_panel_loads_after_the_page(world, client_for, employee, security_admin):
    client = client_for(security_admin)
    page = client.get(reverse("shadow_ai:dashboard"), {"range": "7d"}).content.decode()
    panel_url = re.search(r'hx-get="([^"]+)" hx-trigger="load"[^>]*data-testid="status-people-panel"', page).group(1)
    assert "scope=ai" in panel_url and "range=7d" in panel_url
    response = client.get(panel_url.replace("&amp;", "&"))
    assert response.status_code == 200
    # htmx drops script elements from what it swaps in, so the figure travels in an attribute.
    found = re.search(r'data-figure-json="([^"]+)"', response.content.decode())
    drawn = json.loads(html_module.unescape(found.group(1)))
    import plotly.graph_objects as go

    go.Figure(drawn)
    unapproved = next(t for t in drawn["data"] if t["name"] == "Unapproved")
    ai = [r for r in world["rows"] if in_scope(r, "ai") and r["_person"] and status_of(r["_app"]) == "unapproved"]
    assert unapproved["y"][-1] == len({r["_person"] for r in ai if r["_day"] == world["today"]})
    assert "status=unapproved" in unapproved["customdata"][0]
    # Nobody used anything on these days: the panel says so instead of drawing an empty chart.
    empty = client.get(reverse("shadow_ai:usage-status-people"), {"range": "custom", "start": "2001-01-01",
                                                                   "end": "2001-01-02"})
    assert 'data-testid="chart-status-people-empty"' in empty.content.decode()
    assert client_for(employee).get(reverse("shadow_ai:usage-status-people")).status_code == 403


def test_people_per_application_per_day(world, django_assert_max_num_queries):
    found = run(q.AppSeriesQuery(**window(world, "all"), limit=3), django_assert_max_num_queries, 1)
    people = defaultdict(set)
    for r in world["rows"]:
        if r["_app"] and r["_person"]:
            people[(r["_app"], r["_day"])].add(r["_person"])
    keys = dict(Application.objects.values_list("pk", "key"))
    totals = defaultdict(int)
    for (app, _), who in people.items():
        totals[app] += len(who)
    assert len(found.apps) == 3
    assert [totals[keys[a.id]] for a in found.apps] == sorted(totals.values(), reverse=True)[:3]
    for app, series in zip(found.apps, found.users, strict=True):
        assert list(series) == [len(people[(keys[app.id], d)]) for d in world["days"]]


def test_top_applications_and_uploads_to_unapproved(world, django_assert_max_num_queries):
    found = run(q.TopAppsQuery(**window(world, "all"), limit=4), django_assert_max_num_queries, 1)
    counts = defaultdict(int)
    for r in world["rows"]:
        if r["_app"]:
            counts[r["_app"]] += 1
    assert found.total == len(counts)
    assert [row.requests for row in found.rows] == sorted(counts.values(), reverse=True)[:4]
    assert all(row.new for row in found.rows)

    uploads = run(q.UploadsQuery(**window(world)), django_assert_max_num_queries, 1)
    keys = dict(Application.objects.values_list("pk", "key"))
    assert {keys[r.app.id]: r.bytes_up for r in uploads.rows} == {
        key: sum(r["UploadBytes"] for r in world["rows"] if r["_app"] == key) for key in ("chatgpt", "deepseek")}
    assert [r.bytes_up for r in uploads.rows] == sorted((r.bytes_up for r in uploads.rows), reverse=True)


@pytest.mark.parametrize("scope", ["ai", "all"])
def test_top_people_and_devices(world, scope, django_assert_max_num_queries):
    requests, devices = defaultdict(int), defaultdict(int)
    for r in world["rows"]:
        if in_scope(r, scope):
            devices[r["DeviceID"]] += 1
            if r["_person"]:
                requests[r["_person"]] += 1
    found = run(q.TopPeopleQuery(**window(world, scope), limit=2), django_assert_max_num_queries, 1)
    assert found.total == len(requests) == 4
    assert [(p.key, p.requests) for p in found.rows] == sorted(requests.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    found = run(q.TopDevicesQuery(**window(world, scope)), django_assert_max_num_queries, 2)
    assert found.total == len(devices) == 5
    assert {d.key: d.requests for d in found.rows} == devices
    assert {d.key: d.detail for d in found.rows}["mac-dee"] == "dee@corp.example"


def test_countries_unmatched_hosts_and_new_applications(world, django_assert_max_num_queries):
    found = run(q.TopCountriesQuery(**window(world, "all")), django_assert_max_num_queries, 1)
    countries = defaultdict(int)
    for r in world["rows"]:
        if r["_app"]:
            countries[r.get("SourceIPCountryCode", "")] += 1
    assert {c.key: c.requests for c in found.rows} == countries
    assert {c.key: c.label for c in found.rows}[""] == "Unknown"

    hosts = run(q.UnmatchedHostsQuery(**window(world)), django_assert_max_num_queries, 2)
    unmatched = defaultdict(int)
    for r in world["rows"]:
        if r["_app"] is None:
            unmatched[r["HTTPHost"]] += 1
    assert {h.key: h.requests for h in hosts.rows} == unmatched and hosts.total == 2

    new = run(q.NewAppsQuery(**window(world, "all"), since=world["today"] - timedelta(days=6)),
              django_assert_max_num_queries, 1)
    assert new.total == len({r["_app"] for r in world["rows"] if r["_app"]})
    none = run(q.NewAppsQuery(**window(world, "all"), since=world["today"] + timedelta(days=1)),
               django_assert_max_num_queries, 1)
    assert none.total == 0


def test_application_list_filters_sorts_and_pages(world, django_assert_max_num_queries):
    base = window(world, "all")
    found = run(q.AppListQuery(**base, status="unapproved", sort="name"), django_assert_max_num_queries, 1)
    assert [r.app.name for r in found.rows] == ["ChatGPT", "DeepSeek"]
    found = run(q.AppListQuery(**base, country="DE", sort="-requests"), django_assert_max_num_queries, 1)
    keys = dict(Application.objects.values_list("pk", "key"))
    de = defaultdict(int)
    for r in world["rows"]:
        if r["_app"] and r.get("SourceIPCountryCode") == "DE":
            de[r["_app"]] += 1
    assert {keys[r.app.id]: r.requests for r in found.rows} == de
    found = run(q.AppListQuery(**base, search="git", sort="name"), django_assert_max_num_queries, 1)
    assert [r.app.name for r in found.rows] == ["GitHub", "GitHub Copilot"]
    page = run(q.AppListQuery(**base, sort="-requests", offset=2, limit=2), django_assert_max_num_queries, 1)
    everything = run(q.AppListQuery(**base, sort="-requests", limit=100), django_assert_max_num_queries, 1)
    assert page.rows == everything.rows[2:4] and page.total == everything.total


def test_application_and_person_details(world, django_assert_max_num_queries):
    chatgpt = Application.objects.get(key="chatgpt")
    mine = [r for r in world["rows"] if r["_app"] == "chatgpt"]
    found = run(q.AppUsageQuery(**window(world, "all"), application_id=chatgpt.pk), django_assert_max_num_queries, 4)
    assert found.requests == len(mine) and found.bytes_up == sum(r["UploadBytes"] for r in mine)
    assert found.people == len({r["_person"] for r in mine if r["_person"]})
    assert list(found.daily_requests) == [sum(r["_day"] == d for r in mine) for d in world["days"]]

    people = run(q.AppPeopleQuery(**window(world, "all"), application_id=chatgpt.pk, sort="person", limit=2),
                 django_assert_max_num_queries, 1)
    per_person = defaultdict(int)
    for r in mine:
        if r["_person"]:
            per_person[r["_person"]] += 1
    assert people.total == len(per_person)
    assert [(p.key, p.requests) for p in people.rows] == sorted(per_person.items())[:2]
    searched = run(q.AppPeopleQuery(**window(world, "all"), application_id=chatgpt.pk, search="EVE"),
                   django_assert_max_num_queries, 1)
    assert [p.key for p in searched.rows] == ["eve@partner.example"]
    assert searched.rows[0].user_id is None  # not in the directory

    person = run(q.PersonUsageQuery(**window(world, "all"), person="dee@corp.example"),
                 django_assert_max_num_queries, 1)
    dee = defaultdict(int)
    for r in world["rows"]:
        if r["_app"] and r["_person"] == "dee@corp.example":
            dee[r["_app"]] += 1
    keys = dict(Application.objects.values_list("pk", "key"))
    assert {keys[r.app.id]: r.requests for r in person.rows} == dee and person.user_id is not None


def test_people_list_searches_sorts_and_pages(world, django_assert_max_num_queries):
    found = run(q.PeopleListQuery(**window(world, "all"), sort="person", offset=1, limit=2),
                django_assert_max_num_queries, 1)
    assert [p.key for p in found.rows] == ["bob@corp.example", "dee@corp.example"] and found.total == 4
    beyond = run(q.PeopleListQuery(**window(world, "all"), offset=10, limit=2), django_assert_max_num_queries, 2)
    assert beyond.rows == () and beyond.total == 4
    assert runners.run(q.PeopleListQuery(**window(world, "all"), search="corp")).total == 3


# --- Pages -------------------------------------------------------------------------------------


def figure(html: str, element_id: str) -> dict:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no figure {element_id}"
    return json.loads(found.group(1))


def test_dashboard_shows_the_numbers_and_drills_down(world, client_for, security_admin, django_assert_max_num_queries):
    client = client_for(security_admin)
    with django_assert_max_num_queries(30):
        response = client.get(reverse("shadow_ai:dashboard"), {"range": "7d"})
    assert response.status_code == 200
    html = response.content.decode()
    ai = [r for r in world["rows"] if in_scope(r, "ai")]
    tiles = re.search(r'data-testid="tile-requests"><span class="stat-value">([\d,]+)<', html).group(1)
    assert int(tiles.replace(",", "")) == len(ai)
    people = re.search(r'data-testid="tile-people"><span class="stat-value">(\d+)<', html).group(1)
    assert int(people) == len({r["_person"] for r in ai if r["_person"]})
    status = figure(html, "fig-status-requests")
    unapproved = next(t for t in status["data"] if t["name"] == "Unapproved")
    assert sum(unapproved["y"]) == sum(status_of(r["_app"]) == "unapproved" for r in ai)
    assert unapproved["customdata"][0].startswith("/shadow-ai/usage/applications/?")
    assert "status=unapproved" in unapproved["customdata"][0]
    chatgpt = Application.objects.get(key="chatgpt")
    uploads = figure(html, "fig-uploads")["data"][0]
    assert f"/shadow-ai/library/{chatgpt.pk}/?range=7d#usage" in uploads["customdata"]
    people_chart = figure(html, "fig-people")["data"][0]
    assert any(url.startswith("/shadow-ai/usage/person/?person=") for url in people_chart["customdata"])
    import plotly.graph_objects as go

    for element in ("fig-status-requests", "fig-app-users", "fig-uploads", "fig-top-apps", "fig-people",
                    "fig-devices", "fig-countries", "fig-status-uploads"):
        drawn = figure(html, element)
        assert drawn["data"]
        go.Figure(drawn)  # a valid plotly figure: plotly refuses unknown or malformed properties
    assert 'data-host="tools.unknown-ai.example"' in html and "Add as custom application" in html

    everything = client.get(reverse("shadow_ai:dashboard-all"))
    assert everything.status_code == 200 and b"Shadow IT dashboard" in everything.content
    assert b'data-testid="top-app-row"' in everything.content


def test_auditors_read_the_dashboard_but_cannot_run_the_rollup(world, client_for, auditor):
    client = client_for(auditor)
    page = client.get(reverse("shadow_ai:dashboard"))
    assert page.status_code == 200 and b"rollup-now" not in page.content and b"Add as custom application" \
        not in page.content
    assert client.post(reverse("shadow_ai:usage-rollup")).status_code == 403
    assert not UsageRollupRun.objects.filter(kind="manual").exists()


def test_the_dashboard_says_what_to_do_when_there_is_nothing_to_show(library, people, source, client_for,
                                                                    super_admin):
    client = client_for(super_admin)
    empty = client.get(reverse("shadow_ai:dashboard")).content.decode()
    assert "No Gateway HTTP logs yet" in empty and reverse("risk:source-list") in empty

    batches.ingest(source=source, body=ndjson(make_rows([rollup.today()], people[:1])))
    waiting = client.get(reverse("shadow_ai:dashboard")).content.decode()
    assert "Gateway logs are waiting to be rolled up" in waiting and 'data-testid="rollup-now"' in waiting

    services.rollup_scheduled()
    earlier = (rollup.today() - timedelta(days=100)).isoformat()
    old = client.get(reverse("shadow_ai:dashboard"), {"range": "custom", "start": earlier, "end": earlier})
    assert "No usage in this time range" in old.content.decode()


@pytest.mark.parametrize(("params", "message"), [
    ({"range": "custom", "start": "2026-13-01", "end": "2026-03-01"}, "From: Enter the first day as a date"),
    ({"range": "custom", "start": "2026-03-05", "end": "2026-03-01"}, "To: The last day is before the first day."),
    ({"range": "custom", "end": "2026-03-01"}, "From: A custom range needs its first day."),
    ({"range": "custom", "start": "2020-01-01", "end": "2026-03-01"}, "From: Pick at most 400 days."),
    ({"range": "12y"}, "Time range: Select a valid choice."),
])
def test_the_range_picker_names_the_field_it_cannot_use(world, client_for, super_admin, params, message):
    response = client_for(super_admin).get(reverse("shadow_ai:dashboard"), params)
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html and "Showing the last 30 days instead." in html
    today = world["today"]
    assert f"<b>{(today - timedelta(days=29)).isoformat()}</b> to <b>{today.isoformat()}</b>" in html


def test_a_custom_range_counts_only_its_days(world, client_for, super_admin):
    day = world["days"][1].isoformat()
    html = client_for(super_admin).get(reverse("shadow_ai:dashboard-all"),
                                       {"range": "custom", "start": day, "end": day}).content.decode()
    one_day = [r for r in world["rows"] if in_scope(r, "all") and r["_day"] == world["days"][1]]
    tiles = re.search(r'data-testid="tile-requests"><span class="stat-value">([\d,]+)<', html).group(1)
    assert int(tiles.replace(",", "")) == len(one_day)


def test_admins_run_the_rollup_on_demand_and_watch_its_progress(world, people, source, client_for, super_admin):
    client = client_for(super_admin)
    late = make_rows([world["days"][0]], people[:1], seed=99, prefix="late")
    batches.ingest(source=source, body=ndjson(late))
    response = client.post(reverse("shadow_ai:usage-rollup"), {"next": "/shadow-ai/dashboard/ai/?range=7d"})
    assert response.status_code == 302 and response["Location"] == "/shadow-ai/dashboard/ai/?range=7d"
    run = UsageRollupRun.objects.get(kind="manual")
    assert run.status == "queued" and run.requested_by_email == super_admin.email
    audit = AuditEvent.objects.get(action="shadow_ai.usage.rollup_requested")
    assert audit.actor_email == super_admin.email and audit.changes["kind"]["new"] == "manual"
    assert client.post(reverse("shadow_ai:usage-rollup")).status_code == 302
    assert UsageRollupRun.objects.filter(kind="manual").count() == 1  # the queued one is reused

    status_url = reverse("shadow_ai:usage-run", args=[run.pk])
    polling = client.get(status_url, HTTP_HX_REQUEST="true")
    assert polling.status_code == 200 and b"Waiting for a worker" in polling.content and b"hx-trigger" in \
        polling.content

    services.rollup_run(run.pk)  # what the worker does (tests with a real worker: test_e2e_shadow_ai)
    done = client.get(status_url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286  # htmx stops polling
    assert b"Done: 1 day(s)" in done.content and b"hx-trigger" not in done.content
    run.refresh_from_db()
    assert run.rows_read == len(late) + sum(r["_day"] == world["days"][0] for r in world["rows"])

    rebuild = client.post(reverse("shadow_ai:usage-rollup"), {"kind": "rebuild", "next": "//evil.example/"})
    assert rebuild["Location"] == reverse("shadow_ai:dashboard")
    assert UsageRollupRun.objects.get(kind="rebuild").status == "queued"
    assert client.get(reverse("shadow_ai:usage-run", args=[999999])).status_code == 404


def test_application_page_shows_its_usage_and_people(world, client_for, auditor, django_assert_max_num_queries):
    chatgpt = Application.objects.get(key="chatgpt")
    client = client_for(auditor)
    url = reverse("shadow_ai:app-detail", args=[chatgpt.pk])
    with django_assert_max_num_queries(30):
        html = client.get(url, {"range": "7d", "sort": "person", "per_page": 25}).content.decode()
    mine = [r for r in world["rows"] if r["_app"] == "chatgpt"]
    requests = re.search(r'data-testid="app-usage-requests">([\d,]+)<', html).group(1)
    assert int(requests.replace(",", "")) == len(mine)
    listed = re.findall(r'data-testid="app-person-row" data-person="([^"]+)"', html)
    assert listed == sorted({r["_person"] for r in mine if r["_person"]})
    import plotly.graph_objects as go

    go.Figure(figure(html, "fig-app-usage"))

    partial = client.get(url, {"range": "7d", "q": "ada"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    body = partial.content.decode()
    assert "<html" not in body and re.findall(r'data-person="([^"]+)"', body) == ["ada@corp.example"]

    unused = client.get(reverse("shadow_ai:app-detail", args=[Application.objects.get(key="zoom").pk]))
    assert b"Not used in this time range" in unused.content and b"never seen in the Gateway logs" in unused.content


def test_lists_and_the_person_page(world, client_for, super_admin):
    client = client_for(super_admin)
    apps = client.get(reverse("shadow_ai:usage-apps"), {"scope": "all", "status": "unapproved", "sort": "name"})
    assert re.findall(r'data-testid="usage-app-row" data-app="(\d+)"', apps.content.decode()) == [
        str(Application.objects.get(key=k).pk) for k in ("chatgpt", "deepseek")]
    bad = client.get(reverse("shadow_ai:usage-apps"), {"country": "Germany"})
    assert b"Country: Enter a two-letter country code, e.g. DE. This filter is left out." in bad.content

    people = client.get(reverse("shadow_ai:usage-people"), {"scope": "all", "sort": "person", "per_page": 25})
    assert b"eve@partner.example" in people.content and b"Not in directory" in people.content

    person = client.get(reverse("shadow_ai:usage-person"), {"person": "Bob@corp.example", "range": "7d"})
    html = person.content.decode()
    bob = [r for r in world["rows"] if r["_app"] and r["_person"] == "bob@corp.example"]
    assert re.search(r'data-testid="person-requests">([\d,]+)<', html).group(1).replace(",", "") == str(len(bob))
    assert client.get(reverse("shadow_ai:usage-person"))["Location"] == reverse("shadow_ai:usage-people")


def test_library_flags_newly_seen_applications(world, client_for, super_admin, settings):
    client = client_for(super_admin)
    html = client.get(reverse("shadow_ai:library"), {"usage": "new", "per_page": 100}).content.decode()
    shown = set(re.findall(r'data-testid="library-row" data-key="([^"]+)"', html))
    assert shown == {r["_app"] for r in world["rows"] if r["_app"]}
    assert html.count('data-testid="badge-new"') == len(shown)
    never = client.get(reverse("shadow_ai:library"), {"usage": "never", "q": "zoom"}).content.decode()
    assert 'data-key="zoom"' in never
    settings.SHADOW_AI_USAGE_NEW_DAYS = 0
    assert 'data-testid="badge-new"' not in client.get(reverse("shadow_ai:library")).content.decode()


def test_adding_an_unknown_host_as_an_application_starts_from_the_dashboard(world, client_for, super_admin):
    form = client_for(super_admin).get(reverse("shadow_ai:app-create"),
                                       {"hostname": "tools.unknown-ai.example", "name": "Something Else"})
    assert b"tools.unknown-ai.example</textarea>" in form.content and b'value="Something Else"' in form.content


def test_results_are_cached_by_query_until_the_data_or_library_changes(world, settings, super_admin,
                                                                       django_assert_num_queries,
                                                                       django_capture_on_commit_callbacks):
    settings.SHADOW_AI_USAGE_CACHE_SECONDS = 60
    cache.bump()  # a fresh version for this test
    period = dashboard.resolve_range("7d")
    panels = list(dashboard.dashboard_queries(period, "ai").values())
    first = runners.run_all(panels)
    with django_assert_num_queries(0):
        assert runners.run_all(panels) == first
    other = q.SummaryQuery(start=period.start, end=period.end, scope="all")
    assert cache.key_for(other, 1) != cache.key_for(panels[0], 1)
    assert cache.key_for(q.SummaryQuery(start=period.start, end=period.end, scope="ai"), 1) == \
        cache.key_for(panels[0], 1)

    with django_capture_on_commit_callbacks(execute=True):
        library_services.application_set_status(actor=super_admin, application=Application.objects.get(key="gemini"),
                                                status="unapproved", reason="Test.")
    summary = runners.run_one(panels[0])
    assert summary.by_status["unapproved"] == first[0].by_status["unapproved"] + 1

    with django_assert_num_queries(0):
        runners.run_one(panels[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_days([period.end])
        services.rollup_scheduled()
    with CaptureQueriesContext(connection) as seen:
        runners.run_one(panels[0])
    assert seen.captured_queries  # the rollup bumped the version


@pytest.mark.django_db(transaction=True)
def test_the_rollup_warms_the_standard_views(world, settings, django_assert_num_queries):
    settings.SHADOW_AI_USAGE_CACHE_SECONDS = 60
    services.mark_days([world["today"]])
    services.rollup_scheduled()  # each day commits, bumps the version, then the standard views are computed
    with django_assert_num_queries(0):
        runners.run_all(list(dashboard.dashboard_queries(dashboard.resolve_range("30d"), "all").values()))


def test_query_windows_are_checked():
    with pytest.raises(ValueError, match="scope"):
        q.SummaryQuery(start=date(2026, 1, 1), end=date(2026, 1, 2), scope="everything")
    with pytest.raises(ValueError, match="before"):
        q.SummaryQuery(start=date(2026, 1, 2), end=date(2026, 1, 1))
