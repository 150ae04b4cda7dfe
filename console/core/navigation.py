"""The sidebar. Each app registers its pages in ``AppConfig.ready()``; a section appears once it
has a page the user's role may open, so the menu never offers something that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

# Sections in the order the sidebar shows them.
SECTIONS = (
    "Overview",
    "Access",
    "MFA",
    "Onboarding",
    "Risk",
    "Shadow AI",
    "Directory",
    "Logs",
    "Settings",
)


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    url_name: str
    roles: frozenset[str]
    order: int = 100


_items: list[NavItem] = []


def register(*items: NavItem) -> None:
    for item in items:
        if item.section not in SECTIONS:
            raise ValueError(f"unknown navigation section {item.section!r}")
        if item not in _items:
            _items.append(item)


def menu_for(role: str, path: str) -> list[dict]:
    """Sections with the items ``role`` may open, marking the one ``path`` is under."""
    menu = []
    for section in SECTIONS:
        entries = []
        for item in sorted(_items, key=lambda i: (i.order, i.label)):
            if item.section != section or role not in item.roles:
                continue
            url = reverse(item.url_name)
            active = path == url or (url != "/" and path.startswith(url))
            entries.append({"label": item.label, "url": url, "active": active})
        if entries:
            menu.append({"name": section, "items": entries})
    return menu
