"""Usage pages: the Shadow AI and Shadow IT dashboards, applications in use, people, one
person, the rollup's progress; and the usage section of an application's page. Every number
comes from a runner over the rollups (``runners.run_all``: cached by a hash of the query)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from console.core.errors import ConsoleError
from console.core.jobs import render_poll
from console.core.listing import Listing, page_number, page_size, sort_of
from console.core.permissions import roles_required
from console.core.redirects import safe_next
from console.core.roles import ADMINS, CONSOLE_READERS
from shadow_ai.models import Application, Status
from shadow_ai.usage import charts, dashboard, runners, selectors, services
from shadow_ai.usage import queries as q
from shadow_ai.usage.forms import AppListFilter, PeopleFilter, RangeForm, SearchForm, scope_of

SCOPE_TITLES = {"ai": "Shadow AI dashboard", "all": "Shadow IT dashboard"}


def _range_links(period: dashboard.Period, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    extra = extra or {}
    return [{"key": key, "label": label, "active": period.key == key,
             "query": urlencode({**extra, "range": key})} for key, (label, _) in dashboard.RANGES.items()]


@roles_required(CONSOLE_READERS)
def usage_dashboard(request: HttpRequest, scope: str = "ai") -> HttpResponse:
    form = RangeForm(request.GET or None)
    period = form.period()
    params = period.params()
    panels = dashboard.dashboard_queries(period, scope)
    results = dict(zip(panels, runners.run_all(list(panels.values())), strict=True))
    people: q.Ranking = results["people"]
    devices: q.Ranking = results["devices"]

    def person_link(row: q.Ranked) -> str:
        return charts.person_url(row.key, params)

    def device_link(row: q.Ranked) -> str:
        return charts.person_url(row.detail, params) if row.detail else ""

    figures = {
        "status_requests": charts.status_series(results["status_series"], metric="requests", params=params,
                                                scope=scope),
        "status_uploads": charts.status_series(results["status_series"], metric="bytes_up", params=params,
                                               scope=scope),
        "app_users": charts.app_series(results["app_series"], params=params),
        "top_apps": charts.top_apps(results["top_apps"], params=params),
        "uploads": charts.uploads(results["uploads"], params=params),
        "people": charts.ranking(people, url=person_link),
        "devices": charts.ranking(devices, url=device_link, colour="#0ca678"),
        "countries": charts.ranking(results["countries"], colour="#ae3ec9",
                                    url=lambda r: charts.list_url({**params, "scope": scope}, country=r.key)
                                    if r.key else ""),
    }
    state = selectors.usage_state()
    return render(request, "shadow_ai/usage_dashboard.html", {
        "scope": scope, "title": SCOPE_TITLES[scope], "other_scope": "all" if scope == "ai" else "ai",
        "period": period, "range_form": form, "range_links": _range_links(period), "problems": form.problems(),
        "params": urlencode(params), "scoped_params": urlencode({**params, "scope": scope}),
        "summary": results["summary"], "people_total": people.total, "devices_total": devices.total,
        "top_apps": results["top_apps"], "hosts": results["hosts"], "new_apps": results["new_apps"],
        "figures": figures, "state": state, "can_write": request.user.role in ADMINS,
        "statuses": [(s, dict(Status.choices)[s], results["summary"].by_status.get(s, 0)) for s in q.STATUS_ORDER],
        "rollup_minutes": max(1, round(settings.SHADOW_AI_USAGE_ROLLUP_SECONDS / 60)),
        "is_empty": not results["summary"].applications and not results["hosts"].rows,
        "time_zone": settings.TIME_ZONE,
    })


@roles_required(CONSOLE_READERS)
def status_people(request: HttpRequest) -> HttpResponse:
    """The dashboard's "people by approval status" panel, loaded on its own: it counts distinct
    people over the per-person rollup, which is slower than the other panels on a cold cache."""
    form = RangeForm(request.GET or None)
    period = form.period()
    scope = scope_of(request.GET.get("scope"), "ai")
    result = runners.run_one(dashboard.deferred_queries(period, scope)["status_people"])
    figure = charts.status_people(result, params=period.params(), scope=scope)
    return render(request, "shadow_ai/_status_people.html",
                  {"figure_json": json.dumps(figure, cls=DjangoJSONEncoder) if figure else ""})


# --- Lists ------------------------------------------------------------------------------------


class _Filters:
    """What ``components/filters.html`` and ``Listing`` read of a FilterSet: its form."""

    def __init__(self, form: Any) -> None:
        self.form = form


class UsageListing(Listing):
    @property
    def is_filtered(self) -> bool:
        """Filtered by something other than the default time range."""
        data = getattr(self.filterset.form, "cleaned_data", {})
        return any(value not in (None, "", []) and not (name == "range" and value == dashboard.DEFAULT_RANGE)
                   for name, value in data.items())


def runner_listing(request: HttpRequest, form: Any, *, sorts: dict[str, str], default_sort: str,
                   fetch: Callable[[str, int, int], tuple[tuple, int]], per_page: int = 25) -> Listing:
    """A ``Listing`` (sort, page, per page) whose rows a runner fetches one page at a time."""
    sort = sort_of(request, sorts, default_sort)
    size = page_size(request, per_page)
    number = page_number(request.GET.get("page"))
    rows, total = fetch(sort, (number - 1) * size, size)
    paginator = Paginator(range(total), size)
    if number > paginator.num_pages:
        number = paginator.num_pages
        rows, total = fetch(sort, (number - 1) * size, size)
    return UsageListing(page=Page(list(rows), number, paginator), sort=sort, sorts=sorts, filterset=_Filters(form),
                        total=total)


APP_LIST_SORTS = {key: key for key in runners.APP_SORTS}


@roles_required(CONSOLE_READERS)
def usage_apps(request: HttpRequest) -> HttpResponse:
    """Applications in use: the "review all" list behind the dashboards' charts."""
    form = AppListFilter(request.GET)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    period = form.period()
    scope = scope_of(data.get("scope") or request.GET.get("scope"), "all")
    new_since = runners.new_since().date() if data.get("new") == "yes" else None

    def fetch(sort: str, offset: int, limit: int) -> tuple[tuple, int]:
        result = runners.run_one(q.AppListQuery(
            start=period.start, end=period.end, scope=scope, status=data.get("status") or "",
            category=data.get("category") or "", country=data.get("country") or "", new_since=new_since,
            search=(data.get("q") or "").strip(), sort=sort, offset=offset, limit=limit))
        return result.rows, result.total

    listing = runner_listing(request, form, sorts=APP_LIST_SORTS, default_sort="-requests", fetch=fetch)
    template = "shadow_ai/usage_apps.html#results" if request.htmx else "shadow_ai/usage_apps.html"
    return render(request, template, {"listing": listing, "period": period, "problems": form.problems(),
                                      "params": urlencode(period.params()), "scope": scope,
                                      "country": data.get("country") or "", "status_filter": data.get("status") or ""})


