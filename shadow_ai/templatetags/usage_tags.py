from django import template

register = template.Library()


@register.filter
def thousands(value: object) -> str:
    """12345 → 12,345 (counts on the usage pages)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
