"""Reads for the proxy path, cached per Access version like everything decisions read
(``console.access.hotcache``): a steady stream of forward-auth requests touches no database."""

from __future__ import annotations

from collections.abc import Iterable

from accounts.models import Group
from console.access import hotcache
from console.access.models import Application, ProxySighting


def _apps_on(hostname: str) -> list[Application]:
    table = hotcache.table("proxy_apps_by_host")
    found = table.get(hostname)
    if found is None:
        found = list(Application.objects.filter(domain=hostname).defer("logo"))
        if found:  # misses are not kept: the host comes from requests
            table[hostname] = found
    return found


def application_at(hostname: str, path: str) -> Application | None:
    """The application for a host and path: the longest matching path prefix wins, so a
    ``/healthz`` application with a Bypass policy carves a public path out of the site."""
    best, best_length = None, -1
    for app in _apps_on(hostname.rstrip(".").lower()):
        prefix = app.path.rstrip("/")
        if (not prefix or path == prefix or path.startswith(prefix + "/")) and len(prefix) > best_length:
            best, best_length = app, len(prefix)
    return best


def group_names(group_ids: Iterable[int]) -> list[str]:
    """The names of a person's groups, for the X-Auth-Request-Groups header."""
    key = frozenset(group_ids)
    if not key:
        return []
    table = hotcache.table("proxy_group_names")
    found = table.get(key)
    if found is None:
        found = table[key] = sorted(Group.objects.filter(pk__in=key).values_list("name", flat=True))
    return found


def sighting_of(application: Application) -> ProxySighting | None:
    return ProxySighting.objects.filter(application=application).first()
