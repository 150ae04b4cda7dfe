from django import forms

from console.core.errors import ConsoleError


def add_service_error(form: forms.Form, exc: ConsoleError) -> None:
    """Show a service's error on the field it names, or on the form."""
    if exc.field and exc.field in form.fields:
        form.add_error(exc.field, exc.message)
    else:
        form.add_error(None, exc.message)
