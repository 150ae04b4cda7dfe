from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from console.audit.selectors import audit_events_for_object
from console.core.errors import ConsoleError
from console.core.forms import add_service_error
from console.core.listing import build_listing
from console.core.permissions import roles_required
from console.core.roles import ADMINS, CONSOLE_READERS
from shadow_ai.dlp import engine, selectors, services
from shadow_ai.dlp.filters import ProfileFilter
from shadow_ai.dlp.forms import EntryForm, ProfileForm, TestTextForm
from shadow_ai.dlp.models import DlpProfile

PROFILE_SORTS = {"name": "name", "kind": "kind", "entries": "entry_enabled", "match_count": "match_count",
                 "confidence": "confidence", "updated": "updated_at"}


def _can_write(request: HttpRequest) -> bool:
    return request.user.role in ADMINS


@roles_required(CONSOLE_READERS)
def profile_list(request: HttpRequest) -> HttpResponse:
    listing = build_listing(request, selectors.profiles_for_list(), sorts=PROFILE_SORTS, default_sort="name",
                            filterset_class=ProfileFilter)
    template = "dlp/profile_list.html#results" if request.htmx else "dlp/profile_list.html"
    return render(request, template, {"listing": listing, "can_write": _can_write(request),
                                      "none_yet": not selectors.any_profile()})


@roles_required(ADMINS)
def profile_create(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            profile = services.profile_create(actor=request.user, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"{profile.name} created. Add entries to it: regular expressions or wordlists.")
            return redirect("dlp:profile-detail", profile_id=profile.pk)
    return render(request, "dlp/profile_form.html", {"form": form})


def _detail_context(request: HttpRequest, profile: DlpProfile, **extra) -> dict:
    entries = selectors.entries_of(profile)
    for entry in entries:
        entry.spec = engine.ENTRIES_BY_KEY.get(entry.predefined_key) if entry.is_predefined else None
    return {"profile": profile, "entries": entries, "can_write": _can_write(request),
            "enabled_count": sum(1 for e in entries if e.enabled), "test_form": TestTextForm(),
            "history": audit_events_for_object("dlp.dlpprofile", str(profile.pk)), **extra}


@roles_required(CONSOLE_READERS)
def profile_detail(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = selectors.get_profile_for(request.user, profile_id)
    return render(request, "dlp/profile_detail.html", _detail_context(request, profile))


@roles_required(ADMINS)
def profile_edit(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = selectors.get_profile_for(request.user, profile_id)
    initial = {"name": profile.name, "description": profile.description, "match_count": profile.match_count,
               "confidence": profile.confidence}
    form = ProfileForm(request.POST or None, initial=initial, predefined=profile.is_predefined)
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.profile_update(actor=request.user, profile=profile, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Changes saved." if changed else "Nothing changed.")
            return redirect("dlp:profile-detail", profile_id=profile.pk)
    return render(request, "dlp/profile_form.html", {"form": form, "profile": profile})


@roles_required(ADMINS)
@require_POST
def profile_delete(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = selectors.get_profile_for(request.user, profile_id)
    try:
        services.profile_delete(actor=request.user, profile=profile)
    except ConsoleError as exc:
        messages.error(request, exc.message)
        return redirect("dlp:profile-detail", profile_id=profile.pk)
    messages.success(request, f"{profile.name} deleted.")
    return redirect("dlp:profile-list")


@sensitive_post_parameters("text")
@roles_required(CONSOLE_READERS)
@require_POST
def profile_test(request: HttpRequest, profile_id: int) -> HttpResponse:
    """Scan pasted text; the text goes back into the form and nowhere else."""
    profile = selectors.get_profile_for(request.user, profile_id)
    result, error = None, ""
    try:
        form = TestTextForm(request.POST)
    except RequestDataTooBig:
        form, error = TestTextForm(), "The text is too large: test at most 1 MB at a time."
    if not error and form.is_valid():
        try:
            result = services.profile_test(actor=request.user, profile=profile, text=form.cleaned_data["text"])
        except ConsoleError as exc:
            error = exc.message
    elif not error:
        error = "Paste some text to test."
    extra = {"result": result, "test_error": error, "test_form": form}
    if request.htmx:
        return render(request, "dlp/profile_detail.html#test-results", {"profile": profile, **extra})
    context = _detail_context(request, profile)
    context.update(extra)
    return render(request, "dlp/profile_detail.html", context, status=400 if error else 200)


# --- Entries --------------------------------------------------------------------------------------


@roles_required(ADMINS)
def entry_create(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = selectors.get_profile_for(request.user, profile_id)
    if profile.is_predefined:
        messages.error(request, "Predefined profiles hold only predefined entries: create a custom profile for "
                                "your own patterns and wordlists.")
        return redirect("dlp:profile-detail", profile_id=profile.pk)
    form = EntryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.entry_create(actor=request.user, profile=profile, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Entry {entry.name} added.")
            return redirect("dlp:profile-detail", profile_id=profile.pk)
    return render(request, "dlp/entry_form.html", {"form": form, "profile": profile})


@roles_required(ADMINS)
def entry_edit(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.get_entry_for(request.user, entry_id)
    if entry.is_predefined:
        messages.error(request, "A predefined entry's pattern cannot be changed; switch it on or off instead.")
        return redirect("dlp:profile-detail", profile_id=entry.profile_id)
    initial = {"name": entry.name, "pattern": entry.pattern, "words": entry.words,
               "case_sensitive": entry.case_sensitive}
    form = EntryForm(request.POST or None, initial=initial, kind=entry.kind)
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.entry_update(actor=request.user, entry=entry, **form.cleaned_data)
        except ConsoleError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Entry saved." if changed else "Nothing changed.")
            return redirect("dlp:profile-detail", profile_id=entry.profile_id)
    return render(request, "dlp/entry_form.html", {"form": form, "profile": entry.profile, "entry": entry})


@roles_required(ADMINS)
@require_POST
def entry_toggle(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.get_entry_for(request.user, entry_id)
    enabled = request.POST.get("enabled") == "true"
    if services.entry_set_enabled(actor=request.user, entry=entry, enabled=enabled):
        messages.success(request, f"{entry.name} is {'on' if enabled else 'off'}.")
    return redirect("dlp:profile-detail", profile_id=entry.profile_id)


@roles_required(ADMINS)
@require_POST
def entry_delete(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.get_entry_for(request.user, entry_id)
    try:
        services.entry_delete(actor=request.user, entry=entry)
    except ConsoleError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Entry {entry.name} deleted.")
    return redirect("dlp:profile-detail", profile_id=entry.profile_id)