PEOPLE_SORTS = {key: key for key in runners.PEOPLE_SORTS}


@roles_required(CONSOLE_READERS)
def usage_people(request: HttpRequest) -> HttpResponse:
    form = PeopleFilter(request.GET)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    period = form.period()
    scope = scope_of(data.get("scope") or request.GET.get("scope"), "ai")

    def fetch(sort: str, offset: int, limit: int) -> tuple[tuple, int]:
        result = runners.run_one(q.PeopleListQuery(start=period.start, end=period.end, scope=scope,
                                                   search=(data.get("q") or "").strip(), sort=sort, offset=offset,
                                                   limit=limit))
        return result.rows, result.total

    listing = runner_listing(request, form, sorts=PEOPLE_SORTS, default_sort="-requests", fetch=fetch)
    template = "shadow_ai/usage_people.html#results" if request.htmx else "shadow_ai/usage_people.html"
    return render(request, template, {"listing": listing, "period": period, "problems": form.problems(),
                                      "params": urlencode(period.params()), "scope": scope})


@roles_required(CONSOLE_READERS)
def usage_person(request: HttpRequest) -> HttpResponse:
    person = (request.GET.get("person") or "").strip().lower()
    if not person or len(person) > 254:
        messages.error(request, "Pick a person from the dashboard or the people list.")
        return redirect("shadow_ai:usage-people")
    form = RangeForm(request.GET or None)
    period = form.period()
    result = runners.run_one(q.PersonUsageQuery(start=period.start, end=period.end, scope="all", person=person))
    return render(request, "shadow_ai/usage_person.html", {
        "person": person, "result": result, "period": period, "problems": form.problems(),
        "range_links": _range_links(period, {"person": person}), "range_form": form,
        "person_keep": [("person", person)],
        "params": urlencode(period.params()),
        "ai_requests": sum(r.requests for r in result.rows if r.app.gen_ai),
    })


# --- The rollup -------------------------------------------------------------------------------


def _back(request: HttpRequest) -> str:
    return safe_next(request, request.POST.get("next"), "shadow_ai:dashboard", within="/shadow-ai/")


@roles_required(ADMINS)
@require_POST
def rollup_start(request: HttpRequest) -> HttpResponse:
    rebuild = request.POST.get("kind") == "rebuild"
    try:
        run = services.rollup_start(actor=request.user, rebuild=rebuild)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, ("Every day with Gateway logs is being rolled up again"
                                   if rebuild else "New Gateway logs are being rolled up")
                         + f" (run {run.pk}); its progress shows below.")
    return redirect(_back(request))


@roles_required(CONSOLE_READERS)
def rollup_status(request: HttpRequest, usage_run_id: int) -> HttpResponse:
    run = selectors.get_run(usage_run_id)
    if run is None:
        raise Http404("No such rollup run.")
    return render_poll(request, "shadow_ai/_usage_run.html", {"run": run}, job=run)


# --- An application's page ----------------------------------------------------------------------


def app_usage_context(request: HttpRequest, app: Application) -> dict[str, Any]:
    """The usage section of an application's page: totals, days, countries and its people
    (sortable, searchable, paged)."""
    form = SearchForm(request.GET)
    form.is_valid()
    period = form.period()
    usage = runners.run_one(q.AppUsageQuery(start=period.start, end=period.end, scope="all", application_id=app.pk))
    search = (getattr(form, "cleaned_data", {}).get("q") or "").strip()

    def fetch(sort: str, offset: int, limit: int) -> tuple[tuple, int]:
        result = runners.run_one(q.AppPeopleQuery(start=period.start, end=period.end, scope="all",
                                                  application_id=app.pk, search=search, sort=sort, offset=offset,
                                                  limit=limit))
        return result.rows, result.total

    listing = runner_listing(request, form, sorts=PEOPLE_SORTS, default_sort="-requests", fetch=fetch)
    return {"usage": usage, "usage_figure": charts.app_usage(usage), "listing": listing, "period": period,
            "range_links": _range_links(period), "range_form": form, "problems": form.problems(),
            "params": urlencode(period.params()), "usage_search": search,
            "app_is_new": bool(usage.first_at and usage.first_at >= runners.new_since())}
