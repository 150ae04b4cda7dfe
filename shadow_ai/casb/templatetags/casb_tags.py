from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def detail_value(value: Any) -> str:
    """A finding instance's detail as an admin reads it: lists joined, yes/no, dicts as k=v."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list | tuple):
        return ", ".join(detail_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {detail_value(v)}" for k, v in value.items()) or "—"
    return "—" if value is None else str(value)


@register.filter
def detail_label(key: str) -> str:
    label = str(key).replace("_", " ").capitalize()
    return "DLP" + label[3:] if label.startswith("Dlp") else label
