from django import template

register = template.Library()


@register.filter
def get_item(mapping: dict, key: str):
    return mapping.get(key, key)


@register.filter
def join_if_list(value):
    """Lists (JSON columns) read as comma-separated text; anything else as itself."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "—"
    return value
